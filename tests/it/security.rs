//! `--web.config.file` (exporter-toolkit's format) and `--web.roles.file`: TLS, client
//! certificates, basic auth and roles, with the real clients a secured Alertmanager has:
//! amtool 0.25 with `--http.config.file` and Prometheus 2.42 with `tls_config` and
//! `basic_auth`. Certificates are made at test time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use serde_json::{json, Value};

use crate::common::{alert, config_with_route, require_tool, serve_until_exit, Router, Sink};
use crate::prometheus::{start_prometheus, PROMETHEUS};

const AMTOOL: &str = "/usr/bin/amtool";

/// A certificate authority that signs server and client certificates.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

struct Issued {
    cert_pem: String,
    key_pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Issued {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn server(&self) -> Issued {
        self.issue(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client(&self, name: &str) -> Issued {
        self.issue(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

const PASSWORDS: &[(&str, &str)] = &[
    ("admin", "admin-pw-4711"),
    ("oncall", "oncall-pw-0815"),
    ("prometheus", "prom-pw-1234"),
    ("reader", "reader-pw-9999"),
];

/// `basic_auth_users` for PASSWORDS, hashed now (cost 4 keeps the tests quick).
fn users_yaml() -> String {
    let mut yaml = String::from("basic_auth_users:\n");
    for (user, password) in PASSWORDS {
        let hash = bcrypt::hash(password, 4).unwrap();
        yaml.push_str(&format!("  {user}: '{hash}'\n"));
    }
    yaml
}

fn password(user: &str) -> &'static str {
    PASSWORDS.iter().find(|(u, _)| *u == user).unwrap().1
}

/// A router in `dir` serving TLS with `ca`'s server certificate, and the web config `extra`.
struct Secured {
    router: Router,
    ca_file: PathBuf,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn secured(config: &str, ca: &Ca, web_extra: &str, args: &[&str]) -> Secured {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "alertmanager.yml", config);
    let server = ca.server();
    write(dir.path(), "server.crt", &server.cert_pem);
    write(dir.path(), "server.key", &server.key_pem);
    let ca_file = write(dir.path(), "ca.pem", &ca.pem());
    // Relative paths: they are relative to the web config file, as in exporter-toolkit.
    let web = write(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{web_extra}"
        ),
    );
    let mut all = vec!["--web.config.file", web.to_str().unwrap()];
    all.extend_from_slice(args);
    let args: Vec<String> = all.iter().map(|s| s.to_string()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Secured {
        router: Router::start_in(dir, &args),
        ca_file,
    }
}

impl Secured {
    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.router.addr.port())
    }

    fn dir(&self) -> &Path {
        self.router.dir.path()
    }
}

fn client_trusting(ca: &Ca) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .build()
        .unwrap()
}

fn client_with_identity(ca: &Ca, identity: &Issued) -> reqwest::Client {
    let pem = format!("{}{}", identity.cert_pem, identity.key_pem);
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

fn plain_config() -> String {
    "route:\n  receiver: quiet\nreceivers:\n  - name: quiet\n".to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_over_tls_guards_every_endpoint_and_keeps_passwords_out_of_the_log() {
    let ca = Ca::new("test CA");
    let web = format!(
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n{}",
        users_yaml()
    );
    let s = secured(&plain_config(), &ca, &web, &[]);
    let client = client_trusting(&ca);

    for path in [
        "/api/v2/status",
        "/api/v2/alerts",
        "/metrics",
        "/-/healthy",
        "/nope",
    ] {
        let r = client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} without credentials");
        assert_eq!(r.headers()["www-authenticate"], "Basic", "{path}");
        assert_eq!(r.headers()["x-frame-options"], "deny", "{path}");
    }
    let wrong = client
        .get(s.url("/api/v2/status"))
        .basic_auth("oncall", Some("not-the-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let unknown = client
        .get(s.url("/api/v2/status"))
        .basic_auth("mallory", Some(password("oncall")))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);

    let ok = client
        .get(s.url("/api/v2/status"))
        .basic_auth("oncall", Some(password("oncall")))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let status: Value = ok.json().await.unwrap();
    assert_eq!(status["cluster"]["status"], "ready");

    // The signed acknowledge link is its own credential: it reaches its handler (which says
    // links are off on this router) instead of asking for a password.
    let link = client
        .get(s.url("/api/v1/incidents/abc/ack?via=x&expires=1&sig=00"))
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), 404);
    assert!(link.text().await.unwrap().contains("not enabled"));

    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/api/v2/status",
            s.router.addr.port()
        ))
        .send()
        .await;
    assert!(
        plain.map(|r| r.status() != 200).unwrap_or(true),
        "plain HTTP was served"
    );

