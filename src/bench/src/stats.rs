//! Latency statistics over measured samples.

use std::time::Duration;

/// Median and 99th percentile of a set of samples, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    /// The median, in microseconds.
    pub median_us: f64,
    /// The 99th percentile, in microseconds.
    pub p99_us: f64,
}

impl Latency {
    /// Summarises samples (which it sorts). Panics on an empty set: every scenario measures something.
    pub fn of(samples: &mut [Duration]) -> Latency {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        Latency { median_us: micros(percentile(samples, 50.0)), p99_us: micros(percentile(samples, 99.0)) }
    }
}

fn percentile(sorted: &[Duration], pct: f64) -> Duration {
    let rank = ((pct / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_of_median_and_p99() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let latency = Latency::of(&mut samples);
        assert_eq!(latency.median_us.round(), 51.0);
        assert_eq!(latency.p99_us.round(), 99.0);
    }

    #[test]
    fn test_of_single_sample() {
        let latency = Latency::of(&mut [Duration::from_micros(7)]);
        assert_eq!((latency.median_us, latency.p99_us), (7.0, 7.0));
    }
}
