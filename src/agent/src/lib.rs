//! # osconfig-agent: the IoT Hub agent (`osconfig`)
//!
//! Work in progress (issue 10): syncs an Azure IoT Hub module twin with the platform over the MPI.
