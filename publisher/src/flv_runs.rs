//! One FLV import fed by successive ffmpeg runs, so a restarted ffmpeg continues the same tracks.
//!
//! moq-mux's import reads one FLV stream: a file header, then tags. Each run of ffmpeg writes a
//! stream of its own, and may be killed in the middle of a tag. [`Run`] turns one run's output
//! into what the long-lived import can take: its file header dropped (the import is given
//! [`HEADER`] once, when made) and only whole tags passed on, a tag cut off by the run's end
//! dropped with it. The new run's identical sequence header is then a no-op for the import, and
//! its first keyframe starts a new group in the same track.
//!
//! Walking the tags, it also reports each coded video frame ([`VideoTag`]) for the status
//! meters: its size and its timestamp, which is the capture time and so gives the ingest
//! latency. moq-mux 0.10's FLV import keeps no statistics, and reading them back from the
//! published track would take a local subscriber decoding every frame again; the tag headers
//! walked here anyway cost nothing.

use anyhow::Context;

/// An FLV file header (version 1, video) and its `PreviousTagSize0`: what the import reads once.
pub const HEADER: [u8; 13] = [b'F', b'L', b'V', 1, 1, 0, 0, 0, 9, 0, 0, 0, 0];

/// An FLV tag's header: type, 24-bit body size, timestamp, stream id.
const TAG_HEADER_LEN: usize = 11;
/// The `PreviousTagSize` after each tag's body.
const PREV_TAG_SIZE_LEN: usize = 4;
const TAG_VIDEO: u8 = 9;
/// AVC packet type 1 is a coded frame (0 is the sequence header, 2 the end of sequence).
const AVC_NALU: u8 = 1;
/// The first body byte's high bit marks an enhanced-RTMP video tag (HEVC, AV1, VP9 from ffmpeg
/// 6.1+): frame type in bits 4–6, packet type in the low nibble, then a FourCC.
const ENHANCED: u8 = 0x80;
/// Enhanced packet types that carry a coded frame: CodedFrames (with a composition time, HEVC)
/// and CodedFramesX (without).
const CODED_FRAMES: u8 = 1;
const CODED_FRAMES_X: u8 = 3;

/// One coded video frame in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoTag {
    /// The tag's timestamp in milliseconds (31 bits, as FLV stores it).
    pub timestamp_ms: u32,
    /// The encoded frame's size in bytes (tag body).
    pub bytes: usize,
    pub keyframe: bool,
}

/// One run's FLV output, cut into whole tags.
#[derive(Debug, Default)]
pub struct Run {
    /// The run's bytes not yet passed on: its file header, or the start of a tag.
    pending: Vec<u8>,
    header_done: bool,
}

impl Run {
    /// Take the run's next `chunk`; returns the whole tags it completes (possibly none), calling
    /// `on_video` for each coded video frame among them.
    pub fn whole_tags(
        &mut self,
        chunk: &[u8],
        mut on_video: impl FnMut(VideoTag),
    ) -> anyhow::Result<Vec<u8>> {
        self.pending.extend_from_slice(chunk);
        if !self.header_done {
            if self.pending.len() < 9 {
                return Ok(Vec::new());
            }
            anyhow::ensure!(&self.pending[..3] == b"FLV", "ffmpeg's output is not FLV");
            let offset = u32::from_be_bytes(self.pending[5..9].try_into().context("4 bytes")?);
            let skip = offset as usize + PREV_TAG_SIZE_LEN;
            anyhow::ensure!(skip <= 64 * 1024, "FLV data offset {offset} too large");
            if self.pending.len() < skip {
                return Ok(Vec::new());
            }
            self.pending.drain(..skip);
            self.header_done = true;
        }
        let mut end = 0;
        while let Some(head) = self.pending.get(end..end + TAG_HEADER_LEN) {
            let body = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
            let next = end + TAG_HEADER_LEN + body + PREV_TAG_SIZE_LEN;
            if next > self.pending.len() {
                break;
            }
            let flags = &self.pending[end + TAG_HEADER_LEN..][..body.min(2)];
            if head[0] == TAG_VIDEO
                && let Some(keyframe) = coded_frame(flags, body)
            {
                on_video(VideoTag {
                    timestamp_ms: u32::from_be_bytes([head[7] & 0x7f, head[4], head[5], head[6]]),
                    bytes: body,
                    keyframe,
                });
            }
            end = next;
        }
        Ok(self.pending.drain(..end).collect())
    }
}

