//! # azure-iot-sdk-sys: the Azure IoT C SDK's module client
//!
//! Bindings (bindgen, [`ffi`]) to the lower-layer module client of the Azure IoT C SDK found on the system
//! (`AZURE_IOT_SDK_DIR` or pkg-config `azure-iot-sdk-c`, see README.md), and a small safe layer the IoT Hub agent
//! uses: [`init`], [`ModuleClient`] (MQTT or MQTT over WebSocket, twin callbacks, reported state, options) and the
//! [`Event`]s its callbacks queue. No SDK thread: the caller drives [`ModuleClient::do_work`].

pub mod ffi;

mod engine;
mod error;
mod events;
mod init;
mod module_client;

pub use engine::openssl_engine_available;
pub use error::SdkError;
pub use events::{Event, EVENT_QUEUE_CAPACITY};
pub use init::init;
pub use module_client::{ModuleClient, Protocol, MAX_REPORTS_IN_FLIGHT};
