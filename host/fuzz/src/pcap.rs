//! Capture file bytes → `esprit::pcap::file::parse` (pcap and pcapng, both
//! byte orders), then every record through the link-layer framing and the
//! ESP-in-UDP conversion that `esprit pcap` applies.
use esprit::pcap::file::parse;
use esprit::pcap::link::{ip_offset, reframe};
use esprit::pcap::udp_encap::{raw_esp_to_udp, udp_to_raw_esp};

pub fn run(data: &[u8]) {
    let Ok(records) = parse(data) else { return };
    for r in &records {
        assert!(r.data.len() <= data.len(), "a record longer than the file");
        let Some(off) = ip_offset(r.link, &r.data) else { continue };
        let Some(ip) = r.data.get(off..) else { panic!("ip_offset {off} past a {}-byte frame", r.data.len()) };
        if let Some(raw) = udp_to_raw_esp(ip) {
            let _ = raw_esp_to_udp(&raw, 4500, 4500);
        }
        let _ = raw_esp_to_udp(ip, 4500, 4500);
        let _ = reframe(r.link, &r.data[..off], ip);
    }
}
