//! The `alert-router` command: wiring only; the work is in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use alert_router::app::{App, ClusterPeer, Settings};
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
    about = "An Alertmanager-compatible alert router",
    // Without a subcommand the binary is `serve` and takes Alertmanager's command line, so it
    // replaces the `alertmanager` binary in a unit file, container or chart unchanged.
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
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
    /// Address to listen on; `:9093` means every interface. May be repeated.
    #[arg(long = "web.listen-address", default_value = ":9093")]
    listen_address: Vec<String>,
    /// Once listening, write the bound address (`127.0.0.1:40123`) to this file: what a
    /// supervisor or a test needs when the port is chosen by the system (`:0`).
    #[arg(long = "web.listen-address-file")]
    listen_address_file: Option<PathBuf>,
    /// The URL users reach the router under, used in notifications.
    #[arg(long = "web.external-url")]
    external_url: Option<String>,
    /// The path the API is served under; by default the path of --web.external-url.
    #[arg(long = "web.route-prefix")]
    route_prefix: Option<String>,
    /// Alertmanager's web config file (Prometheus exporter-toolkit's format): TLS, client
    /// certificates, basic auth users, response headers, rate limit. Re-read every second.
    #[arg(long = "web.config.file", default_value = "")]
    web_config_file: String,
    /// alert-router's roles for the web config's users (viewer, sender, responder, admin).
    #[arg(long = "web.roles.file")]
    web_roles_file: Option<PathBuf>,
    /// Answer /-/healthy and /-/ready without credentials, for load balancers' checks.
    #[arg(long = "web.unauthenticated-health")]
    web_unauthenticated_health: bool,
    /// Alertmanager's gossip address. alert-router does not gossip; set (the default, as in
    /// Alertmanager), `/api/v2/status` reports a one-member cluster that is ready, with this
    /// instance as its peer; empty, the cluster is disabled.
    #[arg(long = "cluster.listen-address", default_value = "0.0.0.0:9094")]
    cluster_listen_address: String,
    /// The address this instance reports as its peer address.
    #[arg(long = "cluster.advertise-address")]
    cluster_advertise_address: Option<String>,
    /// The name this instance reports as its peer name; by default a random one per start,
    /// as Alertmanager does.
    #[arg(long = "cluster.peer-name")]
    cluster_peer_name: Option<String>,
    /// High availability: replicas share shard leases and the notification log in this
    /// PostgreSQL database (a `postgres://` URL, or a file holding one), so each group is
    /// notified by exactly one live replica.
    #[arg(long = "cluster.store")]
    cluster_store: Option<String>,
    /// How long a replica's shard leases last without a heartbeat: a dead replica's groups are
    /// taken over within about this long.
    #[arg(long = "cluster.lease-ttl", default_value = "10s", value_parser = parse_duration)]
    cluster_lease_ttl: Duration,
    /// How often a replica renews its membership and leases in the cluster store.
    #[arg(long = "cluster.heartbeat", default_value = "1s", value_parser = parse_duration)]
    cluster_heartbeat: Duration,
    #[arg(long = "log.format", default_value = "logfmt", value_parser = ["logfmt", "json"])]
    log_format: String,
    #[command(flatten)]
    alertmanager_only: AlertmanagerOnlyArgs,
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

