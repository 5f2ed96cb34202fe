//! The `esprit` command line.
#![deny(unsafe_code)]

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use esprit::{bench_ike, config, control, demo, ike, import, pcap_cmd, pki, plugins, run, status};


/// esprit: a userspace IPsec system with Wasm plugins.
#[derive(Debug, Parser)]
#[command(name = "esprit", version, about)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run two esprit peers on this machine (rootless) and carry an HTTP request through their tunnel.
    Demo {
        /// Keep the peers running after the request (Ctrl-C to stop).
        #[arg(long)]
        keep: bool,
        /// Folder for the generated configs and logs.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Run the daemon.
    Run(run::RunArgs),
    /// Show SAs, policies and drop counters of a running daemon.
    Status {
        /// Control socket of the instance (see `control_socket` in its config).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Instance name (for the default socket path).
        #[arg(long, default_value = "esprit")]
        name: String,
        /// Print the JSON (see docs/status.schema.json).
        #[arg(long, conflicts_with = "brief")]
        json: bool,
        /// One line for the instance and one per IKE SA.
        #[arg(long)]
        brief: bool,
    },
    /// Policy tools.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Wasm plugin tools.
    #[command(subcommand)]
    Plugin(PluginCmd),
    /// Apply ESP/AH to capture files offline (keys from a setkey.conf).
    #[command(subcommand)]
    Pcap(pcap_cmd::PcapCmd),
    /// Import another IPsec system's configuration (racoon.conf + setkey.conf).
    #[command(subcommand)]
    Import(import::ImportCmd),
    /// Certificates for IKE: a small CA (ca, newreq, sign, issue, decrypt, show).
    #[command(subcommand)]
    Pki(pki::PkiCmd),
    /// Measure IKE SA setups per second against a responder (strongSwan or esprit).
    BenchIke(bench_ike::BenchIkeArgs),
    /// Remove what a tun-mode instance that died (kill -9, OOM) left behind:
    /// its routing rules and routes, its nftables table (which keeps dropping
    /// cleartext), and restore the sysctls it changed. `esprit run` does the
    /// same on start.
    Cleanup {
        /// The instance's configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Re-read the configuration of a running daemon and apply it as a diff
    /// (unchanged SAs and IKE SAs stay; a broken file changes nothing).
    Reload {
        /// Control socket of the instance.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Instance name (for the default socket path).
        #[arg(long, default_value = "esprit")]
        name: String,
    },
    /// Control IKE connections of a running daemon: up, down, rekey, rekey-ike.
    Ike {
        /// up | down | rekey | rekey-ike
        action: String,
        /// The [[conn]] name.
        conn: String,
        /// Control socket of the instance.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Instance name (for the default socket path).
        #[arg(long, default_value = "esprit")]
        name: String,
        /// How long to wait for the outcome (e.g. 30s, 2m). Exit status 1 when
        /// the command fails or the outcome does not come in time.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        timeout: std::time::Duration,
        /// Queue the command and return at once (the old behaviour).
        #[arg(long)]
        no_wait: bool,
    },
    /// Print a shell completion script, e.g.
    /// `esprit completions bash > /usr/share/bash-completion/completions/esprit`.
    Completions {
        /// bash | zsh | fish | elvish | powershell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `esprit man > esprit.1 && man ./esprit.1`.
    Man,
    /// (internal) The plugin compile helper: esprit runs itself with this to
    /// compile a plugin component in a child process (component on stdin;
    /// see host/plugin/src/compile_helper.rs).
    #[command(name = COMPILE_HELPER_CMD, hide = true, disable_help_flag = true)]
    InternalCompilePlugin {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// The hidden subcommand that runs the plugin compile helper.
const COMPILE_HELPER_CMD: &str = "internal-compile-plugin";

/// `30`, `30s`, `2m`, `500ms`, `1m 30s` (as durations in esprit.toml).
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    config::duration::parse(s)
}

#[derive(Debug, Subcommand)]
enum PolicyCmd {
    /// Explain which SPD entry (and plugin) decides a flow, e.g.
    /// `esprit policy test "tcp 198.51.100.7:40000 -> 203.0.113.5:443"`.
    Test {
        /// `PROTO SRC[:PORT] -> DST[:PORT] [in|out|fwd]`.
        flow: String,
        /// Ask a running daemon through its control socket.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Or evaluate against a config file without a daemon.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCmd {
    /// Load a plugin as the daemon would (compile, link, init, self-check)
    /// and print its world, WIT version, version hash, imports, exports and
    /// self-check result; exit status 1 if the daemon would refuse it.
    Check {
        /// A plugin spec (`.toml`, with its `[config]`) or a `.wasm` file
        /// (checked with an empty config).
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a new policy plugin project from a template (Rust, Python or
    /// JavaScript, against the live WIT) and print the commands that build,
    /// check and try it.
    New {
        /// rust | python | js
        #[arg(long)]
        lang: String,
        /// The plugin's name (lowercase letters, digits, `-`).
        name: String,
        /// The folder to create (default: ./NAME); must be absent or empty.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn plugin_check(file: &std::path::Path, json: bool) -> Result<()> {
    let spec = if file.extension().is_some_and(|e| e == "toml") {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let base = file.parent().unwrap_or(std::path::Path::new("."));
        esprit_plugin::PluginSpec::from_toml(&text, base, file)?
    } else {
        let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into());
        esprit_plugin::PluginSpec::new(name, file)
    };
    let engine = esprit_plugin::PluginEngine::shared().context("starting the Wasm engine")?;
    let report = esprit_plugin::inspect::check(&engine, spec)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

fn main() {
    // New plugin code is compiled by this binary in a child process, so a
    // large compile never runs beside the deciding threads.
    esprit_plugin::compile_helper::register(esprit_plugin::Helper::this_executable([COMPILE_HELPER_CMD]));
    let cli = Cli::parse();
    init_logging(cli.log_format);
    if let Err(e) = dispatch(cli.cmd) {
        eprintln!("esprit: {e:#}");
        std::process::exit(1);
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ESPRIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Demo { keep, dir } => demo::run(demo::DemoOptions { keep, dir }),
        Cmd::Run(args) => run::run(args),
        Cmd::Status { socket, name, json, brief } => {
            let path = socket.unwrap_or_else(|| control::default_socket(&name));
            let v = control::request(&path, &control::Request::Status)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            let st: status::Status = serde_json::from_value(v).map_err(|e| {
                anyhow::anyhow!("the daemon's status does not match this esprit's (schema_version {}): {e}", status::SCHEMA_VERSION)
            })?;
            if brief {
                print!("{}", status::render_brief(&st));
            } else {
                print!("{}", status::render_full(&st));
            }
            Ok(())
        }
        Cmd::Policy(PolicyCmd::Test { flow, socket, config }) => policy_test(&flow, socket, config),
        Cmd::Plugin(PluginCmd::Check { file, json }) => plugin_check(&file, json),
        Cmd::Plugin(PluginCmd::New { lang, name, dir }) => {
            let lang = esprit_plugin::scaffold::Lang::parse(&lang).map_err(anyhow::Error::msg)?;
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let project = esprit_plugin::scaffold::scaffold(lang, &name, &dir)?;
            println!("{}", project.next_steps());
            Ok(())
        }
        Cmd::Pcap(cmd) => pcap_cmd::run(cmd),
        Cmd::Import(cmd) => import::run(cmd),
        Cmd::Pki(cmd) => Ok(pki::run(cmd)?),
        Cmd::BenchIke(args) => bench_ike::run(args),
        Cmd::Cleanup { config } => {
            let cfg = config::Config::load(&config)?;
            let socket = cfg.control_socket.clone().unwrap_or_else(|| control::default_socket(&cfg.name));
            let state = esprit::tun_state::path_for(&socket, &cfg.name);
            let done = esprit::tun_state::clean_up(&state, &cfg.name, cfg.instance_ids(), &esprit::tun_setup::nft_table_name(&cfg.name))?;
            println!("{done}");
            Ok(())
        }
        Cmd::Reload { socket, name } => {
            let path = socket.unwrap_or_else(|| control::default_socket(&name));
            let v = control::request(&path, &control::Request::Reload)?;
            if let Some(e) = v["error"].as_str() {
                anyhow::bail!("{e}");
            }
            println!("{}", serde_json::to_string_pretty(&v["reload"])?);
            Ok(())
        }
        Cmd::Ike { action, conn, socket, name, timeout, no_wait } => {
            let path = socket.unwrap_or_else(|| control::default_socket(&name));
            let wait_ms = (!no_wait).then(|| timeout.as_millis().min(u64::MAX as u128) as u64);
            // The daemon answers when the outcome is known or `timeout` passed.
            let v = control::request_with_timeout(&path, &control::Request::Ike { action, conn, wait_ms }, timeout + std::time::Duration::from_secs(5))?;
            if let Some(o) = v["outcome"].as_str() {
                println!("{o}");
            }
            Ok(())
        }
        Cmd::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "esprit", &mut out);
            print_generated(&out)
        }
        Cmd::InternalCompilePlugin { args } => std::process::exit(i32::from(esprit_plugin::compile_helper::main(args))),
        Cmd::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out)?;
            print_generated(&out)
        }
    }
}

/// Writes generated text to stdout; a reader that stops early (`| head`)
/// is not an error.
fn print_generated(text: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(anyhow::anyhow!("writing to stdout: {e}")),
        _ => Ok(()),
    }
}

fn policy_test(flow: &str, socket: Option<PathBuf>, config: Option<PathBuf>) -> Result<()> {
    if let Some(cfg) = config {
        let cfg = config::Config::load(&cfg)?;
        // IKE connections are checked too (proposals, selectors, certificates).
        if !cfg.conn.is_empty() {
            ike::validate(&cfg)?;
        }
        let loaded = esprit::setkey_files::load_statements(&cfg)?;
        let mut db: esprit_sadb::Sadb<()> =
            esprit_sadb::Sadb::from_setkey(&loaded.statements, std::time::Instant::now(), |_| Ok::<(), std::convert::Infallible>(()))
                .map_err(|e| loaded.locate(e.into(), &cfg.path))?;
        let _plugins = plugins::load(&cfg, false)?;
        if let Some(p) = &_plugins {
            plugins::install(&p.loaded, &p.policies, &mut db)?;
        }
        let f = esprit_plugin::parse_flow(flow).map_err(anyhow::Error::msg)?;
        // Plugin text is escaped at the plugin boundary; escape any control
        // character again so nothing can drive the terminal.
        println!("{}", esprit_plugin::bounds::escape_controls(&db.spd_mut().explain(&f).to_string()));
        return Ok(());
    }
    let path = socket.unwrap_or_else(|| control::default_socket("esprit"));
    let v = control::request(&path, &control::Request::PolicyTest { flow: flow.to_string() })?;
    println!("{}", esprit_plugin::bounds::escape_controls(v["explanation"].as_str().unwrap_or_default()));
    Ok(())
}
