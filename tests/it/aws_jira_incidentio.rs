//! AWS SNS, Jira and incident.io end to end: the real router, an alert posted to its API, and
//! a local HTTP server standing in for each provider, answering what the provider answers.
//! The SNS stand-in recomputes the SigV4 signature (independently of the router's signer);
//! the Jira stand-in implements search, create, update and transitions, so a group's issue is
//! created when it fires and moved through the resolve transition when it resolves.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::Router;

const ROUTE: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1s\n  repeat_interval: 1h\n";
const SLOW_ROUTE: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1m\n  repeat_interval: 1h\n";
const GROUP_KEY: &str = r#"{}:{alertname="DiskFull"}"#;
const SUBJECT: &str = "[FIRING:1] DiskFull (c1 critical)";
const RESOLVED_SUBJECT: &str = "[RESOLVED] DiskFull (c1 critical)";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn disk_full() -> Value {
    json!({
        "labels": {"alertname": "DiskFull", "cluster": "c1", "severity": "critical"},
        "annotations": {"summary": "disk is full"},
        "generatorURL": "http://prom.test/graph",
    })
}

fn resolved() -> Value {
    let mut a = disk_full();
    a["endsAt"] = json!(Utc::now().to_rfc3339());
    a
}

fn group_hash() -> String {
    hex::encode(Sha256::digest(GROUP_KEY.as_bytes()))
}

/// One request a provider received.
#[derive(Clone, Debug)]
struct Got {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

type Answerer = dyn Fn(&Got, usize) -> (u16, String) + Send + Sync;

struct ProviderState {
    got: Mutex<Vec<Got>>,
    answer: Box<Answerer>,
}

#[derive(Clone)]
struct Provider {
    base: String,
    state: Arc<ProviderState>,
}

/// A provider on 127.0.0.1 whose answer to each request is `answer(request, its index)`.
async fn provider(
    answer: impl Fn(&Got, usize) -> (u16, String) + Send + Sync + 'static,
) -> Provider {
    let state = Arc::new(ProviderState {
        got: Mutex::new(Vec::new()),
        answer: Box::new(answer),
    });
    let app = axum::Router::new()
        .route("/", axum::routing::any(record))
        .route("/{*path}", axum::routing::any(record))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Provider {
        base: format!("http://{addr}"),
        state,
    }
}

async fn record(
    State(s): State<Arc<ProviderState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let got = Got {
        method,
        uri: uri.to_string(),
        headers,
        body: body.to_vec(),
    };
    let index = {
        let mut all = s.got.lock().unwrap();
        all.push(got.clone());
        all.len() - 1
    };
    let (status, body) = (s.answer)(&got, index);
    (StatusCode::from_u16(status).unwrap(), body)
}

impl Provider {
    async fn wait_for(&self, n: usize) -> Vec<Got> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.state.got.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "expected {n} requests, got {}: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn count(&self) -> usize {
        self.state.got.lock().unwrap().len()
    }
}

