//! Grafana's optional webhook signature: `X-Grafana-Alerting-Signature` is the hex HMAC-SHA256
//! of the body (or of `timestamp:body` when `X-Grafana-Alerting-Signature-Timestamp` is sent)
//! under a secret shared with the contact point.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "x-grafana-alerting-signature";
pub const TIMESTAMP_HEADER: &str = "x-grafana-alerting-signature-timestamp";

/// Whether `signature` (hex) is the HMAC of the body, timestamp-prefixed when one is given.
/// The comparison takes the same time whatever the signature.
pub fn verify(secret: &[u8], timestamp: Option<&str>, body: &[u8], signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    if let Some(ts) = timestamp {
        mac.update(ts.as_bytes());
        mac.update(b":");
    }
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], data: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn verifies_plain_and_timestamped() {
        let body = br#"{"alerts":[]}"#;
        assert!(verify(b"s3cret", None, body, &sign(b"s3cret", body)));
        assert!(!verify(b"other", None, body, &sign(b"s3cret", body)));
        assert!(!verify(b"s3cret", None, b"{}", &sign(b"s3cret", body)));
        let stamped = sign(b"s3cret", br#"1700000000:{"alerts":[]}"#);
        assert!(verify(b"s3cret", Some("1700000000"), body, &stamped));
        assert!(!verify(b"s3cret", Some("1700000001"), body, &stamped));
        assert!(!verify(b"s3cret", None, body, "not hex"));
    }
}
