//! Signed acknowledge links: one click in Slack or an email acknowledges the incident. The link
//! carries the incident, the receiver it was sent to and an expiry, signed with HMAC-SHA256
//! under `--incidents.ack-secret-file`, so nobody can forge one or use it after it expires.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum LinkError {
    #[error("the acknowledge link's signature is not valid")]
    BadSignature,
    #[error("the acknowledge link expired")]
    Expired,
}

#[derive(Clone)]
pub struct AckLinks {
    secret: Vec<u8>,
    ttl: std::time::Duration,
    external_url: String,
}

impl AckLinks {
    pub fn new(secret: Vec<u8>, ttl: std::time::Duration, external_url: &str) -> AckLinks {
        AckLinks {
            secret,
            ttl,
            external_url: external_url.trim_end_matches('/').to_string(),
        }
    }

    fn mac(&self, incident: &str, via: &str, expires: i64) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).ok()?;
        // Newline-separated: none of the parts can contain one unnoticed (ids are hex, the
        // receiver is a config name, the expiry a number).
        mac.update(format!("ack\n{incident}\n{via}\n{expires}").as_bytes());
        Some(mac)
    }

    /// The link for `incident` as sent to receiver `via`, valid for the configured time.
    pub fn link(&self, incident: &str, via: &str, now: i64) -> String {
        let expires = now.saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX));
        let sig = self
            .mac(incident, via, expires)
            .map(|m| hex::encode(m.finalize().into_bytes()))
            .unwrap_or_default();
        let mut url = format!("{}/api/v1/incidents/{incident}/ack?", self.external_url);
        url.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .append_pair("via", via)
                .append_pair("expires", &expires.to_string())
                .append_pair("sig", &sig)
                .finish(),
        );
        url
    }

    /// Checks a link's signature (in constant time) and expiry.
    pub fn verify(
        &self,
        incident: &str,
        via: &str,
        expires: i64,
        sig: &str,
        now: i64,
    ) -> Result<(), LinkError> {
        let expected = hex::decode(sig).map_err(|_| LinkError::BadSignature)?;
        let mac = self
            .mac(incident, via, expires)
            .ok_or(LinkError::BadSignature)?;
        mac.verify_slice(&expected)
            .map_err(|_| LinkError::BadSignature)?;
        if expires < now {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(link: &str) -> (String, String, i64, String) {
        let url = url::Url::parse(link).unwrap();
        let id = url.path_segments().unwrap().nth(3).unwrap().to_string();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        (
            id,
            q["via"].clone(),
            q["expires"].parse().unwrap(),
            q["sig"].clone(),
        )
    }

    #[test]
    fn signed_links_verify_until_they_expire() {
        let links = AckLinks::new(
            b"secret".to_vec(),
            std::time::Duration::from_secs(60),
            "http://am:9093/",
        );
        let link = links.link("abc", "team pager", 1000);
        assert!(link.starts_with(
            "http://am:9093/api/v1/incidents/abc/ack?via=team+pager&expires=1060&sig="
        ));
        let (id, via, expires, sig) = parts(&link);
        assert_eq!(links.verify(&id, &via, expires, &sig, 1059), Ok(()));
        assert_eq!(
            links.verify(&id, &via, expires, &sig, 1061),
            Err(LinkError::Expired)
        );
        assert_eq!(
            links.verify("abd", &via, expires, &sig, 1000),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            links.verify(&id, &via, expires + 3600, &sig, 1000),
            Err(LinkError::BadSignature),
            "a later expiry is not accepted"
        );
        let other = AckLinks::new(
            b"other".to_vec(),
            std::time::Duration::from_secs(60),
            "http://am:9093",
        );
        assert_eq!(
            other.verify(&id, &via, expires, &sig, 1000),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            links.verify(&id, &via, expires, "zz", 1000),
            Err(LinkError::BadSignature)
        );
    }
}
