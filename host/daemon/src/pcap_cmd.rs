//! `esprit pcap encap|decap`: the ESP/AH engine applied offline to capture
//! files, keyed by a setkey.conf, so that our packets can be checked with
//! Wireshark, tshark, scapy or any other IPsec implementation.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use esprit_crypto::Provider;
use esprit_esp::{Protocol, Sa, Spi};
use esprit_sadb::decider::Direction;
use esprit_sadb::setkey::{self, Statement};
use esprit_sadb::{Outbound, Sadb};
use std::time::Instant;

use esprit_dataplane::flow_of;
use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv6Packet};

use crate::pcap::{self, link, udp_encap};

/// Options shared by both directions.
#[derive(Debug, clap::Args)]
pub struct PcapArgs {
    /// SAs (and optionally policies) in setkey.conf syntax.
    #[arg(long)]
    pub setkey: PathBuf,
    /// Input capture (pcap or pcapng).
    #[arg(long = "in")]
    pub input: PathBuf,
    /// Output capture (pcap).
    #[arg(long)]
    pub out: PathBuf,
    /// Crypto backend (`aws-lc` or `rustcrypto`; default: the fastest built in).
    #[arg(long)]
    pub crypto: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum PcapCmd {
    /// Protect every IP packet of the input with the matching SA(s).
    Encap {
        #[command(flatten)]
        args: PcapArgs,
        /// Use these SAs (by SPI, in order: first is applied first) for every
        /// packet instead of matching by address.
        #[arg(long = "spi", value_parser = parse_spi)]
        spis: Vec<Spi>,
        /// Send ESP inside UDP (RFC 3948) with this port as source and destination.
        #[arg(long, num_args = 0..=1, default_missing_value = "4500")]
        udp_encap: Option<u16>,
    },
    /// Remove ESP/AH (raw or ESP-in-UDP) from every packet whose SPI is known.
    Decap {
        #[command(flatten)]
        args: PcapArgs,
    },
}

fn parse_spi(s: &str) -> Result<Spi, String> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map(Spi).map_err(|e| format!("SPI must be a number like 4096 or 0x1000: {e}"))
}

pub fn run(cmd: PcapCmd) -> Result<()> {
    match cmd {
        PcapCmd::Encap { args, spis, udp_encap } => encap(&args, &spis, udp_encap),
        PcapCmd::Decap { args } => decap(&args),
    }
}

fn provider(name: Option<&str>) -> Result<&'static dyn Provider> {
    match name {
        None => Ok(esprit_crypto::default_provider()),
        Some(n) => esprit_crypto::provider_by_name(n).map_err(anyhow::Error::from),
    }
}

/// The SAs of a setkey file, and its SPD when it has `spdadd` policies (then
/// outbound packets are matched against the `out` policies, bundles included).
struct Keys {
    sas: Vec<Sa>,
    spd: Option<Sadb<usize>>,
}

fn load_keys(path: &Path, provider: &dyn Provider) -> Result<Keys> {
    let statements = setkey::parse_file(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sas = load_sas(path, &statements, provider)?;
    let spd = if statements.iter().any(|s| matches!(s, Statement::SpdAdd(_))) {
        let mut next = 0usize;
        let db = Sadb::from_setkey(&statements, Instant::now(), |_| -> Result<usize, std::convert::Infallible> {
            next += 1;
            Ok(next - 1)
        })
        .map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))?;
        Some(db)
    } else {
        None
    };
    Ok(Keys { sas, spd })
}

/// Keys every `add` statement (after the last `flush`).
fn load_sas(path: &Path, statements: &[Statement], provider: &dyn Provider) -> Result<Vec<Sa>> {
    let mut sas: Vec<Sa> = Vec::new();
    for st in statements {
        match st {
            Statement::Flush => sas.clear(),
            Statement::Add(spec) => {
                let cfg = spec.to_sa_config().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                let sa = Sa::new(cfg, provider)
                    .map_err(|e| anyhow::anyhow!("{}: SA {:#x}: {e}", path.display(), spec.spi))?;
                sas.push(sa);
            }
            _ => {}
        }
    }
    if sas.is_empty() {
        bail!("{}: no SA (`add ...;`) in this file", path.display());
    }
    Ok(sas)
}

