//! The `alert-router` command: wiring only; the work is in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use alert_router::app::{App, Settings};
use alert_router::config::PromDuration;
use alert_router::state::Durability;
use alert_router::{api, cli};
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// jemalloc rather than glibc's malloc: ingest replaces an alert's version on every re-send
/// from whichever worker took the request, and the writer and compactor threads allocate
/// buffers of megabytes; glibc's per-thread arenas kept the freed memory as fragments. Measured
/// on the changed-annotation benchmark: peak RSS a sixth lower with `fsync` and ingest CPU a
/// tenth lower (mimalloc, tried before, cut CPU too but raised RSS by a fifth).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "alert-router",
    version,
    about = "An Alertmanager-compatible alert router"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the router.
    Serve(Box<ServeArgs>),
    /// Check configuration files, as `amtool check-config` does.
    CheckConfig {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Inspect the routing tree, as `amtool config routes` does.
    Routes {
        #[command(subcommand)]
        command: RoutesCommand,
    },
    /// Check and try the runbook rules that classify alerts.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate every rule file in the given directories (or files).
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Classify an alert with the given labels (and `value=N`, its observed value) and print
    /// the result and the receivers it routes to.
    Test {
        #[arg(long = "config.file", default_value = "alertmanager.yml")]
        config_file: PathBuf,
        /// Rule files to use besides the config's `rule_files`.
        #[arg(long = "rules.dir")]
        rules_dir: Option<PathBuf>,
        /// Labels as name=value; `value=N` is the observed value, not a label.
        labels: Vec<String>,
    },
}

#[derive(Subcommand)]
enum RoutesCommand {
    /// Print the receivers an alert with the given labels is routed to.
    Test {
        #[arg(long = "config.file", default_value = "alertmanager.yml")]
        config_file: PathBuf,
        /// Also draw the matching part of the routing tree.
        #[arg(long)]
        tree: bool,
        /// Expected receivers, comma-separated; exit 1 when they differ.
        #[arg(long = "verify.receivers")]
        verify_receivers: Option<String>,
        /// Labels as name=value.
        labels: Vec<String>,
    },
    /// Print the whole routing tree.
    Show {
        #[arg(long = "config.file", default_value = "alertmanager.yml")]
        config_file: PathBuf,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long = "config.file", default_value = "alertmanager.yml")]
    config_file: PathBuf,
    /// Address to listen on; `:9093` means every interface.
    #[arg(long = "web.listen-address", default_value = ":9093")]
    listen_address: String,
    /// Once listening, write the bound address (`127.0.0.1:40123`) to this file: what a
    /// supervisor or a test needs when the port is chosen by the system (`:0`).
    #[arg(long = "web.listen-address-file")]
    listen_address_file: Option<PathBuf>,
    /// The URL users reach the router under, used in notifications.
    #[arg(long = "web.external-url")]
    external_url: Option<String>,
    /// Directory for the router's state.
    #[arg(long = "storage.path", default_value = "data/")]
    storage_path: PathBuf,
    /// fsync: acknowledge ingest once committed to disk; batch: commit every 100ms; none:
    /// keep all state in memory only.
    #[arg(long = "storage.durability", default_value = "fsync")]
    durability: Durability,
    /// Move a damaged state file aside and start with empty state instead of refusing to start.
    #[arg(long = "storage.repair")]
    storage_repair: bool,
    /// A directory of runbook rule files, loaded besides the config's `rule_files`.
    #[arg(long = "rules.dir")]
    rules_dir: Option<PathBuf>,
    /// How long shutdown waits for notifications under way.
    #[arg(long = "shutdown.grace", default_value = "10s", value_parser = parse_duration)]
    shutdown_grace: Duration,
    #[arg(long = "log.level", default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
    log_level: String,
    /// How long to keep notification log entries and expired silences.
    #[arg(long = "data.retention", default_value = "120h", value_parser = parse_duration)]
    retention: Duration,
    /// How often resolved alerts and expired log entries are collected.
    #[arg(long = "alerts.gc-interval", default_value = "30m", value_parser = parse_duration)]
    gc_interval: Duration,
    /// How long a client has to send a request's headers, and how long a kept-open connection
    /// may wait idle for its next request, before the connection is closed.
    #[arg(long = "web.read-header-timeout", default_value = "30s", value_parser = parse_duration)]
    read_header_timeout: Duration,
    /// Largest request body accepted; larger ones get 413.
    #[arg(long = "web.max-request-body-bytes", default_value_t = 16 * 1024 * 1024)]
    max_body_bytes: usize,
    /// How long an alert relayed by an Alertmanager or Grafana webhook without an end is
    /// considered firing; those senders repeat only every repeat_interval (4h by default).
    #[arg(long = "webhook.resolve-timeout", default_value = "5h", value_parser = parse_duration)]
    webhook_resolve_timeout: Duration,
    /// A file holding the secret Grafana signs its webhooks with; when given, unsigned or
    /// wrongly signed Grafana webhooks are refused with 401.
    #[arg(long = "grafana.signing-secret-file")]
    grafana_secret_file: Option<PathBuf>,
    /// A file holding the secret that signs incident acknowledge links; without it,
    /// notifications carry no acknowledge link and the link endpoint is off.
    #[arg(long = "incidents.ack-secret-file")]
    ack_secret_file: Option<PathBuf>,
    /// How long an acknowledge link stays valid after its notification was sent.
    #[arg(long = "incidents.ack-link-ttl", default_value = "24h", value_parser = parse_duration)]
    ack_link_ttl: Duration,
}

