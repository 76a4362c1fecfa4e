//! # azure-iot-sdk-sys: the Azure IoT C SDK's module client
//!
//! Work in progress (issue 10).
