//! What waits to go to the hub as reported properties: acknowledgements of desired properties and reported
//! values, merged per key (the newest wins), batched into patches of at most [`MAX_PATCH_BYTES`], tracked by
//! token until the hub confirms them, and put back when it does not (a failed send loses nothing).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

/// Largest reported patch built, in bytes (IoT Hub keeps at most 32 KiB of reported properties); a single
/// component larger than this goes alone.
pub const MAX_PATCH_BYTES: usize = 32 * 1024;
/// Most patches sent and not yet confirmed; more wait until confirmations come back.
pub const MAX_IN_FLIGHT: usize = 8;

/// One reported key: a component and a property or object.
pub type Key = (String, String);

/// The pending items and the ones in flight.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Component -> key -> value, in the order first queued.
    pending: Map<String, Value>,
    /// Token -> the items of that patch.
    in_flight: HashMap<u64, Vec<(Key, Value)>>,
    next_token: u64,
}

/// An acknowledgement of a desired property.
pub fn ack(value: &Value, ok: bool, version: Option<i64>, description: &str) -> Value {
    json!({"value": value, "ac": if ok { 200 } else { 400 }, "ad": description, "av": version})
}

impl Outbox {
    /// Queues `value` under `component`.`name` (replacing a pending one).
    pub fn queue(&mut self, component: &str, name: &str, value: Value) {
        let entry = self.pending.entry(component.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(map) = entry {
            map.insert(name.to_string(), value);
        }
    }

    /// Whether `component`.`name` is pending or in flight with exactly `value`.
    pub fn holds(&self, component: &str, name: &str, value: &Value) -> bool {
        self.pending.get(component).and_then(|c| c.get(name)) == Some(value)
            || self.in_flight.values().flatten().any(|((c, n), v)| c == component && n == name && v == value)
    }

    /// The value pending (not yet sent) under `component`.`name`.
    pub fn pending(&self, component: &str, name: &str) -> Option<&Value> {
        self.pending.get(component).and_then(|c| c.get(name))
    }

    /// Whether anything waits to be sent.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Number of patches in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Takes the next patch to send (its token and bytes), if anything is pending and fewer than
    /// [`MAX_IN_FLIGHT`] patches are unconfirmed.
    pub fn next_patch(&mut self) -> Option<(u64, Vec<u8>)> {
        if self.pending.is_empty() || self.in_flight.len() >= MAX_IN_FLIGHT {
            return None;
        }
        let mut patch = Map::new();
        let mut items = Vec::new();
        let mut size = 2;
        while let Some((component, _)) = self.pending.iter().next() {
            let component = component.clone();
            let Some(Value::Object(values)) = self.pending.get(&component).cloned() else { break };
            let mut body = Map::new();
            body.insert("__t".into(), json!("c"));
            for (name, value) in &values {
                body.insert(name.clone(), value.clone());
            }
            let body = Value::Object(body);
            let body_size = component.len() + 4 + body.to_string().len();
            if !patch.is_empty() && size + body_size > MAX_PATCH_BYTES {
                break;
            }
            size += body_size;
            self.pending.shift_remove(&component);
            items.extend(values.into_iter().map(|(name, value)| ((component.clone(), name), value)));
            patch.insert(component, body);
        }
        self.next_token += 1;
        let token = self.next_token;
        self.in_flight.insert(token, items);
        Some((token, Value::Object(patch).to_string().into_bytes()))
    }

    /// The hub answered patch `token`: its items when stored (2xx), `None` otherwise (they are pending again,
    /// unless newer values of the same keys are).
    pub fn done(&mut self, token: u64, status: i32) -> Option<Vec<(Key, Value)>> {
        let items = self.in_flight.remove(&token)?;
        if (200..300).contains(&status) {
            return Some(items);
        }
        log::warn!("the hub refused reported patch {token} (status {status}); it is sent again");
        self.requeue(items);
        None
    }

    /// The connection went down: every patch in flight is pending again.
    pub fn connection_lost(&mut self) {
        let tokens: Vec<u64> = self.in_flight.keys().copied().collect();
        for token in tokens {
            if let Some(items) = self.in_flight.remove(&token) {
                self.requeue(items);
            }
        }
    }

    /// A patch could not be handed to the transport: pending again.
    pub fn unsent(&mut self, token: u64) {
        if let Some(items) = self.in_flight.remove(&token) {
            self.requeue(items);
        }
    }

    fn requeue(&mut self, items: Vec<(Key, Value)>) {
        for ((component, name), value) in items {
            let newer = self.pending.get(&component).and_then(|c| c.get(&name)).is_some();
            if !newer {
                self.queue(&component, &name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_patch_batches_components_and_requeues_on_failure() {
        let mut outbox = Outbox::default();
        outbox.queue("A", "p", ack(&json!(1), true, Some(3), "-"));
        outbox.queue("B", "o", json!("x"));
        outbox.queue("A", "q", json!(2));
        let (token, patch) = outbox.next_patch().unwrap();
        let patch: Value = serde_json::from_slice(&patch).unwrap();
        assert_eq!(
            patch,
            json!({"A":{"__t":"c","p":{"value":1,"ac":200,"ad":"-","av":3},"q":2},"B":{"__t":"c","o":"x"}})
        );
        assert!(!outbox.has_pending());
        assert!(outbox.holds("B", "o", &json!("x")));
        outbox.queue("B", "o", json!("newer"));
        assert_eq!(outbox.done(token, 500), None);
        let (token, patch) = outbox.next_patch().unwrap();
        let patch: Value = serde_json::from_slice(&patch).unwrap();
        assert_eq!(patch["B"]["o"], json!("newer"), "a newer value is not replaced by the failed older one");
        assert_eq!(patch["A"]["q"], json!(2));
        assert_eq!(outbox.done(token, 204).unwrap().len(), 3);
        assert_eq!(outbox.done(token, 204), None, "a token is answered once");
    }

    #[test]
    fn test_patch_size_bound_and_in_flight_bound() {
        let mut outbox = Outbox::default();
        for i in 0..20 {
            outbox.queue(&format!("C{i}"), "v", json!("x".repeat(4000)));
        }
        let mut patches = Vec::new();
        while let Some((token, patch)) = outbox.next_patch() {
            assert!(patch.len() <= MAX_PATCH_BYTES, "{}", patch.len());
            patches.push(token);
        }
        assert_eq!(outbox.in_flight(), patches.len());
        assert!(patches.len() >= 3);
        outbox.connection_lost();
        assert_eq!(outbox.in_flight(), 0);
        assert!(outbox.has_pending());
        for i in 0..100 {
            outbox.queue(&format!("D{i}"), "v", json!("y".repeat(30_000)));
        }
        let mut sent = 0;
        while outbox.next_patch().is_some() {
            sent += 1;
        }
        assert_eq!(sent, MAX_IN_FLIGHT);
    }
}