fn read_secret_file(
    path: &std::path::Path,
    flag: &str,
) -> anyhow::Result<alert_router::config::Secret> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {flag} {}", path.display()))?;
    let secret = text.trim();
    if secret.is_empty() {
        bail!("{flag} {} is empty", path.display());
    }
    Ok(alert_router::config::Secret::new(secret))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    PromDuration::parse(s).map(|d| d.0)
}

fn parse_listen_address(s: &str) -> anyhow::Result<SocketAddr> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse()
        .with_context(|| format!("invalid --web.listen-address {s:?}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("alert-router: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::CheckConfig { files } => {
            let (report, ok) = cli::check_config(&files);
            print!("{report}");
            if !ok {
                eprintln!(
                    "alert-router: error: failed to validate {} file(s)",
                    files.len()
                );
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Routes {
            command:
                RoutesCommand::Test {
                    config_file,
                    tree,
                    verify_receivers,
                    labels,
                },
        } => {
            let (out, ok) =
                cli::routes_test(&config_file, &labels, tree, verify_receivers.as_deref())?;
            print!("{out}");
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Routes {
            command: RoutesCommand::Show { config_file },
        } => {
            print!("{}", cli::routes_show(&config_file)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules {
            command: RulesCommand::Check { paths },
        } => {
            let (report, ok) = cli::rules_check(&paths);
            print!("{report}");
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Rules {
            command:
                RulesCommand::Test {
                    config_file,
                    rules_dir,
                    labels,
                },
        } => {
            print!(
                "{}",
                cli::rules_test(&config_file, rules_dir.as_deref(), &labels)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            init_logging(&args.log_level);
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(serve(*args))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let addr = parse_listen_address(&args.listen_address)?;
    let config = alert_router::app::load_config(&args.config_file)
        .with_context(|| format!("loading {}", args.config_file.display()))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let bound = listener.local_addr()?;
    let external_url = match args.external_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => default_external_url(bound),
    };
    if url::Url::parse(&external_url).is_err() {
        bail!("invalid --web.external-url {external_url:?}");
    }
    api::metrics::install();
    let settings = Settings {
        external_url,
        retention: args.retention,
        gc_interval: args.gc_interval,
        webhook_resolve_timeout: args.webhook_resolve_timeout,
        grafana_signing_secret: args
            .grafana_secret_file
            .as_deref()
            .map(|p| read_secret_file(p, "--grafana.signing-secret-file"))
            .transpose()?,
        ack_secret: args
            .ack_secret_file
            .as_deref()
            .map(|p| read_secret_file(p, "--incidents.ack-secret-file"))
            .transpose()?,
        ack_link_ttl: args.ack_link_ttl,
        max_body_bytes: args.max_body_bytes,
        storage_path: Some(args.storage_path.clone()),
        durability: args.durability,
        storage_repair: args.storage_repair,
        rules_dir: args.rules_dir.clone(),
    };
    let app = App::start(settings, config)?;
    tracing::info!(address = %bound, config = %args.config_file.display(), "listening");
    if let Some(path) = &args.listen_address_file {
        // Written whole then renamed, so a reader never sees half an address.
        let partial = path.with_extension("partial");
        std::fs::write(&partial, bound.to_string())
            .and_then(|()| std::fs::rename(&partial, path))
            .with_context(|| format!("writing --web.listen-address-file {}", path.display()))?;
    }

    let reloader = app.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            // The reload logs its own failure; the old config keeps running.
            let _ = reloader.reload();
        }
    });

    api::serve(
        alert_router::app::services::Services::new(&app),
        listener,
        args.read_header_timeout,
        shutdown_signal(),
    )
    .await?;
    app.shutdown(args.shutdown_grace).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

/// Alertmanager's default: `http://<hostname>:<port>`.
fn default_external_url(bound: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("http://{host}:{}", bound.port())
}
