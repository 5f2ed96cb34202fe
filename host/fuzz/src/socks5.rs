//! SOCKS5 (RFC 1928) messages from local clients → `esprit_netstack::socks5`:
//! greeting, request, address and UDP header. Every parser reports at most
//! the octets it was given, and an encoded address parses back.
use esprit_netstack::socks5::{encode_address, parse_address, parse_greeting, parse_request, parse_udp_header, Address};

pub fn run(data: &[u8]) {
    if let Ok(Some((_, n))) = parse_greeting(data) {
        assert!(n <= data.len(), "greeting consumed {n} of {}", data.len());
    }
    if let Ok(Some((req, n))) = parse_request(data) {
        assert!(n <= data.len(), "request consumed {n} of {}", data.len());
        let _ = req.address.to_socket_addr();
    }
    if let Ok(Some((addr, n))) = parse_address(data) {
        assert!(n <= data.len(), "address consumed {n} of {}", data.len());
        if let Address::Ip(sa) = addr {
            let mut out = [0u8; 19];
            let m = encode_address(sa, &mut out);
            assert_eq!(parse_address(&out[..m]), Ok(Some((Address::Ip(sa), m))));
        }
    }
    if let Ok(Some((_, _, n))) = parse_udp_header(data) {
        assert!(n <= data.len(), "UDP header consumed {n} of {}", data.len());
    }
}
