//! # osconfig-agent: the IoT Hub agent (`osconfig`)
//!
//! Syncs an Azure IoT Hub *module twin* with the OSConfig platform over the MPI, as just another MPI client
//! (spec section 8): desired properties go to the platform (`MpiSet`) and are acknowledged; `Reported` objects
//! (`MpiGet`) go to the hub when they change. See the crate's `README.md` for the command line and operation.
//!
//! - [`args`]: the command line; [`config`]: the keys of `osconfig.json` the agent reads.
//! - [`identity`]: connection strings and the Azure Identity Service (SAS tokens signed by keyd, renewed).
//! - [`twin`]: the twin logic, independent of the transport, with the platform behind a trait.
//! - [`transport`]: the hub link behind a trait: the Azure IoT C SDK (`azure-iot-sdk-sys`) and a fake for tests.
//! - [`agent`]: the loop that ties them together: reconnects with back-off ([`backoff`]), renews tokens,
//!   reports every `ReportingIntervalSeconds`, stops on SIGTERM ([`signals`]), tells systemd ([`notify`]).

pub mod agent;
pub mod args;
pub mod backoff;
pub mod config;
pub mod identity;
pub mod notify;
pub mod signals;
pub mod transport;
pub mod twin;