/// Alertmanager flags that mean nothing here: accepted as a unit file writes them, and each
/// one given is logged once at start, so the same command line starts either binary.
#[derive(clap::Args)]
struct AlertmanagerOnlyArgs {
    #[arg(long = "data.maintenance-interval", hide = true)]
    data_maintenance_interval: Option<String>,
    #[arg(long = "silences.max-silences", hide = true)]
    silences_max_silences: Option<String>,
    #[arg(long = "silences.max-silence-size-bytes", hide = true)]
    silences_max_silence_size_bytes: Option<String>,
    #[arg(long = "log.silences", hide = true)]
    log_silences: bool,
    #[arg(long = "no-log.silences", hide = true)]
    no_log_silences: bool,
    #[arg(long = "alerts.per-alertname-limit", hide = true)]
    alerts_per_alertname_limit: Option<String>,
    #[arg(long = "dispatch.maintenance-interval", hide = true)]
    dispatch_maintenance_interval: Option<String>,
    #[arg(long = "dispatch.start-delay", hide = true)]
    dispatch_start_delay: Option<String>,
    #[arg(long = "web.get-concurrency", hide = true)]
    web_get_concurrency: Option<String>,
    #[arg(long = "web.timeout", hide = true)]
    web_timeout: Option<String>,
    /// Debian's packaging adds these two.
    #[arg(long = "web.ui-path", hide = true)]
    web_ui_path: Option<String>,
    #[arg(long = "template.default", hide = true)]
    template_default: Option<String>,
    #[arg(long = "auto-gomemlimit.ratio", hide = true)]
    auto_gomemlimit_ratio: Option<String>,
    /// Gossip peers: alert-router does not gossip, so they are not contacted.
    #[arg(long = "cluster.peer", hide = true)]
    cluster_peer: Vec<String>,
    #[arg(long = "cluster.peer-timeout", hide = true)]
    cluster_peer_timeout: Option<String>,
    #[arg(long = "cluster.peers-resolve-timeout", hide = true)]
    cluster_peers_resolve_timeout: Option<String>,
    #[arg(long = "cluster.gossip-interval", hide = true)]
    cluster_gossip_interval: Option<String>,
    #[arg(long = "cluster.pushpull-interval", hide = true)]
    cluster_pushpull_interval: Option<String>,
    #[arg(long = "cluster.tcp-timeout", hide = true)]
    cluster_tcp_timeout: Option<String>,
    #[arg(long = "cluster.probe-timeout", hide = true)]
    cluster_probe_timeout: Option<String>,
    #[arg(long = "cluster.probe-interval", hide = true)]
    cluster_probe_interval: Option<String>,
    #[arg(long = "cluster.settle-timeout", hide = true)]
    cluster_settle_timeout: Option<String>,
    #[arg(long = "cluster.reconnect-interval", hide = true)]
    cluster_reconnect_interval: Option<String>,
    #[arg(long = "cluster.reconnect-timeout", hide = true)]
    cluster_reconnect_timeout: Option<String>,
    #[arg(long = "cluster.tls-config", hide = true)]
    cluster_tls_config: Option<String>,
    #[arg(
        long = "cluster.allow-insecure-public-advertise-address-discovery",
        hide = true
    )]
    cluster_allow_insecure_public_advertise_address_discovery: bool,
    #[arg(
        long = "no-cluster.allow-insecure-public-advertise-address-discovery",
        hide = true
    )]
    no_cluster_allow_insecure_public_advertise_address_discovery: bool,
    #[arg(long = "cluster.label", hide = true)]
    cluster_label: Option<String>,
    #[arg(long = "enable-feature", hide = true)]
    enable_feature: Vec<String>,
    /// Socket activation is not supported: refused rather than listening elsewhere.
    #[arg(long = "web.systemd-socket", hide = true)]
    web_systemd_socket: bool,
    #[arg(long = "no-web.systemd-socket", hide = true)]
    no_web_systemd_socket: bool,
}

