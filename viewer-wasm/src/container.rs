//! The hang "legacy" container: every moq frame is a QUIC varint timestamp in microseconds
//! followed by the codec payload (length-prefixed AVCC NAL units for H.264).

use std::fmt;

/// The container header of one frame: its timestamp and where the payload starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub timestamp_us: u64,
    /// Bytes taken by the timestamp; the codec payload is `frame[payload_offset..]`.
    pub payload_offset: usize,
}

/// A frame too short for the timestamp its first byte announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl fmt::Display for Truncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("frame is shorter than its timestamp")
    }
}

/// Read the varint timestamp at the start of `frame` (RFC 9000 §16: the top two bits of the
/// first byte give the length, 1, 2, 4 or 8 bytes, big-endian).
pub fn parse(frame: &[u8]) -> Result<Header, Truncated> {
    let first = *frame.first().ok_or(Truncated)?;
    let len = 1usize << (first >> 6);
    let bytes = frame.get(..len).ok_or(Truncated)?;
    let timestamp_us = bytes[1..]
        .iter()
        .fold(u64::from(first & 0x3f), |value, byte| {
            value << 8 | u64::from(*byte)
        });
    Ok(Header {
        timestamp_us,
        payload_offset: len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_varint_length() {
        // RFC 9000 appendix A.1 examples, each followed by a payload byte.
        let cases: [(&[u8], u64, usize); 4] = [
            (&[0x25, 0xaa], 37, 1),
            (&[0x7b, 0xbd, 0xaa], 15_293, 2),
            (&[0x9d, 0x7f, 0x3e, 0x7d, 0xaa], 494_878_333, 4),
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c, 0xaa],
                151_288_809_941_952_652,
                8,
            ),
        ];
        for (frame, timestamp_us, payload_offset) in cases {
            assert_eq!(
                parse(frame),
                Ok(Header {
                    timestamp_us,
                    payload_offset
                })
            );
            assert_eq!(&frame[payload_offset..], &[0xaa]);
        }
    }

    #[test]
    fn a_bare_timestamp_has_an_empty_payload() {
        let header = parse(&[0x40, 0x10]).expect("two-byte varint");
        assert_eq!(
            header,
            Header {
                timestamp_us: 16,
                payload_offset: 2
            }
        );
    }

    #[test]
    fn short_frames_are_errors_not_panics() {
        assert_eq!(parse(&[]), Err(Truncated));
        assert_eq!(parse(&[0x40]), Err(Truncated));
        assert_eq!(parse(&[0xc0, 1, 2, 3]), Err(Truncated));
    }
}
