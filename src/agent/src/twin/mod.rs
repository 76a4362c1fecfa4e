//! The twin logic, independent of the transport: desired properties go to the platform, acknowledgements and
//! reported values go back (through an [`Outbox`] the agent's loop empties into the transport).
//!
//! - **Full twin** ([`Twin::on_twin`] with `complete`): every desired property (components are the objects of
//!   `desired`, `$`-keys and `__t` skipped) in document order: `MpiSet(component, property, value)`, then the
//!   acknowledgement `{"<C>":{"__t":"c","<p>":{"value":<value>,"ac":200|400,"ad":"-","av":<$version>}}}`. After a
//!   reconnect the same twin is *reconciled*: a property already applied with success and the same value is not
//!   set again, and acknowledged only if the hub's reported section lacks that acknowledgement.
//! - **Patches** are queued (at most [`MAX_QUEUED_PATCHES`], ordered by `$version`) and applied one per
//!   [`Twin::step`]. A patch not newer than the applied version is skipped (one log line); a gap in the versions,
//!   a patch without `$version`, a malformed patch or a full queue makes the agent fetch the full twin instead
//!   ([`Twin::wants_full_twin`]): nothing is lost, since the full twin holds every desired property.
//! - **Failures**: a property the platform refuses is acknowledged 400 and set again on the next patch and every
//!   reporting interval ([`Twin::retry_failed`]); when it then succeeds it is acknowledged 200. A value larger
//!   than [`MAX_PAYLOAD_BYTES`] is not sent to the platform and is acknowledged 400 (`value` null, `ad` saying
//!   why). An unreachable platform leaves the property pending (no acknowledgement yet).
//! - **Platform restarts**: when the platform's session generation changes (a new MPI session had to be opened),
//!   the whole desired state held is set again ([`Twin::step`]); acknowledgements go out where a result changed.
//! - **Reported** ([`Twin::collect_reported`]): `MpiGet` on each `Reported` entry; a value that differs from the
//!   last one the hub confirmed (and is not already on its way) is queued; the outbox sends them as one patch.

pub mod document;
pub mod outbox;
pub mod platform;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use document::{parse_full, parse_patch, Desired, FullTwin, Property};
pub use outbox::{Outbox, MAX_IN_FLIGHT, MAX_PATCH_BYTES};
pub use platform::{MpiPlatform, Platform, PlatformError, MAX_PAYLOAD_BYTES};

/// Most desired patches waiting to be applied; one more and the agent fetches the full twin instead.
pub const MAX_QUEUED_PATCHES: usize = 64;
/// Most desired properties held (the desired state re-applied after a platform restart); more are refused with
/// an acknowledgement 400.
pub const MAX_DESIRED_PROPERTIES: usize = 1024;

/// The result of the last attempt to apply a property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Set with success.
    Applied,
    /// Refused (acknowledged 400; set again later).
    Failed,
    /// Not attempted yet or the platform was unreachable (no acknowledgement yet).
    Pending,
    /// Never sent to the platform (too large, over the bound): acknowledged 400, not retried.
    Refused,
}

/// One held desired property.
#[derive(Clone, Debug)]
struct Held {
    value: Value,
    outcome: Outcome,
}

/// One `Reported` entry of `osconfig.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedEntry {
    /// `ComponentName`.
    pub component: String,
    /// `ObjectName`.
    pub object: String,
}

/// The twin state (see the module docs).
#[derive(Debug, Default)]
pub struct Twin {
    /// Held desired state: component -> property -> value, document order.
    desired: Vec<(String, String)>,
    held: HashMap<(String, String), Held>,
    /// `$version` of the desired state applied last.
    version: Option<i64>,
    /// Patches waiting, by `$version`.
    queue: BTreeMap<i64, Desired>,
    /// A full twin waiting to be applied.
    full: Option<FullTwin>,
    wants_full_twin: bool,
    /// A full twin could not be used: ask again at the next reporting interval (not at once: a hub that keeps
    /// sending a broken twin must not make the agent spin).
    full_twin_later: bool,
    /// A gap in the patch versions asked for the full twin, which has not come yet (asked once, then again at
    /// each reporting interval).
    awaiting_full_twin: bool,
    /// The platform generation the held state was applied in.
    generation: u64,
    /// Reported values the hub confirmed.
    confirmed: HashMap<(String, String), Value>,
    /// Reported entries that failed last time (logged once per change).
    failing: HashMap<(String, String), String>,
    /// What goes to the hub.
    pub outbox: Outbox,
}

