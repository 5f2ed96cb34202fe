//! Small checks shared by both providers, so that they reject bad input with
//! exactly the same errors.

use crate::CryptoError;

/// Rejects a key whose length is not `expected`.
pub(crate) fn check_key(alg: &'static str, expected: usize, key: &[u8]) -> Result<(), CryptoError> {
    if key.len() == expected {
        Ok(())
    } else {
        Err(CryptoError::KeyLength { alg, expected, got: key.len() })
    }
}

/// CBC input checks (RFC 3602 §3: 16-byte IV, whole blocks; ESP pads itself).
pub(crate) fn check_cbc(iv: &[u8], data: &[u8]) -> Result<[u8; 16], CryptoError> {
    let iv: [u8; 16] = iv
        .try_into()
        .map_err(|_| CryptoError::NonceLength { expected: 16, got: iv.len() })?;
    // `is_multiple_of` needs Rust 1.87; the workspace supports 1.85.
    #[allow(clippy::manual_is_multiple_of)]
    if data.len() % 16 != 0 {
        return Err(CryptoError::BlockLength(data.len()));
    }
    Ok(iv)
}

/// Checks the tag buffer handed to a seal operation.
pub(crate) fn check_seal_tag(expected: usize, tag: &[u8]) -> Result<(), CryptoError> {
    if tag.len() == expected {
        Ok(())
    } else {
        Err(CryptoError::TagLength { expected, got: tag.len() })
    }
}

/// Whether an ICV of `icv_len` bytes may be checked for an algorithm with a
/// truncated length of `trunc` and a full MAC length of `full`.
///
/// RFC 4868 §2.3 fixes the truncated length; an ICV shorter than that (in
/// particular an empty one) is never accepted, so a short tag cannot pass.
pub(crate) fn icv_len_ok(icv_len: usize, trunc: usize, full: usize) -> bool {
    icv_len >= trunc && icv_len <= full
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_length_reports_expected_and_got() {
        assert_eq!(
            check_key("x", 16, &[0; 15]),
            Err(CryptoError::KeyLength { alg: "x", expected: 16, got: 15 })
        );
        assert!(check_key("x", 16, &[0; 16]).is_ok());
    }

    #[test]
    fn cbc_checks() {
        assert_eq!(check_cbc(&[0; 15], &[]), Err(CryptoError::NonceLength { expected: 16, got: 15 }));
        assert_eq!(check_cbc(&[0; 16], &[0; 17]), Err(CryptoError::BlockLength(17)));
        assert_eq!(check_cbc(&[7; 16], &[0; 32]), Ok([7; 16]));
    }

    #[test]
    fn icv_lengths() {
        assert!(!icv_len_ok(0, 16, 32));
        assert!(!icv_len_ok(15, 16, 32));
        assert!(icv_len_ok(16, 16, 32));
        assert!(icv_len_ok(32, 16, 32));
        assert!(!icv_len_ok(33, 16, 32));
    }
}
