//! strongSwan as an IKEv2 peer for interop tests: one `charon` per network
//! namespace, userspace ESP through the kernel-libipsec plugin (the kernels we
//! test on have XFRM but no ESP modules), configured with swanctl.
//!
//! What strongSwan 5.9.8 + kernel-libipsec can do, and so what a test can ask
//! of it: IKEv2 with PSK or certificates, ESP only, tunnel mode only, no ESN,
//! ESP always in UDP 4500 (libipsec fakes its NAT-D hash so both sides float
//! to 4500 and encapsulate, RFC 3948). strongSwan only installs routes when it
//! owns an address inside its local traffic selector, so tests put the inner
//! address on `lo` (see [`crate::support::netns::interop_pair`]).
//!
//! Each instance has a private state directory:
//!
//! ```text
//!   STATE/strongswan.conf   generated: explicit plugin list, vici socket, logs
//!   STATE/swanctl/          SWANCTL_DIR: swanctl.conf + x509/ x509ca/ private/ ...
//!   STATE/run/              bind-mounted on /run for charon (its pid file is
//!                           compiled in as /var/run/charon.pid)
//!   STATE/charon.vici       the vici socket swanctl talks to
//!   STATE/charon.log        daemon log; STATE/keys.log with `keylog`
//!   STATE/charon.stdout     charon's stdout and stderr
//! ```
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

mod conf;
mod creds;
mod sas;

// Not every test binary that includes `support` uses all of these.
#[allow(unused_imports)]
pub use conf::{swanctl_conf, SwanAuth, SwanChildConf, SwanConn};
#[allow(unused_imports)]
pub use creds::key_kind;
#[allow(unused_imports)]
pub use sas::{parse_list_sas, SwanChildSa, SwanSa};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Plugins charon loads (nothing from /etc/strongswan.d). kernel-libipsec
/// must come before kernel-netlink: the first plugin registering the kernel
/// IPsec interface wins, kernel-netlink then only handles addresses and
/// routes (and logs that its `CUSTOM:kernel-ipsec` feature failed to load).
pub const PLUGINS: &str = "random nonce openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints curve25519 \
                           aes sha1 sha2 hmac gcm chapoly kdf kernel-libipsec kernel-netlink socket-default vici updown";

/// The fwmark charon puts on its IKE/ESP sockets; the policy-routing rule for
/// table 220 skips marked packets so the daemon's own packets to the peer
/// never enter the tunnel (host-to-host selectors would route them there).
pub const SWAN_FWMARK: &str = "0x4242";

/// Where distributions put charon.
const CHARON_PATHS: &[&str] = &[
    "/usr/lib/ipsec/charon",
    "/usr/libexec/ipsec/charon",
    "/usr/lib/strongswan/charon",
    "/usr/libexec/strongswan/charon",
];

/// Where distributions put charon's plugins.
const PLUGIN_DIRS: &[&str] = &[
    "/usr/lib/ipsec/plugins",
    "/usr/lib64/strongswan/plugins",
    "/usr/lib/strongswan/plugins",
    "/usr/lib/x86_64-linux-gnu/ipsec/plugins",
];

/// swanctl's credential directories (all created, so `--load-creds` never
/// complains about a missing one).
const CRED_DIRS: &[&str] = &[
    "x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "private", "rsa", "ecdsa", "bliss", "pkcs8",
    "pkcs12",
];

/// Errors from the harness; each says which instance and carries the output
/// or log tail that explains it.
#[derive(Debug, thiserror::Error)]
pub enum SwanError {
    #[error("swan {name}: {what}: {source}")]
    Io { name: String, what: String, source: std::io::Error },
    #[error(
        "swan {name}: charon did not start: {reason}\n---- charon.stdout\n{stdout}\n---- charon.log (tail)\n{log}"
    )]
    Start { name: String, reason: String, stdout: String, log: String },
    #[error("swan {name}: `swanctl {cmd}` reported a problem with {file}:\n{output}")]
    Load { name: String, cmd: String, file: String, output: String },
    #[error("swan {name}: `swanctl {args}` failed ({status}):\n{output}\n---- charon.log (tail)\n{log}")]
    Ctl { name: String, args: String, status: String, output: String, log: String },
    #[error("swan {name}: timed out after {after:?} waiting for {what}\n---- last `swanctl --list-sas`\n{sas}\n---- charon.log (tail)\n{log}")]
    Timeout { name: String, what: String, after: Duration, sas: String, log: String },
    #[error("swan {name}: {msg}")]
    Setup { name: String, msg: String },
}

