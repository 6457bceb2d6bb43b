//! Log lines in Alertmanager's two formats (`--log.format`): logfmt, the default, and JSON,
//! one object per line, so log pipelines parsing Alertmanager's output parse ours.
//!
//! `time=2026-12-03T09:30:00.123Z level=INFO source=alert_router::app msg="configuration reloaded"`

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Logfmt,
    Json,
}

/// Installs the process's logger, writing to stderr.
pub fn init(filter: EnvFilter, format: Format) {
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(Lines(format))
        .init();
}

struct Lines(Format);

/// An event's fields in the order they were written, `message` as `msg`.
#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((name(field), value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((name(field), format!("{value:?}")));
    }
}

fn name(field: &Field) -> &'static str {
    match field.name() {
        "message" => "msg",
        other => other,
    }
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let head = [
            (
                "time",
                chrono::Utc::now()
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string(),
            ),
            ("level", meta.level().as_str().to_string()),
            ("source", meta.target().to_string()),
        ];
        let all = head.into_iter().chain(fields.0);
        let line = match self.0 {
            Format::Json => {
                let object: serde_json::Map<String, serde_json::Value> = all
                    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
                    .collect();
                serde_json::Value::Object(object).to_string()
            }
            Format::Logfmt => {
                let mut line = String::new();
                for (i, (key, value)) in all.enumerate() {
                    if i > 0 {
                        line.push(' ');
                    }
                    let _ = write!(line, "{key}={}", logfmt_value(&value));
                }
                line
            }
        };
        writeln!(writer, "{line}")
    }
}

/// Bare when it needs no quoting, else quoted with `"` and `\` escaped.
fn logfmt_value(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| !c.is_whitespace() && c != '"' && c != '=' && !c.is_control());
    if plain {
        value.to_string()
    } else {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_quotes_only_what_needs_it() {
        assert_eq!(logfmt_value("info"), "info");
        assert_eq!(
            logfmt_value("configuration reloaded"),
            "\"configuration reloaded\""
        );
        assert_eq!(logfmt_value(""), "\"\"");
        assert_eq!(logfmt_value("a=\"b\""), "\"a=\\\"b\\\"\"");
    }
}