    let log = s.router.log().join("\n");
    for (_, secret) in PASSWORDS {
        assert!(!log.contains(secret), "a password reached the log:\n{log}");
    }
    assert!(!log.contains("$2b$"), "a hash reached the log:\n{log}");
    assert!(log.contains("basic auth failed"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_open_only_with_the_flag() {
    let ca = Ca::new("test CA");
    let s = secured(
        &plain_config(),
        &ca,
        &users_yaml(),
        &["--web.unauthenticated-health"],
    );
    let client = client_trusting(&ca);
    for path in ["/-/healthy", "/-/ready"] {
        let r = client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = client.get(s.url("/api/v2/alerts")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client.post(s.url("/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 401, "only reads of health are open");
}

fn amtool(args: &[&str]) -> Output {
    Command::new(AMTOOL)
        .args(args)
        .env("HOME", "/nonexistent")
        .output()
        .expect("run amtool")
}

fn http_config(dir: &Path, name: &str, ca_file: &Path, user: Option<(&str, &str)>) -> PathBuf {
    let mut yaml = format!("tls_config:\n  ca_file: {}\n", ca_file.display());
    if let Some((user, password)) = user {
        yaml.push_str(&format!(
            "basic_auth:\n  username: {user}\n  password: {password}\n"
        ));
    }
    write(dir, name, &yaml)
}

#[tokio::test(flavor = "multi_thread")]
async fn amtool_works_over_tls_with_basic_auth_and_fails_without_it() {
    if !require_tool(AMTOOL) {
        return;
    }
    let ca = Ca::new("test CA");
    let s = secured(&plain_config(), &ca, &users_yaml(), &[]);
    let url = format!("--alertmanager.url={}", s.url(""));
    let good = http_config(
        s.dir(),
        "good.yml",
        &s.ca_file,
        Some(("oncall", password("oncall"))),
    );
    let wrong = http_config(s.dir(), "wrong.yml", &s.ca_file, Some(("oncall", "guess")));
    let none = http_config(s.dir(), "none.yml", &s.ca_file, None);
    let with = |file: &Path| format!("--http.config.file={}", file.display());

    let (status, _) = {
        let client = client_trusting(&ca);
        let r = client
            .post(s.url("/api/v2/alerts"))
            .basic_auth("prometheus", Some(password("prometheus")))
            .json(&json!([alert(&[("alertname", "Secured"), ("job", "api")])]))
            .send()
            .await
            .unwrap();
        (r.status(), ())
    };
    assert_eq!(status, 200);

    let query = amtool(&[&url, &with(&good), "alert", "query", "-o", "json"]);
    assert!(query.status.success(), "{query:?}");
    let alerts: Value = serde_json::from_slice(&query.stdout).unwrap();
    assert_eq!(alerts[0]["labels"]["alertname"], "Secured");

    let add = amtool(&[
        &url,
        &with(&good),
        "silence",
        "add",
        "alertname=Secured",
        "--comment=maintenance",
        "--author=shell-user",
        "--duration=1h",
    ]);
    assert!(add.status.success(), "{add:?}");
    let id = String::from_utf8_lossy(&add.stdout).trim().to_string();

    let listed = amtool(&[&url, &with(&good), "silence", "query", "-o", "json"]);
    assert!(listed.status.success(), "{listed:?}");
    let silences: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(silences[0]["id"], id.as_str());
    // amtool sends its --author (by default the shell's user); the record names who
    // authenticated and keeps the other name in the comment.
    assert_eq!(silences[0]["createdBy"], "oncall");
    assert!(
        silences[0]["comment"]
            .as_str()
            .unwrap()
            .contains("shell-user"),
        "{silences}"
    );

    let routes = amtool(&[
        &url,
        &with(&good),
        "config",
        "routes",
        "test",
        "alertname=Secured",
    ]);
    assert!(routes.status.success(), "{routes:?}");
    assert_eq!(String::from_utf8_lossy(&routes.stdout).trim(), "quiet");

    let expire = amtool(&[&url, &with(&good), "silence", "expire", &id]);
    assert!(expire.status.success(), "{expire:?}");

    for file in [&wrong, &none] {
        let refused = amtool(&[&url, &with(file), "alert", "query"]);
        assert!(!refused.status.success(), "{file:?} got in: {refused:?}");
    }
    let untrusted = amtool(&[&url, "alert", "query"]);
    assert!(
        !untrusted.status.success(),
        "a client that does not trust the CA got in"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_delivers_alerts_over_tls_with_basic_auth() {
    if !require_tool(PROMETHEUS) {
        return;
    }
    let ca = Ca::new("test CA");
    let sink = Sink::start().await;
    let route = "  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms";
    let s = secured(
        &config_with_route(route, &[("hook", &sink.url())]),
        &ca,
        &users_yaml(),
        &[],
    );
    let prom_dir = tempfile::tempdir().unwrap();
    let alertmanager = format!(
        "    - api_version: v2\n      scheme: https\n      basic_auth: {{username: prometheus, password: {}}}\n      tls_config: {{ca_file: {}}}\n      static_configs:\n        - targets: ['127.0.0.1:{}']\n",
        password("prometheus"),
        s.ca_file.display(),
        s.router.addr.port()
    );
    let _prometheus = start_prometheus(prom_dir.path(), "OverTls", &alertmanager);
    let got = sink.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(got[0].body["groupLabels"]["alertname"], "OverTls");
    assert_eq!(
        got[0].body["alerts"][0]["annotations"]["summary"],
        "value is 42"
    );
}

fn mtls_web(ca_file: &Path, extra: &str) -> String {
    format!(
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n{extra}",
        ca_file.display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_refuses_clients_without_a_trusted_certificate_at_the_handshake() {
    let ca = Ca::new("test CA");
    let other = Ca::new("someone else's CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "client-ca.pem", &ca.pem());
    let s = secured(
        &plain_config(),
        &ca,
        &mtls_web(
            &ca_file,
            "  client_allowed_sans: [prometheus.test, amtool.test]\n",
        ),
        &[],
    );
    let allowed = client_with_identity(&ca, &ca.client("prometheus.test"));
    let r = allowed.get(s.url("/api/v2/status")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let refused = [
        ("no certificate", client_trusting(&ca)),
        (
            "a certificate of another CA",
            client_with_identity(&ca, &other.client("prometheus.test")),
        ),
        (
            "a SAN not allowed",
            client_with_identity(&ca, &ca.client("intruder.test")),
        ),
    ];
    for (what, client) in refused {
        let result = client.get(s.url("/api/v2/status")).send().await;
        assert!(result.is_err(), "{what}: answered {result:?}");
    }
}

async fn wait_until<F, Fut>(within: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_certificate_is_served_without_restart_and_a_bad_file_keeps_the_old_one() {
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let s = secured(&plain_config(), &old_ca, "", &[]);
    let old_client = client_trusting(&old_ca);
    let new_client = client_trusting(&new_ca);
    assert!(old_client.get(s.url("/-/healthy")).send().await.is_ok());
    assert!(new_client.get(s.url("/-/healthy")).send().await.is_err());

    // A half-written rotation (a key that is not PEM) is refused and logged; the old
    // certificate stays in service.
    write(s.dir(), "server.key", "not a key");
    let logged = wait_until(Duration::from_secs(5), || async {
        s.router
            .log()
            .iter()
            .any(|l| l.contains("web config not reloaded"))
    })
    .await;
    assert!(logged, "{:?}", s.router.log());
    assert!(old_client.get(s.url("/-/healthy")).send().await.is_ok());

    let rotated = new_ca.server();
    write(s.dir(), "server.crt", &rotated.cert_pem);
    write(s.dir(), "server.key", &rotated.key_pem);
    let served = wait_until(Duration::from_secs(5), || async {
        new_client.get(s.url("/-/healthy")).send().await.is_ok()
    })
    .await;
    assert!(
        served,
        "the new certificate was not served: {:?}",
        s.router.log()
    );
    // A new connection (the pooled one was set up before the rotation) no longer trusts it.
    let fresh_old_client = client_trusting(&old_ca);
    assert!(fresh_old_client
        .get(s.url("/-/healthy"))
        .send()
        .await
        .is_err());
}

#[test]
fn a_web_config_with_an_unknown_key_or_a_bad_hash_is_refused_at_start() {
    let cases = [
        (
            "tls_server_config:\n  cert_file: a\n  kye_file: b\n",
            "kye_file",
        ),
        (
            "basic_auth_users:\n  alice: plaintext\n",
            "not a bcrypt hash",
        ),
        (
            "http_server_config:\n  headers:\n    X-Powered-By: me\n",
            "can not be configured",
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
            "cert_file",
        ),
    ];
    for (web, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "alertmanager.yml", &plain_config());
        let file = write(dir.path(), "web.yml", web);
        let (code, log) = serve_until_exit(
            dir.path(),
            &["--web.config.file", file.to_str().unwrap()],
            Duration::from_secs(10),
        );
        assert_eq!(code, Some(1), "{web}: {log}");
        assert!(log.contains(expected), "{web}: {log}");
        assert!(
            !log.contains("plaintext"),
            "the password reached the log: {log}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "alertmanager.yml", &plain_config());
    let file = write(
        dir.path(),
        "web.yml",
        "basic_auth_users:\n  alice: x\n  tls: [\n",
    );
    let (_, log) = serve_until_exit(
        dir.path(),
        &["--web.config.file", file.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert!(log.contains("line"), "the error names the line: {log}");
}

fn escalating_config(pager: &Sink) -> String {
    format!(
        r#"route:
  receiver: quiet
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['priority="P0"']
      escalation: p0
receivers:
  - name: quiet
  - name: pager
    webhook_configs: [{{url: '{}'}}]
escalation_policies:
  - name: p0
    steps: [{{after: 0s, notify: [pager]}}, {{after: 3s, notify: [pager]}}]
"#,
        pager.url()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_decide_what_each_user_may_do_and_acks_name_who_authenticated() {
    let ca = Ca::new("test CA");
    let pager = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let roles = write(
        dir.path(),
        "roles.yml",
        "users:\n  admin: admin\n  oncall: responder\n  prometheus: sender\ndefault: viewer\n",
    );
    let s = secured(
        &escalating_config(&pager),
        &ca,
        &users_yaml(),
        &["--web.roles.file", roles.to_str().unwrap()],
    );
    let client = client_trusting(&ca);
    let send = |user: &'static str, method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = client
            .request(method, s.url(path))
            .basic_auth(user, Some(password(user)));
        if let Some(body) = body {
            r = r.json(&body);
        }
        r.send()
    };

    let page = json!([alert(&[("alertname", "Down"), ("priority", "P0")])]);
    let r = send(
        "reader",
        reqwest::Method::POST,
        "/api/v2/alerts",
        Some(page.clone()),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("needs the sender role") && text.contains("reader is a viewer"),
        "{text}"
    );
    let r = send(
        "prometheus",
        reqwest::Method::POST,
        "/api/v2/alerts",
        Some(page),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    pager.wait_for(1, Duration::from_secs(10)).await;

    let r = send("reader", reqwest::Method::GET, "/api/v1/incidents", None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a viewer reads");
    let incidents: Value = r.json().await.unwrap();
    let id = incidents[0]["id"].as_str().unwrap().to_string();
    let ack = format!("/api/v1/incidents/{id}/ack");

    for user in ["reader", "prometheus"] {
        let r = send(user, reqwest::Method::POST, &ack, Some(json!({"by": user})))
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{user} acknowledged");
        assert!(r.text().await.unwrap().contains("needs the responder role"));
    }
    let r = send(
        "oncall",
        reqwest::Method::POST,
        &ack,
        Some(json!({"by": "the-boss", "comment": "on it"})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let incident: Value = r.json().await.unwrap();
    let entry = incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "acknowledged")
        .cloned()
        .unwrap();
    assert_eq!(entry["by"], "oncall", "{entry}");
    let comment = entry["comment"].as_str().unwrap();
    assert!(
        comment.contains("on it") && comment.contains("the-boss"),
        "{comment}"
    );

    // The acknowledgement stops the next step.
    pager.expect_no_more_than(1, Duration::from_secs(4)).await;

    let r = send("oncall", reqwest::Method::POST, "/-/reload", None)
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a responder does not reload");
    let r = send("admin", reqwest::Method::POST, "/-/reload", None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn password_guessing_and_request_floods_are_slowed_per_client() {
    let ca = Ca::new("test CA");
    let s = secured(&plain_config(), &ca, &users_yaml(), &[]);
    let client = client_trusting(&ca);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = client
            .get(s.url("/api/v2/status"))
            .basic_auth("oncall", Some("guess"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10], "{statuses:?}");
    assert_eq!(&statuses[10..], &[429, 429], "{statuses:?}");
    // Once limited, even the right password waits: a guesser cannot tell a hit.
    let r = client
        .get(s.url("/api/v2/status"))
        .basic_auth("oncall", Some(password("oncall")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));

    let limited = secured(
        &plain_config(),
        &ca,
        "rate_limit:\n  burst: 3\n  interval: 1m\n",
        &[],
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = client
            .get(limited.url("/api/v2/status"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}

/// A port nothing listens on: deliveries there fail with "connection refused".
fn refused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_reach_the_log_or_an_error_message() {
    const SECRETS: &[&str] = &[
        "WEBHOOK-PASS-1",
        "WEBHOOK-PATH-2",
        "WEBHOOK-TOKEN-3",
        "WEBHOOK-PATH-4",
        "SLACK-TOKEN-5",
        "PD-ROUTING-KEY-6",
        "SMTP-PASS-7",
        "BEARER-8",
        "BASIC-PASS-9",
    ];
    let failing = Sink::with_script(&[500; 64]).await;
    let refused = refused_port();
    let config = format!(
        r#"global:
  smtp_from: alerts@example.org
route:
  receiver: all
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: all
    webhook_configs:
      - url: 'http://hookuser:WEBHOOK-PASS-1@127.0.0.1:{refused}/hooks/WEBHOOK-PATH-2?token=WEBHOOK-TOKEN-3'
      - url: '{failing}/hooks/WEBHOOK-PATH-4'
        http_config: {{authorization: {{credentials: BEARER-8}}}}
      - url: '{failing}/hooks/basic'
        http_config: {{basic_auth: {{username: u, password: BASIC-PASS-9}}}}
    slack_configs:
      - api_url: '{failing}/services/SLACK-TOKEN-5'
        channel: '#oncall'
    pagerduty_configs:
      - routing_key: PD-ROUTING-KEY-6
        url: '{failing}/v2/enqueue'
    email_configs:
      - to: lead@example.org
        smarthost: '127.0.0.1:{refused}'
        auth_username: alerts
        auth_password: SMTP-PASS-7
        require_tls: false
"#,
        failing = failing.url(),
    );
    let ca = Ca::new("test CA");
    let s = secured(&config, &ca, &users_yaml(), &["--log.level", "debug"]);
    let client = client_trusting(&ca);
    let r = client
        .post(s.url("/api/v2/alerts"))
        .basic_auth("prometheus", Some(password("prometheus")))
        .json(&json!([alert(&[("alertname", "Leak"), ("job", "api")])]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Every integration fails and retries; wait until each has logged a failure.
    let failed_everywhere = wait_until(Duration::from_secs(20), || async {
        let log = s.router.log().join("\n");
        ["webhook", "slack", "pagerduty", "email"]
            .iter()
            .all(|i| log.contains(&format!("integration={i}")) && log.contains("failed"))
    })
    .await;
    let status: Value = client
        .get(s.url("/api/v2/status"))
        .basic_auth("reader", Some(password("reader")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // A reload of a config that is wrong next to a secret: the error names the problem only.
    std::fs::write(
        s.router.config_path(),
        config.replace(
            "routing_key: PD-ROUTING-KEY-6",
            "routing_key: [PD-ROUTING-KEY-6]",
        ),
    )
    .unwrap();
    let reload = client
        .post(s.url("/-/reload"))
        .basic_auth("admin", Some(password("admin")))
        .send()
        .await
        .unwrap();
    assert_ne!(reload.status(), 200);
    let reload_error = reload.text().await.unwrap();

    let log = s.router.log().join("\n");
    assert!(failed_everywhere, "not every integration failed:\n{log}");
    for secret in SECRETS {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
        assert!(
            !status.to_string().contains(secret),
            "{secret} is in /api/v2/status"
        );
        assert!(
            !reload_error.contains(secret),
            "{secret} is in the reload error: {reload_error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ui_session_cookie_is_secure_under_tls() {
    let ca = Ca::new("test CA");
    let s = secured(&plain_config(), &ca, &users_yaml(), &[]);
    let client = client_trusting(&ca);
    // The UI's page and assets load without credentials, so it can show its login form.
    for path in ["/", "/ui/app.js"] {
        let r = client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = client
        .get(s.url("/-/session"))
        .header("x-requested-with", "alert-router-ui")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        !r.headers().contains_key("www-authenticate"),
        "the UI gets no browser password dialog"
    );
    let login = client
        .post(s.url("/-/login"))
        .json(&json!({"username": "oncall", "password": password("oncall")}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let wrong = client
        .post(s.url("/-/login"))
        .json(&json!({"username": "oncall", "password": "guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(!wrong.headers().contains_key("set-cookie"));
}
