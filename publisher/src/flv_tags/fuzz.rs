//! Fuzzes the FLV tag scanner: arbitrary bytes, split at arbitrary points, never panic; it never
//! buffers more than one tag header; any split gives what reading the input whole gives, and a
//! valid stream gives exactly the coded video frames written.
//! `FUZZ_ITERATIONS=1000000 cargo test -p publisher fuzz_` runs longer.

use super::tests::tag;
use super::*;
use crate::ts_pes::fuzz_input::{Rng, iterations};

/// What scanning `pieces` in order reports; the buffer is checked after every piece.
fn scan<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<VideoTag> {
    let mut scanner = Scanner::default();
    let mut seen = Vec::new();
    for piece in pieces {
        scanner.feed(piece, |tag| seen.push(tag));
        assert!(scanner.pending.len() < TAG_HEADER_LEN + 2);
    }
    seen
}

/// An FLV stream of random tags; also the coded video frames in it.
fn stream(rng: &mut Rng) -> (Vec<u8>, Vec<VideoTag>) {
    let mut out = b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
    let mut expected = Vec::new();
    for _ in 0..rng.below(12) {
        let kind = [8, 9, 9, 9, 18][rng.below(5)];
        let timestamp = rng.next_u64() as u32 & 0x7fff_ffff;
        let max = if rng.below(10) == 0 { 70_000 } else { 300 };
        let mut body = rng.bytes(max);
        if kind == 9 && body.len() >= 2 {
            body[0] = [0x17, 0x27][rng.below(2)];
            body[1] = rng.below(3) as u8;
            if body[1] == AVC_NALU {
                expected.push(VideoTag {
                    timestamp_ms: timestamp,
                    bytes: body.len(),
                    keyframe: body[0] == 0x17,
                });
            }
        }
        out.extend(tag(kind, timestamp, &body));
    }
    (out, expected)
}

#[test]
fn fuzz_flv_valid_streams_in_any_split() {
    let mut rng = Rng::new(0xf1_0001);
    for _ in 0..iterations(1_000) {
        let (data, expected) = stream(&mut rng);
        let max = [1, 13, 100, 5000][rng.below(4)];
        assert_eq!(scan(rng.split(&data, max)), expected);
    }
}

#[test]
fn fuzz_flv_arbitrary_streams() {
    let mut rng = Rng::new(0xf1_0002);
    for _ in 0..iterations(4_000) {
        let data = match rng.below(3) {
            0 => rng.bytes(600),
            _ => {
                let (data, _) = stream(&mut rng);
                rng.mutate(data)
            }
        };
        let whole = scan([data.as_slice()]);
        assert_eq!(scan(rng.split(&data, 64)), whole);
    }
}