/// The input's records, read one at a time, and the link type of the
/// first (the output's link type; raw IP for an empty capture).
fn read_input(path: &Path) -> Result<(Input, pcap::LinkType)> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut records = pcap::file::open(f).with_context(|| format!("reading {}", path.display()))?.peekable();
    let link = match records.peek() {
        Some(Ok(r)) => r.link,
        _ => pcap::LinkType::Raw,
    };
    Ok((Input { records, path: path.to_path_buf(), read: 0 }, link))
}

/// Input records with the file name on errors, counted.
struct Input {
    records: std::iter::Peekable<pcap::Reader<File>>,
    path: PathBuf,
    read: usize,
}

impl Input {
    fn next(&mut self) -> Result<Option<pcap::Record>> {
        match self.records.next().transpose() {
            Ok(r) => {
                self.read += usize::from(r.is_some());
                Ok(r)
            }
            Err(e) => Err(e).with_context(|| format!("reading {} (after {} records)", self.path.display(), self.read)),
        }
    }
}

fn open_output(path: &Path, link: pcap::LinkType) -> Result<pcap::Writer<BufWriter<File>>> {
    let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(pcap::Writer::new(BufWriter::new(f), link)?)
}

fn addresses(ip: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match ip.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(ip).ok()?;
            Some((IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr())))
        }
        6 => {
            let p = Ipv6Packet::new_checked(ip).ok()?;
            Some((IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr())))
        }
        _ => None,
    }
}

/// ESP or AH directly after the fixed IP header, if any.
fn ipsec_protocol(ip: &[u8]) -> Option<Protocol> {
    let proto = match ip.first()? >> 4 {
        4 => Ipv4Packet::new_checked(ip).ok()?.next_header(),
        6 => Ipv6Packet::new_checked(ip).ok()?.next_header(),
        _ => return None,
    };
    match proto {
        IpProtocol::IpSecEsp => Some(Protocol::Esp),
        IpProtocol::IpSecAh => Some(Protocol::Ah),
        _ => None,
    }
}

const BUF: usize = 65_536 + 1024;
const TOO_LARGE: &str = "dropped: IP packet larger than the 65 KiB work buffer";

fn encap(args: &PcapArgs, spis: &[Spi], udp: Option<u16>) -> Result<()> {
    let provider = provider(args.crypto.as_deref())?;
    let Keys { mut sas, mut spd } = load_keys(&args.setkey, provider)?;
    for spi in spis {
        if !sas.iter().any(|sa| sa.spi() == *spi) {
            bail!("--spi {spi:#x}: no such SA in {}", args.setkey.display());
        }
    }
    let (mut input, link) = read_input(&args.input)?;
    let mut out = open_output(&args.out, link)?;
    let (mut a, mut b) = (vec![0u8; BUF], vec![0u8; BUF]);
    let mut stats: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(rec) = input.next()? {
        let Some(off) = link::ip_offset(rec.link, &rec.data) else {
            out.write(rec.ts_sec, rec.ts_usec, &rec.data)?;
            *stats.entry("passed (not IP)".into()).or_default() += 1;
            continue;
        };
        let ip = &rec.data[off..];
        if ip.len() > BUF {
            *stats.entry(TOO_LARGE.into()).or_default() += 1;
            continue;
        }
        let chain: Vec<usize> = if let (true, Some(db)) = (spis.is_empty(), spd.as_mut()) {
            match flow_of(ip, Direction::Out).map(|f| db.outbound(&f, Instant::now())) {
                Some(Outbound::Protect { sas: b, .. }) => {
                    b.as_slice().iter().filter_map(|h| db.sad().get(*h).map(|e| e.state)).collect()
                }
                _ => Vec::new(),
            }
        } else if spis.is_empty() {
            let found = addresses(ip).and_then(|(s, d)| {
                sas.iter().position(|sa| sa.config().src == s && sa.config().dst == d)
            });
            found.into_iter().collect()
        } else {
            spis.iter().filter_map(|spi| sas.iter().position(|sa| sa.spi() == *spi)).collect()
        };
        if chain.is_empty() {
            out.write(rec.ts_sec, rec.ts_usec, &rec.data)?;
            *stats.entry("passed (no policy or SA for this packet)".into()).or_default() += 1;
            continue;
        }
        a[..ip.len()].copy_from_slice(ip);
        let mut len = ip.len();
        let mut failed = None;
        for &i in &chain {
            match sas[i].encapsulate(&a[..len], &mut b) {
                Ok(p) => len = p.len(),
                Err(reason) => {
                    failed = Some(reason);
                    break;
                }
            }
            std::mem::swap(&mut a, &mut b);
        }
        if let Some(reason) = failed {
            *stats.entry(format!("dropped: {}", reason.as_str())).or_default() += 1;
            continue;
        }
        let packet = match udp {
            Some(port) => match udp_encap::raw_esp_to_udp(&a[..len], port, port) {
                Some(p) => p,
                None => bail!("--udp-encap needs ESP as the outermost protocol (AH cannot cross NAT)"),
            },
            None => a[..len].to_vec(),
        };
        out.write(rec.ts_sec, rec.ts_usec, &link::reframe(rec.link, &rec.data[..off], &packet))?;
        *stats.entry("protected".into()).or_default() += 1;
    }
    out.flush()?;
    print_stats("encap", input.read, &stats);
    Ok(())
}