impl SwanError {
    fn setup(name: &str, msg: impl Into<String>) -> SwanError {
        SwanError::Setup { name: name.to_string(), msg: msg.into() }
    }
}

pub type Result<T> = std::result::Result<T, SwanError>;

/// charon's path: `$SWAN_CHARON`, else the first of the usual places.
pub fn charon_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SWAN_CHARON") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    CHARON_PATHS.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// swanctl's path: `$SWAN_SWANCTL`, else `$PATH`, /usr/sbin, /sbin.
pub fn swanctl_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SWAN_SWANCTL") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(|d| Path::new(d).join("swanctl"))
        .chain(["/usr/sbin/swanctl", "/sbin/swanctl"].iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// Why strongSwan cannot run here (with the Debian package to install), or
/// `None` when it can.
pub fn swan_missing() -> Option<String> {
    if let Ok(p) = std::env::var("SWAN_CHARON") {
        if charon_path().is_none() {
            return Some(format!("strongSwan charon at SWAN_CHARON={p} (not a file)"));
        }
    }
    if charon_path().is_none() {
        return Some(format!(
            "strongSwan charon (looked in {}; Debian package strongswan-charon)",
            CHARON_PATHS.join(", ")
        ));
    }
    if swanctl_path().is_none() {
        return Some("swanctl (Debian package strongswan-swanctl)".into());
    }
    let have_plugin =
        |p: &str| PLUGIN_DIRS.iter().any(|d| Path::new(d).join(format!("libstrongswan-{p}.so")).is_file());
    for (plugin, pkg) in [
        ("kernel-libipsec", "libcharon-extra-plugins"),
        ("curve25519", "libstrongswan-extra-plugins"),
        ("openssl", "libstrongswan-standard-plugins"),
    ] {
        if !have_plugin(plugin) {
            return Some(format!(
                "strongSwan plugin {plugin} (looked in {}; Debian package {pkg})",
                PLUGIN_DIRS.join(", ")
            ));
        }
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun (kernel-libipsec needs TUN)".into());
    }
    for tool in ["unshare", "setsid"] {
        let found = std::env::var("PATH").unwrap_or_default().split(':').any(|d| Path::new(d).join(tool).is_file());
        if !found {
            return Some(format!("{tool} (Debian package util-linux)"));
        }
    }
    None
}

/// Whether strongSwan (charon, swanctl, the plugins we load, TUN) is usable.
pub fn swan_available() -> bool {
    swan_missing().is_none()
}

/// Options of one instance. `Default` gives log level 2, no key log, 15 s
/// start timeout, state dir `$CARGO_TARGET_TMPDIR/swan-NAME-PID-N`.
#[derive(Clone, Debug)]
pub struct SwanOpts {
    /// Level (-1..=4) for the ike, chd, cfg, knl, net and esp groups; enc
    /// gets it only from 3 up (at 2 it logs every payload rule).
    pub loglevel: i8,
    /// Also write STATE/keys.log with ike/chd at level 4: every IKE and ESP
    /// key, and the PSK. Test use only.
    pub keylog: bool,
    /// Lines added verbatim inside `charon { }` (e.g. `port = 1500`).
    pub extra_charon: String,
    /// How long to wait for the vici socket.
    pub start_timeout: Duration,
    /// Exact state directory (default `$CARGO_TARGET_TMPDIR/swan-NAME-PID-N`).
    pub state_dir: Option<PathBuf>,
    /// Keep the state directory after a successful test (it is always kept
    /// when the test panics).
    pub keep_state: bool,
}

impl Default for SwanOpts {
    fn default() -> Self {
        SwanOpts {
            loglevel: 2,
            keylog: false,
            extra_charon: String::new(),
            start_timeout: Duration::from_secs(15),
            state_dir: None,
            keep_state: false,
        }
    }
}

/// One running charon in a network namespace. Stopped on drop; when the
/// test is panicking, the tail of its log is printed first.
pub struct Swan {
    pub name: String,
    pub netns: String,
    pub state: PathBuf,
    swanctl: PathBuf,
    launcher: Option<Child>,
    keep_state: bool,
    stopped: bool,
}

impl Swan {
    /// Writes the state directory, starts charon in `netns` and loads
    /// `swanctl_conf` (plus the credentials in `creds`, a directory in
    /// swanctl's layout: `x509/`, `x509ca/`, `private/`, ...).
    pub fn start(name: &str, netns: &str, swanctl_conf: &str, creds: Option<&Path>, opts: SwanOpts) -> Result<Swan> {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) || name.is_empty() {
            return Err(SwanError::setup(name, "instance name must be [A-Za-z0-9_.-]+"));
        }
        if let Some(why) = swan_missing() {
            return Err(SwanError::setup(name, format!("strongSwan is not usable here: missing {why}")));
        }
        if !(-1..=4).contains(&opts.loglevel) {
            return Err(SwanError::setup(name, format!("log level must be -1..=4, not {}", opts.loglevel)));
        }
        let charon = charon_path().expect("checked by swan_missing");
        let swanctl = swanctl_path().expect("checked by swan_missing");
        let state = opts.state_dir.clone().unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
                "swan-{name}-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::SeqCst)
            ))
        });
        let state_str = state.to_str().unwrap_or("");
        // The path ends up in strongswan.conf and in a sun_path (108 bytes).
        if state_str.is_empty() || !state_str.chars().all(|c| c.is_ascii_alphanumeric() || "_./+-".contains(c)) {
            return Err(SwanError::setup(
                name,
                format!("state dir {state:?} must be ASCII without spaces or special characters"),
            ));
        }
        let vici = state.join("charon.vici");
        if vici.as_os_str().len() > 100 {
            return Err(SwanError::setup(
                name,
                format!("vici socket path {vici:?} is longer than a unix socket allows; set SwanOpts::state_dir"),
            ));
        }
        let io = |what: String| move |source| SwanError::Io { name: name.to_string(), what, source };
        let _ = fs::remove_dir_all(&state);
        for d in ["run", "swanctl", "swanctl/conf.d"] {
            fs::create_dir_all(state.join(d)).map_err(io(format!("create {}", state.join(d).display())))?;
        }
        for d in CRED_DIRS {
            fs::create_dir_all(state.join("swanctl").join(d)).map_err(io(format!("create swanctl/{d}")))?;
        }
        let conf = state.join("strongswan.conf");
        fs::write(&conf, conf::strongswan_conf(&state, &opts)).map_err(io(format!("write {}", conf.display())))?;
        let swconf = state.join("swanctl/swanctl.conf");
        fs::write(&swconf, swanctl_conf).map_err(io(format!("write {}", swconf.display())))?;
        if let Some(creds) = creds {
            for d in CRED_DIRS {
                let src = creds.join(d);
                if src.is_dir() {
                    copy_dir(&src, &state.join("swanctl").join(d)).map_err(io(format!("copy {}", src.display())))?;
                }
            }
        }
        let stdout_path = state.join("charon.stdout");
        let stdout = fs::File::create(&stdout_path).map_err(io(format!("create {}", stdout_path.display())))?;
        let stderr = stdout.try_clone().map_err(io("dup charon.stdout".into()))?;

        // setsid: own session, so the terminal's signals do not reach it.
        // ip netns exec: the namespace (it also makes a mount namespace).
        // unshare --mount: a private mount namespace where STATE/run is
        // mounted on /run, so each instance has its own /var/run/charon.pid.
        // Every step execs, so the child's pid is charon's.
        let launcher = Command::new("setsid")
            .args(["ip", "netns", "exec", netns, "unshare", "--mount", "--propagation", "private", "--"])
            .args(["sh", "-c", "mount --bind \"$1\" /run || exit 97; exec \"$2\"", "swan-start"])
            .arg(state.join("run"))
            .arg(&charon)
            .env("STRONGSWAN_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(io(format!("spawn setsid ip netns exec {netns} ... {}", charon.display())))?;
        let mut swan = Swan {
            name: name.to_string(),
            netns: netns.to_string(),
            state,
            swanctl,
            launcher: Some(launcher),
            keep_state: opts.keep_state,
            stopped: false,
        };

        let t0 = Instant::now();
        loop {
            let up = swan.ctl(&["--stats"]).map(|o| o.status.success()).unwrap_or(false);
            if up && swan.pid().is_some() {
                break;
            }
            let exited = swan.launcher.as_mut().and_then(|c| c.try_wait().ok().flatten());
            match exited {
                // setsid(1) forks when it is a process group leader; then
                // the launcher exits 0 and charon lives on: keep waiting.
                Some(status) if status.success() => swan.launcher = None,
                Some(status) => {
                    return Err(swan.start_error(format!(
                        "charon exited during startup ({status}; 97 = bind mount on /run failed)"
                    )))
                }
                None => {}
            }
            if t0.elapsed() > opts.start_timeout {
                return Err(swan.start_error(format!(
                    "vici socket {} not answering after {:?}",
                    vici.display(),
                    opts.start_timeout
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        swan.load_all()?;
        Ok(swan)
    }

    fn start_error(&mut self, reason: String) -> SwanError {
        let err = SwanError::Start {
            name: self.name.clone(),
            reason,
            stdout: tail(&fs::read_to_string(self.state.join("charon.stdout")).unwrap_or_default(), 20),
            log: tail(&self.log(), 30),
        };
        self.stop();
        err
    }

    /// STATE/strongswan.conf (what `STRONGSWAN_CONF` points at).
    pub fn conf_path(&self) -> PathBuf {
        self.state.join("strongswan.conf")
    }

    /// STATE/swanctl (what `SWANCTL_DIR` points at).
    pub fn swanctl_dir(&self) -> PathBuf {
        self.state.join("swanctl")
    }

    /// STATE/keys.log (written only with [`SwanOpts::keylog`]).
    pub fn keylog_path(&self) -> PathBuf {
        self.state.join("keys.log")
    }

    /// A `swanctl` command with this instance's environment (runs outside the
    /// namespace: the vici socket is a file).
    pub fn swanctl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.swanctl);
        c.args(args)
            .env("STRONGSWAN_CONF", self.conf_path())
            .env("SWANCTL_DIR", self.swanctl_dir())
            .stdin(Stdio::null());
        c
    }

    /// Runs any swanctl command against this instance (exit status not checked).
    pub fn ctl(&self, args: &[&str]) -> Result<Output> {
        self.swanctl_cmd(args).output().map_err(|source| SwanError::Io {
            name: self.name.clone(),
            what: format!("run swanctl {}", args.join(" ")),
            source,
        })
    }

    /// Runs a swanctl command that must exit 0; returns its stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.ctl(args)?;
        if !out.status.success() {
            return Err(self.ctl_error(args, &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn ctl_error(&self, args: &[&str], out: &Output) -> SwanError {
        SwanError::Ctl {
            name: self.name.clone(),
            args: args.join(" "),
            status: out.status.to_string(),
            output: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
            log: tail(&self.log(), 30),
        }
    }

    /// `swanctl --load-all --clear --noprompt`, failing when swanctl reports
    /// any problem (it exits 0 e.g. when swanctl.conf did not parse, after
    /// unloading every connection).
    pub fn load_all(&self) -> Result<()> {
        self.load_checked(&["--load-all", "--clear", "--noprompt"], "swanctl.conf")
    }

    /// `swanctl --load-creds --clear --noprompt`, checked like [`Swan::load_all`].
    pub fn load_creds(&self) -> Result<()> {
        self.load_checked(&["--load-creds", "--clear", "--noprompt"], "the credentials in swanctl/")
    }

    fn load_checked(&self, args: &[&str], what: &str) -> Result<()> {
        let out = self.ctl(args)?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let lower = text.to_ascii_lowercase();
        let bad = ["failed", "error", "invalid", "unable"].iter().any(|w| lower.contains(w));
        if !out.status.success() || bad {
            return Err(SwanError::Load {
                name: self.name.clone(),
                cmd: args.join(" "),
                file: format!("{} ({what})", self.swanctl_dir().join("swanctl.conf").display()),
                output: text,
            });
        }
        Ok(())
    }

    /// Replaces swanctl.conf and reloads everything (connections no longer
    /// in the file are unloaded; existing SAs stay up).
    pub fn reload(&self, swanctl_conf: &str) -> Result<()> {
        let p = self.swanctl_dir().join("swanctl.conf");
        fs::write(&p, swanctl_conf).map_err(|source| SwanError::Io {
            name: self.name.clone(),
            what: format!("write {}", p.display()),
            source,
        })?;
        self.load_all()
    }

    /// Installs a CA certificate, our certificate and our private key (PEM or
    /// DER, file names kept, so `certs = <cert file name>` and
    /// `cacerts = <ca file name>` in swanctl.conf refer to them) and runs
    /// `swanctl --load-creds`. The key goes to `pkcs8/`, `rsa/` or `ecdsa/`
    /// by its encoding (PKCS#8, PKCS#1 RSA, SEC1 EC).
    pub fn install_creds(&self, ca: &Path, cert: &Path, key: &Path) -> Result<()> {
        let io = |what: String| move |source| SwanError::Io { name: self.name.clone(), what, source };
        let key_bytes = fs::read(key).map_err(io(format!("read key {}", key.display())))?;
        let key_dir = match key_kind(&key_bytes) {
            Some(d) => d,
            None => {
                return Err(SwanError::setup(
                    &self.name,
                    format!("{}: not a PKCS#8, PKCS#1 RSA or SEC1 EC private key (PEM or DER)", key.display()),
                ))
            }
        };
        for (src, dir) in [(ca, "x509ca"), (cert, "x509"), (key, key_dir)] {
            let file = src
                .file_name()
                .ok_or_else(|| SwanError::setup(&self.name, format!("{}: not a file", src.display())))?;
            let dst = self.swanctl_dir().join(dir).join(file);
            fs::copy(src, &dst).map_err(io(format!("copy {} to {}", src.display(), dst.display())))?;
        }
        self.load_creds()
    }

    /// charon's pid from STATE/run/charon.pid, if that process is a charon
    /// started with this instance's strongswan.conf (never a recycled pid).
    pub fn pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.state.join("run/charon.pid")).ok()?;
        let pid: u32 = text.trim().parse().ok()?;
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        if comm.trim() != "charon" {
            return None;
        }
        let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
        let want = format!("STRONGSWAN_CONF={}", self.conf_path().display());
        environ.split(|b| *b == 0).any(|e| e == want.as_bytes()).then_some(pid)
    }

    /// `swanctl --initiate --child CHILD [--ike IKE] --timeout 10`; fails when
    /// swanctl does (the output has charon's log of the exchange).
    pub fn initiate_child(&self, child: &str, ike: Option<&str>) -> Result<String> {
        let mut args = vec!["--initiate", "--child", child];
        if let Some(ike) = ike {
            args.extend(["--ike", ike]);
        }
        args.extend(["--timeout", "10"]);
        self.ctl_ok(&args)
    }

    /// `swanctl --terminate --ike NAME --timeout 10` (sends the DELETE and
    /// waits for the answer).
    pub fn terminate_ike(&self, name: &str) -> Result<String> {
        self.ctl_ok(&["--terminate", "--ike", name, "--timeout", "10"])
    }

    /// `swanctl --terminate --child NAME --timeout 10`.
    pub fn terminate_child(&self, name: &str) -> Result<String> {
        self.ctl_ok(&["--terminate", "--child", name, "--timeout", "10"])
    }

    /// `swanctl --rekey --child NAME` (starts the rekey; does not wait).
    pub fn rekey_child(&self, name: &str) -> Result<String> {
        self.ctl_ok(&["--rekey", "--child", name])
    }

    /// `swanctl --rekey --ike NAME` (starts the rekey; does not wait).
    pub fn rekey_ike(&self, name: &str) -> Result<String> {
        self.ctl_ok(&["--rekey", "--ike", name])
    }

    /// `swanctl --list-sas` as text, for humans and assertion messages.
    pub fn list_sas(&self) -> String {
        match self.ctl(&["--list-sas", "--noblock"]) {
            Ok(o) => format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
            Err(e) => format!("({e})"),
        }
    }

    /// The IKE_SAs and their CHILD_SAs (`swanctl --list-sas --pretty`, parsed).
    pub fn sas(&self) -> Result<Vec<SwanSa>> {
        let out = self.ctl_ok(&["--list-sas", "--noblock", "--pretty"])?;
        Ok(parse_list_sas(&out))
    }

    /// The first CHILD_SA named `child` (config name) in any IKE_SA.
    pub fn child(&self, child: &str) -> Result<Option<SwanChildSa>> {
        Ok(self.sas()?.into_iter().flat_map(|s| s.children).find(|c| c.name == child))
    }

    /// Waits until a CHILD_SA named `child` is INSTALLED and returns it.
    pub fn wait_child_installed(&self, child: &str, timeout: Duration) -> Result<SwanChildSa> {
        self.wait_until(&format!("CHILD_SA {child} INSTALLED"), timeout, |sas| {
            sas.iter().flat_map(|s| &s.children).find(|c| c.name == child && c.state == "INSTALLED").cloned()
        })
    }

    /// Waits until an IKE_SA named `ike` is ESTABLISHED and returns it.
    pub fn wait_ike_established(&self, ike: &str, timeout: Duration) -> Result<SwanSa> {
        self.wait_until(&format!("IKE_SA {ike} ESTABLISHED"), timeout, |sas| {
            sas.iter().find(|s| s.name == ike && s.state == "ESTABLISHED").cloned()
        })
    }

    /// Waits until this instance has no IKE_SA at all.
    pub fn wait_no_sas(&self, timeout: Duration) -> Result<()> {
        self.wait_until("no SAs", timeout, |sas| sas.is_empty().then_some(()))
    }

    /// Polls [`Swan::sas`] every 100 ms until `f` returns something.
    pub fn wait_until<T>(&self, what: &str, timeout: Duration, mut f: impl FnMut(&[SwanSa]) -> Option<T>) -> Result<T> {
        let t0 = Instant::now();
        loop {
            if let Ok(sas) = self.sas() {
                if let Some(v) = f(&sas) {
                    return Ok(v);
                }
            }
            if self.pid().is_none() {
                return Err(SwanError::setup(
                    &self.name,
                    format!(
                        "charon is not running (waiting for {what})\n---- charon.log (tail)\n{}",
                        tail(&self.log(), 30)
                    ),
                ));
            }
            if t0.elapsed() > timeout {
                return Err(SwanError::Timeout {
                    name: self.name.clone(),
                    what: what.to_string(),
                    after: timeout,
                    sas: self.list_sas(),
                    log: tail(&self.log(), 30),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// charon.log so far (empty if not written yet).
    pub fn log(&self) -> String {
        fs::read_to_string(self.state.join("charon.log")).unwrap_or_default()
    }

    /// Waits until charon.log contains `needle` (e.g. `received DELETE for IKE_SA`).
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Result<()> {
        let t0 = Instant::now();
        while !self.log_contains(needle) {
            if t0.elapsed() > timeout {
                return Err(SwanError::Timeout {
                    name: self.name.clone(),
                    what: format!("{needle:?} in charon.log"),
                    after: timeout,
                    sas: self.list_sas(),
                    log: tail(&self.log(), 30),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Whether charon.log contains `needle`.
    pub fn log_contains(&self, needle: &str) -> bool {
        self.log().contains(needle)
    }

    /// Stops charon: SIGTERM to the pid from STATE/run/charon.pid (only if it
    /// is this instance's charon), SIGKILL after 10 s. Idempotent.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let pid = self.pid();
        let launcher_pid = self.launcher.as_ref().map(|c| c.id());
        match pid {
            Some(pid) => signal(pid, "TERM"),
            // No valid pid file (startup failed): the launcher is ours to kill.
            None => {
                if let Some(c) = &mut self.launcher {
                    let _ = c.kill();
                }
            }
        }
        let t0 = Instant::now();
        let gone = |launcher: &mut Option<Child>| -> bool {
            let child_done = match launcher {
                Some(c) => c.try_wait().map(|s| s.is_some()).unwrap_or(true),
                None => true,
            };
            // Another pid than our launcher: not our child, watch /proc.
            let pid_done = match pid {
                Some(p) if Some(p) != launcher_pid => !alive(p),
                _ => true,
            };
            child_done && pid_done
        };
        while !gone(&mut self.launcher) {
            if t0.elapsed() > Duration::from_secs(10) {
                eprintln!("swan {}: charon did not stop after 10 s, sending SIGKILL", self.name);
                if let Some(p) = pid {
                    signal(p, "KILL");
                }
                if let Some(c) = &mut self.launcher {
                    let _ = c.kill();
                }
                std::thread::sleep(Duration::from_millis(200));
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(mut c) = self.launcher.take() {
            let _ = c.try_wait();
        }
        let _ = fs::remove_file(self.state.join("run/charon.pid"));
        let _ = fs::remove_file(self.state.join("charon.vici"));
    }
}

impl Drop for Swan {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            eprintln!("---- swan {} (netns {}): list-sas\n{}", self.name, self.netns, self.list_sas());
        }
        self.stop();
        if panicking {
            eprintln!(
                "---- swan {}: charon.log (tail; all in {})\n{}",
                self.name,
                self.state.display(),
                tail(&self.log(), 60)
            );
        } else if !self.keep_state {
            let _ = fs::remove_dir_all(&self.state);
        }
    }
}

/// Sends a signal with kill(1) (the crates here deny unsafe code).
fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).stderr(Stdio::null()).status();
}

/// A process exists and is not a zombie (PID 1 may reap orphans late).
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ..." — the state follows the last ')'.
        Ok(stat) => {
            stat.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')).unwrap_or(false)
        }
        Err(_) => false,
    }
}

fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dst)?;
    for e in fs::read_dir(src)? {
        let e = e?;
        let to = dst.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to)?;
        } else {
            fs::copy(e.path(), &to)?;
        }
    }
    Ok(())
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