impl AlertmanagerOnlyArgs {
    /// The flags given, by name.
    fn given(&self) -> Vec<&'static str> {
        let options = [
            ("data.maintenance-interval", &self.data_maintenance_interval),
            ("silences.max-silences", &self.silences_max_silences),
            (
                "silences.max-silence-size-bytes",
                &self.silences_max_silence_size_bytes,
            ),
            (
                "alerts.per-alertname-limit",
                &self.alerts_per_alertname_limit,
            ),
            (
                "dispatch.maintenance-interval",
                &self.dispatch_maintenance_interval,
            ),
            ("dispatch.start-delay", &self.dispatch_start_delay),
            ("web.get-concurrency", &self.web_get_concurrency),
            ("web.timeout", &self.web_timeout),
            ("web.ui-path", &self.web_ui_path),
            ("template.default", &self.template_default),
            ("auto-gomemlimit.ratio", &self.auto_gomemlimit_ratio),
            ("cluster.peer-timeout", &self.cluster_peer_timeout),
            (
                "cluster.peers-resolve-timeout",
                &self.cluster_peers_resolve_timeout,
            ),
            ("cluster.gossip-interval", &self.cluster_gossip_interval),
            ("cluster.pushpull-interval", &self.cluster_pushpull_interval),
            ("cluster.tcp-timeout", &self.cluster_tcp_timeout),
            ("cluster.probe-timeout", &self.cluster_probe_timeout),
            ("cluster.probe-interval", &self.cluster_probe_interval),
            ("cluster.settle-timeout", &self.cluster_settle_timeout),
            (
                "cluster.reconnect-interval",
                &self.cluster_reconnect_interval,
            ),
            ("cluster.reconnect-timeout", &self.cluster_reconnect_timeout),
            ("cluster.tls-config", &self.cluster_tls_config),
            ("cluster.label", &self.cluster_label),
        ];
        let switches = [
            ("log.silences", self.log_silences || self.no_log_silences),
            (
                "cluster.allow-insecure-public-advertise-address-discovery",
                self.cluster_allow_insecure_public_advertise_address_discovery
                    || self.no_cluster_allow_insecure_public_advertise_address_discovery,
            ),
            ("cluster.peer", !self.cluster_peer.is_empty()),
            (
                "enable-feature",
                self.enable_feature
                    .iter()
                    .flat_map(|f| f.split(','))
                    .any(|f| !LABEL_FEATURES.contains(&f.trim())),
            ),
        ];
        options
            .into_iter()
            .filter(|(_, v)| v.is_some())
            .map(|(name, _)| name)
            .chain(switches.into_iter().filter(|(_, on)| *on).map(|(n, _)| n))
            .collect()
    }
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
    let Some(command) = cli.command else {
        return start(cli.serve);
    };
    match command {
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
        Command::Serve(args) => start(*args),
    }
}

fn start(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&args.log_level));
    let format = match args.log_format.as_str() {
        "json" => alert_router::logging::Format::Json,
        _ => alert_router::logging::Format::Logfmt,
    };
    alert_router::logging::init(filter, format);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

/// The `--enable-feature` values that choose how label names and matchers are read.
const LABEL_FEATURES: [&str; 2] = ["utf8-strict-mode", "classic-mode"];

