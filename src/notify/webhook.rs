//! Generic JSON webhooks (chat tools, ticketing), optionally signed with HMAC-SHA256.
//!
//! A signed request carries two signatures over the same body: the Standard Webhooks scheme
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` over
//! `id.timestamp.body`), which a receiver can check for freshness and replays, and the older
//! `X-Natsdr-Signature: sha256=<hex>` over the body alone, kept for existing receivers.
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::{Digest, Sha256};

use crate::config::SecretRef;

/// Header carrying `sha256=<hex HMAC-SHA256 of the exact body bytes>`.
pub const SIGNATURE_HEADER: &str = "X-Natsdr-Signature";

/// Standard Webhooks: the message's id, the same on every retry of one notification.
pub const ID_HEADER: &str = "webhook-id";
/// Standard Webhooks: when this attempt was signed, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Standard Webhooks: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
pub const STANDARD_SIGNATURE_HEADER: &str = "webhook-signature";
/// How far from its own clock a receiver accepts a timestamp (the Standard Webhooks default):
/// an older request is a replay.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

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

/// The HMAC key for a configured secret: a Standard Webhooks secret (`whsec_` and base64) is
/// decoded, any other secret is used as its bytes.
pub fn signing_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The message id of `body`: stable across retries of one notification (the body does not
/// change), different for every notification (each carries its own transition and time).
pub fn message_id(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut id = String::from("msg_");
    for b in &digest[..16] {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// The [`STANDARD_SIGNATURE_HEADER`] value for `body` sent as message `id` at `timestamp`.
pub fn standard_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Why a receiver refuses a Standard Webhooks request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StandardVerifyError {
    /// A header is missing or not text.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The timestamp is not a number of seconds.
    #[error("{TIMESTAMP_HEADER} is not a Unix time")]
    BadTimestamp,
    /// The timestamp is further than [`TOLERANCE`] from the receiver's clock: a replay, or a
    /// clock far off.
    #[error("{TIMESTAMP_HEADER} is {0} s from now (tolerance {tol} s)", tol = TOLERANCE.as_secs())]
    Stale(i64),
    /// No `v1` signature in the header matches.
    #[error("{STANDARD_SIGNATURE_HEADER} does not match the id, timestamp and body")]
    Mismatch,
}

/// Checks a Standard Webhooks request as a receiver does: the timestamp within [`TOLERANCE`] of
/// `now` (Unix seconds), and one of the space-separated `v1,` signatures matching, compared in
/// constant time. `id`, `timestamp` and `signature` are the header values, when present.
pub fn verify_standard(
    key: &[u8],
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), StandardVerifyError> {
    let id = id.ok_or(StandardVerifyError::Missing(ID_HEADER))?;
    let ts = timestamp.ok_or(StandardVerifyError::Missing(TIMESTAMP_HEADER))?;
    let signature = signature.ok_or(StandardVerifyError::Missing(STANDARD_SIGNATURE_HEADER))?;
    let ts: i64 = ts.parse().map_err(|_| StandardVerifyError::BadTimestamp)?;
    let off = ts - now;
    if off.unsigned_abs() > TOLERANCE.as_secs() {
        return Err(StandardVerifyError::Stale(off));
    }
    let matches = signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|given| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
            mac.update(format!("{id}.{ts}.").as_bytes());
            mac.update(body);
            mac.verify_slice(&given).is_ok()
        });
    if matches {
        Ok(())
    } else {
        Err(StandardVerifyError::Mismatch)
    }
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

    /// The published Standard Webhooks example: secret, id, timestamp, body and signature.
    #[test]
    fn the_standard_signature_matches_the_published_example() {
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = br#"{"test": 2432232314}"#;
        let sig = standard_signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let id = Some("msg_p5jXN8AQM9LWM0D4loKWxJek");
        let ts = Some("1614265330");
        assert_eq!(
            verify_standard(&key, id, ts, Some(&sig), body, 1614265330 + 60),
            Ok(())
        );
        // Receivers accept a list; one matching v1 signature is enough.
        let list = format!("v1,AAAA {sig}");
        assert_eq!(
            verify_standard(&key, id, ts, Some(&list), body, 1614265330),
            Ok(())
        );
    }

    #[test]
    fn a_replayed_or_altered_request_is_refused() {
        let key = signing_key("plain secret");
        assert_eq!(key, b"plain secret");
        let body = b"{\"a\":1}";
        let id = message_id(body);
        let sig = standard_signature(&key, &id, 1_000_000, body);
        let check = |id: &str, ts: &str, body: &[u8], now: i64| {
            verify_standard(&key, Some(id), Some(ts), Some(&sig), body, now)
        };
        assert_eq!(check(&id, "1000000", body, 1_000_000 + 299), Ok(()));
        assert_eq!(
            check(&id, "1000000", body, 1_000_000 + 301),
            Err(StandardVerifyError::Stale(-301))
        );
        assert_eq!(
            check(&id, "1000001", body, 1_000_000),
            Err(StandardVerifyError::Mismatch),
            "a timestamp moved forward no longer matches"
        );
        assert_eq!(
            check("msg_other", "1000000", body, 1_000_000),
            Err(StandardVerifyError::Mismatch)
        );
        assert_eq!(
            check(&id, "1000000", b"{\"a\":2}", 1_000_000),
            Err(StandardVerifyError::Mismatch)
        );
        assert_eq!(
            verify_standard(&key, Some(&id), None, Some(&sig), body, 0),
            Err(StandardVerifyError::Missing(TIMESTAMP_HEADER))
        );
    }

    #[test]
    fn a_message_id_is_stable_for_one_body_and_differs_between_bodies() {
        assert_eq!(message_id(b"x"), message_id(b"x"));
        assert_ne!(message_id(b"x"), message_id(b"y"));
        assert!(message_id(b"x").starts_with("msg_"));
        assert_eq!(message_id(b"x").len(), 4 + 32);
    }
}
