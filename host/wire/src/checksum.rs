//! The Internet checksum (RFC 1071): the one's-complement sum of 16-bit
//! big-endian words, an odd last byte padded with zero.

/// The folded one's-complement sum of `data` plus `initial` (a partial
/// sum, e.g. a pseudo-header's), not complemented.
///
/// Sums 32-bit words in native byte order into a 64-bit accumulator and
/// swaps the folded result once at the end: the one's-complement sum does
/// not depend on the byte order or the word size used (RFC 1071 §2 (A),
/// (B)), and this form is what the compiler vectorizes (the netstack
/// checksums every TCP segment it sends with it).
#[inline]
pub fn ones_complement_sum(data: &[u8], initial: u32) -> u16 {
    let mut sum = 0u64;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        sum += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    }
    let mut tail = [0u8; 4];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    sum += u64::from(u32::from_ne_bytes(tail));
    // Fold to 16 bits in native order, then to network order.
    let native = fold(sum);
    let be = if cfg!(target_endian = "little") { native.swap_bytes() } else { native };
    fold(u64::from(be) + u64::from(initial))
}

/// A 64-bit one's-complement accumulator folded to 16 bits.
#[inline]
fn fold(mut sum: u64) -> u16 {
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

    /// The word-at-a-time sum equals RFC 1071's 16-bit big-endian loop for
    /// every length 0..=300 (all tail sizes and alignments) and initials.
    #[test]
    fn matches_the_16_bit_reference() {
        fn reference(data: &[u8], initial: u32) -> u16 {
            let mut sum = u64::from(initial);
            for w in data.chunks(2) {
                sum += u64::from(u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)]));
            }
            fold(sum)
        }
        let mut x = 0x1234_5678u32;
        let bytes: Vec<u8> = (0..301)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for start in 0..4 {
            for len in 0..=(300 - start) {
                for initial in [0u32, 1, 0xffff, 0x1_fffe, 0xdead_beef] {
                    let d = &bytes[start..start + len];
                    assert_eq!(ones_complement_sum(d, initial), reference(d, initial), "start {start} len {len} initial {initial:#x}");
                }
            }
        }
        assert_eq!(ones_complement_sum(&[0xff; 1500], 0), reference(&[0xff; 1500], 0));
    }

    #[test]
    fn odd_length_pads_with_zero_and_initial_adds() {
        assert_eq!(ones_complement_sum(&[0x12], 0), 0x1200);
        assert_eq!(ones_complement_sum(&[0x12], 0x0034), 0x1234);
        assert_eq!(ones_complement_sum(&[0xff, 0xff, 0x00, 0x01], 0), 0x0001);
    }
}
