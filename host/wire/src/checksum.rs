//! The Internet checksum (RFC 1071): the one's-complement sum of 16-bit
//! big-endian words, an odd last byte padded with zero.

/// The folded one's-complement sum of `data` plus `initial` (a partial
/// sum, e.g. a pseudo-header's), not complemented.
#[inline]
pub fn ones_complement_sum(data: &[u8], initial: u32) -> u16 {
    let mut sum = u64::from(initial);
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The checksum field's value for `data` (its field zeroed): the complement
/// of [`ones_complement_sum`].
#[inline]
pub fn internet_checksum(data: &[u8]) -> u16 {
    !ones_complement_sum(data, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3's example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
    #[test]
    fn rfc1071_example() {
        assert_eq!(ones_complement_sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], 0), 0xddf2);
        assert_eq!(internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero_and_initial_adds() {
        assert_eq!(ones_complement_sum(&[0x12], 0), 0x1200);
        assert_eq!(ones_complement_sum(&[0x12], 0x0034), 0x1234);
        assert_eq!(ones_complement_sum(&[0xff, 0xff, 0x00, 0x01], 0), 0x0001);
    }
}
