//! Generic JSON webhooks (chat tools, ticketing), optionally signed with HMAC-SHA256.
use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::Sha256;

use crate::config::SecretRef;

/// Header carrying `sha256=<hex HMAC-SHA256 of the exact body bytes>`.
pub const SIGNATURE_HEADER: &str = "X-Natsdr-Signature";

/// A webhook endpoint. It receives every notification, `Info` included, as the JSON of
/// [`Notification`](super::Notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// A name for logs (e.g. `slack-oncall`); the metric label stays `webhook`.
    pub name: String,
    /// Where to POST. Treated as sensitive: it never appears in delivery errors or logs.
    pub url: Url,
    /// When set, every request is signed with it (see [`SIGNATURE_HEADER`]).
    pub secret: Option<SecretRef>,
}

/// The value of [`SIGNATURE_HEADER`] for `body` signed with `key`: `sha256=` and 64 lower-case
/// hex digits. Receivers recompute it over the raw body and compare in constant time.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    // NB: HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Checks a [`SIGNATURE_HEADER`] value against `body` in constant time.
pub fn verify_signature(key: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Some(given) = decode_hex(hex) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_rfc_4231_test_case_2() {
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_signature_verifies_only_for_the_same_key_and_body() {
        let sig = signature(b"k", b"{\"a\":1}");
        assert!(verify_signature(b"k", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"other", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"k", b"{\"a\":2}", &sig));
        assert!(!verify_signature(b"k", b"{\"a\":1}", &sig[7..]));
        assert!(!verify_signature(b"k", b"{\"a\":1}", "sha256=zz"));
    }
}