impl Twin {
    /// An empty twin state.
    pub fn new() -> Twin {
        Twin::default()
    }

    /// `$version` of the desired state applied last.
    pub fn version(&self) -> Option<i64> {
        self.version
    }

    /// Number of patches waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The result of the last attempt at `component`.`property`.
    pub fn outcome(&self, component: &str, property: &str) -> Option<Outcome> {
        self.held.get(&(component.to_string(), property.to_string())).map(|h| h.outcome.clone())
    }

    /// Whether the agent should ask the transport for the full twin (cleared by this call).
    pub fn wants_full_twin(&mut self) -> bool {
        std::mem::take(&mut self.wants_full_twin)
    }

    /// Whether the last full twin could not be used and should be asked for again now that a reporting interval
    /// has passed (cleared by this call).
    pub fn wants_full_twin_again(&mut self) -> bool {
        std::mem::take(&mut self.full_twin_later) || self.awaiting_full_twin
    }

    /// Whether work waits for [`Twin::step`].
    pub fn busy(&self) -> bool {
        self.full.is_some() || self.queue.first_key_value().is_some_and(|(v, _)| self.next_is(*v))
    }

    fn next_is(&self, version: i64) -> bool {
        self.version.is_some_and(|applied| version <= applied + 1)
    }

    /// A twin document from the transport: parsed and queued (nothing is applied here).
    pub fn on_twin(&mut self, complete: bool, payload: &[u8]) {
        if complete {
            match parse_full(payload) {
                Ok(twin) => {
                    log::info!(
                        "full twin received: desired $version {}, {} properties",
                        twin.desired.version.map_or("none".into(), |v| v.to_string()),
                        twin.desired.properties.len()
                    );
                    self.full = Some(twin);
                    self.full_twin_later = false;
                }
                Err(why) => {
                    log::error!("{why}; asking for it again at the next reporting interval");
                    self.full_twin_later = true;
                }
            }
            return;
        }
        let patch = match parse_patch(payload) {
            Ok(patch) => patch,
            Err(why) => {
                log::error!("{why}; fetching the full twin");
                self.wants_full_twin = true;
                return;
            }
        };
        let Some(version) = patch.version else {
            log::error!("desired patch without an integer $version; fetching the full twin instead");
            self.wants_full_twin = true;
            return;
        };
        if self.queue.len() >= MAX_QUEUED_PATCHES {
            log::warn!(
                "{MAX_QUEUED_PATCHES} desired patches are waiting; dropping them and fetching the full twin instead"
            );
            self.queue.clear();
            self.wants_full_twin = true;
            return;
        }
        self.queue.insert(version, patch);
    }

    /// Applies the waiting full twin, else the next queued patch, and re-applies the held state when the platform
    /// lost it. Call once per loop turn; returns whether it did something.
    pub fn step(&mut self, platform: &mut dyn Platform) -> bool {
        if platform.generation() != self.generation && platform.generation() > 0 {
            self.generation = platform.generation();
            if !self.desired.is_empty() {
                self.reapply_all(platform);
                return true;
            }
        }
        if let Some(full) = self.full.take() {
            self.apply_full(full, platform);
            return true;
        }
        let Some((&version, _)) = self.queue.first_key_value() else { return false };
        let Some(applied) = self.version else { return false };
        if version <= applied {
            self.queue.remove(&version);
            log::info!("desired patch $version {version} is not newer than the applied $version {applied}; skipped");
            return true;
        }
        if version > applied + 1 {
            if !self.awaiting_full_twin {
                log::warn!(
                    "desired patch $version {version} follows $version {applied}: a patch is missing; fetching the full twin"
                );
                self.wants_full_twin = true;
                self.awaiting_full_twin = true;
            }
            // The queue stays: the full twin's version decides which patches still apply.
            return false;
        }
        let patch = self.queue.remove(&version).expect("first key");
        self.apply_patch(patch, platform);
        true
    }

