use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::sigv4::{self, Credentials, Request, Scope};
use super::*;
use crate::config::{GlobalConfig, Secret};
use crate::model::time::parse_rfc3339;
use crate::model::{Alert, LabelSet};
use crate::notify::registry::IntegrationConfig;

/// AWS's documentation example credentials.
const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// sha256 of the group key below, computed with Python's hashlib.
const GROUP_HASH: &str = "17c4e445d234645c9e547ff6d32a864af0ebdadcd1902771c24c8d366637ff41";

fn alert(instance: &str, resolved: bool) -> Alert {
    let labels: LabelSet = [
        ("alertname", "DiskFull"),
        ("cluster", "eu-1"),
        ("instance", instance),
        ("severity", "critical"),
    ]
    .into_iter()
    .collect();
    Alert {
        fingerprint: labels.fingerprint(),
        labels,
        annotations: [("summary", "disk full")].into_iter().collect(),
        starts_at: parse_rfc3339("2024-05-01T11:00:00Z").unwrap(),
        ends_at: parse_rfc3339(if resolved {
            "2024-05-01T11:45:00Z"
        } else {
            "2024-05-01T12:05:00Z"
        })
        .unwrap(),
        generator_url: "http://prom/graph".into(),
        updated_at: parse_rfc3339("2024-05-01T12:00:00Z").unwrap(),
        timeout: true,
        values: Default::default(),
    }
}

fn firing() -> Vec<Alert> {
    vec![alert("db-1", false), alert("db-2", false)]
}

fn resolved() -> Vec<Alert> {
    vec![alert("db-1", true), alert("db-2", true)]
}

fn ctx() -> FlushContext {
    FlushContext {
        group_key: r#"{}:{alertname="DiskFull"}"#.into(),
        group_labels: [("alertname", "DiskFull")].into_iter().collect(),
        receiver: "team".into(),
        repeat_interval: Duration::from_secs(3600),
        now: parse_rfc3339("2024-05-01T12:00:00Z").unwrap(),
        deadline: Instant::now() + Duration::from_secs(10),
        external_url: "http://ar.example:9093".into(),
        mute_time_intervals: Vec::new(),
        active_time_intervals: Vec::new(),
        route_labels: Vec::new(),
        ack_url: None,
    }
}

