//! `ModuleClient`: a module identity's connection to IoT Hub over the SDK's lower-layer (LL) API.
//!
//! No SDK thread: the caller drives everything with [`ModuleClient::do_work`], and the SDK's callbacks run inside
//! the calls of this type (`do_work`, `send_reported`, and `IoTHubModuleClient_LL_Destroy` on drop), on the caller's
//! thread. They queue [`Event`]s in a heap allocation owned by the client (a stable address, freed after `Destroy`),
//! which [`ModuleClient::drain_events`] hands over. Every callback catches panics: none crosses into C.
//!
//! `ModuleClient` is neither `Send` nor `Sync` (it holds raw pointers): the SDK's LL handle is not thread-safe.

use std::ffi::CString;
use std::os::raw::{c_int, c_uchar, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use crate::error::static_text;
use crate::events::EventQueue;
use crate::{ffi, init, Event, SdkError};

/// At most this many reported patches wait for the hub's answer ([`Event::ReportedDone`]); `send_reported` refuses
/// more. The SDK answers each one (the hub's status, 408 after its 5-minute timeout, or 0 on destroy).
pub const MAX_REPORTS_IN_FLIGHT: usize = 32;

/// Which transport the client uses: MQTT on port 8883, or MQTT over WebSocket on port 443.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Mqtt,
    MqttWebSocket,
}

impl Protocol {
    fn provider(self) -> ffi::IOTHUB_CLIENT_TRANSPORT_PROVIDER {
        match self {
            Protocol::Mqtt => Some(ffi::MQTT_Protocol),
            Protocol::MqttWebSocket => Some(ffi::MQTT_WebSocket_Protocol),
        }
    }
}

/// The context of one `SendReportedState`: where to queue the answer, and the caller's token.
#[derive(Debug)]
struct ReportSlot {
    queue: *mut EventQueue,
    token: u64,
    busy: bool,
}

/// A module client (`IOTHUB_MODULE_CLIENT_LL_HANDLE`), destroyed on drop.
#[derive(Debug)]
pub struct ModuleClient {
    handle: ffi::IOTHUB_MODULE_CLIENT_LL_HANDLE,
    /// Box::into_raw of the callbacks' queue; freed in Drop, after Destroy.
    queue: *mut EventQueue,
    /// Box::into_raw of [`MAX_REPORTS_IN_FLIGHT`] slots (stable addresses for SendReportedState's context); freed in
    /// Drop, after Destroy.
    slots: *mut [ReportSlot],
}

impl ModuleClient {
    /// A client for the module identity of a connection string (`HostName=..;DeviceId=..;ModuleId=..;` and
    /// `SharedAccessKey=..`, `SharedAccessSignature=..` or `x509=true`; `GatewayHostName=..` connects elsewhere than
    /// `HostName`). Nothing is sent before [`do_work`](Self::do_work). Calls [`init`] first.
    pub fn from_connection_string(cs: &str, protocol: Protocol) -> Result<ModuleClient, SdkError> {
        const OPERATION: &str = "IoTHubModuleClient_LL_CreateFromConnectionString";
        init()?;
        // The connection string holds a secret: no error message repeats it.
        let cs = CString::new(cs).map_err(|_| SdkError::new(OPERATION, "the connection string holds a NUL byte"))?;
        // SAFETY: a NUL-terminated string that outlives the call (the SDK copies what it keeps), and one of the SDK's
        // own transport providers.
        let handle = unsafe { ffi::IoTHubModuleClient_LL_CreateFromConnectionString(cs.as_ptr(), protocol.provider()) };
        if handle.is_null() {
            return Err(SdkError::new(
                OPERATION,
                "the SDK refused the connection string (it needs HostName with a dot or an IP address, DeviceId, \
                 ModuleId, and SharedAccessKey, SharedAccessSignature or x509=true; the SDK's log says more)",
            ));
        }
        let queue = Box::into_raw(Box::<EventQueue>::default());
        let slots: Box<[ReportSlot]> =
            (0..MAX_REPORTS_IN_FLIGHT).map(|_| ReportSlot { queue, token: 0, busy: false }).collect();
        let client = ModuleClient { handle, queue, slots: Box::into_raw(slots) };
        // SAFETY: a live handle; the callback matches IOTHUB_CLIENT_CONNECTION_STATUS_CALLBACK and its context (the
        // queue) lives until after Destroy.
        let result = unsafe {
            ffi::IoTHubModuleClient_LL_SetConnectionStatusCallback(
                client.handle,
                Some(connection_status_callback),
                client.queue.cast::<c_void>(),
            )
        };
        check("IoTHubModuleClient_LL_SetConnectionStatusCallback", result)?;
        Ok(client)
    }

