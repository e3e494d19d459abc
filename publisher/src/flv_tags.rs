//! A minimal FLV tag scanner, for the publisher's own statistics (frames, bytes, keyframes,
//! timestamps). moq-mux does the real demuxing; this only walks tag headers, so it can watch the
//! same bytes without copying them.

/// One video frame seen in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoTag {
    /// The tag's timestamp in milliseconds (31 bits, as FLV stores it).
    pub timestamp_ms: u32,
    /// The encoded frame's size in bytes (tag body).
    pub bytes: usize,
    pub keyframe: bool,
}

const FILE_HEADER_LEN: usize = 9 + 4; // header + PreviousTagSize0
const TAG_HEADER_LEN: usize = 11;
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

/// Walks FLV tag headers across arbitrarily split input.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Bytes still to skip before the next tag header (file header, rest of a tag body).
    skip: usize,
    /// A tag header (plus the first two body bytes) split across chunks.
    pending: Vec<u8>,
    started: bool,
}

impl Scanner {
    /// Feed the next chunk of the stream; `on_video` is called for every complete video frame
    /// header seen.
    pub fn feed(&mut self, mut data: &[u8], mut on_video: impl FnMut(VideoTag)) {
        if !self.started {
            self.started = true;
            self.skip = FILE_HEADER_LEN;
        }
        loop {
            let skipped = self.skip.min(data.len());
            self.skip -= skipped;
            data = &data[skipped..];
            if data.is_empty() {
                return;
            }
            // Header + two body bytes (video flags, AVC packet type) tell us everything we need.
            let need = TAG_HEADER_LEN + 2 - self.pending.len();
            let take = need.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < TAG_HEADER_LEN + 2 {
                return;
            }
            let head = &self.pending;
            let body_len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
            let timestamp_ms = u32::from_be_bytes([head[7] & 0x7f, head[4], head[5], head[6]]);
            let flags = head[TAG_HEADER_LEN];
            let (coded, keyframe) = match flags & ENHANCED {
                0 => (head[TAG_HEADER_LEN + 1] == AVC_NALU, flags >> 4 == 1),
                // A coded enhanced frame holds at least the flags and its FourCC.
                _ => (
                    body_len > 5 && matches!(flags & 0x0f, CODED_FRAMES | CODED_FRAMES_X),
                    (flags >> 4) & 0x07 == 1,
                ),
            };
            if head[0] == TAG_VIDEO && coded {
                on_video(VideoTag {
                    timestamp_ms,
                    bytes: body_len,
                    keyframe,
                });
            }
            // The rest of the body (we took two bytes of it) and the trailing PreviousTagSize.
            self.skip = (body_len + 4).saturating_sub(2);
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn tag(kind: u8, timestamp: u32, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&timestamp.to_be_bytes()[1..]);
        out.push((timestamp >> 24) as u8);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(body);
        out.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
        out
    }

    fn stream() -> Vec<u8> {
        let mut out = b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        out.extend(tag(18, 0, b"onMetaData...")); // script tag
        out.extend(tag(9, 0, &[0x17, 0, 0, 0, 0, 1, 0x64])); // AVC sequence header
        out.extend(tag(9, 130, &[0x17, 1, 0, 0, 0, 0xAA, 0xBB, 0xCC])); // keyframe
        out.extend(tag(9, 0x0123_4567, &[0x27, 1, 0, 0, 0, 0xDD])); // delta, extended timestamp
        out
    }

    fn scan_in_chunks(data: &[u8], chunk: usize) -> Vec<VideoTag> {
        let mut scanner = Scanner::default();
        let mut seen = Vec::new();
        for piece in data.chunks(chunk) {
            scanner.feed(piece, |tag| seen.push(tag));
        }
        seen
    }

    #[test]
    fn finds_coded_video_frames_and_skips_headers_and_script_tags() {
        let seen = scan_in_chunks(&stream(), 4096);
        assert_eq!(
            seen,
            [
                VideoTag {
                    timestamp_ms: 130,
                    bytes: 8,
                    keyframe: true
                },
                VideoTag {
                    timestamp_ms: 0x0123_4567,
                    bytes: 6,
                    keyframe: false
                },
            ]
        );
    }

    #[test]
    fn enhanced_hevc_and_av1_tags_are_frames_too() {
        let mut data = b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        data.extend(tag(9, 0, b"\x90hvc1\x01")); // sequence start (packet type 0)
        data.extend(tag(9, 10, b"\x91hvc1\x00\x00\x00\xAA")); // key, CodedFrames
        data.extend(tag(9, 27, b"\xA3hvc1\xBB")); // inter, CodedFramesX
        data.extend(tag(9, 43, b"\x93av01\xCC")); // key AV1, CodedFramesX
        data.extend(tag(9, 60, b"\xA2hvc1")); // sequence end
        let seen: Vec<(u32, bool)> = scan_in_chunks(&data, 3)
            .iter()
            .map(|tag| (tag.timestamp_ms, tag.keyframe))
            .collect();
        assert_eq!(seen, [(10, true), (27, false), (43, true)]);
    }

    #[test]
    fn any_split_of_the_input_gives_the_same_frames() {
        let data = stream();
        let whole = scan_in_chunks(&data, data.len());
        for chunk in 1..data.len() {
            assert_eq!(scan_in_chunks(&data, chunk), whole, "chunk size {chunk}");
        }
    }
}