    fn apply_full(&mut self, full: FullTwin, platform: &mut dyn Platform) {
        let FullTwin { desired, reported } = full;
        self.awaiting_full_twin = false;
        for problem in &desired.problems {
            log::error!("full twin: {problem}");
        }
        let version = desired.version;
        // The full twin replaces the held state: properties it no longer has are dropped.
        let keep: std::collections::HashSet<(String, String)> =
            desired.properties.iter().map(|p| (p.component.clone(), p.name.clone())).collect();
        self.held.retain(|k, _| keep.contains(k));
        self.desired.retain(|k| keep.contains(k));
        for property in desired.properties {
            let key = (property.component.clone(), property.name.clone());
            let unchanged =
                self.held.get(&key).is_some_and(|h| h.outcome == Outcome::Applied && h.value == property.value);
            if unchanged {
                let acked = reported
                    .get(&property.component)
                    .and_then(|c| c.get(&property.name))
                    .is_some_and(|a| a.get("value") == Some(&property.value) && a.get("ac") == Some(&Value::from(200)));
                if !acked {
                    let ack = outbox::ack(&property.value, true, version, "-");
                    self.outbox.queue(&property.component, &property.name, ack);
                }
                continue;
            }
            self.apply(property, version, platform);
        }
        self.version = version.or(self.version);
        // Reported values the hub holds are what it confirmed: only differences are sent from now on.
        self.confirmed.clear();
        for (component, objects) in &reported {
            let Some(objects) = objects.as_object() else { continue };
            for (object, value) in objects {
                if object != "__t" && !object.starts_with('$') && !is_ack(value) {
                    self.confirmed.insert((component.clone(), object.clone()), value.clone());
                }
            }
        }
        if let Some(applied) = self.version {
            let stale: Vec<i64> = self.queue.range(..=applied).map(|(v, _)| *v).collect();
            for v in stale {
                self.queue.remove(&v);
                log::info!("desired patch $version {v} is covered by the full twin ($version {applied}); skipped");
            }
        }
        // The generation is not taken here: a session lost while this twin was applied makes the next step apply
        // the whole held state again.
    }

    fn apply_patch(&mut self, patch: Desired, platform: &mut dyn Platform) {
        for problem in &patch.problems {
            log::error!("desired patch $version {}: {problem}", patch.version.unwrap_or_default());
        }
        for component in &patch.removed_components {
            log::info!("desired component {component} removed from the twin; nothing to apply");
            self.held.retain(|(c, _), _| c != component);
            self.desired.retain(|(c, _)| c != component);
        }
        let in_patch: Vec<(String, String)> =
            patch.properties.iter().map(|p| (p.component.clone(), p.name.clone())).collect();
        for property in patch.properties {
            self.apply(property, patch.version, platform);
        }
        self.version = patch.version.or(self.version);
        self.retry_failed_except(platform, &in_patch);
    }

    /// Sets one property and queues its acknowledgement.
    fn apply(&mut self, property: Property, version: Option<i64>, platform: &mut dyn Platform) {
        let Property { component, name, value } = property;
        let key = (component.clone(), name.clone());
        if value.is_null() {
            log::info!("desired {component}.{name} removed from the twin; nothing to apply");
            self.held.remove(&key);
            self.desired.retain(|k| *k != key);
            return;
        }
        if !self.held.contains_key(&key) && self.held.len() >= MAX_DESIRED_PROPERTIES {
            log::error!("desired {component}.{name}: over {MAX_DESIRED_PROPERTIES} desired properties; refused");
            self.outbox.queue(
                &component,
                &name,
                outbox::ack(&Value::Null, false, version, "too many desired properties"),
            );
            return;
        }
        if !self.held.contains_key(&key) {
            self.desired.push(key.clone());
        }
        let payload = value.to_string();
        if payload.len() > MAX_PAYLOAD_BYTES {
            log::error!(
                "desired {component}.{name}: value of {} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit; not applied",
                payload.len()
            );
            let ad = format!("value of {} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit", payload.len());
            self.outbox.queue(&component, &name, outbox::ack(&Value::Null, false, version, &ad));
            self.held.insert(key, Held { value, outcome: Outcome::Refused });
            return;
        }
        let outcome = match platform.set(&component, &name, payload.as_bytes()) {
            Ok(()) => {
                log::info!("desired {component}.{name} applied ($version {})", version.unwrap_or_default());
                Outcome::Applied
            }
            Err(PlatformError::Refused(why)) => {
                log::error!("desired {component}.{name} failed: {why}");
                Outcome::Failed
            }
            Err(PlatformError::Unavailable(why)) => {
                log::info!("desired {component}.{name} waits for the platform ({why})");
                Outcome::Pending
            }
        };
        if outcome != Outcome::Pending {
            self.outbox.queue(&component, &name, outbox::ack(&value, outcome == Outcome::Applied, version, "-"));
        }
        self.held.insert(key, Held { value, outcome });
    }