    /// The Plug and Play model id (`OPTION_MODEL_ID`); before the first `do_work`, once per client.
    pub fn set_model_id(&mut self, model_id: &str) -> Result<(), SdkError> {
        let value = c_string("model id", model_id)?;
        self.set_option(ffi::OPTION_MODEL_ID, value.as_ptr().cast::<c_void>())
    }

    /// CA certificates to trust besides the system's (`OPTION_TRUSTED_CERT`): the PEM text, not a path.
    pub fn set_trusted_certs(&mut self, pem: &str) -> Result<(), SdkError> {
        let value = c_string("trusted certificates", pem)?;
        self.set_option(ffi::OPTION_TRUSTED_CERT, value.as_ptr().cast::<c_void>())
    }

    /// The client certificate and its private key, PEM text (`OPTION_X509_CERT`, `OPTION_X509_PRIVATE_KEY`), for a
    /// connection string with `x509=true`; the SDK refuses them for a SAS identity.
    pub fn set_x509(&mut self, cert_pem: &str, key_pem: &str) -> Result<(), SdkError> {
        let cert = c_string("x509 certificate", cert_pem)?;
        let key = c_string("x509 private key", key_pem)?;
        self.set_option(ffi::OPTION_X509_CERT, cert.as_ptr().cast::<c_void>())?;
        self.set_option(ffi::OPTION_X509_PRIVATE_KEY, key.as_ptr().cast::<c_void>())
    }

    /// The client certificate (PEM text) with a private key held by an OpenSSL engine (`OPTION_OPENSSL_ENGINE`
    /// `engine`, `OPTION_OPENSSL_PRIVATE_KEY_TYPE` `KEY_TYPE_ENGINE`, `OPTION_X509_CERT`, and `OPTION_X509_PRIVATE_KEY`
    /// `key_id`), for a connection string with `x509=true`. The SDK loads the engine (`ENGINE_by_id`, which also
    /// loads `<id>.so` from OpenSSL's engines directory) and the key (`ENGINE_load_private_key(key_id)`) when it opens
    /// the TLS connection: an engine or key that cannot be loaded shows as a failed connection, which is why
    /// [`openssl_engine_available`](crate::openssl_engine_available) exists. Once per client.
    pub fn set_x509_engine(&mut self, cert_pem: &str, engine: &str, key_id: &str) -> Result<(), SdkError> {
        let cert = c_string("x509 certificate", cert_pem)?;
        let engine = c_string("OpenSSL engine id", engine)?;
        let key_id = c_string("engine key id", key_id)?;
        let key_type: ffi::OPTION_OPENSSL_KEY_TYPE = ffi::KEY_TYPE_ENGINE;
        self.set_option(ffi::OPTION_OPENSSL_ENGINE, engine.as_ptr().cast::<c_void>())?;
        self.set_option(ffi::OPTION_OPENSSL_PRIVATE_KEY_TYPE, ptr::addr_of!(key_type).cast::<c_void>())?;
        self.set_option(ffi::OPTION_X509_CERT, cert.as_ptr().cast::<c_void>())?;
        self.set_option(ffi::OPTION_X509_PRIVATE_KEY, key_id.as_ptr().cast::<c_void>())
    }

    /// The MQTT keep-alive interval (`OPTION_KEEP_ALIVE`, seconds; the SDK's default is 240).
    pub fn set_keep_alive(&mut self, seconds: u32) -> Result<(), SdkError> {
        let value = c_int::try_from(seconds).map_err(|_| {
            SdkError::new("IoTHubModuleClient_LL_SetOption(keepalive)", "more seconds than an int holds")
        })?;
        self.set_option(ffi::OPTION_KEEP_ALIVE, ptr::addr_of!(value).cast::<c_void>())
    }

    /// No reconnection by the SDK (`IOTHUB_CLIENT_RETRY_NONE`): once the connection is lost, or the first one fails,
    /// an `Event::Connection { up: false, .. }` comes and the client stays down; the caller drops it and creates a
    /// new one on its own back-off (the SDK's default would be exponential back-off with jitter, without end).
    pub fn set_retry_policy_none(&mut self) -> Result<(), SdkError> {
        // SAFETY: a live handle; the policy is one of the SDK's values, and 0 is "no timeout".
        let result =
            unsafe { ffi::IoTHubModuleClient_LL_SetRetryPolicy(self.handle, ffi::IOTHUB_CLIENT_RETRY_NONE, 0) };
        check("IoTHubModuleClient_LL_SetRetryPolicy(IOTHUB_CLIENT_RETRY_NONE)", result)
    }

