//! Unit tests of the twin logic with a fake platform (the real platform is exercised in `tests/twin_platform.rs`).

use super::*;
use serde_json::json;

/// A platform in memory: records sets, refuses what it is told to, can be "down" or "restarted".
#[derive(Default)]
struct FakePlatform {
    sets: Vec<(String, String, String)>,
    values: HashMap<(String, String), Vec<u8>>,
    refuse: Vec<(String, String)>,
    down: bool,
    generation: u64,
    /// The platform "restarts" (a new session) after this many more sets.
    restart_after: Option<usize>,
}

impl Platform for FakePlatform {
    fn set(&mut self, component: &str, object: &str, payload: &[u8]) -> Result<(), PlatformError> {
        if self.down {
            return Err(PlatformError::Unavailable("down".into()));
        }
        self.sets.push((component.into(), object.into(), String::from_utf8(payload.to_vec()).unwrap()));
        if let Some(n) = self.restart_after.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.restart_after = None;
                self.generation += 1;
            }
        }
        if self.refuse.contains(&(component.to_string(), object.to_string())) {
            return Err(PlatformError::Refused("platform returned errno 22".into()));
        }
        Ok(())
    }
    fn get(&mut self, component: &str, object: &str) -> Result<Vec<u8>, PlatformError> {
        if self.down {
            return Err(PlatformError::Unavailable("down".into()));
        }
        self.values.get(&(component.into(), object.into())).cloned().ok_or(PlatformError::Refused("errno 22".into()))
    }
    fn ensure_session(&mut self) -> bool {
        !self.down
    }
    fn generation(&self) -> u64 {
        self.generation
    }
    fn check_session(&mut self) {}
}

fn platform() -> FakePlatform {
    FakePlatform { generation: 1, ..FakePlatform::default() }
}

/// Every patch the outbox would send now, confirmed at once, merged into one object.
fn sent(twin: &mut Twin) -> Value {
    let mut all = serde_json::Map::new();
    while let Some((token, patch)) = twin.outbox.next_patch() {
        let patch: Value = serde_json::from_slice(&patch).unwrap();
        for (component, body) in patch.as_object().unwrap() {
            let entry = all.entry(component.clone()).or_insert_with(|| json!({}));
            for (k, v) in body.as_object().unwrap() {
                entry[k] = v.clone();
            }
        }
        twin.on_reported_done(token, 204);
    }
    Value::Object(all)
}

fn run(twin: &mut Twin, platform: &mut FakePlatform) {
    while twin.step(platform) {}
}

fn ack(value: Value, ac: i64, av: i64) -> Value {
    json!({"value": value, "ac": ac, "ad": "-", "av": av})
}

