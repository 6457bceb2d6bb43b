use super::*;
use crate::model::time::parse_rfc3339;
use crate::model::{Alert, LabelSet};

fn render(text: &str, data: &Value) -> String {
    Templates::with_defaults()
        .unwrap()
        .render(text, data)
        .unwrap()
}

fn sample() -> Value {
    let mk = |name: &str, instance: &str, resolved: bool| {
        let labels: LabelSet = [
            ("alertname", "DiskFull"),
            ("cluster", "c1"),
            ("instance", instance),
            ("severity", name),
        ]
        .into_iter()
        .collect();
        let now = parse_rfc3339("2024-05-01T12:00:00Z").unwrap();
        Alert {
            fingerprint: labels.fingerprint(),
            labels,
            annotations: [("summary", "disk almost full")].into_iter().collect(),
            starts_at: parse_rfc3339("2024-05-01T11:00:00Z").unwrap(),
            ends_at: if resolved {
                parse_rfc3339("2024-05-01T11:30:00Z").unwrap()
            } else {
                parse_rfc3339("2024-05-01T13:00:00Z").unwrap()
            },
            generator_url: "http://prom/graph".into(),
            updated_at: now,
            timeout: false,
            values: Default::default(),
        }
    };
    let alerts = [
        mk("page", "a", false),
        mk("page", "b", false),
        mk("page", "c", true),
    ];
    let group: LabelSet = [("alertname", "DiskFull")].into_iter().collect();
    let data = NotificationData::new(
        "team",
        &group,
        &alerts,
        parse_rfc3339("2024-05-01T12:00:00Z").unwrap(),
        "http://ar:9093",
    );
    data_value(&data)
}

#[test]
fn fields_pipelines_and_functions() {
    let d = sample();
    assert_eq!(
        render("{{ .Receiver }}/{{ .Status | toUpper }}", &d),
        "team/FIRING"
    );
    assert_eq!(
        render(
            "{{ len .Alerts }} {{ .Alerts.Firing | len }} {{ len .Alerts.Resolved }}",
            &d
        ),
        "3 2 1"
    );
    assert_eq!(
        render(
            "{{ .CommonLabels.cluster }}|{{ .CommonLabels.missing }}|",
            &d
        ),
        "c1||"
    );
    assert_eq!(
        render("{{ .GroupLabels.SortedPairs.Values | join \",\" }}", &d),
        "DiskFull"
    );
    assert_eq!(
        render(
            "{{ (.CommonLabels.Remove .GroupLabels.Names).Names | join \" \" }}",
            &d
        ),
        "cluster severity"
    );
    assert_eq!(
        render(
            "{{ range $i, $a := .Alerts }}{{ if $i }},{{ end }}{{ $a.Labels.instance }}{{ end }}",
            &d
        ),
        "a,b,c"
    );
    assert_eq!(
        render(
            "{{ range .Alerts.Resolved }}{{ .Labels.instance }}{{ else }}none{{ end }}",
            &d
        ),
        "c"
    );
    assert_eq!(
        render(
            "{{ with .CommonAnnotations.summary }}{{ . | title }}{{ end }}",
            &d
        ),
        "Disk Almost Full"
    );
    assert_eq!(render("{{ if eq .Status \"resolved\" }}r{{ else if gt (len .Alerts) 2 }}many{{ else }}few{{ end }}", &d), "many");
    assert_eq!(
        render(
            "{{ printf \"%s has %d alerts\" .Receiver (len .Alerts) }}",
            &d
        ),
        "team has 3 alerts"
    );
    assert_eq!(render("{{- /* comment */ -}}  {{ \"x\" -}}   y", &d), "xy");
    assert_eq!(render("{{ $x := \"a\" }}{{ $x = \"b\" }}{{ $x }}", &d), "b");
    assert_eq!(render("{{ range .Alerts }}{{ if eq .Labels.instance \"b\" }}{{ break }}{{ end }}{{ .Labels.instance }}{{ end }}", &d), "a");
    assert_eq!(
        render(
            "{{ (index .Alerts 0).StartsAt | date \"2006-01-02 15:04\" }}",
            &d
        ),
        "2024-05-01 11:00"
    );
    assert_eq!(
        render(
            "{{ reReplaceAll \"(.*)Full\" \"${1}Empty\" .CommonLabels.alertname }}",
            &d
        ),
        "DiskEmpty"
    );
    assert_eq!(
        render("{{ match \"^c[0-9]$\" .CommonLabels.cluster }}", &d),
        "true"
    );
    assert_eq!(
        render("{{ dict \"a\" 1 \"b\" \"x\" | toJson }}", &d),
        r#"{"a":1,"b":"x"}"#
    );
    assert_eq!(
        render(
            "{{ list \"a\" \"b\" | join \"+\" }} {{ stringSlice \"c\" | len }}",
            &d
        ),
        "a+b 1"
    );
    assert_eq!(render("{{ 90 | humanizeDuration }}", &d), "1m 30s");
    assert_eq!(
        render(
            "{{ define \"x\" }}[{{ . }}]{{ end }}{{ template \"x\" .Receiver }}",
            &d
        ),
        "[team]"
    );
}