    /// Twin callbacks (`SetModuleTwinCallback`): once connected the SDK fetches the full twin by itself
    /// (`Event::Twin { complete: true, .. }`), then subscribes to desired patches (`complete: false`).
    pub fn subscribe_twin(&mut self) -> Result<(), SdkError> {
        // SAFETY: a live handle; the callback matches IOTHUB_CLIENT_DEVICE_TWIN_CALLBACK and its context (the queue)
        // lives until after Destroy.
        let result = unsafe {
            ffi::IoTHubModuleClient_LL_SetModuleTwinCallback(
                self.handle,
                Some(twin_callback),
                self.queue.cast::<c_void>(),
            )
        };
        check("IoTHubModuleClient_LL_SetModuleTwinCallback", result)
    }

    /// Asks for the full twin (`GetTwinAsync`): it comes as `Event::Twin { complete: true, .. }` (an empty payload if
    /// the SDK gave up).
    pub fn get_twin(&mut self) -> Result<(), SdkError> {
        // SAFETY: as in subscribe_twin.
        let result = unsafe {
            ffi::IoTHubModuleClient_LL_GetTwinAsync(self.handle, Some(twin_callback), self.queue.cast::<c_void>())
        };
        check("IoTHubModuleClient_LL_GetTwinAsync", result)
    }

    /// Sends a reported-properties patch (a JSON object); its answer comes as `Event::ReportedDone { token, .. }`.
    pub fn send_reported(&mut self, patch: &[u8], token: u64) -> Result<(), SdkError> {
        const OPERATION: &str = "IoTHubModuleClient_LL_SendReportedState";
        if patch.is_empty() {
            return Err(SdkError::new(OPERATION, "an empty patch (the SDK needs at least one byte)"));
        }
        // SAFETY: `slots` is the live allocation made in from_connection_string; callbacks only run inside our own
        // SDK calls, so no other reference to it exists now.
        let slots = unsafe { &mut *self.slots };
        let Some(index) = slots.iter().position(|s| !s.busy) else {
            return Err(SdkError::new(
                OPERATION,
                format!("{MAX_REPORTS_IN_FLIGHT} reported patches already wait for the hub's answer"),
            ));
        };
        slots[index].token = token;
        slots[index].busy = true;
        let context = ptr::addr_of_mut!(slots[index]).cast::<c_void>();
        // SAFETY: a live handle; the SDK copies the patch; the callback matches IOTHUB_CLIENT_REPORTED_STATE_CALLBACK
        // and its context (a slot) lives until after Destroy.
        let result = unsafe {
            ffi::IoTHubModuleClient_LL_SendReportedState(
                self.handle,
                patch.as_ptr(),
                patch.len(),
                Some(reported_callback),
                context,
            )
        };
        if result != ffi::IOTHUB_CLIENT_OK {
            // SAFETY: as above; the SDK did not keep the context.
            unsafe { (*self.slots)[index].busy = false };
        }
        check(OPERATION, result)
    }

    /// Lets the SDK do its work: connect, send, receive, time out, call the callbacks (`IoTHubModuleClient_LL_DoWork`).
    /// Call it every few milliseconds to every 100 ms, then [`drain_events`](Self::drain_events). If a desired patch
    /// had to be dropped for want of queue room, this asks for the full twin.
    pub fn do_work(&mut self) {
        // SAFETY: a live handle; the callbacks it runs touch only the queue and slots, through their raw pointers.
        unsafe { ffi::IoTHubModuleClient_LL_DoWork(self.handle) };
        // SAFETY: the live queue; DoWork has returned, so no callback holds it.
        let twin_lost = unsafe { (*self.queue).take_twin_lost() };
        if twin_lost {
            if let Err(e) = self.get_twin() {
                log::error!("azure-iot-sdk: the full twin cannot be asked for after a dropped patch (next do_work tries again): {e}");
                // SAFETY: as above.
                unsafe { (*self.queue).set_twin_lost() };
            }
        }
    }

