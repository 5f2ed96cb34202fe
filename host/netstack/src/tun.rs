//! The privileged inner side: a Linux TUN device (`IFF_TUN | IFF_NO_PI`)
//! carrying whole IP packets through a non-blocking fd.
//!
//! The device itself, its addresses, MTU and link state are set up by the
//! `tun-rs` crate (ioctl/netlink in-process, and it already supports
//! `IFF_VNET_HDR` offloads with GSO/GRO batching for later). Routes for the
//! protected prefixes are added by running iproute2's `ip route replace ...
//! dev NAME`: a one-time, auditable configuration step off the fast path,
//! the same commands an operator would type. Caveat: a process that holds
//! only `CAP_NET_ADMIN` (not root) must pass the capability on as an ambient
//! capability for the `ip` child to inherit it.
//!
//! The device is not persistent: closing the fd on drop destroys it, and the
//! kernel removes its addresses and routes with it; routes we added are also
//! deleted explicitly first.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::process::Command;

use tun_rs::{DeviceBuilder, SyncDevice};

/// What to create.
#[derive(Debug, Clone, Default)]
pub struct TunConfig {
    /// Interface name; `None` lets the kernel pick (`tunN`).
    pub name: Option<String>,
    /// Addresses with prefix length (one IPv4, any number of IPv6).
    pub addresses: Vec<(IpAddr, u8)>,
    /// Device MTU: the outer path MTU minus the ESP/UDP overhead.
    pub mtu: u16,
    /// Prefixes routed into the device (the protected networks).
    pub routes: Vec<(IpAddr, u8)>,
    /// `IFF_VNET_HDR` with TSO/USO and checksum offload: the kernel hands
    /// over TCP/UDP super-segments of up to 64 KiB (one read) that
    /// [`Tun::recv_multiple`] cuts into MTU-sized packets. Falls back to
    /// plain packets when the kernel refuses.
    pub offload: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TunError {
    /// Creating or configuring the device was refused (EPERM/EACCES).
    #[error("tun mode needs root or CAP_NET_ADMIN; use mode = \"netstack\" to run unprivileged")]
    NotPermitted(#[source] io::Error),
    #[error("/dev/net/tun is missing (no tun driver in this kernel or container)")]
    NoTunDevice(#[source] io::Error),
    #[error("invalid tun configuration: {0}")]
    InvalidConfig(String),
    #[error("creating tun device failed")]
    Create(#[source] io::Error),
    #[error("`{command}` failed: {stderr}")]
    Route { command: String, stderr: String },
    /// The device vanished under us (e.g. `ip link del`): reads fail for good.
    #[error("tun device {name} is gone")]
    DeviceGone {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("tun I/O on {name}")]
    Io {
        name: String,
        #[source]
        source: io::Error,
    },
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
        || e.kind() == io::ErrorKind::PermissionDenied
}

/// Errors after which the fd will never work again.
fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADFD)
            | Some(libc::EBADF)
            | Some(libc::ENODEV)
            | Some(libc::ENXIO)
            | Some(libc::EIO)
    )
}

/// Mask host bits so `ip` accepts the prefix (`10.1.2.3/24` → `10.1.2.0/24`).
pub fn network(addr: IpAddr, prefix: u8) -> Result<(IpAddr, u8), TunError> {
    match addr {
        IpAddr::V4(a) if prefix <= 32 => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            Ok((IpAddr::V4((u32::from(a) & mask).into()), prefix))
        }
        IpAddr::V6(a) if prefix <= 128 => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            Ok((IpAddr::V6((u128::from(a) & mask).into()), prefix))
        }
        _ => Err(TunError::InvalidConfig(format!(
            "prefix /{prefix} too long for {addr}"
        ))),
    }
}

/// The virtio-net header in front of every packet of an offload device
/// (all zero: no GSO, checksum complete).
pub use tun_rs::VIRTIO_NET_HDR_LEN;

/// Segments [`Tun::recv_multiple`] may produce from one read (a 64 KiB
/// super-segment at the smallest MSS the kernel uses here).
pub const MAX_SEGMENTS: usize = tun_rs::IDEAL_BATCH_SIZE;

/// An open TUN device; removed when dropped.
pub struct Tun {
    dev: SyncDevice,
    name: String,
    offload: bool,
    routes: Vec<(IpAddr, u8)>,
}

