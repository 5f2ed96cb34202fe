//! ECN at tunnel egress (RFC 6040 §4.2, as RFC 4301 §5.1.2.1 requires for
//! IPsec tunnels): a congestion mark (CE) that routers put on the outer
//! header reaches the inner packet; ingress copies the inner field out (see
//! [`crate::ip::OuterTemplate`]), so the full-functionality mode holds.

use crate::DropReason;

const NOT_ECT: u8 = 0b00;
const ECT1: u8 = 0b01;
const CE: u8 = 0b11;

/// The ECN field of an IPv4 or IPv6 header.
fn ecn(h: &[u8]) -> Option<u8> {
    match h.first()? >> 4 {
        4 => Some(h.get(1)? & 0b11),
        6 => Some((h.get(1)? >> 4) & 0b11),
        _ => None,
    }
}

fn set_ecn(h: &mut [u8], v: u8) {
    match h.first().map(|b| b >> 4) {
        Some(4) if h.len() >= 20 => {
            h[1] = (h[1] & !0b11) | v;
            crate::ip::fill_ipv4_checksum(h);
        }
        Some(6) if h.len() >= 40 => h[1] = (h[1] & 0b1100_1111) | (v << 4),
        _ => {}
    }
}

/// Combines the outer header's ECN field into the inner packet (RFC 6040
/// Figure 4): outer CE marks an ECN-capable inner packet CE and drops a
/// not-ECT one; outer ECT(1) over inner ECT(0) gives ECT(1); anything else
/// leaves the inner field as it is.
pub(crate) fn decapsulate(outer: &[u8], inner: &mut [u8]) -> Result<(), DropReason> {
    let (Some(o), Some(i)) = (ecn(outer), ecn(inner)) else { return Ok(()) };
    match (o, i) {
        (CE, NOT_ECT) => Err(DropReason::CeOnNotEct),
        (CE, i) if i != CE => {
            set_ecn(inner, CE);
            Ok(())
        }
        (ECT1, 0b10) => {
            set_ecn(inner, ECT1);
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(ecn: u8) -> Vec<u8> {
        let mut p = vec![0x45, ecn, 0, 20, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        crate::ip::fill_ipv4_checksum(&mut p);
        p
    }

    fn v6(ecn: u8) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[1] = ecn << 4;
        p
    }

    /// RFC 6040 Figure 4, every cell (inner rows, outer columns).
    #[test]
    fn figure_4() {
        let table: [(u8, [Option<u8>; 4]); 4] = [
            // inner      outer: Not-ECT     ECT(0)          ECT(1)          CE
            (0b00, [Some(0b00), Some(0b00), Some(0b00), None]),
            (0b10, [Some(0b10), Some(0b10), Some(0b01), Some(0b11)]),
            (0b01, [Some(0b01), Some(0b01), Some(0b01), Some(0b11)]),
            (0b11, [Some(0b11), Some(0b11), Some(0b11), Some(0b11)]),
        ];
        for (inner, row) in table {
            for (outer, want) in [0b00, 0b10, 0b01, 0b11].into_iter().zip(row) {
                for (mk_out, mk_in) in [(v4 as fn(u8) -> Vec<u8>, v4 as fn(u8) -> Vec<u8>), (v6, v6), (v4, v6), (v6, v4)] {
                    let mut p = mk_in(inner);
                    let r = decapsulate(&mk_out(outer), &mut p);
                    match want {
                        None => assert_eq!(r, Err(DropReason::CeOnNotEct)),
                        Some(w) => {
                            assert_eq!(r, Ok(()));
                            assert_eq!(ecn(&p), Some(w), "inner {inner:02b} outer {outer:02b}");
                            if p[0] >> 4 == 4 {
                                assert_eq!(crate::ip::checksum(&p[..20]), 0, "IPv4 checksum kept valid");
                            }
                        }
                    }
                }
            }
        }
    }
}