fn decap(args: &PcapArgs) -> Result<()> {
    let provider = provider(args.crypto.as_deref())?;
    let Keys { mut sas, .. } = load_keys(&args.setkey, provider)?;
    let (mut input, link) = read_input(&args.input)?;
    let mut out = open_output(&args.out, link)?;
    let (mut a, mut b) = (vec![0u8; BUF], vec![0u8; BUF]);
    let mut stats: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(rec) = input.next()? {
        let Some(off) = link::ip_offset(rec.link, &rec.data) else {
            *stats.entry("passed (not IP)".into()).or_default() += 1;
            out.write(rec.ts_sec, rec.ts_usec, &rec.data)?;
            continue;
        };
        let raw = udp_encap::udp_to_raw_esp(&rec.data[off..]);
        let ip = raw.as_deref().unwrap_or(&rec.data[off..]);
        if ip.len() > BUF {
            *stats.entry(TOO_LARGE.into()).or_default() += 1;
            continue;
        }
        a[..ip.len()].copy_from_slice(ip);
        let mut len = ip.len();
        let mut layers = 0;
        let mut failed = None;
        while let Some(proto) = ipsec_protocol(&a[..len]) {
            let spi = match esprit_esp::peek_spi(&a[..len]) {
                Ok((_, spi)) => spi,
                Err(reason) => {
                    failed = Some(reason.as_str().to_string());
                    break;
                }
            };
            let dst = addresses(&a[..len]).map(|(_, d)| d);
            let Some(sa) = sas.iter_mut().find(|sa| {
                sa.spi() == spi && sa.config().protocol == proto && Some(sa.config().dst) == dst
            }) else {
                failed = Some(format!("unknown SPI {spi:#x}"));
                break;
            };
            match sa.decapsulate(&a[..len], &mut b) {
                Ok(p) => len = p.len(),
                Err(reason) => {
                    failed = Some(reason.as_str().to_string());
                    break;
                }
            }
            std::mem::swap(&mut a, &mut b);
            layers += 1;
        }
        if let Some(reason) = failed {
            *stats.entry(format!("dropped: {reason}")).or_default() += 1;
            continue;
        }
        let key = if layers == 0 { "passed (clear)" } else { "decapsulated" };
        *stats.entry(key.into()).or_default() += 1;
        out.write(rec.ts_sec, rec.ts_usec, &link::reframe(rec.link, &rec.data[..off], &a[..len]))?;
    }
    out.flush()?;
    print_stats("decap", input.read, &stats);
    Ok(())
}

fn print_stats(what: &str, total: usize, stats: &BTreeMap<String, u64>) {
    println!("{what}: {total} packets read");
    for (k, v) in stats {
        println!("  {v:>8}  {k}");
    }
}
