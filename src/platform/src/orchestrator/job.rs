//! What each MPI call does, as a job the [`Engine`] runs: a job that calls modules goes one module call at a time
//! and waits ([`Outcome::Wait`], with where it stands in a [`Pending`]) whenever a call waits for its host; the
//! engine resumes it with the call's result ([`Engine::resume_job`]).

use std::time::Instant;

use osconfig_http::Response;
use osconfig_mmi::Errno;
use osconfig_rest::mpi::reported_body;
use osconfig_rest::wire::json_string;
use osconfig_rest::MpiSetDesiredRequest;

use super::engine::Engine;
use super::{Answer, ObjectFailure};
use crate::answers;
use crate::manager::{ClientId, ModuleOp, Progress};
use crate::queue::Call;
use crate::sessions::{OpenError, Opened};

/// Where a job that waits for a module call stands.
#[derive(Debug)]
pub(super) enum Pending {
    /// `MpiSet` (`set`) or `MpiGet` of `component`.`object`: the answer is the module's.
    One { set: bool, component: String, object: String },
    /// `MpiSetDesired`: object `next` runs.
    Desired { client: ClientId, request: MpiSetDesiredRequest, next: usize, failures: Vec<ObjectFailure> },
    /// `MpiGetReported`: `Reported` entry `next` runs; the values gathered so far, by entry.
    Reported { client: ClientId, next: usize, values: Vec<(usize, Vec<u8>)> },
}

/// A job's outcome so far.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The answer.
    Done(Answer),
    /// A module call waits for its host.
    Wait(Pending),
}

fn done(response: Response) -> Outcome {
    Outcome::Done(Answer { response, failures: Vec::new() })
}

/// A call naming a session that is not open (never opened, closed, or reaped after its idle timeout).
fn unknown_session() -> Outcome {
    done(answers::failure(Errno::EINVAL))
}

/// Errno of `MpiOpen` when the caller is at its session bound: 24, `EMFILE` (too many open files).
const SESSION_LIMIT: Errno = Errno(libc::EMFILE);

impl Engine {
    /// Runs `call` as far as it goes without waiting.
    pub(super) fn start_job(&mut self, call: Call) -> Outcome {
        let now = Instant::now();
        match call {
            Call::Open(r, uid) => done(self.open(r, uid, now)),
            Call::Close(r) => {
                if let Some(client) = self.sessions.close(&r.client_session) {
                    self.manager.close_later(client);
                    log::info!("MPI session of client {client} closed");
                }
                done(answers::ok(Vec::new()))
            }
            Call::Set(r) => {
                let Some(client) = self.sessions.touch(&r.client_session, now) else { return unknown_session() };
                let payload = r.payload.get().as_bytes();
                if self.violation("MpiSet", &r.component_name, &r.object_name, payload).is_some() {
                    return done(answers::failure(Errno::EINVAL));
                }
                let op = ModuleOp::Set {
                    component: r.component_name.clone(),
                    object: r.object_name.clone(),
                    payload: payload.to_vec(),
                };
                let pending = Pending::One { set: true, component: r.component_name, object: r.object_name };
                match self.manager.begin(client, op) {
                    Progress::Done(result) => self.resume_job(pending, result),
                    Progress::Waiting => Outcome::Wait(pending),
                }
            }
            Call::Get(r) => {
                let Some(client) = self.sessions.touch(&r.client_session, now) else { return unknown_session() };
                let op = ModuleOp::Get { component: r.component_name.clone(), object: r.object_name.clone() };
                let pending = Pending::One { set: false, component: r.component_name, object: r.object_name };
                match self.manager.begin(client, op) {
                    Progress::Done(result) => self.resume_job(pending, result),
                    Progress::Waiting => Outcome::Wait(pending),
                }
            }
            Call::SetDesired(r) => {
                let Some(client) = self.sessions.touch(&r.client_session, now) else { return unknown_session() };
                self.desired(client, r, 0, Vec::new())
            }
            Call::GetReported(r) => {
                let Some(client) = self.sessions.touch(&r.client_session, now) else { return unknown_session() };
                let values = Vec::with_capacity(self.config.reported.len());
                self.reported(client, 0, values)
            }
            Call::Modules => done(answers::ok(crate::status::modules_body(&self.manager.reports(), &self.catalog))),
            Call::Status => done(answers::ok(crate::status::status_body(
                &self.shared,
                self.sessions.len(),
                self.manager.reports().len(),
            ))),
        }
    }

    /// Goes on with a job whose module call finished with `result`.
    pub(super) fn resume_job(&mut self, pending: Pending, result: Result<Vec<u8>, Errno>) -> Outcome {
        match pending {
            Pending::One { set, component, object } => done(answers::outcome(match result {
                // MpiSet answers nothing.
                Ok(_) if set => Ok(Vec::new()),
                Ok(value) => Ok(value),
                Err(errno) if set => {
                    log::info!("MpiSet {component}.{object} failed: errno {}", errno.code());
                    Err(errno)
                }
                Err(errno) => {
                    log::debug!("MpiGet {component}.{object} failed: errno {}", errno.code());
                    Err(errno)
                }
            })),
            Pending::Desired { client, request, next, mut failures } => {
                let object = &request.objects[next];
                note_desired(&object.component_name, &object.object_name, result, None, &mut failures);
                self.desired(client, request, next + 1, failures)
            }
            Pending::Reported { client, next, mut values } => {
                match result {
                    Ok(value) => values.push((next, value)),
                    Err(errno) => {
                        let entry = &self.config.reported[next];
                        log::debug!("reported {}.{} left out: errno {}", entry.component, entry.object, errno.code())
                    }
                }
                self.reported(client, next + 1, values)
            }
        }
    }

