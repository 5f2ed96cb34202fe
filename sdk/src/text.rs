//! Explanation text without `core::fmt`.
//!
//! A decision's explanation is built on the decision path, inside the
//! plugin's CPU budget. `write!(s, "{addr}")` goes through `core::fmt`
//! (dynamic dispatch and padding logic per integer), which in Wasm costs
//! more than the rest of a simple decision; these append the same text
//! directly.
use core::net::IpAddr;

/// Append `n` in decimal.
pub fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// Append `ip` as `Display` writes it (dotted quad; RFC 5952 for IPv6).
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            for (i, octet) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, u64::from(octet));
            }
        }
        // Zero-run compression and embedded IPv4 forms: left to `core::fmt`.
        IpAddr::V6(a) => {
            use core::fmt::Write as _;
            let _ = write!(out, "{a}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_match_display() {
        for n in [0u64, 7, 9, 10, 99, 100, 255, 65_535, 1_000_000, u64::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    #[test]
    fn addresses_match_display() {
        for a in ["0.0.0.0", "10.0.0.1", "192.0.2.255", "255.255.255.255", "2001:db8::1", "::ffff:192.0.2.1", "::"] {
            let ip: IpAddr = a.parse().expect("address");
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
        // Every octet value in every position.
        for v in 0..=255u8 {
            let ip = IpAddr::from([v, 255 - v, v / 3, v.wrapping_mul(7)]);
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
    }
}