    /// Moves the events the callbacks queued since the last call into `into`, oldest first.
    pub fn drain_events(&mut self, into: &mut Vec<Event>) {
        // SAFETY: the live queue; no callback runs outside our SDK calls.
        unsafe { (*self.queue).drain_into(into) };
    }

    fn set_option(&mut self, name: &[u8], value: *const c_void) -> Result<(), SdkError> {
        let shown = String::from_utf8_lossy(name.strip_suffix(b"\0").unwrap_or(name)).into_owned();
        // SAFETY: a live handle; `name` is one of the SDK's NUL-terminated option names, `value` points to what that
        // option takes and outlives the call (the SDK copies it).
        let result = unsafe { ffi::IoTHubModuleClient_LL_SetOption(self.handle, name.as_ptr().cast(), value) };
        check(&format!("IoTHubModuleClient_LL_SetOption({shown})"), result)
    }
}

impl Drop for ModuleClient {
    fn drop(&mut self) {
        // SAFETY: the live handle, destroyed once; Destroy may still run reported-state callbacks (status 0), whose
        // contexts are freed only below.
        unsafe { ffi::IoTHubModuleClient_LL_Destroy(self.handle) };
        // SAFETY: both came from Box::into_raw in from_connection_string and the SDK holds no pointer to them now.
        unsafe {
            drop(Box::from_raw(self.slots));
            drop(Box::from_raw(self.queue));
        }
    }
}

fn check(operation: &str, result: ffi::IOTHUB_CLIENT_RESULT) -> Result<(), SdkError> {
    if result == ffi::IOTHUB_CLIENT_OK {
        Ok(())
    } else {
        Err(SdkError::from_result(operation, result))
    }
}

fn c_string(what: &str, value: &str) -> Result<CString, SdkError> {
    CString::new(value).map_err(|_| SdkError::new(format!("the {what}"), "holds a NUL byte"))
}

/// Runs a callback's body with panics caught: none may unwind into the SDK.
fn guarded(name: &str, body: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(body)).is_err() {
        log::error!("azure-iot-sdk: the {name} callback panicked; its event is lost");
    }
}

extern "C" fn connection_status_callback(
    status: ffi::IOTHUB_CLIENT_CONNECTION_STATUS,
    reason: ffi::IOTHUB_CLIENT_CONNECTION_STATUS_REASON,
    context: *mut c_void,
) {
    guarded("connection status", || {
        // SAFETY: the SDK's stringifier takes any value and returns a static string or NULL.
        let text = static_text(unsafe { ffi::IOTHUB_CLIENT_CONNECTION_STATUS_REASONStrings(reason) })
            .unwrap_or_else(|| format!("IOTHUB_CLIENT_CONNECTION_STATUS_REASON {reason}"));
        let up = status == ffi::IOTHUB_CLIENT_CONNECTION_AUTHENTICATED;
        // SAFETY: the context is the client's queue (registered in from_connection_string), alive until after
        // Destroy; the callback runs inside one of the client's SDK calls, which hold no reference to it.
        let queue = unsafe { &mut *context.cast::<EventQueue>() };
        queue.push(Event::Connection { up, reason: text });
    });
}

extern "C" fn twin_callback(
    update_state: ffi::DEVICE_TWIN_UPDATE_STATE,
    payload: *const c_uchar,
    size: usize,
    context: *mut c_void,
) {
    guarded("twin", || {
        let payload = if payload.is_null() || size == 0 {
            Vec::new()
        } else {
            // SAFETY: the SDK passes `size` readable bytes at `payload` for the duration of the call.
            unsafe { std::slice::from_raw_parts(payload, size) }.to_vec()
        };
        let complete = update_state == ffi::DEVICE_TWIN_UPDATE_COMPLETE;
        // SAFETY: as in connection_status_callback.
        let queue = unsafe { &mut *context.cast::<EventQueue>() };
        queue.push(Event::Twin { complete, payload });
    });
}

extern "C" fn reported_callback(status_code: c_int, context: *mut c_void) {
    guarded("reported state", || {
        let slot = context.cast::<ReportSlot>();
        // SAFETY: the context is a slot of the client's slot array (send_reported), alive until after Destroy; the
        // slot and the queue are separate allocations, and no reference to either is held during SDK calls.
        let (queue, token) = unsafe {
            (*slot).busy = false;
            ((*slot).queue, (*slot).token)
        };
        // SAFETY: as in connection_status_callback.
        let queue = unsafe { &mut *queue };
        queue.push(Event::ReportedDone { token, status: status_code });
    });
}