#[test]
fn test_full_twin_applied_in_document_order_and_acknowledged() {
    let mut twin = Twin::new();
    let mut p = platform();
    twin.on_twin(
        true,
        br#"{"desired":{"HostName":{"__t":"c","desiredName":"box"},"Fixture":{"echo":{"a":[1,2]},"slow":0},"$version":4},"reported":{}}"#,
    );
    run(&mut twin, &mut p);
    let sets: Vec<(&str, &str, &str)> = p.sets.iter().map(|(c, o, v)| (c.as_str(), o.as_str(), v.as_str())).collect();
    assert_eq!(
        sets,
        [("HostName", "desiredName", "\"box\""), ("Fixture", "echo", r#"{"a":[1,2]}"#), ("Fixture", "slow", "0")]
    );
    assert_eq!(
        sent(&mut twin),
        json!({
            "HostName": {"__t":"c","desiredName": ack(json!("box"), 200, 4)},
            "Fixture": {"__t":"c","echo": ack(json!({"a":[1,2]}), 200, 4),"slow": ack(json!(0), 200, 4)}
        })
    );
    assert_eq!(twin.version(), Some(4));
}

#[test]
fn test_patches_applied_in_version_order_stale_skipped_gap_fetches_full_twin() {
    let mut twin = Twin::new();
    let mut p = platform();
    twin.on_twin(false, br#"{"A":{"p":"early"},"$version":2}"#); // before the full twin: waits
    assert!(!twin.step(&mut p), "nothing applies before the full twin");
    twin.on_twin(true, br#"{"desired":{"A":{"p":"full"},"$version":2}}"#);
    twin.on_twin(false, br#"{"A":{"p":"five"},"$version":5}"#);
    twin.on_twin(false, br#"{"A":{"p":"four"},"$version":4}"#);
    twin.on_twin(false, br#"{"A":{"p":"three"},"$version":3}"#);
    assert_eq!(twin.queued(), 4);
    run(&mut twin, &mut p);
    let values: Vec<&str> = p.sets.iter().map(|s| s.2.as_str()).collect();
    assert_eq!(values, ["\"full\"", "\"three\"", "\"four\"", "\"five\""], "patch 2 is covered by the full twin");
    assert_eq!(twin.version(), Some(5));
    assert_eq!(sent(&mut twin)["A"]["p"], ack(json!("five"), 200, 5), "the newest ack of a property wins");
    twin.on_twin(false, br#"{"A":{"p":"old"},"$version":5}"#);
    assert!(twin.step(&mut p));
    assert_eq!(p.sets.len(), 4, "a patch that is not newer is skipped");
    twin.on_twin(false, br#"{"A":{"p":"eight"},"$version":8}"#);
    assert!(!twin.step(&mut p));
    assert!(twin.wants_full_twin(), "a gap asks for the full twin");
    assert!(!twin.step(&mut p));
    assert!(!twin.wants_full_twin(), "asked once, not at every turn");
    assert!(twin.wants_full_twin_again(), "asked again at each interval until it comes");
    twin.on_twin(true, br#"{"desired":{"A":{"p":"nine"},"$version":9}}"#);
    run(&mut twin, &mut p);
    assert_eq!(p.sets.last().unwrap().2, "\"nine\"");
    assert_eq!(twin.queued(), 0, "patch 8 is covered by the full twin 9");
    assert!(!twin.wants_full_twin_again(), "the full twin came");
}

#[test]
fn test_queue_bound_falls_back_to_full_twin() {
    let mut twin = Twin::new();
    for v in 0..MAX_QUEUED_PATCHES as i64 {
        twin.on_twin(false, format!(r#"{{"A":{{"p":{v}}},"$version":{}}}"#, v + 10).as_bytes());
    }
    assert!(!twin.wants_full_twin());
    twin.on_twin(false, br#"{"A":{"p":1},"$version":1000}"#);
    assert!(twin.wants_full_twin());
    assert_eq!(twin.queued(), 0);
}

#[test]
fn test_failed_property_acked_400_and_reapplied_on_next_patch_and_interval() {
    let mut twin = Twin::new();
    let mut p = platform();
    p.refuse.push(("Fixture".into(), "echo".into()));
    twin.on_twin(true, br#"{"desired":{"Fixture":{"echo":"x","slow":1},"$version":1}}"#);
    run(&mut twin, &mut p);
    let acks = sent(&mut twin);
    assert_eq!(acks["Fixture"]["echo"], ack(json!("x"), 400, 1));
    assert_eq!(acks["Fixture"]["slow"], ack(json!(1), 200, 1));
    assert_eq!(twin.outcome("Fixture", "echo"), Some(Outcome::Failed));
    // Still failing at the next interval: set again, no new acknowledgement.
    twin.retry_failed(&mut p);
    assert_eq!(p.sets.iter().filter(|s| s.1 == "echo").count(), 2);
    assert_eq!(sent(&mut twin), json!({}));
    // The next patch: the failed property is set again and now succeeds.
    p.refuse.clear();
    twin.on_twin(false, br#"{"Fixture":{"slow":2},"$version":2}"#);
    run(&mut twin, &mut p);
    assert_eq!(p.sets.iter().filter(|s| s.1 == "echo").count(), 3);
    let acks = sent(&mut twin);
    assert_eq!(acks["Fixture"]["echo"], ack(json!("x"), 200, 2));
    assert_eq!(acks["Fixture"]["slow"], ack(json!(2), 200, 2));
    twin.retry_failed(&mut p);
    assert_eq!(p.sets.iter().filter(|s| s.1 == "echo").count(), 3, "applied properties are not retried");
}

#[test]
fn test_reported_sent_only_on_change_after_confirmation() {
    let mut twin = Twin::new();
    let mut p = platform();
    let entries = [
        ReportedEntry { component: "DeviceInfo".into(), object: "osName".into() },
        ReportedEntry { component: "DeviceInfo".into(), object: "missing".into() },
        ReportedEntry { component: "HostName".into(), object: "name".into() },
    ];
    p.values.insert(("DeviceInfo".into(), "osName".into()), b"\"Linux\"".to_vec());
    p.values.insert(("HostName".into(), "name".into()), b"\"box\"".to_vec());
    twin.collect_reported(&entries, &mut p);
    let (token, patch) = twin.outbox.next_patch().unwrap();
    let patch: Value = serde_json::from_slice(&patch).unwrap();
    assert_eq!(patch, json!({"DeviceInfo":{"__t":"c","osName":"Linux"},"HostName":{"__t":"c","name":"box"}}));
    twin.collect_reported(&entries, &mut p);
    assert!(!twin.outbox.has_pending(), "in flight with the same value: not queued again");
    twin.on_reported_done(token, 204);
    twin.collect_reported(&entries, &mut p);
    assert!(!twin.outbox.has_pending(), "confirmed and unchanged: nothing to send");
    p.values.insert(("HostName".into(), "name".into()), b"\"box2\"".to_vec());
    twin.collect_reported(&entries, &mut p);
    assert_eq!(sent(&mut twin), json!({"HostName":{"__t":"c","name":"box2"}}));
    // A refused send is sent again.
    p.values.insert(("HostName".into(), "name".into()), b"\"box3\"".to_vec());
    twin.collect_reported(&entries, &mut p);
    let (token, _) = twin.outbox.next_patch().unwrap();
    twin.on_reported_done(token, 500);
    assert_eq!(sent(&mut twin), json!({"HostName":{"__t":"c","name":"box3"}}));
    // A full twin tells what the hub holds: a value it already has is not sent.
    twin.on_twin(true, br#"{"desired":{"$version":1},"reported":{"HostName":{"__t":"c","name":"box4"}}}"#);
    run(&mut twin, &mut p);
    p.values.insert(("HostName".into(), "name".into()), b"\"box4\"".to_vec());
    twin.collect_reported(&entries, &mut p);
    assert_eq!(sent(&mut twin)["DeviceInfo"]["osName"], json!("Linux"), "not on the hub: sent again");
    assert!(sent(&mut twin).get("HostName").is_none());
}

#[test]
fn test_platform_restart_reapplies_held_state_and_pending_waits() {
    let mut twin = Twin::new();
    let mut p = platform();
    p.down = true;
    twin.on_twin(true, br#"{"desired":{"A":{"p":1,"q":2},"$version":3}}"#);
    run(&mut twin, &mut p);
    assert_eq!(sent(&mut twin), json!({}), "the platform is down: no acknowledgement yet");
    assert_eq!(twin.outcome("A", "p"), Some(Outcome::Pending));
    p.down = false;
    p.generation = 2; // a session is opened: the held state goes to the platform
    run(&mut twin, &mut p);
    assert_eq!(p.sets.len(), 2);
    assert_eq!(sent(&mut twin), json!({"A":{"__t":"c","p":ack(json!(1),200,3),"q":ack(json!(2),200,3)}}));
    p.generation = 3; // restarted: applied again, results unchanged, no new acknowledgements
    run(&mut twin, &mut p);
    assert_eq!(p.sets.len(), 4);
    assert_eq!(sent(&mut twin), json!({}));
}

#[test]
fn test_reconnect_reconciles_without_setting_again() {
    let mut twin = Twin::new();
    let mut p = platform();
    let doc = br#"{"desired":{"A":{"p":1,"q":2},"$version":3},"reported":{}}"#;
    twin.on_twin(true, doc);
    run(&mut twin, &mut p);
    let acks = sent(&mut twin);
    let reported = json!({"desired":{"A":{"p":1,"q":5},"$version":4},"reported":{"A":{"__t":"c","p":acks["A"]["p"]}}});
    twin.on_twin(true, reported.to_string().as_bytes());
    run(&mut twin, &mut p);
    assert_eq!(p.sets.len(), 3, "only the changed property is set again");
    assert_eq!(p.sets[2], ("A".into(), "q".into(), "5".into()));
    assert_eq!(sent(&mut twin), json!({"A":{"__t":"c","q":ack(json!(5),200,4)}}));
}

#[test]
fn test_bad_inputs_give_log_lines_and_acks_never_a_crash() {
    let mut twin = Twin::new();
    let mut p = platform();
    twin.on_twin(true, b"{broken");
    assert!(!twin.step(&mut p));
    assert!(!twin.wants_full_twin(), "a broken full twin is not asked for again at once");
    assert!(twin.wants_full_twin_again(), "but at the next interval");
    assert!(!twin.wants_full_twin_again());
    twin.on_twin(true, br#"{"desired":{"A":{"p":1},"Bad":7,"$version":1}}"#);
    run(&mut twin, &mut p);
    assert_eq!(p.sets.len(), 1, "the non-object component is skipped, the rest applied");
    twin.on_twin(false, b"[]");
    assert!(twin.wants_full_twin(), "a malformed patch fetches the full twin");
    twin.on_twin(false, br#"{"A":{"p":2}}"#);
    assert!(twin.wants_full_twin(), "a patch without $version fetches the full twin");
    let big = format!(r#"{{"A":{{"big":"{}"}},"$version":2}}"#, "x".repeat(MAX_PAYLOAD_BYTES));
    twin.on_twin(false, big.as_bytes());
    run(&mut twin, &mut p);
    assert_eq!(p.sets.len(), 1, "an oversized value never reaches the platform");
    let acks = sent(&mut twin);
    assert_eq!(acks["A"]["big"]["ac"], json!(400));
    assert_eq!(acks["A"]["big"]["value"], Value::Null);
    assert!(acks["A"]["big"]["ad"].as_str().unwrap().contains("4096-byte limit"));
    twin.retry_failed(&mut p);
    assert_eq!(p.sets.len(), 1, "an oversized value is not retried");
    twin.on_twin(false, br#"{"A":{"p":null},"Gone":null,"$version":3}"#);
    run(&mut twin, &mut p);
    assert_eq!(twin.outcome("A", "p"), None, "null removes the property");
    assert_eq!(p.sets.len(), 1);
}

#[test]
fn test_an_object_both_desired_and_reported_keeps_its_ack() {
    let mut twin = Twin::new();
    let mut p = platform();
    let entries = [ReportedEntry { component: "Fixture".into(), object: "echo".into() }];
    p.values.insert(("Fixture".into(), "echo".into()), b"\"v\"".to_vec());
    twin.on_twin(true, br#"{"desired":{"Fixture":{"echo":"v"},"$version":2}}"#);
    run(&mut twin, &mut p);
    twin.collect_reported(&entries, &mut p);
    assert_eq!(sent(&mut twin)["Fixture"]["echo"], ack(json!("v"), 200, 2), "the ack is not replaced by the value");
    twin.collect_reported(&entries, &mut p);
    assert_eq!(sent(&mut twin)["Fixture"]["echo"], json!("v"), "the value follows at the next interval");
}

#[test]
fn test_session_lost_while_a_full_twin_is_applied_sets_everything_again() {
    let mut twin = Twin::new();
    let mut p = platform();
    p.restart_after = Some(1); // the platform restarts right after the first set
    twin.on_twin(true, br#"{"desired":{"A":{"p":1,"q":2},"$version":1}}"#);
    run(&mut twin, &mut p);
    let sets: Vec<&str> = p.sets.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(sets, ["p", "q", "p", "q"], "p went to the old platform: the whole state is set again");
}