impl Tun {
    /// Create the device, assign addresses and MTU, bring it up, add routes.
    pub fn create(cfg: &TunConfig) -> Result<Tun, TunError> {
        if cfg.mtu < 576 {
            return Err(TunError::InvalidConfig(format!(
                "mtu {} is below 576",
                cfg.mtu
            )));
        }
        if !std::path::Path::new("/dev/net/tun").exists() {
            return Err(TunError::NoTunDevice(io::Error::from(
                io::ErrorKind::NotFound,
            )));
        }
        match Tun::build(cfg, cfg.offload) {
            Err(TunError::Create(e)) if cfg.offload => {
                tracing::warn!("TUN offload (IFF_VNET_HDR) refused ({e}); using plain packets");
                Tun::build(cfg, false)
            }
            r => r,
        }
    }

    fn build(cfg: &TunConfig, offload: bool) -> Result<Tun, TunError> {
        let mut b = DeviceBuilder::new()
            .mtu(cfg.mtu)
            .packet_information(false)
            .offload(offload)
            .enable(true);
        if let Some(n) = &cfg.name {
            if n.is_empty() || n.len() > 15 || n.contains(['/', ' ', '\0']) {
                return Err(TunError::InvalidConfig(format!("bad interface name {n:?}")));
            }
            b = b.name(n.clone());
        }
        let mut have_v4 = false;
        for (addr, prefix) in &cfg.addresses {
            network(*addr, *prefix)?;
            match addr {
                IpAddr::V4(a) if !have_v4 => {
                    have_v4 = true;
                    b = b.ipv4(*a, *prefix, None);
                }
                IpAddr::V4(_) => {
                    return Err(TunError::InvalidConfig("at most one IPv4 address".into()))
                }
                IpAddr::V6(a) => b = b.ipv6(*a, *prefix),
            }
        }
        let dev = b.build_sync().map_err(|e| {
            if is_permission(&e) {
                TunError::NotPermitted(e)
            } else {
                TunError::Create(e)
            }
        })?;
        dev.set_nonblocking(true).map_err(TunError::Create)?;
        let name = dev.name().map_err(TunError::Create)?;
        let mut tun = Tun {
            dev,
            name,
            offload,
            routes: Vec::new(),
        };
        for (addr, prefix) in &cfg.routes {
            let net = network(*addr, *prefix)?;
            tun.ip_route("replace", net)?;
            tun.routes.push(net);
        }
        Ok(tun)
    }

    fn ip_route(&self, verb: &str, (net, prefix): (IpAddr, u8)) -> Result<(), TunError> {
        let family = if net.is_ipv4() { "-4" } else { "-6" };
        let dst = format!("{net}/{prefix}");
        let args = [family, "route", verb, &dst, "dev", &self.name];
        let command = format!("ip {}", args.join(" "));
        let out = Command::new("ip")
            .args(args)
            .output()
            .map_err(|e| TunError::Route {
                command: command.clone(),
                stderr: e.to_string(),
            })?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if stderr.contains("Operation not permitted") {
            return Err(TunError::NotPermitted(io::Error::from_raw_os_error(
                libc::EPERM,
            )));
        }
        Err(TunError::Route { command, stderr })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Read one whole IP packet. `Ok(None)`: nothing to read now.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, TunError> {
        loop {
            return match self.dev.recv(buf) {
                // A TUN read never returns 0 while the device exists.
                Ok(0) => Err(TunError::DeviceGone {
                    name: self.name.clone(),
                    source: io::Error::from(io::ErrorKind::UnexpectedEof),
                }),
                Ok(n) => Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(self.classify(e)),
            };
        }
    }

    /// Whether the device runs with offloads (see [`TunConfig::offload`]).
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// Reads one packet, or with offload one super-segment cut into up to
    /// [`MAX_SEGMENTS`] packets, into the input regions of `bufs` (at
    /// offset 0), their lengths into `sizes`. `scratch` holds the raw read
    /// (64 KiB plus the virtio-net header). `Ok(None)`: nothing to read now.
    /// A malformed virtio-net header or super-segment is an `Io` error (the
    /// read is consumed; the caller counts it and reads on).
    pub fn recv_multiple<B: AsRef<[u8]> + AsMut<[u8]>>(&self, scratch: &mut [u8], bufs: &mut [B], sizes: &mut [usize]) -> Result<Option<usize>, TunError> {
        if !self.offload {
            let Some(first) = bufs.first_mut() else { return Ok(Some(0)) };
            let n = self.recv(first.as_mut())?;
            if let (Some(n), Some(s)) = (n, sizes.first_mut()) {
                *s = n;
            }
            return Ok(n.map(|_| 1));
        }
        let n = bufs.len().min(sizes.len());
        // The raw read (header included), checked and cut by `vnet::split`
        // rather than tun-rs's `recv_multiple` (see `crate::vnet`).
        let len = loop {
            match self.dev.recv(scratch) {
                Ok(len) => break len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.classify(e)),
            }
        };
        let raw = scratch.get_mut(..len).unwrap_or_default();
        match crate::vnet::split(raw, &mut bufs[..n], &mut sizes[..n]) {
            Ok(k) => Ok(Some(k)),
            Err(e) => Err(TunError::Io { name: self.name.clone(), source: e }),
        }
    }