// --- SNS --------------------------------------------------------------------------------------

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// What AWS does with a signed request: rebuild the canonical request from what arrived and
/// compare signatures. Written here from the SigV4 steps, apart from the router's signer.
fn verify_sigv4(got: &Got, access_key: &str, secret: &str, region: &str) -> Result<(), String> {
    let auth = got.header("authorization");
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or(format!("not a SigV4 authorization: {auth:?}"))?;
    let mut credential = "";
    let mut signed_headers = "";
    let mut signature = "";
    for part in rest.split(", ") {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = v,
            Some(("SignedHeaders", v)) => signed_headers = v,
            Some(("Signature", v)) => signature = v,
            _ => return Err(format!("unexpected part {part:?}")),
        }
    }
    let amz_date = got.header("x-amz-date");
    let date = amz_date.get(..8).ok_or("no x-amz-date")?;
    let scope = format!("{date}/{region}/sns/aws4_request");
    if credential != format!("{access_key}/{scope}") {
        return Err(format!("credential {credential:?}"));
    }
    for required in ["host", "x-amz-date"] {
        if !signed_headers.split(';').any(|h| h == required) {
            return Err(format!("{required} not signed"));
        }
    }
    let uri: Uri = got.uri.parse().unwrap();
    let mut canonical = format!(
        "{}\n{}\n{}\n",
        got.method,
        uri.path(),
        uri.query().unwrap_or("")
    );
    for name in signed_headers.split(';') {
        canonical.push_str(&format!("{name}:{}\n", got.header(name).trim()));
    }
    canonical.push_str(&format!(
        "\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(&got.body))
    ));
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = hmac(
        &hmac(
            &hmac(&hmac(format!("AWS4{secret}").as_bytes(), date), region),
            "sns",
        ),
        "aws4_request",
    );
    let expected = hex::encode(hmac(&key, &to_sign));
    if expected != signature {
        return Err(format!("signature mismatch:\n{canonical}"));
    }
    Ok(())
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn assert_signed_publish(got: &Got) {
    assert_eq!(got.method, Method::POST);
    assert_eq!(got.uri, "/");
    assert_eq!(
        got.header("content-type"),
        "application/x-www-form-urlencoded; charset=utf-8"
    );
    verify_sigv4(got, "AKIDEXAMPLE", SECRET_KEY, "eu-west-1").unwrap();
    let at = chrono::NaiveDateTime::parse_from_str(got.header("x-amz-date"), "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    assert!((Utc::now() - at).num_seconds().abs() < 60, "signed now");
}

#[tokio::test(flavor = "multi_thread")]
async fn sns_publish_is_signed_and_resolves() {
    let p = provider(|_, _| {
        (200, "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult><MessageId>m-1</MessageId><SequenceNumber>1</SequenceNumber></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>".into())
    })
    .await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    sns_configs:\n      - api_url: '{}/'\n        sigv4:\n          region: eu-west-1\n          access_key: AKIDEXAMPLE\n          secret_key: {SECRET_KEY}\n        topic_arn: 'arn:aws:sns:eu-west-1:123456789012:alerts.fifo'\n        message: '{{{{ .CommonAnnotations.summary }}}} on {{{{ .CommonLabels.cluster }}}}'\n        attributes:\n          severity: '{{{{ .CommonLabels.severity }}}}'\n",
        p.base
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    let first = p.wait_for(1).await.remove(0);
    assert_signed_publish(&first);
    let hash = group_hash();
    let expected = |subject: &str| {
        pairs(&[
            ("Action", "Publish"),
            ("Version", "2010-03-31"),
            ("Message", "disk is full on c1"),
            ("MessageAttributes.entry.1.Name", "severity"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            ("MessageAttributes.entry.1.Value.StringValue", "critical"),
            ("MessageDeduplicationId", &hash),
            ("MessageGroupId", &hash),
            ("Subject", subject),
            ("TopicArn", "arn:aws:sns:eu-west-1:123456789012:alerts.fifo"),
        ])
    };
    assert_eq!(first.form(), expected(SUBJECT));

    router
        .post_json("/api/v2/alerts", &json!([resolved()]))
        .await;
    let second = p.wait_for(2).await.remove(1);
    assert_signed_publish(&second);
    assert_eq!(second.form(), expected(RESOLVED_SUBJECT));
}

#[tokio::test(flavor = "multi_thread")]
async fn sns_does_not_retry_a_refusal() {
    let p = provider(|_, _| {
        (400, "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid parameter: TopicArn</Message></Error><RequestId>r</RequestId></ErrorResponse>".into())
    })
    .await;
    let config = format!(
        "{SLOW_ROUTE}receivers:\n  - name: r\n    sns_configs:\n      - api_url: '{}'\n        sigv4: {{region: eu-west-1, access_key: AKIDEXAMPLE, secret_key: {SECRET_KEY}}}\n        target_arn: 'arn:aws:sns:eu-west-1:1:endpoint/GCM/app/x'\n",
        p.base
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    let got = p.wait_for(1).await;
    assert_signed_publish(&got[0]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p.count(), 1, "a 400 is not retried");
}

// --- Jira -------------------------------------------------------------------------------------

/// Jira's answers: no issue until one is created, then that open issue.
fn jira_answer(got: &Got, _: usize, created: &Mutex<bool>) -> (u16, String) {
    let path = got.uri.split('?').next().unwrap_or("").to_string();
    match (got.method.as_str(), path.as_str()) {
        ("POST", "/rest/api/2/search") => {
            if *created.lock().unwrap() {
                (200, json!({"issues": [{"key": "OPS-1", "fields": {"status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}}}}]}).to_string())
            } else {
                (200, json!({"issues": []}).to_string())
            }
        }
        ("POST", "/rest/api/2/issue") => {
            *created.lock().unwrap() = true;
            (201, json!({"id": "10001", "key": "OPS-1", "self": "http://jira/rest/api/2/issue/10001"}).to_string())
        }
        ("PUT", "/rest/api/2/issue/OPS-1") => (204, String::new()),
        ("GET", "/rest/api/2/issue/OPS-1/transitions") => (
            200,
            json!({"transitions": [{"id": "21", "name": "In Progress"}, {"id": "31", "name": "Done"}]}).to_string(),
        ),
        ("POST", "/rest/api/2/issue/OPS-1/transitions") => (204, String::new()),
        _ => (404, json!({"errorMessages": ["no such endpoint"]}).to_string()),
    }
}

fn assert_jira_call(got: &Got, method: Method, uri: &str) {
    assert_eq!((&got.method, got.uri.as_str()), (&method, uri));
    assert_eq!(got.header("content-type"), "application/json");
    assert_eq!(got.header("accept-language"), "en");
    // basic_auth bot@example.com / api-token
    assert_eq!(
        got.header("authorization"),
        "Basic Ym90QGV4YW1wbGUuY29tOmFwaS10b2tlbg=="
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn jira_creates_the_issue_then_resolves_it() {
    let created = Arc::new(Mutex::new(false));
    let c = created.clone();
    let p = provider(move |got, i| jira_answer(got, i, &c)).await;
    let config = format!(
        "global:\n  jira_api_url: '{}/rest/api/2/'\n{ROUTE}receivers:\n  - name: r\n    jira_configs:\n      - project: OPS\n        issue_type: Bug\n        labels: [alertmanager]\n        description:\n          template: '{{{{ .CommonAnnotations.summary }}}}'\n          enable_update: false\n        resolve_transition: Done\n        reopen_transition: Reopen\n        fields:\n          customfield_10001: '{{{{ .CommonLabels.cluster }}}}'\n        http_config:\n          basic_auth: {{username: bot@example.com, password: api-token}}\n",
        p.base
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    let got = p.wait_for(2).await;
    let label = format!("ALERT{{{}}}", group_hash());
    assert_jira_call(&got[0], Method::POST, "/rest/api/2/search");
    assert_eq!(
        got[0].json(),
        json!({
            "fields": ["status"],
            "jql": format!("statusCategory != Done and project=\"OPS\" and labels=\"{label}\" order by status ASC,resolutiondate DESC"),
            "maxResults": 2,
        })
    );
    assert_jira_call(&got[1], Method::POST, "/rest/api/2/issue");
    let fields = |summary: &str| {
        json!({
            "summary": summary,
            "description": "disk is full",
            "issuetype": {"name": "Bug"},
            "labels": [label, "alertmanager"],
            "priority": {"name": "High"},
            "project": {"key": "OPS"},
            "customfield_10001": "c1",
        })
    };
    assert_eq!(got[1].json(), json!({"fields": fields(SUBJECT)}));

    router
        .post_json("/api/v2/alerts", &json!([resolved()]))
        .await;
    let got = p.wait_for(6).await;
    assert_jira_call(&got[2], Method::POST, "/rest/api/2/search");
    assert_eq!(
        got[2].json()["jql"],
        format!("statusCategory != Done and project=\"OPS\" and labels=\"{label}\" order by status ASC,resolutiondate DESC")
    );
    assert_jira_call(&got[3], Method::PUT, "/rest/api/2/issue/OPS-1");
    let mut update = fields(RESOLVED_SUBJECT);
    update.as_object_mut().unwrap().remove("description");
    assert_eq!(
        got[3].json(),
        json!({"fields": update}),
        "description has enable_update: false"
    );
    assert_jira_call(&got[4], Method::GET, "/rest/api/2/issue/OPS-1/transitions");
    assert!(got[4].body.is_empty());
    assert_jira_call(&got[5], Method::POST, "/rest/api/2/issue/OPS-1/transitions");
    assert_eq!(got[5].json(), json!({"transition": {"id": "31"}}));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(p.count(), 6, "nothing more to say");
}

#[tokio::test(flavor = "multi_thread")]
async fn jira_retries_429_but_not_400() {
    let p = provider(|got, i| match (got.uri.as_str(), i) {
        ("/rest/api/2/search", 0) => (429, "{}".into()),
        ("/rest/api/2/search", _) => (200, json!({"issues": []}).to_string()),
        _ => (
            400,
            json!({"errors": {"priority": "not on screen"}}).to_string(),
        ),
    })
    .await;
    let config = format!(
        "{SLOW_ROUTE}receivers:\n  - name: r\n    jira_configs:\n      - api_url: '{}/rest/api/2'\n        project: OPS\n        issue_type: Bug\n",
        p.base
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    let got = p.wait_for(3).await;
    assert_eq!(got[0].uri, "/rest/api/2/search");
    assert_eq!(got[1].uri, "/rest/api/2/search", "the 429 is retried");
    assert_eq!(got[2].uri, "/rest/api/2/issue");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p.count(), 3, "the 400 on create is not retried");
}

// --- incident.io ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn incidentio_alert_event_and_resolution() {
    let p = provider(|_, _| {
        (202, json!({"status": "success", "message": "Event accepted for processing", "deduplication_key": "k"}).to_string())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "inc-token\n").unwrap();
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    incidentio_configs:\n      - url: '{}/v2/alert_events/http/01SOURCE'\n        alert_source_token_file: '{}'\n        max_alerts: 5\n        timeout: 5s\n",
        p.base,
        token_file.display()
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    let first = p.wait_for(1).await.remove(0);
    let check = |got: &Got, status: &str| {
        assert_eq!(got.method, Method::POST);
        assert_eq!(got.uri, "/v2/alert_events/http/01SOURCE");
        assert_eq!(got.header("content-type"), "application/json");
        assert_eq!(got.header("authorization"), "Bearer inc-token");
        let body = got.json();
        assert_eq!(body["version"], "1");
        assert_eq!(body["groupKey"], GROUP_KEY);
        assert_eq!(body["truncatedAlerts"], 0);
        assert_eq!(body["receiver"], "r");
        assert_eq!(body["status"], status);
        assert_eq!(body["groupLabels"], json!({"alertname": "DiskFull"}));
        assert_eq!(
            body["commonLabels"],
            json!({"alertname": "DiskFull", "cluster": "c1", "severity": "critical"})
        );
        assert_eq!(
            body["commonAnnotations"],
            json!({"summary": "disk is full"})
        );
        assert_eq!(body["externalURL"], "http://alert-router.test:9093");
        let alerts = body["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0]["status"], status);
        assert_eq!(alerts[0]["generatorURL"], "http://prom.test/graph");
        assert_eq!(alerts[0]["fingerprint"].as_str().unwrap().len(), 16);
        body
    };
    let body = check(&first, "firing");
    assert_eq!(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");

    router
        .post_json("/api/v2/alerts", &json!([resolved()]))
        .await;
    let second = p.wait_for(2).await.remove(1);
    let body = check(&second, "resolved");
    assert_ne!(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
}

#[tokio::test(flavor = "multi_thread")]
async fn incidentio_retries_429_and_5xx_but_not_400() {
    let p = provider(|got, i| match (got.uri.as_str(), i) {
        ("/retry", 0) => (429, json!({"message": "slow down"}).to_string()),
        ("/retry", 1) => (503, String::new()),
        ("/retry", _) => (202, json!({"status": "success"}).to_string()),
        _ => (
            400,
            json!({"message": "invalid", "errors": ["bad"]}).to_string(),
        ),
    })
    .await;
    let config = format!(
        "{SLOW_ROUTE}receivers:\n  - name: r\n    incidentio_configs:\n      - url: '{}/retry'\n        alert_source_token: t\n",
        p.base
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    p.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(p.count(), 3, "delivered on the third try");
    drop(router);

    let p = provider(|_, _| (400, json!({"message": "invalid"}).to_string())).await;
    let config = format!(
        "{SLOW_ROUTE}receivers:\n  - name: r\n    incidentio_configs:\n      - url: '{}/refuse'\n        alert_source_token: t\n",
        p.base
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    p.wait_for(1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p.count(), 1, "a 400 is not retried");
}
