//! The web UI end to end, in a real headless Chromium against the real binary: what the
//! on-call engineer sees and does, checked against what the API then says.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::browser::Browser;
use crate::common::{alert, Router, Sink, BIN};

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

async fn browser() -> Option<Browser> {
    Browser::start(DESKTOP.0, DESKTOP.1).await
}

fn config(receivers: &str) -> String {
    format!(
        r#"route:
  receiver: team
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
receivers:
  - name: team
  - name: pager
{receivers}"#
    )
}

async fn post(router: &Router, alerts: Value) {
    let (status, body) = router.post_json("/api/v2/alerts", &alerts).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_posted_over_the_api_appears_in_its_group_within_two_seconds() {
    let Some(b) = browser().await else { return };
    let router = Router::start(&config(""));
    b.goto(&router.url("/#/alerts")).await;
    b.find("#alert-groups").await;
    // Marks this page load: a reload would lose it.
    b.eval("window.loadedOnce = true;", json!([])).await;
    post(
        &router,
        json!([alert(&[
            ("alertname", "DiskFull"),
            ("instance", "db-1"),
            ("priority", "P1")
        ])]),
    )
    .await;
    let posted = Instant::now();
    let shown = b
        .wait_for(
            r#"const g = [...document.querySelectorAll('section.group')]
                 .find(s => s.dataset.receiver === 'team' && s.textContent.includes('alertname=DiskFull'));
               return g && g.querySelector('.alert .name').textContent === 'DiskFull'
                 && g.textContent.includes('instance=db-1') && g.querySelector('.badge.P1') !== null
                 && window.loadedOnce === true;"#,
            Duration::from_secs(2),
        )
        .await;
    assert!(
        shown.is_some(),
        "the alert was not shown in its group within 2 s ({:?})",
        posted.elapsed()
    );
}

fn fingerprints(alerts: &Value) -> BTreeSet<String> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["fingerprint"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silence_made_in_the_form_mutes_exactly_the_alerts_its_preview_listed() {
    let Some(b) = browser().await else { return };
    let router = Router::start(&config(""));
    post(
        &router,
        json!([
            alert(&[("alertname", "DiskFull"), ("instance", "db-1")]),
            alert(&[("alertname", "DiskFull"), ("instance", "db-2")]),
            alert(&[("alertname", "CpuHigh"), ("instance", "db-1")]),
        ]),
    )
    .await;
    b.goto(&router.url("/#/silences/new")).await;
    b.type_into(".matcher-name", "alertname").await;
    b.type_into(".matcher-value", "DiskFull").await;
    b.wait_for(
        "const c = document.querySelector('#preview-count'); return c && c.textContent.startsWith('2 ');",
        Duration::from_secs(5),
    )
    .await
    .expect("the preview did not list the two alerts");
    let previewed: BTreeSet<String> = serde_json::from_value::<Vec<String>>(
        b.eval(
            "return [...document.querySelectorAll('#preview-list li')].map(l => l.dataset.fingerprint);",
            json!([]),
        )
        .await,
    )
    .unwrap()
    .into_iter()
    .collect();
    b.type_into("#createdBy", "alice").await;
    b.type_into("#comment", "disk replacement").await;
    b.click("#save-silence").await;
    b.wait_for(
        "return location.hash === '#/silences';",
        Duration::from_secs(5),
    )
    .await
    .expect("the form did not save");

    let silenced = router
        .get_json("/api/v2/alerts?silenced=true&active=false&inhibited=false")
        .await;
    assert_eq!(fingerprints(&silenced), previewed);
    assert_eq!(previewed.len(), 2);
    let silences = router.get_json("/api/v2/silences").await;
    assert_eq!(silences[0]["createdBy"], "alice");
    assert_eq!(silences[0]["comment"], "disk replacement");
    // The silences page lists it.
    b.wait_for(
        "return document.querySelector('.silence') !== null && document.body.textContent.includes('disk replacement');",
        Duration::from_secs(3),
    )
    .await
    .expect("the silence is not listed");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_in_the_silence_form_shows_the_apis_error_and_creates_nothing() {
    let Some(b) = browser().await else { return };
    let router = Router::start(&config(""));
    b.goto(&router.url("/#/silences/new")).await;
    b.type_into(".matcher-name", "alertname").await;
    b.type_into(".matcher-value", "DiskFull").await;
    b.type_into("#createdBy", "alice").await;
    b.type_into("#comment", "backwards").await;
    // Ends before it starts.
    b.eval(
        "const s = document.querySelector('#startsAt'); const e = document.querySelector('#endsAt'); e.value = s.value; s.value = '2099-01-01T00:00';",
        json!([]),
    )
    .await;
    b.click("#save-silence").await;
    let shown = b
        .wait_for(
            "return document.querySelector('#endsAt-error').textContent;",
            Duration::from_secs(5),
        )
        .await
        .expect("no error shown");
    let shown = shown.as_str().unwrap();
    // The text is the API's own.
    let api = reqwest::Client::new()
        .post(router.url("/api/v2/silences"))
        .json(
            &json!({"matchers": [{"name": "alertname", "value": "x", "isRegex": false}],
            "startsAt": "2099-01-01T00:00:00Z", "endsAt": "2098-01-01T00:00:00Z",
            "createdBy": "a", "comment": "c"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 400);
    let api_text: String = api.json().await.unwrap();
    assert_eq!(shown, api_text);
    assert_eq!(router.get_json("/api/v2/silences").await, json!([]));
    assert!(
        b.eval("return location.hash;", json!([])).await == "#/silences/new",
        "the form stays open"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledging_in_the_ui_stops_the_next_escalation_step() {
    let Some(b) = browser().await else { return };
    let first = Sink::start().await;
    let second = Sink::start().await;
    let cfg = format!(
        r#"route:
  receiver: team
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['priority="P0"']
      escalation: p0
receivers:
  - name: team
  - name: first
    webhook_configs: [{{url: '{}'}}]
  - name: second
    webhook_configs: [{{url: '{}'}}]
escalation_policies:
  - name: p0
    steps: [{{after: 0s, notify: [first]}}, {{after: 5s, notify: [second]}}]
"#,
        first.url(),
        second.url()
    );
    let router = Router::start(&cfg);
    post(
        &router,
        json!([alert(&[("alertname", "ApiDown"), ("priority", "P0")])]),
    )
    .await;
    first.wait_for(1, Duration::from_secs(5)).await;
    let incidents = router.get_json("/api/v1/incidents").await;
    let id = incidents[0]["id"].as_str().unwrap().to_string();

    b.goto(&router.url("/#/incidents")).await;
    b.find(&format!("tr[data-id='{id}'] a")).await;
    b.click(&format!("tr[data-id='{id}'] a")).await;
    b.find("#acknowledge").await;
    b.type_into("#incident-by", "alice").await;
    b.type_into("#incident-comment", "looking").await;
    b.click("#acknowledge").await;
    b.wait_for(
        "const s = document.querySelector('#incident-state-now'); return s && s.textContent === 'acknowledged';",
        Duration::from_secs(5),
    )
    .await
    .expect("the page does not show the acknowledgement");
    let incident = router.get_json(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(incident["state"], "acknowledged");
    assert_eq!(incident["acknowledgedBy"], "alice", "{incident:#}");
    // The second step was due 5 s after the page; it never comes.
    second.expect_no_more_than(0, Duration::from_secs(6)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_route_tester_shows_what_routes_test_prints() {
    let Some(b) = browser().await else { return };
    let router = Router::start(&config(""));
    b.goto(&router.url("/#/routing")).await;
    b.find("#route-tree li").await;
    b.type_into("#route-labels", "alertname=DiskFull\nseverity=critical")
        .await;
    b.click("#route-test-submit").await;
    let shown = b
        .wait_for(
            "return document.querySelector('#route-test-routes').textContent;",
            Duration::from_secs(5),
        )
        .await
        .expect("no answer shown");
    let cli = std::process::Command::new(BIN)
        .args(["routes", "test", "--tree", "--config.file"])
        .arg(router.config_path())
        .args(["alertname=DiskFull", "severity=critical"])
        .output()
        .unwrap();
    assert_eq!(
        shown.as_str().unwrap(),
        String::from_utf8_lossy(&cli.stdout)
    );
    assert!(shown.as_str().unwrap().trim_end().ends_with("pager"));
    let rules = b.text("#route-test-rules").await;
    assert!(rules.contains("receivers: pager"), "{rules}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ui_logs_in_with_the_web_configs_users_and_browser_writes_need_the_csrf_token() {
    let Some(b) = browser().await else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alertmanager.yml"), config("")).unwrap();
    let hash = bcrypt::hash("oncall-pw", 4).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  oncall: '{hash}'\n")).unwrap();
    let router = Router::start_in(dir, &["--web.config.file", web.to_str().unwrap()]);

    b.goto(&router.url("/")).await;
    b.type_into("#login-user", "oncall").await;
    b.type_into("#login-password", "wrong").await;
    b.click("#login-submit").await;
    b.wait_for(
        "return document.querySelector('#login-error').textContent;",
        Duration::from_secs(5),
    )
    .await
    .expect("a wrong password shows an error");
    b.type_into("#login-password", "oncall-pw").await;
    b.click("#login-submit").await;
    b.find("#alert-groups").await;
    assert_eq!(b.text("#who").await, "Signed in as oncall");
    assert_eq!(
        b.eval("return document.cookie;", json!([])).await,
        "",
        "the session cookie is HttpOnly"
    );

    // A silence made in the browser carries the CSRF token and names the logged-in user.
    b.goto(&router.url("/#/silences/new")).await;
    b.type_into(".matcher-name", "alertname").await;
    b.type_into(".matcher-value", "Any").await;
    b.type_into("#comment", "from the browser").await;
    b.click("#save-silence").await;
    b.wait_for(
        "return location.hash === '#/silences';",
        Duration::from_secs(5),
    )
    .await
    .expect("the silence was not saved");

    // The same cookie without the token is refused; a cross-site origin too.
    let http = reqwest::Client::new();
    let login = http
        .post(router.url("/-/login"))
        .json(&json!({"username": "oncall", "password": "oncall-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let csrf = login.json::<Value>().await.unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_string();
    let silence = json!({"matchers": [{"name": "a", "value": "b", "isRegex": false}],
        "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "x", "comment": "c"});
    let without = http
        .post(router.url("/api/v2/silences"))
        .header("cookie", &session)
        .json(&silence)
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 403);
    let cross = http
        .post(router.url("/api/v2/silences"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .header("origin", "http://evil.example")
        .json(&silence)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let with = http
        .post(router.url("/api/v2/silences"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .json(&silence)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
    // Behind a reverse proxy that rewrites Host, the browser's own page still writes (its
    // Sec-Fetch-Site says same-origin); a page of another site does not.
    for (site, expected) in [
        ("same-origin", 200),
        ("same-site", 403),
        ("cross-site", 403),
    ] {
        let r = http
            .post(router.url("/api/v2/silences"))
            .header("cookie", &session)
            .header("x-csrf-token", &csrf)
            .header("origin", "https://alerts.example.org")
            .header("sec-fetch-site", site)
            .json(&silence)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "Sec-Fetch-Site: {site}");
    }
    let silences = http
        .get(router.url("/api/v2/silences"))
        .basic_auth("oncall", Some("oncall-pw"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(silences.as_array().unwrap().len(), 3);
    assert!(silences
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["createdBy"] == "oncall"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_renders_at_desktop_and_phone_width() {
    let Some(b) = browser().await else { return };
    let pager = Sink::start().await;
    let cfg = format!(
        r#"route:
  receiver: team
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['priority=~"P0|P1"']
      receiver: pager
      escalation: page
receivers:
  - name: team
  - name: pager
    webhook_configs: [{{url: '{}'}}]
escalation_policies:
  - name: page
    steps: [{{after: 0s, notify: [pager]}}, {{after: 10m, notify: [pager]}}]
"#,
        pager.url()
    );
    let router = Router::start(&cfg);
    post(
        &router,
        json!([
            alert(&[
                ("alertname", "HighErrorRate"),
                ("service", "agentic-platform"),
                ("priority", "P0"),
                ("severity", "critical")
            ]),
            alert(&[
                ("alertname", "DiskFull"),
                ("instance", "db-1"),
                ("priority", "P1"),
                ("severity", "critical")
            ]),
            alert(&[
                ("alertname", "DiskFull"),
                ("instance", "db-2"),
                ("priority", "P1"),
                ("severity", "critical")
            ]),
            alert(&[
                ("alertname", "SlowQueries"),
                ("service", "hitl-api"),
                ("priority", "P3"),
                ("severity", "info")
            ]),
        ]),
    )
    .await;
    pager.wait_for(1, Duration::from_secs(5)).await;
    let (status, body) = router
        .post_json(
            "/api/v2/silences",
            &json!({"matchers": [{"name": "instance", "value": "db-2", "isRegex": false}],
                "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
                "createdBy": "alice", "comment": "disk replacement on db-2"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let incidents = router.get_json("/api/v1/incidents?priority=P0").await;
    let id = incidents[0]["id"].as_str().unwrap().to_string();
    let pages = [
        ("alerts", "/#/alerts".to_string(), "section.group"),
        ("silences", "/#/silences".into(), ".silence"),
        (
            "silence-form",
            "/#/silences/new?matcher=alertname%3D%22DiskFull%22".into(),
            "#preview-list li",
        ),
        ("incidents", "/#/incidents".into(), "#incident-rows tr"),
        (
            "incident",
            format!("/#/incidents/{id}"),
            "#timeline tbody tr",
        ),
        ("routing", "/#/routing".into(), "#route-tree li"),
        ("status", "/#/status".into(), "#config"),
    ];
    let out = if std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        std::env::temp_dir().join(format!("alert-router-screenshots-{}", std::process::id()))
    };
    std::fs::create_dir_all(&out).unwrap();
    for (width_name, (w, h)) in [("desktop", DESKTOP), ("phone", PHONE)] {
        b.set_size(w, h).await;
        for (name, path, ready) in &pages {
            b.goto(&router.url(path)).await;
            b.find(ready).await;
            // Nothing wider than the window: usable without sideways scrolling.
            let overflow = b
                .eval(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                    json!([]),
                )
                .await;
            assert!(
                overflow.as_i64().unwrap_or(1) <= 0,
                "{name} at {width_name} width overflows by {overflow}px"
            );
            // Every control has an accessible name.
            let unnamed = b
                .eval(
                    r#"return [...document.querySelectorAll('button, input, select, textarea, a')]
                        .filter(e => !e.hidden && !(e.getAttribute('aria-label') || e.textContent.trim()
                          || (e.id && document.querySelector('label[for="' + e.id + '"]'))
                          || e.closest('label') || e.placeholder))
                        .map(e => e.outerHTML.slice(0, 80));"#,
                    json!([]),
                )
                .await;
            assert_eq!(unnamed, json!([]), "{name}: controls without a name");
            let png = b.screenshot().await;
            assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{name}");
            std::fs::write(out.join(format!("{name}-{width_name}.png")), png).unwrap();
        }
    }
    // The dark theme, chosen with the toggle and kept across page loads.
    b.set_size(DESKTOP.0, DESKTOP.1).await;
    b.goto(&router.url("/#/alerts")).await;
    b.find("section.group").await;
    b.click("#theme").await;
    b.goto(&router.url("/#/alerts")).await;
    b.find("section.group").await;
    assert_eq!(
        b.eval("return document.documentElement.dataset.theme;", json!([]))
            .await,
        "dark"
    );
    std::fs::write(out.join("alerts-dark-desktop.png"), b.screenshot().await).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ui_works_under_a_route_prefix() {
    let Some(b) = browser().await else { return };
    let router = Router::start_with_args(&config(""), &["--web.route-prefix", "/alerting"]);
    b.goto(&router.url("/alerting/#/alerts")).await;
    b.find("#alert-groups").await;
    post_under(&router, "/alerting").await;
    b.wait_for(
        "return document.body.textContent.includes('UnderPrefix');",
        Duration::from_secs(3),
    )
    .await
    .expect("the alert was not shown under the prefix");
    b.goto(&router.url("/alerting/#/routing")).await;
    b.find("#route-tree li").await;
}

async fn post_under(router: &Router, prefix: &str) {
    let (status, body) = router
        .post_json(
            &format!("{prefix}/api/v2/alerts"),
            &json!([alert(&[("alertname", "UnderPrefix")])]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