fn config(yaml: &str) -> SnsConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn notifier(yaml: &str) -> SnsNotifier {
    let c = config(yaml);
    let global = GlobalConfig::default();
    c.check(&global).unwrap();
    SnsNotifier::new(
        &c,
        &global,
        Arc::new(Templates::with_defaults().unwrap()),
        &no_env,
    )
    .unwrap()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn creds() -> Credentials {
    Credentials {
        access_key: ACCESS_KEY.into(),
        secret_key: Secret::new(SECRET_KEY),
        session_token: None,
    }
}

// --- SigV4 against AWS's documented examples ------------------------------------------------

#[test]
fn signing_key_matches_the_documented_example() {
    // AWS's "derive a signing key" example: 20150830, us-east-1, iam.
    assert_eq!(
        hex::encode(sigv4::signing_key(
            SECRET_KEY,
            "20150830",
            "us-east-1",
            "iam"
        )),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
}

#[test]
fn signature_matches_the_documented_iam_list_users_example() {
    let url =
        url::Url::parse("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08").unwrap();
    let headers = [(
        "Content-Type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    let request = Request {
        method: "GET",
        url: &url,
        headers: &headers,
        payload: b"",
    };
    let scope = Scope {
        region: "us-east-1",
        service: "iam",
        at: parse_rfc3339("2015-08-30T12:36:00Z").unwrap(),
    };
    let added = sigv4::sign(&request, &creds(), &scope);
    assert_eq!(
        added,
        pairs(&[
            ("X-Amz-Date", "20150830T123600Z"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"),
        ])
    );
    // The documented canonical request, whose hash the example gives.
    let signed = pairs(&[
        ("content-type", headers[0].1),
        ("host", "iam.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
    ]);
    let canonical = sigv4::canonical_request(&request, &signed);
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(canonical.as_bytes())),
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
}

#[test]
fn signature_matches_the_test_suite_get_vanilla_case() {
    let url = url::Url::parse("https://example.amazonaws.com/").unwrap();
    let request = Request {
        method: "GET",
        url: &url,
        headers: &[],
        payload: b"",
    };
    let scope = Scope {
        region: "us-east-1",
        service: "service",
        at: parse_rfc3339("2015-08-30T12:36:00Z").unwrap(),
    };
    let added = sigv4::sign(&request, &creds(), &scope);
    assert_eq!(
        added[1].1,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}

#[test]
fn a_session_token_is_sent_and_signed() {
    let url = url::Url::parse("http://127.0.0.1:4566/").unwrap();
    let request = Request {
        method: "POST",
        url: &url,
        headers: &[],
        payload: b"Action=Publish",
    };
    let scope = Scope {
        region: "us-east-1",
        service: "sns",
        at: parse_rfc3339("2024-05-01T12:00:00Z").unwrap(),
    };
    let mut c = creds();
    c.session_token = Some(Secret::new("tok/en"));
    let added = sigv4::sign(&request, &c, &scope);
    assert_eq!(added[1], ("X-Amz-Security-Token".into(), "tok/en".into()));
    // Computed independently with Python's hmac and hashlib from the SigV4 steps.
    assert_eq!(
        added[2].1,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/us-east-1/sns/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=a747dd539a91eada6bfdc1f505c08b8cc5ef213ab888561f6caa422b7527c259"
    );
    assert_eq!(sigv4::host_header(&url), "127.0.0.1:4566");
}

// --- The Publish call -------------------------------------------------------------------------

const FULL: &str = r#"
send_resolved: true
api_url: 'https://sns.{{ .CommonLabels.cluster }}.example.test'
sigv4:
  region: eu-west-1
  access_key: AKIDEXAMPLE
  secret_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
topic_arn: 'arn:aws:sns:eu-west-1:123456789012:{{ .GroupLabels.alertname }}.fifo'
subject: '{{ .Status | toUpper }} {{ .GroupLabels.alertname }}'
message: '{{ len .Alerts }} alerts on {{ .CommonLabels.cluster }}: {{ .CommonAnnotations.summary }}'
attributes:
  severity: '{{ .CommonLabels.severity }}'
  'team-{{ .Receiver }}': on call
"#;

fn full_params(status: &str) -> Vec<(String, String)> {
    let subject = format!("{status} DiskFull");
    pairs(&[
        ("Action", "Publish"),
        ("Version", "2010-03-31"),
        ("Message", "2 alerts on eu-1: disk full"),
        ("MessageAttributes.entry.1.Name", "severity"),
        ("MessageAttributes.entry.1.Value.DataType", "String"),
        ("MessageAttributes.entry.1.Value.StringValue", "critical"),
        ("MessageAttributes.entry.2.Name", "team-team"),
        ("MessageAttributes.entry.2.Value.DataType", "String"),
        ("MessageAttributes.entry.2.Value.StringValue", "on call"),
        ("MessageDeduplicationId", GROUP_HASH),
        ("MessageGroupId", GROUP_HASH),
        ("Subject", &subject),
        (
            "TopicArn",
            "arn:aws:sns:eu-west-1:123456789012:DiskFull.fifo",
        ),
    ])
}

#[test]
fn every_field_firing_and_resolved() {
    let n = notifier(FULL);
    assert!(n.send_resolved);
    for (alerts, status, signature) in [
        (
            firing(),
            "FIRING",
            "b3fb6e1df425cbc1f32127941d371561d683f738cd37cf32f068b205e1705247",
        ),
        (
            resolved(),
            "RESOLVED",
            "1354cd9041a22f473e5e8cf5e7906fc0f1df7aa054ba429713d5a082463da342",
        ),
    ] {
        let publish = n.message(&ctx(), &alerts);
        assert_eq!(
            publish,
            Publish {
                endpoint: "https://sns.eu-1.example.test".into(),
                params: full_params(status),
            }
        );
        assert_eq!(
            publish.body(),
            format!("Action=Publish&Version=2010-03-31&Message=2%20alerts%20on%20eu-1%3A%20disk%20full&MessageAttributes.entry.1.Name=severity&MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=critical&MessageAttributes.entry.2.Name=team-team&MessageAttributes.entry.2.Value.DataType=String&MessageAttributes.entry.2.Value.StringValue=on%20call&MessageDeduplicationId={GROUP_HASH}&MessageGroupId={GROUP_HASH}&Subject={status}%20DiskFull&TopicArn=arn%3Aaws%3Asns%3Aeu-west-1%3A123456789012%3ADiskFull.fifo")
        );
        // The signature, computed independently (Python hmac/hashlib) from the same body.
        let signed = n
            .sign(
                &publish,
                &creds(),
                parse_rfc3339("2024-05-01T12:00:00Z").unwrap(),
            )
            .unwrap();
        assert_eq!(signed.url.as_str(), "https://sns.eu-1.example.test/");
        assert_eq!(signed.body, publish.body());
        assert_eq!(
            signed.headers,
            pairs(&[
                ("Host", "sns.eu-1.example.test"),
                ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
                ("X-Amz-Date", "20240501T120000Z"),
                ("Authorization", &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/eu-west-1/sns/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={signature}")),
            ])
        );
    }
}

const MINIMAL: &str = "topic_arn: arn:aws:sns:us-east-1:123456789012:ops\nsigv4: {region: us-east-1, access_key: AKIDEXAMPLE, secret_key: s}\n";

#[test]
fn defaults_for_a_minimal_config() {
    let n = notifier(MINIMAL);
    assert!(n.send_resolved, "Alertmanager's sns default sends resolved");
    let publish = n.message(&ctx(), &firing());
    let text_list = "Labels:\n - alertname = DiskFull\n - cluster = eu-1\n - instance = db-1\n - severity = critical\nAnnotations:\n - summary = disk full\nSource: http://prom/graph\nLabels:\n - alertname = DiskFull\n - cluster = eu-1\n - instance = db-2\n - severity = critical\nAnnotations:\n - summary = disk full\nSource: http://prom/graph\n";
    assert_eq!(
        publish,
        Publish {
            endpoint: "https://sns.us-east-1.amazonaws.com".into(),
            params: pairs(&[
                ("Action", "Publish"),
                ("Version", "2010-03-31"),
                ("Message", &format!("disk full\n\nFiring:\n{text_list}\n\n")),
                ("Subject", "[FIRING:2] DiskFull (eu-1 critical)"),
                ("TopicArn", "arn:aws:sns:us-east-1:123456789012:ops"),
            ]),
        }
    );
    let resolved = n.message(&ctx(), &resolved());
    let message = &resolved.params[2].1;
    assert!(
        message.starts_with("disk full\n\n\nResolved:\nLabels:\n"),
        "{message:?}"
    );
    assert_eq!(resolved.params[3].1, "[RESOLVED] DiskFull (eu-1 critical)");
    assert_eq!(
        default_endpoint("cn-north-1"),
        "https://sns.cn-north-1.amazonaws.com.cn"
    );
}

#[test]
fn phone_numbers_and_target_arns_take_their_own_parameter() {
    let sms = notifier("phone_number: '+15555550100'\nsigv4: {region: us-east-1, access_key: a, secret_key: s}\nmessage: hi\nsubject: ''\n");
    assert_eq!(
        sms.message(&ctx(), &firing()).params,
        pairs(&[
            ("Action", "Publish"),
            ("Version", "2010-03-31"),
            ("Message", "hi"),
            ("PhoneNumber", "+15555550100"),
        ]),
        "an empty subject is not sent"
    );
    let target = notifier("target_arn: arn:aws:sns:us-east-1:1:endpoint/APNS/app/x\nsigv4: {region: us-east-1, access_key: a, secret_key: s}\nmessage: hi\nsubject: s\n");
    assert_eq!(
        target.message(&ctx(), &firing()).params,
        pairs(&[
            ("Action", "Publish"),
            ("Version", "2010-03-31"),
            ("Message", "hi"),
            ("Subject", "s"),
            ("TargetArn", "arn:aws:sns:us-east-1:1:endpoint/APNS/app/x"),
        ])
    );
}

#[test]
fn a_standard_topic_gets_no_fifo_ids() {
    let n = notifier(MINIMAL);
    let params = n.message(&ctx(), &firing()).params;
    assert!(!params
        .iter()
        .any(|(k, _)| k.starts_with("MessageGroupId") || k.starts_with("MessageDeduplicationId")));
}

// --- Truncation -------------------------------------------------------------------------------

#[test]
fn a_message_over_256_kib_is_cut_at_a_character_and_flagged() {
    // 'é' is two bytes: 262144 is not a character boundary once one ASCII byte leads.
    let big = format!("x{}", "é".repeat(MAX_MESSAGE_BYTES));
    let yaml = format!("{MINIMAL}message: '{big}'\n");
    let publish = notifier(&yaml).message(&ctx(), &firing());
    let message = &publish.params[2].1;
    assert_eq!(message.len(), MAX_MESSAGE_BYTES - 1);
    assert!(big.starts_with(message.as_str()));
    assert_eq!(
        publish.params[3..6],
        pairs(&[
            ("MessageAttributes.entry.1.Name", "truncated"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            ("MessageAttributes.entry.1.Value.StringValue", "true"),
        ])[..]
    );

    let exact = "y".repeat(MAX_MESSAGE_BYTES);
    let yaml = format!("{MINIMAL}message: '{exact}'\n");
    let publish = notifier(&yaml).message(&ctx(), &firing());
    assert_eq!(publish.params[2].1.len(), MAX_MESSAGE_BYTES);
    assert!(!publish.params.iter().any(|(_, v)| v == "truncated"));
}

#[test]
fn an_sms_is_cut_to_1600_bytes() {
    let yaml = format!(
        "phone_number: '+15555550100'\nsigv4: {{region: us-east-1, access_key: a, secret_key: s}}\nmessage: '{}'\n",
        "z".repeat(2000)
    );
    let publish = notifier(&yaml).message(&ctx(), &firing());
    assert_eq!(publish.params[2], ("Message".into(), "z".repeat(1600)));
    assert_eq!(publish.params[5].1, "true");
}

#[test]
fn subjects_lose_line_breaks_and_are_cut_under_100_characters() {
    assert_eq!(
        subject_for_sns("  [FIRING:1]\nDisk\tFull\r\n"),
        "[FIRING:1] Disk Full"
    );
    let long = "a".repeat(150);
    let cut = subject_for_sns(&long);
    assert_eq!(cut.chars().count(), 99);
    assert_eq!(cut, format!("{}…", "a".repeat(98)));
    assert_eq!(subject_for_sns(&"b".repeat(99)), "b".repeat(99));
    let n = notifier(&format!("{MINIMAL}subject: \"{{{{ \\\"\\\\n\\\" }}}}\"\n"));
    assert!(
        !n.message(&ctx(), &firing())
            .params
            .iter()
            .any(|(k, _)| k == "Subject"),
        "a subject that is only blanks is left out"
    );
}

// --- Answers ----------------------------------------------------------------------------------

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        body: body.into(),
        retry_after: None,
        content_type: "text/xml".into(),
    }
}

fn aws_error_body(code: &str, message: &str) -> String {
    format!("<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>")
}

#[test]
fn answers_map_to_alertmanagers_retry_rules() {
    assert!(check(answer(200, "<PublishResponse/>")).is_ok());
    let invalid = check(answer(
        400,
        &aws_error_body("InvalidParameter", "Invalid parameter: Subject &amp; more"),
    ))
    .unwrap_err();
    assert!(!invalid.is_retryable());
    assert_eq!(
        invalid.to_string(),
        "sns answered 400: InvalidParameter: Invalid parameter: Subject & more"
    );
    let throttled = check(answer(400, &aws_error_body("Throttling", "Rate exceeded"))).unwrap_err();
    assert!(matches!(throttled, NotifyError::RateLimited { .. }));
    assert!(throttled.is_retryable());
    assert!(check(answer(429, "")).unwrap_err().is_retryable());
    assert!(check(answer(503, &aws_error_body("InternalError", "x")))
        .unwrap_err()
        .is_retryable());
    assert!(
        !check(answer(403, &aws_error_body("SignatureDoesNotMatch", "bad")))
            .unwrap_err()
            .is_retryable()
    );
}

// --- Config checks ----------------------------------------------------------------------------

fn check_error(yaml: &str) -> String {
    config(yaml).check(&GlobalConfig::default()).unwrap_err()
}

#[test]
fn exactly_one_destination() {
    let msg = "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config";
    assert_eq!(check_error("{}"), msg);
    assert_eq!(check_error("topic_arn: t\ntarget_arn: x\n"), msg);
    assert_eq!(check_error("topic_arn: t\nphone_number: '1'\n"), msg);
    assert_eq!(
        check_error("topic_arn: t\nphone_number: '1'\ntarget_arn: x\n"),
        msg
    );
    assert_eq!(check_error("sigv4: {access_key: a, secret_key: b}\n"), msg);
    for ok in ["topic_arn: t", "target_arn: t", "phone_number: '1'"] {
        assert!(config(ok).check(&GlobalConfig::default()).is_ok(), "{ok}");
    }
}

#[test]
fn sigv4_checks() {
    let pair = "must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config";
    assert_eq!(check_error("topic_arn: t\nsigv4: {access_key: a}\n"), pair);
    assert_eq!(check_error("topic_arn: t\nsigv4: {secret_key: a}\n"), pair);
    assert_eq!(
        check_error("topic_arn: t\nsigv4: {external_id: e}\n"),
        "external_id can only be used with role_arn"
    );
    assert!(
        check_error("topic_arn: t\nsigv4: {role_arn: 'arn:aws:iam::1:role/r'}\n")
            .contains("role_arn (STS AssumeRole) is not supported")
    );
    assert!(check_error("topic_arn: t\napi_url: 'ftp://x'\n").contains("sns api_url"));
    assert!(config("topic_arn: t\napi_url: '{{ .X }}'\n")
        .check(&GlobalConfig::default())
        .is_ok());
    assert!(serde_yaml_ng::from_str::<SnsConfig>("topic_arn: t\nsigv4: {colour: red}\n").is_err());
}

#[test]
fn templated_fields_are_all_listed() {
    let c = config(FULL);
    let names: Vec<&str> = c.templated_fields().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "sns api_url",
            "sns topic_arn",
            "sns subject",
            "sns message",
            "sns attribute name",
            "sns attribute value",
            "sns attribute name",
            "sns attribute value"
        ]
    );
}

// --- Credentials and region -------------------------------------------------------------------

struct FakeEnv(HashMap<&'static str, String>);

impl FakeEnv {
    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| self.0.get(name).cloned()
    }
}

fn files(credentials: &str, config: &str) -> (tempfile::TempDir, FakeEnv) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".aws")).unwrap();
    std::fs::write(dir.path().join(".aws/credentials"), credentials).unwrap();
    std::fs::write(dir.path().join(".aws/config"), config).unwrap();
    let home = dir.path().to_string_lossy().into_owned();
    (dir, FakeEnv(HashMap::from([("HOME", home)])))
}

