//! Email to a real local SMTP server (Debian's python3-aiosmtpd) that requires STARTTLS and
//! AUTH; the received MIME message is parsed and checked.

use std::time::{Duration, Instant};

use crate::common::smtp::{aiosmtpd_available, start_smtp};
use crate::common::{alert, Router};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn email_over_starttls_with_auth_as_multipart_alternative() {
    if !aiosmtpd_available() {
        return;
    }
    let smtp = start_smtp();
    let config = format!(
        r#"global:
  smtp_from: 'alert-router <alerts@example.org>'
route:
  receiver: mail
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 1s
receivers:
  - name: mail
    email_configs:
      - to: 'oncall@example.org, lead@example.org'
        smarthost: '127.0.0.1:{}'
        hello: router.example.org
        auth_username: alerts
        auth_password: s3cret
        send_resolved: true
        headers:
          X-Team: databases
        tls_config:
          ca_file: '{}'
          server_name: localhost
"#,
        smtp.port,
        smtp.ca_file.display()
    );
    let router = Router::start(&config);
    let mut a = alert(&[
        ("alertname", "DiskFull"),
        ("instance", "db-1"),
        ("severity", "critical"),
    ]);
    a["annotations"] = json!({"summary": "disk 97% — ünïcode"});
    router.post_json("/api/v2/alerts", &json!([a])).await;
    let got = smtp.wait_for(1, Duration::from_secs(10)).await;
    let m = &got[0];
    assert_eq!(m["tls"], true, "STARTTLS was used");
    assert_eq!(m["authenticated"], true, "AUTH succeeded");
    assert_eq!(m["mail_from"], "alerts@example.org");
    assert_eq!(
        m["rcpt_tos"],
        json!(["oncall@example.org", "lead@example.org"])
    );
    let h = &m["headers"];
    assert_eq!(h["Subject"], "[FIRING:1] DiskFull (db-1 critical)");
    assert_eq!(h["X-Team"], "databases");
    assert!(h["To"].as_str().unwrap().contains("lead@example.org"));
    assert!(h["From"].as_str().unwrap().contains("alerts@example.org"));
    assert!(h["Date"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(
        h["Message-ID"]
            .as_str()
            .unwrap()
            .ends_with("@router.example.org>"),
        "{h}"
    );
    assert_eq!(h["MIME-Version"], "1.0");
    assert_eq!(m["content_type"], "multipart/alternative");
    let parts = m["parts"].as_array().unwrap();
    assert_eq!(parts[0]["type"], "text/plain");
    assert_eq!(parts[1]["type"], "text/html");
    assert!(
        parts[0]["body"]
            .as_str()
            .unwrap()
            .contains("disk 97% — ünïcode"),
        "{}",
        parts[0]["body"]
    );
    assert!(parts[1]["body"]
        .as_str()
        .unwrap()
        .contains("<h3>Firing (1)</h3>"));

    // Resolution goes out too (send_resolved: true).
    let mut resolved = alert(&[
        ("alertname", "DiskFull"),
        ("instance", "db-1"),
        ("severity", "critical"),
    ]);
    resolved["endsAt"] = json!(chrono::Utc::now().to_rfc3339());
    router.post_json("/api/v2/alerts", &json!([resolved])).await;
    let got = smtp.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        got[1]["headers"]["Subject"],
        "[RESOLVED] DiskFull (db-1 critical)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_and_untrusted_certificate_fail_loudly() {
    if !aiosmtpd_available() {
        return;
    }
    let smtp = start_smtp();
    for (case, extra) in [("untrusted", "        auth_password: s3cret\n"), ("bad-password", "        auth_password: wrong\n        tls_config: {ca_file: 'CA', server_name: localhost}\n")] {
        let config = format!(
            "route:\n  receiver: mail\n  group_wait: 100ms\n  group_interval: 1m\nreceivers:\n  - name: mail\n    email_configs:\n      - to: a@example.org\n        from: b@example.org\n        smarthost: '127.0.0.1:{}'\n        auth_username: alerts\n{}",
            smtp.port,
            extra.replace("CA", &smtp.ca_file.display().to_string())
        );
        let router = Router::start(&config);
        router.post_json("/api/v2/alerts", &json!([alert(&[("alertname", case)])])).await;
        // Every attempt fails and is counted; a refused login is final (not retried), a TLS
        // failure is retried until the flush deadline.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = router.metrics().await;
            if text.contains(r#"alertmanager_notification_requests_failed_total{integration="email"}"#) {
                break;
            }
            assert!(Instant::now() < deadline, "{case}: no failed attempt recorded: {:?}", router.log());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let log = router.log().join("\n");
        match case {
            "bad-password" => assert!(log.contains("535") && log.contains("notify failed"), "{log}"),
            _ => assert!(log.contains("UnknownIssuer") || log.contains("certificate"), "{log}"),
        }
        assert!(smtp.messages().is_empty(), "{case}: nothing delivered");
    }
}
