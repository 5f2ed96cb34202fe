//! `esprit bench-ike`: IKE SA setups per second against a real responder
//! (strongSwan or esprit) over UDP. Keeps `--parallel` IKE SAs in flight:
//! each is set up (IKE_SA_INIT + IKE_AUTH with a CHILD_SA, PSK through the
//! Wasm psk plugin), counted, deleted and started again until `--count`
//! setups completed.
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use esprit_ike::{ChildConfig, Endpoint, EndpointConfig, Event, Identity, PeerConfig, ProposalSpec, ProtocolId, TrafficSelector};
use esprit_plugin::host_crypto::KeyStore;
use esprit_plugin::{EngineSettings, PluginEngine, PluginSpec};

#[derive(Debug, clap::Args)]
pub struct BenchIkeArgs {
    /// Our address and UDP port (IKE starts on it and floats to the peer's
    /// 4500 behind NAT). Not used by `--flood-from`.
    #[arg(long, required_unless_present = "flood_from")]
    pub local: Option<SocketAddr>,
    /// The responder's address.
    #[arg(long)]
    pub remote: IpAddr,
    #[arg(long, default_value_t = 500)]
    pub remote_port: u16,
    /// The pre-shared key the responder accepts for any identity. Not used
    /// by `--flood-from`.
    #[arg(long, required_unless_present = "flood_from")]
    pub psk: Option<String>,
    /// Setups to complete.
    #[arg(long, default_value_t = 500)]
    pub count: usize,
    /// IKE SAs in flight at once.
    #[arg(long, default_value_t = 16)]
    pub parallel: usize,
    #[arg(long, default_value = "aes128gcm16-prfsha256-x25519")]
    pub ike: String,
    #[arg(long, default_value = "aes128gcm16")]
    pub esp: String,
    /// Folder with psk_auth.wasm (default: the workspace's built plugins).
    #[arg(long)]
    pub plugin_dir: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Instead of measuring setups: flood the responder with half-open IKE
    /// SAs from every address of this prefix, answering COOKIEs (see
    /// `crate::ike_flood`).
    #[arg(long, value_name = "PREFIX")]
    pub flood_from: Option<String>,
    /// Flood: new IKE_SA_INIT requests per second.
    #[arg(long, default_value_t = 1000)]
    pub flood_rate: u64,
    /// Flood: how long.
    #[arg(long, default_value_t = 20)]
    pub flood_seconds: u64,
}

pub fn run(a: BenchIkeArgs) -> Result<()> {
    if let Some(prefix) = &a.flood_from {
        return crate::ike_flood::run(&crate::ike_flood::Flood {
            remote: a.remote,
            remote_port: a.remote_port,
            ike: a.ike.clone(),
            esp: a.esp.clone(),
            from: prefix.clone(),
            rate: a.flood_rate,
            seconds: a.flood_seconds,
        });
    }
    let (Some(local), Some(psk)) = (a.local, a.psk.as_deref()) else { bail!("--local and --psk are needed to measure setups") };
    let dir = match &a.plugin_dir {
        Some(d) => d.clone(),
        None => esprit_plugin::build::plugin_dir(&["psk-auth"]).map_err(anyhow::Error::msg)?,
    };
    let engine = PluginEngine::new(&EngineSettings::default())?;
    let spec = PluginSpec::new("psk", dir.join("psk_auth.wasm")).with_config("psk", psk);
    let backend = crate::ike::auth::PluginAuth::load(&engine, vec![spec], Arc::new(KeyStore::default()))?;
    let local_ts = TrafficSelector::from_prefix(local.ip(), 32);
    let remote_ts = TrafficSelector::from_prefix(a.remote, 32);
    let peers: Vec<PeerConfig> = (0..a.parallel)
        .map(|i| -> Result<PeerConfig> {
            let ike = vec![ProposalSpec::parse(&a.ike, ProtocolId::Ike).map_err(anyhow::Error::msg)?];
            let esp = vec![ProposalSpec::parse(&a.esp, ProtocolId::Esp).map_err(anyhow::Error::msg)?];
            let child = ChildConfig::tunnel("net", esp, vec![local_ts], vec![remote_ts]);
            let mut p = PeerConfig::new(&format!("b{i}"), Some(a.remote), Identity::fqdn(&format!("bench-{i}.example")), None, "psk", ike, vec![child]);
            p.remote_port = a.remote_port;
            Ok(p)
        })
        .collect::<Result<_>>()?;
    let cfg = EndpointConfig { natt_port: local.port(), retransmit_timeout: Duration::from_millis(500), ..EndpointConfig::default() };
    let mut ep = Endpoint::new(cfg, peers, Box::new(backend), Box::new(<rand::rngs::StdRng as rand::SeedableRng>::from_entropy()));
    let sock = UdpSocket::bind(local).with_context(|| format!("binding {}", local))?;
    sock.set_read_timeout(Some(Duration::from_millis(1)))?;
    let start = Instant::now();
    for i in 0..a.parallel.min(a.count) {
        ep.initiate(start, &format!("b{i}"), local, None).map_err(anyhow::Error::msg)?;
    }
    let (mut done, mut started, mut failed) = (0usize, a.parallel.min(a.count), 0usize);
    let mut buf = vec![0u8; 65536];
    while done < a.count {
        let now = Instant::now();
        if now.duration_since(start) > Duration::from_secs(a.timeout) {
            bail!("timeout: {done} of {} setups after {} s ({failed} failed)", a.count, a.timeout);
        }
        while let Some(t) = ep.poll_transmit() {
            let mut d = Vec::with_capacity(t.data.len() + 4);
            if t.non_esp_marker {
                d.extend_from_slice(&[0; 4]);
            }
            d.extend_from_slice(&t.data);
            let _ = sock.send_to(&d, t.remote);
        }
        while let Some(e) = ep.poll_event() {
            match e {
                Event::ChildUp(c) => {
                    done += 1;
                    let _ = ep.terminate(now, &c.conn);
                }
                Event::IkeDown { conn, .. } | Event::SetupFailed { conn, .. } => {
                    if started < a.count {
                        started += 1;
                        let _ = ep.initiate(now, &conn, local, None);
                    }
                }
                _ => {}
            }
        }
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                let d = if n > 4 && buf[..4] == [0; 4] { &buf[4..n] } else { &buf[..n] };
                ep.handle_datagram(Instant::now(), local, from, d);
            }
            Err(_) => ep.handle_timeout(Instant::now()),
        }
        failed = ep.stats().auth_failed as usize + ep.stats().dead_peers as usize;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} IKE SA setups (IKE_SA_INIT + IKE_AUTH + CHILD_SA, PSK, {}, ESP {}) against {} in {:.2} s: {:.0} setups/s ({} in flight, {} retransmits)",
        done,
        a.ike,
        a.esp,
        a.remote,
        secs,
        done as f64 / secs,
        a.parallel,
        ep.stats().retransmits
    );
    Ok(())
}