/// Alertmanager 0.27+'s label modes from `--enable-feature` (both at once is an error there too).
fn set_label_mode(features: &[String]) -> anyhow::Result<()> {
    use alert_router::model::LabelMode;
    let given: Vec<&str> = features
        .iter()
        .flat_map(|f| f.split(','))
        .map(str::trim)
        .collect();
    let mode = match (
        given.contains(&"utf8-strict-mode"),
        given.contains(&"classic-mode"),
    ) {
        (true, true) => {
            bail!("cannot have both utf8-strict-mode and classic-mode enabled at the same time")
        }
        (true, false) => LabelMode::Utf8Strict,
        (false, true) => LabelMode::Classic,
        (false, false) => LabelMode::Fallback,
    };
    alert_router::model::set_label_mode(mode);
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.web_config_file.is_empty()
        && (args.web_roles_file.is_some() || args.web_unauthenticated_health)
    {
        bail!("--web.roles.file and --web.unauthenticated-health need --web.config.file with basic_auth_users");
    }
    set_label_mode(&args.alertmanager_only.enable_feature)?;
    let ignored = args.alertmanager_only.given();
    if args.alertmanager_only.web_systemd_socket {
        bail!("--web.systemd-socket: socket activation is not supported; listen with --web.listen-address");
    }
    let addrs = args
        .listen_address
        .iter()
        .map(|a| parse_listen_address(a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = alert_router::app::load_config(&args.config_file)
        .with_context(|| format!("loading {}", args.config_file.display()))?;
    let mut listeners = Vec::new();
    for addr in addrs {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        listeners.push(listener);
    }
    let bound = match listeners.first() {
        Some(l) => l.local_addr()?,
        None => bail!("no --web.listen-address"),
    };
    let web_sources = (!args.web_config_file.is_empty()).then(|| alert_router::web::Sources {
        web_config: PathBuf::from(&args.web_config_file),
        roles: args.web_roles_file.clone(),
        open_health: args.web_unauthenticated_health,
    });
    let web = web_sources.map(alert_router::web::Web::load).transpose()?;
    // The external URL's default scheme follows TLS.
    let tls = web.as_ref().is_some_and(|w| w.tls().is_some());
    let external_url = match args.external_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => default_external_url(bound, tls),
    };
    let Ok(parsed_external_url) = url::Url::parse(&external_url) else {
        bail!("invalid --web.external-url {external_url:?}");
    };
    let route_prefix = route_prefix(
        args.route_prefix
            .as_deref()
            .unwrap_or(parsed_external_url.path()),
    );
    let peer_name = args
        .cluster_peer_name
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string().to_uppercase());
    let advertise = args.cluster_advertise_address.clone().unwrap_or_else(|| {
        if args.cluster_listen_address.is_empty() {
            bound.to_string()
        } else {
            args.cluster_listen_address.clone()
        }
    });
    let cluster_peer = (!args.cluster_listen_address.is_empty()).then(|| ClusterPeer {
        name: peer_name.clone(),
        address: advertise.clone(),
    });
    let cluster_store = match &args.cluster_store {
        None => None,
        Some(value) => {
            let store = alert_router::cluster::ClusterConfig {
                url: cluster_store_url(value)?,
                peer_name: peer_name.clone(),
                advertise_address: advertise.clone(),
                lease_ttl: args.cluster_lease_ttl,
                heartbeat: args.cluster_heartbeat,
            };
            store.validate()?;
            Some(store)
        }
    };
    if !ignored.is_empty() {
        tracing::info!(
            flags = %ignored.join(", "),
            "Alertmanager flags accepted without effect: alert-router has no gossip, UI path, default template file or Go runtime to tune"
        );
    }
    if !args.alertmanager_only.cluster_peer.is_empty() {
        tracing::warn!(
            peers = %args.alertmanager_only.cluster_peer.join(", "),
            "--cluster.peer: alert-router does not gossip with Alertmanager peers; this instance notifies its groups on its own"
        );
    }
    let web = web.map(|w| std::sync::Arc::new(w.under_prefix(&route_prefix)));
    if let Some(web) = &web {
        web.watch();
    }
    api::metrics::install();
    let settings = Settings {
        route_prefix,
        cluster_peer,
        cluster_store,
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
    for listener in &listeners {
        tracing::info!(address = %listener.local_addr()?, config = %args.config_file.display(), "listening");
    }
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
        listeners,
        args.read_header_timeout,
        web,
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

/// `--cluster.store`: a connection URL, or a file holding one (so the password stays out of
/// the command line and `ps`).
fn cluster_store_url(value: &str) -> anyhow::Result<String> {
    let looks_like_url = value.starts_with("postgres://")
        || value.starts_with("postgresql://")
        || value.contains('=');
    if looks_like_url {
        return Ok(value.to_string());
    }
    let text = std::fs::read_to_string(value).with_context(|| {
        format!("--cluster.store {value}: neither a postgres:// URL nor a readable file")
    })?;
    Ok(text.trim().to_string())
}

/// Alertmanager's form of a route prefix: one leading slash, none trailing, `/` for none.
fn route_prefix(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        format!("/{trimmed}")
    }
}

/// Alertmanager's default: `http://<hostname>:<port>`, `https` when served over TLS.
fn default_external_url(bound: SocketAddr, tls: bool) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}:{}", bound.port())
}