    fn open(&mut self, r: osconfig_rest::MpiOpenRequest, uid: u32, now: Instant) -> Response {
        match self.sessions.open(now, uid, self.config.mpi_session_reclaim_idle) {
            Ok(Opened { id, client, reclaimed }) => {
                if let Some(old) = reclaimed {
                    log::info!(
                        "MPI session of client {old} closed to make room for {:?} (uid {uid}): unused for {} s or more",
                        r.client_name,
                        self.config.mpi_session_reclaim_idle.as_secs()
                    );
                    self.manager.close_later(old);
                }
                let expiry = now + self.config.mpi_session_idle_timeout;
                self.reap_at = Some(self.reap_at.map_or(expiry, |at| at.min(expiry)));
                self.manager.open(client, &r.client_name, r.max_payload_size_bytes);
                log::info!("MPI session opened for {:?} (client {client})", r.client_name);
                answers::ok(json_string(&id))
            }
            Err(OpenError::TooMany) => {
                log::warn!("MpiOpen from {:?} (uid {uid}) refused: too many sessions", r.client_name);
                answers::failure(SESSION_LIMIT)
            }
            Err(OpenError::Random(e)) => {
                log::error!("MpiOpen: no random session id: {e}");
                answers::failure(Errno::EIO)
            }
        }
    }

    /// `MpiSetDesired` from object `next` on: every object in document order (a MIM violation fails it without a
    /// module call), a failure logged and the next one tried; the answer is the first failure's errno.
    fn desired(
        &mut self,
        client: ClientId,
        request: MpiSetDesiredRequest,
        mut next: usize,
        mut failures: Vec<ObjectFailure>,
    ) -> Outcome {
        while let Some(object) = request.objects.get(next) {
            let (component, name) = (&object.component_name, &object.object_name);
            let payload = object.payload.get().as_bytes();
            if let Some(violation) = self.violation("desired object", component, name, payload) {
                note_desired(component, name, Err(Errno::EINVAL), Some(violation), &mut failures);
                next += 1;
                continue;
            }
            let op = ModuleOp::Set { component: component.clone(), object: name.clone(), payload: payload.to_vec() };
            match self.manager.begin(client, op) {
                Progress::Done(result) => {
                    note_desired(component, name, result, None, &mut failures);
                    next += 1;
                }
                Progress::Waiting => return Outcome::Wait(Pending::Desired { client, request, next, failures }),
            }
        }
        let response = answers::outcome(failures.first().map_or(Ok(Vec::new()), |f| Err(f.errno)));
        Outcome::Done(Answer { response, failures })
    }

    /// `MpiGetReported` from `Reported` entry `next` on: entries that fail are left out; the answer groups the
    /// values by component in first-appearance order.
    fn reported(&mut self, client: ClientId, mut next: usize, mut values: Vec<(usize, Vec<u8>)>) -> Outcome {
        while let Some(entry) = self.config.reported.get(next) {
            let op = ModuleOp::Get { component: entry.component.clone(), object: entry.object.clone() };
            match self.manager.begin(client, op) {
                Progress::Done(Ok(value)) => values.push((next, value)),
                Progress::Done(Err(errno)) => {
                    log::debug!("reported {}.{} left out: errno {}", entry.component, entry.object, errno.code())
                }
                Progress::Waiting => return Outcome::Wait(Pending::Reported { client, next, values }),
            }
            next += 1;
        }
        let reported = &self.config.reported;
        let entries: Vec<(&str, &str, &[u8])> = values
            .iter()
            .map(|(i, v)| (reported[*i].component.as_str(), reported[*i].object.as_str(), v.as_slice()))
            .collect();
        done(answers::ok(reported_body(&entries)))
    }

    /// The MIM check of one desired payload: the violation's text, logged.
    fn violation(&self, what: &str, component: &str, object: &str, payload: &[u8]) -> Option<String> {
        let violation = self.catalog.check_desired(component, object, payload).err()?.to_string();
        log::warn!("{what} refused by the MIM: {violation}");
        Some(violation)
    }
}

/// Logs one desired object's result and records its failure.
fn note_desired(
    component: &str,
    object: &str,
    result: Result<Vec<u8>, Errno>,
    violation: Option<String>,
    failures: &mut Vec<ObjectFailure>,
) {
    match result {
        Ok(_) => log::debug!("desired {component}.{object}: applied"),
        Err(errno) => {
            log::warn!("desired {component}.{object}: failed with errno {}", errno.code());
            failures.push(ObjectFailure { component: component.into(), object: object.into(), errno, violation });
        }
    }
}
