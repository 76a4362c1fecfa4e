//! Shared access signature tokens for a module identity, signed elsewhere (by the Identity Service's keyd).
//!
//! `sr` is the URL-encoded `<hub>/devices/<device>/modules/<module>`; the string to sign is `<sr>\n<expiry>`
//! (expiry in Unix seconds); the token is `SharedAccessSignature sr=<sr>&sig=<URL-encoded base64 HMAC>&se=<expiry>`.

use std::time::Duration;

use super::encode::url_encode;

/// Token lifetime unless told otherwise: one hour.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Shortest token lifetime accepted (tests use short ones; IoT Hub rejects already-expired tokens).
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(2);
/// Renewal happens when this share (in percent) of the lifetime has passed.
pub const RENEW_AT_PERCENT: u32 = 80;

/// The URL-encoded resource URI (`sr`) of a module.
pub fn resource_uri(hub: &str, device: &str, module: &str) -> String {
    url_encode(&format!("{hub}/devices/{device}/modules/{module}"))
}

/// The text whose HMAC-SHA256 is the signature: `<sr>\n<expiry>`.
pub fn string_to_sign(sr: &str, expiry: u64) -> String {
    format!("{sr}\n{expiry}")
}

/// The token from the resource URI, the base64 signature and the expiry.
pub fn token(sr: &str, signature_base64: &str, expiry: u64) -> String {
    format!("SharedAccessSignature sr={sr}&sig={}&se={expiry}", url_encode(signature_base64))
}

/// How long after issuing a token of `lifetime` it is renewed ([`RENEW_AT_PERCENT`] of it).
pub fn renew_after(lifetime: Duration) -> Duration {
    lifetime * RENEW_AT_PERCENT / 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_token_parts() {
        let sr = resource_uri("hub.azure-devices.net", "dev 1", "osconfig");
        assert_eq!(sr, "hub.azure-devices.net%2Fdevices%2Fdev%201%2Fmodules%2Fosconfig");
        assert_eq!(string_to_sign(&sr, 1700000000), format!("{sr}\n1700000000"));
        assert_eq!(
            token(&sr, "ab+c/d=", 1700000000),
            format!("SharedAccessSignature sr={sr}&sig=ab%2Bc%2Fd%3D&se=1700000000")
        );
        assert_eq!(renew_after(Duration::from_secs(100)), Duration::from_secs(80));
    }
}
