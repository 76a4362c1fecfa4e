//! Exponential back-off with jitter for reconnecting: the n-th wait is a random time in the upper half of
//! `min(MAX, MIN * 2^n)`, so a fleet that lost its hub at once does not come back at once.

use std::time::Duration;

/// The first wait.
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Back-off state.
#[derive(Clone, Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempts: u32,
    seed: u64,
}

impl Backoff {
    /// Waits between `min` and `max`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id()).rotate_left(32);
        Backoff { min, max: max.max(min), attempts: 0, seed: seed | 1 }
    }

    /// The next wait (grows until [`Backoff::reset`]).
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.min.saturating_mul(1u32 << self.attempts.min(20)).min(self.max);
        self.attempts = self.attempts.saturating_add(1);
        // xorshift64: jitter needs no cryptographic quality.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let half = ceiling / 2;
        let span = (ceiling - half).as_millis().max(1) as u64;
        half + Duration::from_millis(self.seed % span)
    }

    /// After a success: the next wait starts from the minimum again.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_delays_grow_with_jitter_and_stay_bounded() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<Duration> = (0..12).map(|_| b.next_delay()).collect();
        for (n, d) in delays.iter().enumerate() {
            let ceiling = Duration::from_secs(1 << n.min(20)).min(Duration::from_secs(60));
            assert!(*d >= ceiling / 2 && *d <= ceiling, "attempt {n}: {d:?} not in the upper half of {ceiling:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
        let mut other = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        let spread: std::collections::HashSet<Duration> = (0..20).map(|_| other.next_delay()).collect();
        assert!(spread.len() > 1, "jitter varies the waits");
    }
}
