//! What the SDK's callbacks report (`Event`), and the bounded queue they fill between two `drain_events` calls.
//!
//! The bound ([`EVENT_QUEUE_CAPACITY`]) is kept without losing the twin: when the queue is full, a full twin
//! supersedes the twin events queued before it; otherwise the oldest connection or reported-done event goes (logged as
//! a warning); a desired patch that still finds no room is dropped with an error log and the queue asks for the full
//! twin (`ModuleClient::do_work` then calls `GetTwinAsync`), so the desired state is re-read rather than lost.

use std::collections::VecDeque;

/// At most this many events wait between two `drain_events` calls (the caller drains after every `do_work`).
pub const EVENT_QUEUE_CAPACITY: usize = 64;

/// What happened on the connection to the hub (from the SDK's callbacks, in the order they ran).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// IOTHUB_CLIENT_CONNECTION_STATUS callback: up or down, with the SDK's reason as text
    /// (`IOTHUB_CLIENT_CONNECTION_OK`, `IOTHUB_CLIENT_CONNECTION_NO_NETWORK`, `IOTHUB_CLIENT_CONNECTION_RETRY_EXPIRED`...).
    Connection { up: bool, reason: String },
    /// The twin callback: complete = DEVICE_TWIN_UPDATE_COMPLETE (full twin document), else a desired patch.
    /// A complete twin with an empty payload is the SDK giving up on a twin request (its 60 s timeout).
    Twin { complete: bool, payload: Vec<u8> },
    /// SendReportedState's callback: the token given to send_reported and the HTTP-like status (204 ok). The SDK
    /// reports 408 when the hub did not answer in 5 minutes, and 0 when the client is destroyed before an answer.
    ReportedDone { token: u64, status: i32 },
}

/// The events the callbacks queued, with the bound kept (see the module's documentation).
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    events: VecDeque<Event>,
    /// A desired patch was dropped for want of room: the full twin must be fetched.
    twin_lost: bool,
}

impl EventQueue {
    pub(crate) fn push(&mut self, event: Event) {
        if self.events.len() >= EVENT_QUEUE_CAPACITY {
            self.make_room(&event);
        }
        if self.events.len() < EVENT_QUEUE_CAPACITY {
            self.events.push_back(event);
            return;
        }
        match event {
            Event::Twin { payload, .. } => {
                log::error!(
                    "azure-iot-sdk: event queue full ({EVENT_QUEUE_CAPACITY} twin events): a desired patch of {} bytes \
                     is dropped; the full twin will be fetched instead",
                    payload.len()
                );
                self.twin_lost = true;
            }
            other => log::warn!("azure-iot-sdk: event queue full of twin events: {other:?} dropped"),
        }
    }

    fn make_room(&mut self, incoming: &Event) {
        if let Event::Twin { complete: true, .. } = incoming {
            let before = self.events.len();
            self.events.retain(|e| !matches!(e, Event::Twin { .. }));
            if self.events.len() < before {
                log::info!(
                    "azure-iot-sdk: event queue full: {} queued twin events superseded by a full twin",
                    before - self.events.len()
                );
            }
            // A full twin answers any earlier loss too.
            self.twin_lost = false;
            if self.events.len() < EVENT_QUEUE_CAPACITY {
                return;
            }
        }
        if let Some(index) = self.events.iter().position(|e| !matches!(e, Event::Twin { .. })) {
            if let Some(dropped) = self.events.remove(index) {
                log::warn!("azure-iot-sdk: event queue full ({EVENT_QUEUE_CAPACITY}): oldest {dropped:?} dropped");
            }
        }
    }

    pub(crate) fn drain_into(&mut self, into: &mut Vec<Event>) {
        into.extend(self.events.drain(..));
    }

    /// Whether a desired patch was dropped since the last call (and clears it).
    pub(crate) fn take_twin_lost(&mut self) -> bool {
        std::mem::take(&mut self.twin_lost)
    }

    /// Records that the full twin is still needed (asking for it failed).
    pub(crate) fn set_twin_lost(&mut self) {
        self.twin_lost = true;
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(n: u8) -> Event {
        Event::Twin { complete: false, payload: vec![n] }
    }

    fn done(token: u64) -> Event {
        Event::ReportedDone { token, status: 204 }
    }

    #[test]
    fn events_come_out_in_order() {
        let mut q = EventQueue::default();
        q.push(Event::Connection { up: true, reason: "IOTHUB_CLIENT_CONNECTION_OK".into() });
        q.push(patch(1));
        q.push(done(7));
        let mut out = Vec::new();
        q.drain_into(&mut out);
        assert_eq!(
            out,
            vec![Event::Connection { up: true, reason: "IOTHUB_CLIENT_CONNECTION_OK".into() }, patch(1), done(7)]
        );
        q.drain_into(&mut out);
        assert_eq!(out.len(), 3, "a second drain adds nothing");
    }

    #[test]
    fn a_full_queue_drops_the_oldest_reported_done_not_a_patch() {
        let mut q = EventQueue::default();
        q.push(patch(0));
        for token in 0..(EVENT_QUEUE_CAPACITY as u64 - 1) {
            q.push(done(token));
        }
        assert_eq!(q.len(), EVENT_QUEUE_CAPACITY);
        q.push(patch(1));
        assert_eq!(q.len(), EVENT_QUEUE_CAPACITY);
        let mut out = Vec::new();
        q.drain_into(&mut out);
        assert_eq!(out[0], patch(0));
        assert_eq!(out[1], done(1), "token 0, the oldest reported-done, made room");
        assert_eq!(out.last(), Some(&patch(1)));
        assert!(!q.take_twin_lost());
    }

    #[test]
    fn a_patch_that_finds_no_room_asks_for_the_full_twin() {
        let mut q = EventQueue::default();
        for n in 0..EVENT_QUEUE_CAPACITY {
            q.push(patch(n as u8));
        }
        q.push(patch(200));
        q.push(done(9));
        assert_eq!(q.len(), EVENT_QUEUE_CAPACITY);
        assert!(q.take_twin_lost(), "the dropped patch is recorded");
        assert!(!q.take_twin_lost(), "and cleared once taken");
        let mut out = Vec::new();
        q.drain_into(&mut out);
        assert!(!out.contains(&patch(200)));
        assert!(!out.contains(&done(9)));
    }

    #[test]
    fn a_full_twin_supersedes_queued_twin_events() {
        let mut q = EventQueue::default();
        for n in 0..EVENT_QUEUE_CAPACITY {
            q.push(patch(n as u8));
        }
        q.push(patch(250)); // no room: lost
        assert_eq!(q.len(), EVENT_QUEUE_CAPACITY);
        let full = Event::Twin { complete: true, payload: b"{\"desired\":{}}".to_vec() };
        q.push(full.clone());
        q.push(done(3));
        let mut out = Vec::new();
        q.drain_into(&mut out);
        assert_eq!(out, vec![full, done(3)]);
        assert!(!q.take_twin_lost(), "the full twin answers the lost patch");
    }
}