fn sigv4(yaml: &str) -> Sigv4Config {
    serde_yaml_ng::from_str(yaml).unwrap()
}

#[test]
fn static_keys_win_and_need_no_files() {
    let s = sigv4("{access_key: AK, secret_key: SK, region: eu-west-1}");
    let env = FakeEnv(HashMap::new());
    let source = CredentialSource::choose(&s, &env.lookup()).unwrap();
    let c = source.resolve(&env.lookup()).unwrap();
    assert_eq!((c.access_key.as_str(), c.secret_key.expose()), ("AK", "SK"));
    assert_eq!(credentials::region(&s, &env.lookup()).unwrap(), "eu-west-1");
}

#[test]
fn a_named_profile_is_read_from_the_shared_files() {
    let (_dir, env) = files(
        "[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n\n# ops\n[ops]\naws_access_key_id = OPSKEY\naws_secret_access_key = opssecret\naws_session_token = opstoken\n",
        "[default]\nregion = us-east-2\n[profile ops]\nregion = ap-south-1\n",
    );
    let s = sigv4("{profile: ops}");
    let c = CredentialSource::choose(&s, &env.lookup())
        .unwrap()
        .resolve(&env.lookup())
        .unwrap();
    assert_eq!(
        c,
        Credentials {
            access_key: "OPSKEY".into(),
            secret_key: Secret::new("opssecret"),
            session_token: Some(Secret::new("opstoken")),
        }
    );
    assert_eq!(
        credentials::region(&s, &env.lookup()).unwrap(),
        "ap-south-1"
    );
    // Without a profile: the default one, and its region.
    let s = sigv4("{}");
    let c = CredentialSource::choose(&s, &env.lookup())
        .unwrap()
        .resolve(&env.lookup())
        .unwrap();
    assert_eq!(c.access_key, "DEF");
    assert_eq!(credentials::region(&s, &env.lookup()).unwrap(), "us-east-2");
}

