//! Fuzzes the frame container parser: arbitrary bytes never panic, the payload offset a header
//! gives is inside the frame, and a parsed timestamp written back gives the frame's own bytes.
//! `FUZZ_ITERATIONS=1000000 cargo test -p viewer-wasm fuzz_` runs longer.

use fuzz_input::{Rng, iterations};
use viewer_wasm::container::{self, Header, Truncated};

#[test]
fn fuzz_container_arbitrary_frames() {
    let mut rng = Rng::new(0x0c0e_7a1e);
    for _ in 0..iterations(1_000_000) {
        let mut frame = rng.bytes(12);
        // Bias the length prefix towards every varint size.
        if let Some(first) = frame.first_mut() {
            *first = (*first & 0x3f) | (rng.below(4) as u8) << 6;
        }
        match container::parse(&frame) {
            Ok(Header {
                timestamp_us,
                payload_offset,
            }) => {
                assert!(payload_offset <= frame.len(), "{frame:02x?}");
                assert_eq!(payload_offset, 1 << (frame[0] >> 6), "{frame:02x?}");
                assert!(timestamp_us < 1 << 62, "{frame:02x?}");
                // Re-encoding the timestamp at the same length gives the same bytes.
                let mut encoded = timestamp_us.to_be_bytes()[8 - payload_offset..].to_vec();
                encoded[0] |= frame[0] & 0xc0;
                assert_eq!(encoded, frame[..payload_offset], "{frame:02x?}");
            }
            Err(Truncated) => assert!(
                frame.is_empty() || frame.len() < 1 << (frame[0] >> 6),
                "{frame:02x?}"
            ),
        }
    }
}
