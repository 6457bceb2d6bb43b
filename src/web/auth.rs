//! HTTP basic authentication against `basic_auth_users`' bcrypt hashes.

use std::collections::HashMap;
use std::sync::OnceLock;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

/// Checks remembered at most. A bcrypt check costs tens of milliseconds by design; Prometheus
/// and amtool send the same credentials on every request, so without the cache each alert
/// batch would pay it.
const CACHE_SIZE: usize = 1024;

#[derive(Default)]
pub struct PasswordCheck {
    /// Keyed by a digest of user, hash and password: the plaintext is not kept.
    cache: Mutex<HashMap<[u8; 32], bool>>,
}

/// A hash of a password nobody has, checked for unknown users so that the answer takes as
/// long as for a known user and does not tell which user names exist.
fn unknown_user_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let random = uuid::Uuid::new_v4().to_string();
        bcrypt::hash(random, bcrypt::DEFAULT_COST).unwrap_or_default()
    })
}

impl PasswordCheck {
    /// Whether `password` is `user`'s, given the user's bcrypt hash if the user exists.
    pub async fn verify(&self, user: &str, hash: Option<&str>, password: &str) -> bool {
        let known = hash.is_some();
        let hash = hash.map(str::to_string);
        let key = cache_key(user, hash.as_deref().unwrap_or(""), password);
        if let Some(&ok) = self.cache.lock().get(&key) {
            return ok && known;
        }
        let password = password.to_string();
        let checked = tokio::task::spawn_blocking(move || {
            let hash = hash.as_deref().unwrap_or_else(|| unknown_user_hash());
            bcrypt::verify(password, hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let ok = checked && known;
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_SIZE {
            // Any tenth will do: the cache only saves work, it decides nothing.
            let evict: Vec<[u8; 32]> = cache.keys().take(CACHE_SIZE / 10).copied().collect();
            for k in evict {
                cache.remove(&k);
            }
        }
        cache.insert(key, ok);
        ok
    }
}

fn cache_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in [user, hash, password] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    digest.finalize().into()
}

/// The user and password of an `Authorization: Basic` header.
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    use base64::Engine;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_right_password_of_a_known_user_passes() {
        let hash = bcrypt::hash("s3cret", 4).unwrap_or_default();
        let check = PasswordCheck::default();
        assert!(check.verify("alice", Some(&hash), "s3cret").await);
        assert!(
            check.verify("alice", Some(&hash), "s3cret").await,
            "from the cache"
        );
        assert!(!check.verify("alice", Some(&hash), "guess").await);
        assert!(!check.verify("mallory", None, "s3cret").await);
        assert_eq!(check.cache.lock().len(), 3);
    }

    #[test]
    fn basic_credentials_are_read_from_the_header() {
        assert_eq!(
            basic_credentials("Basic YWxpY2U6czNjcjp0"),
            Some(("alice".into(), "s3cr:t".into()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }
}
