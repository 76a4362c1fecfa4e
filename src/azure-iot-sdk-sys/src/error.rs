//! `SdkError`: which SDK call failed, and the SDK's result (`IOTHUB_CLIENT_RESULT` as text) or what was wrong.

use std::ffi::CStr;
use std::fmt;

use crate::ffi;

/// A failed call into the SDK, or input the SDK cannot take (a NUL byte in a string, for example).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkError {
    operation: String,
    detail: String,
}

impl SdkError {
    pub(crate) fn new(operation: impl Into<String>, detail: impl Into<String>) -> SdkError {
        SdkError { operation: operation.into(), detail: detail.into() }
    }

    /// An `IOTHUB_CLIENT_RESULT` other than `IOTHUB_CLIENT_OK`, named as the SDK names it.
    pub(crate) fn from_result(operation: impl Into<String>, result: ffi::IOTHUB_CLIENT_RESULT) -> SdkError {
        SdkError::new(operation, result_text(result))
    }

    /// What failed: the SDK function (and option), or the step of this crate.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// Why: the SDK's result (`IOTHUB_CLIENT_INVALID_ARG`, ...) or a sentence.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for SdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.operation, self.detail)
    }
}

impl std::error::Error for SdkError {}

/// `IOTHUB_CLIENT_RESULT` as the SDK spells it (`IOTHUB_CLIENT_RESULTStrings`).
pub(crate) fn result_text(result: ffi::IOTHUB_CLIENT_RESULT) -> String {
    // SAFETY: the SDK's stringifier takes any value and returns a static string, or NULL for an unknown value.
    let text = unsafe { ffi::IOTHUB_CLIENT_RESULTStrings(result) };
    static_text(text).unwrap_or_else(|| format!("IOTHUB_CLIENT_RESULT {result}"))
}

/// A static C string from one of the SDK's stringifiers.
pub(crate) fn static_text(text: *const std::os::raw::c_char) -> Option<String> {
    if text.is_null() {
        return None;
    }
    // SAFETY: not NULL, and the SDK's `*Strings` functions return NUL-terminated static strings.
    let text = unsafe { CStr::from_ptr(text) };
    Some(text.to_string_lossy().into_owned())
}
