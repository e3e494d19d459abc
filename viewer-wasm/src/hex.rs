//! Hex decoding for the two hex strings the viewer reads: the avcC `description` in the
//! catalog and the relay's `/certificate.sha256` fingerprint.

/// Decode a hex string (either case; surrounding whitespace ignored, as a fetched file ends
/// in a newline). Returns `None` for an odd length or any non-hex character.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.trim().as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_both_cases_and_trims() {
        assert_eq!(decode("01aB\n"), Some(vec![0x01, 0xab]));
        assert_eq!(decode(""), Some(vec![]));
    }

    #[test]
    fn refuses_odd_length_and_bad_digits() {
        assert_eq!(decode("abc"), None);
        assert_eq!(decode("zz"), None);
        // Base64 of an avcC starts with "AU": not hex.
        assert_eq!(decode("AUIA"), None);
        assert_eq!(decode("é1"), None);
    }
}
