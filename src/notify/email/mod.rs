//! Email over SMTP (lettre, async, rustls): STARTTLS when `require_tls` (the default), implicit
//! TLS on port 465 (or with `force_implicit_tls`), AUTH PLAIN/LOGIN, a multipart/alternative
//! text + HTML message, optionally threaded per group.

mod config;

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::registry::{IncidentUpdate, Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::{GlobalConfig, SecretSource, TlsConfig};
use crate::model::Alert;
use crate::template::{data_value, Templates};
pub use config::{EmailConfig, ThreadingConfig};

pub struct EmailNotifier {
    hello: String,
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<SecretSource>,
    require_tls: bool,
    implicit_tls: bool,
    /// `Some(daily)` threads a group's mails; `daily` starts a new thread each day.
    threading: Option<bool>,
    tls: Option<TlsConfig>,
    headers: Vec<(String, String)>,
    html: String,
    text: String,
    renderer: Renderer,
    pub send_resolved: bool,
}

const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

impl EmailNotifier {
    pub fn new(
        config: &EmailConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<EmailNotifier, IntegrationError> {
        let smarthost = config
            .smarthost
            .clone()
            .or_else(|| global.smtp_smarthost.clone())
            .ok_or(IntegrationError::Missing("no global SMTP smarthost set"))?;
        let (host, port) = smarthost
            .rsplit_once(':')
            .and_then(|(h, p)| {
                p.parse::<u16>()
                    .ok()
                    .map(|p| (h.trim_matches(['[', ']']).to_string(), p))
            })
            .ok_or_else(|| IntegrationError::Smarthost(smarthost.clone()))?;
        let to = config.to.clone().ok_or(IntegrationError::Missing(
            "missing to address in email config",
        ))?;
        let from = config
            .from
            .clone()
            .or_else(|| global.smtp_from.clone())
            .ok_or(IntegrationError::Missing("no global SMTP from set"))?;
        let password = SecretSource::from_pair(
            config.auth_password.clone(),
            config.auth_password_file.clone(),
            "auth_password",
        )?
        .or_else(|| {
            SecretSource::from_pair(
                global.smtp_auth_password.clone(),
                global.smtp_auth_password_file.clone(),
                "smtp_auth_password",
            )
            .ok()
            .flatten()
        });
        // Alertmanager's default headers; the config's own (case-insensitively) replace them.
        let mut headers: Vec<(String, String)> = vec![
            (
                "Subject".into(),
                r#"{{ template "email.default.subject" . }}"#.into(),
            ),
            ("To".into(), to.clone()),
            ("From".into(), from.clone()),
        ];
        for (name, value) in &config.headers {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value.clone()));
        }
        Ok(EmailNotifier {
            hello: config
                .hello
                .clone()
                .or_else(|| global.smtp_hello.clone())
                .unwrap_or_else(|| "localhost".into()),
            host,
            port,
            username: config
                .auth_username
                .clone()
                .or_else(|| global.smtp_auth_username.clone()),
            password,
            require_tls: config
                .require_tls
                .or(global.smtp_require_tls)
                .unwrap_or(true),
            implicit_tls: config
                .force_implicit_tls
                .or(global.smtp_force_implicit_tls)
                .unwrap_or(port == 465),
            threading: config
                .threading
                .enabled
                .then(|| config.threading.thread_by_date.as_deref() != Some("none")),
            tls: config
                .tls_config
                .clone()
                .or_else(|| global.smtp_tls_config.clone()),
            headers,
            html: config
                .html
                .clone()
                .unwrap_or_else(|| r#"{{ template "email.default.html" . }}"#.into()),
            text: config
                .text
                .clone()
                .unwrap_or_else(|| r#"{{ template "email.default.text" . }}"#.into()),
            renderer: Renderer {
                templates,
                integration: "email",
            },
            send_resolved: config.send_resolved.unwrap_or(false),
        })
    }

    fn build_error(e: impl std::fmt::Display) -> NotifyError {
        NotifyError::Build(e.to_string())
    }

    /// The rendered message.
    pub fn message(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<Message, NotifyError> {
        let data = ctx.data(alerts);
        let v = data_value(&data);
        let render = |t: &str| self.renderer.field(Some(t), "", &v);
        let mut builder = self.headers(&render, None)?;
        if let Some(daily) = self.threading {
            let root = thread_root(&ctx.group_key, daily.then(chrono::Utc::now));
            for name in ["References", "In-Reply-To"] {
                let header = HeaderName::new_from_ascii_str(name);
                builder = builder.raw_header(HeaderValue::new(header, root.clone()));
            }
        }
        let text = render(&self.text);
        let html = self.renderer.html_field(Some(&self.html), "", &v);
        let body = match (text.trim().is_empty(), html.trim().is_empty()) {
            (false, false) => MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
            (true, _) => MultiPart::alternative().singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html),
            ),
            (false, true) => MultiPart::alternative().singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(text),
            ),
        };
        builder.multipart(body).map_err(Self::build_error)
    }

    /// A message builder with the rendered headers; `subject` replaces the Subject template.
    fn headers(
        &self,
        render: &dyn Fn(&str) -> String,
        subject: Option<&str>,
    ) -> Result<lettre::message::MessageBuilder, NotifyError> {
        let mut builder = Message::builder()
            .message_id(Some(format!("<{}@{}>", uuid::Uuid::new_v4(), self.hello)))
            .date_now();
        for (name, template) in &self.headers {
            if name.eq_ignore_ascii_case("subject") {
                builder = builder.subject(subject.map_or_else(|| render(template), str::to_string));
                continue;
            }
            let value = render(template);
            match name.to_ascii_lowercase().as_str() {
                "to" => {
                    for addr in value.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                        builder = builder.to(addr
                            .parse::<Mailbox>()
                            .map_err(|e| Self::build_error(format!("to {addr:?}: {e}")))?);
                    }
                }
                "from" => {
                    builder = builder.from(
                        value
                            .parse::<Mailbox>()
                            .map_err(|e| Self::build_error(format!("from {value:?}: {e}")))?,
                    )
                }
                _ => {
                    let header =
                        HeaderName::new_from_ascii(name.clone()).map_err(Self::build_error)?;
                    builder = builder.raw_header(HeaderValue::new(header, value));
                }
            }
        }
        Ok(builder)
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
        let server_name = self
            .tls
            .as_ref()
            .and_then(|t| t.server_name.clone())
            .unwrap_or_else(|| self.host.clone());
        let mut params = TlsParameters::builder(server_name);
        if let Some(tls) = &self.tls {
            params = params.dangerous_accept_invalid_certs(tls.insecure_skip_verify);
            if let Some(ca) = &tls.ca_file {
                let pem = std::fs::read(ca)
                    .map_err(|e| Self::build_error(format!("reading ca_file {ca}: {e}")))?;
                params = params
                    .add_root_certificate(Certificate::from_pem(&pem).map_err(Self::build_error)?);
            }
        }
        let params = params.build_rustls().map_err(Self::build_error)?;
        let tls = if self.implicit_tls {
            Tls::Wrapper(params)
        } else if self.require_tls {
            Tls::Required(params)
        } else {
            Tls::None
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(tls)
            .hello_name(ClientId::Domain(self.hello.clone()))
            .timeout(Some(SMTP_TIMEOUT));
        if let Some(user) = &self.username {
            let password = match &self.password {
                Some(p) => p.read().map_err(NotifyError::secret)?.expose().to_string(),
                None => String::new(),
            };
            builder = builder
                .credentials(Credentials::new(user.clone(), password))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(builder.build())
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        self.deliver(self.message(ctx, alerts)?).await
    }

    /// Mails a plain-text notice (an incident acknowledged or resolved by someone) to the
    /// receiver's addresses.
    pub async fn send_notice(
        &self,
        ctx: &FlushContext,
        subject: &str,
        text: &str,
    ) -> Result<(), NotifyError> {
        let v = data_value(&ctx.data(&[]));
        let render = |t: &str| self.renderer.field(Some(t), "", &v);
        let message = self
            .headers(&render, Some(subject))?
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_string())
            .map_err(Self::build_error)?;
        self.deliver(message).await
    }

    async fn deliver(&self, message: Message) -> Result<(), NotifyError> {
        let transport = self.transport()?;
        match transport.send(message).await {
            Ok(_) => Ok(()),
            // A permanent SMTP refusal (5xx) will not change by retrying; the rest may.
            Err(e) if e.is_permanent() => Err(NotifyError::Refused {
                integration: "email",
                reason: e.to_string(),
            }),
            Err(e) => Err(NotifyError::Transport(format!(
                "smtp {}:{}: {e}",
                self.host, self.port
            ))),
        }
    }
}

/// The Message-ID every mail of a group (that day, with `daily`) refers to. It names no real
/// mail: clients threading by references group the mails under it.
fn thread_root(group_key: &str, day: Option<chrono::DateTime<chrono::Utc>>) -> String {
    use sha2::{Digest, Sha256};
    let hash = hex::encode(Sha256::digest(group_key.as_bytes()));
    let day = day
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    format!("<alert-{}-{day}@alertmanager>", &hash[..16])
}

impl Notify for EmailNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(EmailNotifier::send(self, ctx, alerts))
    }

    fn tell<'a>(
        &'a self,
        ctx: &'a FlushContext,
        update: &'a IncidentUpdate<'a>,
    ) -> Option<SendFuture<'a>> {
        let (status, text) = update.notice?;
        let subject = format!("[{status}] {}", update.group_labels);
        Some(Box::pin(async move {
            self.send_notice(ctx, &subject, text).await
        }))
    }
}