    /// Writes a batch of packets, each at `offset` in its buffer after room
    /// for the virtio-net header; with offloads, segments of a flow are
    /// first coalesced (GRO) into fewer, larger writes (see
    /// [`crate::tun_batch::TunBatchWriter`]).
    pub fn send_multiple(&self, gro: &mut tun_rs::GROTable, bufs: &mut [Vec<u8>], offset: usize) -> Result<usize, TunError> {
        loop {
            return match self.dev.send_multiple(gro, bufs, offset) {
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(self.classify(e)),
            };
        }
    }

    /// Write one whole IP packet. `Ok(false)`: the queue is full, try later.
    pub fn send(&self, pkt: &[u8]) -> Result<bool, TunError> {
        if self.offload {
            const HDR: [u8; VIRTIO_NET_HDR_LEN] = [0; VIRTIO_NET_HDR_LEN];
            let iov = [io::IoSlice::new(&HDR), io::IoSlice::new(pkt)];
            loop {
                return match self.dev.send_vectored(&iov) {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(self.classify(e)),
                };
            }
        }
        loop {
            return match self.dev.send(pkt) {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(self.classify(e)),
            };
        }
    }

    fn classify(&self, e: io::Error) -> TunError {
        if is_gone(&e) {
            TunError::DeviceGone {
                name: self.name.clone(),
                source: e,
            }
        } else {
            TunError::Io {
                name: self.name.clone(),
                source: e,
            }
        }
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.dev.as_raw_fd()
    }
}

impl Drop for Tun {
    fn drop(&mut self) {
        for net in std::mem::take(&mut self.routes) {
            // Best effort: the kernel drops them with the device anyway.
            let _ = self.ip_route("del", net);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_masks_host_bits() {
        let (n, p) = network("10.1.2.3".parse().unwrap(), 24).unwrap();
        assert_eq!((n.to_string(), p), ("10.1.2.0".into(), 24));
        let (n, _) = network("2001:db8::1".parse().unwrap(), 32).unwrap();
        assert_eq!(n.to_string(), "2001:db8::");
        let (n, _) = network("10.1.2.3".parse().unwrap(), 0).unwrap();
        assert_eq!(n.to_string(), "0.0.0.0");
    }

    #[test]
    fn network_rejects_long_prefix() {
        assert!(network("10.1.2.3".parse().unwrap(), 33).is_err());
        assert!(network("::1".parse().unwrap(), 129).is_err());
    }

    #[test]
    fn not_permitted_message_names_netstack_mode() {
        let e = TunError::NotPermitted(io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(
            e.to_string(),
            "tun mode needs root or CAP_NET_ADMIN; use mode = \"netstack\" to run unprivileged"
        );
    }

    #[test]
    fn bad_config_is_refused_before_touching_the_kernel() {
        let cfg = TunConfig {
            mtu: 100,
            ..Default::default()
        };
        assert!(matches!(Tun::create(&cfg), Err(TunError::InvalidConfig(_))));
        let cfg = TunConfig {
            mtu: 1400,
            name: Some("x".repeat(16)),
            ..Default::default()
        };
        assert!(matches!(Tun::create(&cfg), Err(TunError::InvalidConfig(_))));
    }
}