#[test]
fn environment_credentials_come_before_the_default_profile() {
    let (_dir, mut env) = files(
        "[default]\naws_access_key_id = DEF\naws_secret_access_key = d\n",
        "",
    );
    env.0.insert("AWS_ACCESS_KEY_ID", "ENVKEY".into());
    env.0.insert("AWS_SECRET_ACCESS_KEY", "envsecret".into());
    env.0.insert("AWS_REGION", "sa-east-1".into());
    let s = sigv4("{}");
    let source = CredentialSource::choose(&s, &env.lookup()).unwrap();
    assert_eq!(source, CredentialSource::Environment);
    assert_eq!(source.resolve(&env.lookup()).unwrap().access_key, "ENVKEY");
    assert_eq!(credentials::region(&s, &env.lookup()).unwrap(), "sa-east-1");
}

#[test]
fn profiles_sns_cannot_resolve_are_clear_errors() {
    let (_dir, env) = files(
        "[plain]\nregion = x\n",
        "[profile assume]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\n[profile sso]\nsso_start_url = https://x\n",
    );
    let err = |p: &str| {
        CredentialSource::choose(&sigv4(&format!("{{profile: {p}}}")), &env.lookup()).unwrap_err()
    };
    assert!(
        err("assume").contains("through role_arn"),
        "{}",
        err("assume")
    );
    assert!(
        err("sso").contains("through sso_start_url"),
        "{}",
        err("sso")
    );
    assert!(
        err("plain").contains("has no aws_access_key_id"),
        "{}",
        err("plain")
    );
    assert!(err("missing").contains("not found"), "{}", err("missing"));
    let nothing = FakeEnv(HashMap::new());
    let e = CredentialSource::choose(&sigv4("{}"), &nothing.lookup()).unwrap_err();
    assert!(e.starts_with("no AWS credentials for SNS"), "{e}");
    assert_eq!(
        credentials::region(&sigv4("{}"), &nothing.lookup()).unwrap_err(),
        "region not configured in sns.sigv4.region or in default credentials chain"
    );
}

#[test]
fn building_without_credentials_fails_at_load() {
    let c = config("topic_arn: t\nsigv4: {region: us-east-1}\n");
    let err = SnsNotifier::new(
        &c,
        &GlobalConfig::default(),
        Arc::new(Templates::with_defaults().unwrap()),
        &no_env,
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().starts_with("no AWS credentials for SNS"),
        "{err}"
    );
}
