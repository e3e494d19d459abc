//! Fuzzes the FLV run cutter: arbitrary bytes, split at arbitrary points, never panic; it never
//! holds more than one unfinished tag; any split gives what reading the input whole gives, and a
//! valid stream gives back every tag after the file header, and exactly the coded video frames
//! written. `FUZZ_ITERATIONS=1000000 cargo test -p publisher fuzz_` runs longer.

use super::tests::stamped;
use super::*;
use fuzz_input::{Rng, iterations};

/// The most a run may hold: a file header's data offset, or one unfinished tag.
const MOST_HELD: usize = TAG_HEADER_LEN + 0xff_ffff + PREV_TAG_SIZE_LEN;

/// What cutting `pieces` in order gives (the tags passed on, and the video frames reported),
/// up to the first error; the buffer is checked after every piece.
fn cut<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> (Vec<u8>, Vec<VideoTag>, bool) {
    let mut run = Run::default();
    let (mut out, mut seen) = (Vec::new(), Vec::new());
    for piece in pieces {
        match run.whole_tags(piece, |tag| seen.push(tag)) {
            Ok(tags) => out.extend(tags),
            Err(_) => return (out, seen, true),
        }
        assert!(
            run.pending.len() <= MOST_HELD,
            "{} bytes held",
            run.pending.len()
        );
    }
    (out, seen, false)
}

/// An FLV stream of random tags; also its tags after the header, and the coded video frames.
fn stream(rng: &mut Rng) -> (Vec<u8>, Vec<u8>, Vec<VideoTag>) {
    let mut tags = Vec::new();
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
        tags.extend(stamped(kind, timestamp, &body));
    }
    ([&HEADER[..], &tags].concat(), tags, expected)
}

#[test]
fn fuzz_flv_valid_streams_in_any_split() {
    let mut rng = Rng::new(0xf1_0001);
    for _ in 0..iterations(1_000) {
        let (data, tags, expected) = stream(&mut rng);
        let max = [1, 13, 100, 5000][rng.below(4)];
        assert_eq!(cut(rng.split(&data, max)), (tags, expected, false));
    }
}

#[test]
fn fuzz_flv_arbitrary_streams() {
    let mut rng = Rng::new(0xf1_0002);
    for _ in 0..iterations(4_000) {
        let data = match rng.below(3) {
            0 => rng.bytes(600),
            _ => {
                let (data, ..) = stream(&mut rng);
                rng.mutate(data)
            }
        };
        let whole = cut([data.as_slice()]);
        assert_eq!(cut(rng.split(&data, 64)), whole);
    }
}
