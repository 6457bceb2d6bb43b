//! AWS Signature Version 4, written from the published signing process: a canonical request,
//! a string to sign scoped to date/region/service, and a key derived by HMAC-SHA256 chaining.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::config::Secret;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// One set of AWS credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: Secret,
    /// Temporary credentials carry a session token, sent as `X-Amz-Security-Token`.
    pub session_token: Option<Secret>,
}

/// What a request is signed for.
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
    pub at: DateTime<Utc>,
}

/// A request to sign. `headers` are those it will carry besides `Host` and the `X-Amz-*`
/// ones the signer adds; all of them are signed.
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a url::Url,
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// The headers to add to the request: `X-Amz-Date`, `X-Amz-Security-Token` when there is a
/// session token, and `Authorization`.
pub fn sign(request: &Request, credentials: &Credentials, scope: &Scope) -> Vec<(String, String)> {
    let amz_date = scope.at.format("%Y%m%dT%H%M%SZ").to_string();
    let mut added = vec![("X-Amz-Date".to_string(), amz_date.clone())];
    if let Some(token) = &credentials.session_token {
        added.push((
            "X-Amz-Security-Token".to_string(),
            token.expose().to_string(),
        ));
    }
    let mut signed: Vec<(String, String)> = vec![("host".into(), host_header(request.url))];
    for (name, value) in request
        .headers
        .iter()
        .map(|(n, v)| (*n, *v))
        .chain(added.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    {
        signed.push((name.to_ascii_lowercase(), canonical_header_value(value)));
    }
    signed.sort();
    let canonical = canonical_request(request, &signed);
    let date = &amz_date[..8];
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{credential_scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(
        credentials.secret_key.expose(),
        date,
        scope.region,
        scope.service,
    );
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    let signed_names: Vec<&str> = signed.iter().map(|(n, _)| n.as_str()).collect();
    added.push((
        "Authorization".to_string(),
        format!(
            "{ALGORITHM} Credential={}/{credential_scope}, SignedHeaders={}, Signature={signature}",
            credentials.access_key,
            signed_names.join(";")
        ),
    ));
    added
}

/// The canonical request: method, URI, query, headers, signed header names, payload hash.
pub fn canonical_request(request: &Request, signed: &[(String, String)]) -> String {
    let mut out = String::new();
    out.push_str(request.method);
    out.push('\n');
    out.push_str(&canonical_uri(request.url));
    out.push('\n');
    out.push_str(&canonical_query(request.url));
    out.push('\n');
    for (name, value) in signed {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    let names: Vec<&str> = signed.iter().map(|(n, _)| n.as_str()).collect();
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(&hex::encode(Sha256::digest(request.payload)));
    out
}

/// `Host` as the client sends it: the port only when it is not the scheme's default.
pub fn host_header(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// The key for one day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Each path segment encoded again (every service but S3 signs the doubly encoded path).
fn canonical_uri(url: &url::Url) -> String {
    let path = url.path();
    if path.is_empty() || path == "/" {
        return "/".into();
    }
    path.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

fn canonical_query(url: &url::Url) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn canonical_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Percent-encodes all but RFC 3986's unreserved characters, as SigV4 (and the AWS query
/// protocol's form bodies) require: a space is `%20`, never `+`.
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
