//! Receiver fields through the templates, never dropping a notification for a template error.

use std::sync::Arc;

use crate::template::{Templates, Value};

pub struct Renderer {
    pub templates: Arc<Templates>,
    pub integration: &'static str,
}

impl Renderer {
    /// Renders a configured field, or `default` when it is not configured. A render error is
    /// logged and counted, and the default template stands in for the field (the raw text if
    /// that fails too), so the notification still goes out.
    pub fn field(&self, configured: Option<&str>, default: &str, data: &Value) -> String {
        self.render(configured, default, data, false)
    }

    /// Like `field`, for an HTML body: printed values are escaped unless marked safe.
    pub fn html_field(&self, configured: Option<&str>, default: &str, data: &Value) -> String {
        self.render(configured, default, data, true)
    }

    fn render(&self, configured: Option<&str>, default: &str, data: &Value, html: bool) -> String {
        let text = configured.unwrap_or(default);
        let run = |t: &str| {
            if html {
                self.templates.render_html(t, data)
            } else {
                self.templates.render(t, data)
            }
        };
        match run(text) {
            Ok(out) => out,
            Err(e) => {
                metrics::counter!("alert_router_template_errors_total", "integration" => self.integration).increment(1);
                tracing::error!(integration = self.integration, error = %e, "template failed, using the default text");
                self.templates
                    .render(default, data)
                    .unwrap_or_else(|_| text.to_string())
            }
        }
    }
}