#[test]
fn default_subject_matches_alertmanagers_form() {
    // [FIRING:N] <group label values> (<common labels not in group labels>)
    assert_eq!(
        render("{{ template \"__subject\" . }}", &sample()),
        "[FIRING:2] DiskFull (c1 page)"
    );
    assert_eq!(
        render("{{ template \"email.default.subject\" . }}", &sample()),
        "[FIRING:2] DiskFull (c1 page)"
    );
    let text = render("{{ template \"slack.default.text\" . }}", &sample());
    assert!(
        text.contains("*Firing* DiskFull: disk almost full"),
        "{text}"
    );
    assert!(text.contains("*Resolved* DiskFull"), "{text}");
    let html = render("{{ template \"email.default.html\" . }}", &sample());
    assert!(
        html.contains("<title>[FIRING:2] DiskFull (c1 page)</title>"),
        "{html}"
    );
    assert!(
        html.contains("<h3>Firing (2)</h3>") && html.contains("<h3>Resolved (1)</h3>"),
        "{html}"
    );
}

#[test]
fn errors_are_reported_not_panics() {
    let t = Templates::with_defaults().unwrap();
    let d = sample();
    assert!(matches!(
        t.render("{{ .Receiver ", &d),
        Err(TemplateError::Parse { .. })
    ));
    assert!(matches!(
        t.render("{{ if .Receiver }}x", &d),
        Err(TemplateError::Parse { .. })
    ));
    assert!(matches!(
        t.render("{{ nosuchfunc 1 }}", &d),
        Err(TemplateError::Exec(_))
    ));
    assert!(matches!(
        t.render("{{ template \"nope\" . }}", &d),
        Err(TemplateError::Exec(_))
    ));
    assert!(matches!(
        t.render("{{ $undefined }}", &d),
        Err(TemplateError::Exec(_))
    ));
    assert!(matches!(
        t.render(
            "{{ define \"loop\" }}{{ template \"loop\" . }}{{ end }}{{ template \"loop\" . }}",
            &d
        ),
        Err(TemplateError::Exec(_))
    ));
    assert_eq!(t.render("{{ .NoSuchField }}", &d).unwrap(), "<no value>");
}

#[test]
fn user_templates_override_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.tmpl"),
        "{{ define \"__subject\" }}custom {{ .Receiver }}{{ end }}",
    )
    .unwrap();
    let mut t = Templates::with_defaults().unwrap();
    t.add_globs(&[dir.path().join("*.tmpl").to_string_lossy().into_owned()])
        .unwrap();
    assert_eq!(
        t.render("{{ template \"slack.default.title\" . }}", &sample())
            .unwrap(),
        "custom team"
    );
}

#[test]
fn a_broken_template_file_fails_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.tmpl"),
        "{{ define \"x\" }}{{ if .Receiver }}unclosed{{ end }}",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("am.yml"),
        "templates: ['*.tmpl']\nroute: {receiver: a}\nreceivers: [{name: a}]\n",
    )
    .unwrap();
    let err = crate::app::load_config(&dir.path().join("am.yml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.tmpl") && err.contains("unclosed"),
        "{err}"
    );
}

#[test]
fn html_mode_escapes_values_unless_marked_safe() {
    let t = Templates::with_defaults().unwrap();
    let mut d = sample();
    if let Value::Map(m) = &mut d {
        m.insert(
            "X".into(),
            Value::Str("<script>alert(1)</script> & co".into()),
        );
    }
    assert_eq!(
        t.render_html("<p>{{ .X }}</p>", &d).unwrap(),
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</p>"
    );
    assert_eq!(
        t.render_html("{{ .X | safeHtml }}", &d).unwrap(),
        "<script>alert(1)</script> & co"
    );
    assert_eq!(
        t.render_html("{{ .X | html }}", &d).unwrap(),
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co",
        "html is not applied twice"
    );
    assert_eq!(
        t.render("{{ .X }}", &d).unwrap(),
        "<script>alert(1)</script> & co",
        "text fields stay as they are"
    );
    let page = t
        .render_html("{{ template \"email.default.html\" . }}", &d)
        .unwrap();
    assert!(
        page.contains("<title>[FIRING:2] DiskFull (c1 page)</title>"),
        "{page}"
    );
    assert!(
        !page.contains("&amp;lt;"),
        "nothing is escaped twice: {page}"
    );
}