    /// Sets again every held property (the platform lost them); acknowledges those whose result changed.
    fn reapply_all(&mut self, platform: &mut dyn Platform) {
        log::info!("applying the {} held desired properties again (new platform session)", self.desired.len());
        let keys = self.desired.clone();
        self.reapply(platform, keys);
    }

    /// Sets again the properties that failed (or waited for the platform), except those just applied.
    pub fn retry_failed(&mut self, platform: &mut dyn Platform) {
        self.retry_failed_except(platform, &[]);
    }

    fn retry_failed_except(&mut self, platform: &mut dyn Platform, except: &[(String, String)]) {
        let keys: Vec<(String, String)> = self
            .desired
            .iter()
            .filter(|k| !except.contains(k))
            .filter(|k| matches!(self.held.get(*k).map(|h| &h.outcome), Some(Outcome::Failed | Outcome::Pending)))
            .cloned()
            .collect();
        if !keys.is_empty() {
            log::info!("applying {} failed or pending desired properties again", keys.len());
            self.reapply(platform, keys);
        }
    }

    fn reapply(&mut self, platform: &mut dyn Platform, keys: Vec<(String, String)>) {
        for key in keys {
            let Some(held) = self.held.get(&key).cloned() else { continue };
            if held.outcome == Outcome::Refused {
                continue;
            }
            let (component, name) = &key;
            let outcome = match platform.set(component, name, held.value.to_string().as_bytes()) {
                Ok(()) => Outcome::Applied,
                Err(PlatformError::Refused(why)) => {
                    log::debug!("desired {component}.{name} failed again: {why}");
                    Outcome::Failed
                }
                Err(PlatformError::Unavailable(_)) => Outcome::Pending,
            };
            if outcome != held.outcome && outcome != Outcome::Pending {
                log::info!(
                    "desired {component}.{name} {}",
                    if outcome == Outcome::Applied { "applied" } else { "failed" }
                );
                let ack = outbox::ack(&held.value, outcome == Outcome::Applied, self.version, "-");
                self.outbox.queue(component, name, ack);
            }
            if let Some(h) = self.held.get_mut(&key) {
                h.outcome = outcome;
            }
        }
    }

    /// `MpiGet` on each entry; queues the values that changed since the hub last confirmed them.
    pub fn collect_reported(&mut self, entries: &[ReportedEntry], platform: &mut dyn Platform) {
        for entry in entries {
            let key = (entry.component.clone(), entry.object.clone());
            let value = match platform.get(&entry.component, &entry.object) {
                Ok(bytes) if bytes.len() > MAX_PAYLOAD_BYTES => {
                    Err(format!("value of {} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit", bytes.len()))
                }
                Ok(bytes) => serde_json::from_slice::<Value>(&bytes).map_err(|e| format!("value is not JSON ({e})")),
                // The platform logs its own absence once; the entries are read again at the next interval.
                Err(PlatformError::Unavailable(_)) => return,
                Err(e) => Err(e.to_string()),
            };
            let value = match value {
                Ok(value) => {
                    if self.failing.remove(&key).is_some() {
                        log::info!("reported {}.{} can be read again", entry.component, entry.object);
                    }
                    value
                }
                Err(why) => {
                    if self.failing.get(&key) != Some(&why) {
                        log::warn!("reported {}.{}: {why}; left out", entry.component, entry.object);
                        self.failing.insert(key, why);
                    }
                    continue;
                }
            };
            if self.confirmed.get(&key) == Some(&value) || self.outbox.holds(&entry.component, &entry.object, &value) {
                continue;
            }
            if self.outbox.pending(&entry.component, &entry.object).is_some_and(is_ack) {
                // An object both desired and reported: its acknowledgement goes first, the value at the next interval.
                continue;
            }
            self.outbox.queue(&entry.component, &entry.object, value);
        }
    }

    /// The hub answered reported patch `token`.
    pub fn on_reported_done(&mut self, token: u64, status: i32) {
        if let Some(items) = self.outbox.done(token, status) {
            for (key, value) in items {
                if !is_ack(&value) {
                    self.confirmed.insert(key, value);
                }
            }
        }
    }

    /// The connection went down: what was in flight is pending again.
    pub fn on_disconnected(&mut self) {
        self.outbox.connection_lost();
    }
}

/// Whether a reported value is one of our acknowledgements (not a reported object's value).
fn is_ack(value: &Value) -> bool {
    value.as_object().is_some_and(|m| m.contains_key("ac") && m.contains_key("av"))
}

#[cfg(test)]
mod tests;