/// Whether a video tag whose body (`body` bytes) starts with `flags` is a coded frame, and if
/// so whether it is a keyframe: AVC tags, and enhanced ones (HEVC, AV1).
fn coded_frame(flags: &[u8], body: usize) -> Option<bool> {
    let first = *flags.first()?;
    let (coded, keyframe) = match first & ENHANCED {
        0 => (flags.get(1) == Some(&AVC_NALU), first >> 4 == 1),
        // A coded enhanced frame holds at least the flags and its FourCC.
        _ => (
            body > 5 && matches!(first & 0x0f, CODED_FRAMES | CODED_FRAMES_X),
            (first >> 4) & 0x07 == 1,
        ),
    };
    coded.then_some(keyframe)
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    /// A tag of `kind` stamped `timestamp` ms (with its extended byte) holding `body`.
    pub(super) fn stamped(kind: u8, timestamp: u32, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&timestamp.to_be_bytes()[1..]);
        out.push((timestamp >> 24) as u8);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(body);
        out.extend_from_slice(&((TAG_HEADER_LEN + body.len()) as u32).to_be_bytes());
        out
    }

    fn tag(kind: u8, body: &[u8]) -> Vec<u8> {
        stamped(kind, 0, body)
    }

    #[test]
    fn reports_coded_video_frames_and_skips_headers_and_script_tags() {
        let stream = [
            &HEADER[..],
            &stamped(18, 0, b"onMetaData..."),
            &stamped(9, 0, &[0x17, 0, 0, 0, 0, 1, 0x64]), // AVC sequence header
            &stamped(9, 130, &[0x17, 1, 0, 0, 0, 0xAA, 0xBB, 0xCC]), // keyframe
            &stamped(9, 0x0123_4567, &[0x27, 1, 0, 0, 0, 0xDD]), // delta, extended timestamp
        ]
        .concat();
        let mut seen = Vec::new();
        Run::default()
            .whole_tags(&stream, |tag| seen.push(tag))
            .unwrap();
        let frame = |timestamp_ms, bytes, keyframe| VideoTag {
            timestamp_ms,
            bytes,
            keyframe,
        };
        assert_eq!(seen, [frame(130, 8, true), frame(0x0123_4567, 6, false)]);
    }

    #[test]
    fn enhanced_hevc_and_av1_tags_are_frames_too() {
        let stream = [
            &HEADER[..],
            &stamped(9, 0, b"\x90hvc1\x01"), // sequence start (packet type 0)
            &stamped(9, 10, b"\x91hvc1\x00\x00\x00\xAA"), // key, CodedFrames
            &stamped(9, 27, b"\xA3hvc1\xBB"), // inter, CodedFramesX
            &stamped(9, 43, b"\x93av01\xCC"), // key AV1, CodedFramesX
            &stamped(9, 60, b"\xA2hvc1"),    // sequence end
        ]
        .concat();
        let mut seen = Vec::new();
        Run::default()
            .whole_tags(&stream, |tag| seen.push((tag.timestamp_ms, tag.keyframe)))
            .unwrap();
        assert_eq!(seen, [(10, true), (27, false), (43, true)]);
    }

    #[test]
    fn drops_the_header_and_passes_whole_tags_however_the_output_is_split() {
        let (a, b) = (tag(9, &[0x17, 0, 1, 2, 3]), tag(9, &[0x27, 1, 9]));
        let stream: Vec<u8> = [&HEADER[..], &a, &b].concat();
        for split in 0..stream.len() {
            let mut run = Run::default();
            let mut out = run.whole_tags(&stream[..split], |_| ()).unwrap();
            out.extend(run.whole_tags(&stream[split..], |_| ()).unwrap());
            assert_eq!(out, [a.clone(), b.clone()].concat(), "split at {split}");
        }
    }

    #[test]
    fn a_tag_cut_off_by_the_end_of_a_run_is_never_passed_on() {
        let a = tag(9, &[0x17, 0, 1, 2, 3]);
        let mut run = Run::default();
        let out = run
            .whole_tags(&[&HEADER[..], &a, &a[..7]].concat(), |_| ())
            .unwrap();
        assert_eq!(out, a, "the next run starts clean: only whole tags went in");
    }

    #[test]
    fn output_that_is_not_flv_is_an_error() {
        assert!(
            Run::default()
                .whole_tags(b"not an flv stream", |_| ())
                .is_err()
        );
    }
}
