//! A minimal MPEG-TS scanner for the publisher's own audio statistics: the PTS and size of each
//! PES packet on the elementary-stream PIDs. moq-mux does the real demuxing; this only looks at
//! packet and PES headers of the same bytes.

const PACKET: usize = 188;

/// One PES packet start seen in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pes {
    /// The 33-bit PTS (90 kHz), when present.
    pub pts: Option<u64>,
}

/// Walks TS packets across arbitrarily split input.
#[derive(Debug, Default)]
pub struct Scanner {
    pending: Vec<u8>,
}

impl Scanner {
    /// Feed the next chunk; `on_pes` is called for each PES start on a non-PSI PID, and the
    /// number of payload bytes on those PIDs is returned.
    pub fn feed(&mut self, data: &[u8], mut on_pes: impl FnMut(Pes)) -> usize {
        self.pending.extend_from_slice(data);
        let mut bytes = 0;
        let whole = self.pending.len() / PACKET * PACKET;
        for packet in self.pending[..whole].chunks_exact(PACKET) {
            if packet[0] != 0x47 {
                continue;
            }
            let pid = (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2]);
            // PAT, the PMT(s) ffmpeg puts at 0x1000 and SDT, null packets.
            if pid < 0x20 || pid == 0x1000 || pid == 0x1fff {
                continue;
            }
            let control = (packet[3] >> 4) & 3;
            if control & 1 == 0 {
                continue; // no payload
            }
            let start = if control & 2 != 0 {
                5 + usize::from(packet[4])
            } else {
                4
            };
            let Some(payload) = packet.get(start..) else {
                continue;
            };
            bytes += payload.len();
            if packet[1] & 0x40 != 0 && payload.len() >= 14 && payload[..3] == [0, 0, 1] {
                let pts = (payload[7] & 0x80 != 0).then(|| {
                    let b = &payload[9..14];
                    (u64::from(b[0] >> 1) & 7) << 30
                        | u64::from(b[1]) << 22
                        | u64::from(b[2] >> 1) << 15
                        | u64::from(b[3]) << 7
                        | u64::from(b[4] >> 1)
                });
                on_pes(Pes { pts });
            }
        }
        self.pending.drain(..whole);
        bytes
    }
}

/// Capture → read latency in ms of a PES stamped `pts` (90 kHz, 33 bits) after `base_us`, read at
/// `now_us`; the subtraction wraps like the field.
pub fn ingest_ms(now_us: u64, base_us: u64, pts: u64) -> f64 {
    const WRAP: u64 = 1 << 33;
    let elapsed = now_us.saturating_sub(base_us) * 9 / 100 % WRAP;
    let ticks = elapsed.wrapping_sub(pts) % WRAP;
    // Stamps slightly in the future (a positive --audio-offset) read as negative.
    let ticks = if ticks > WRAP / 2 {
        ticks as i64 - WRAP as i64
    } else {
        ticks as i64
    };
    ticks as f64 / 90.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pid: u16, pusi: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x47,
            (pid >> 8) as u8 | if pusi { 0x40 } else { 0 },
            pid as u8,
            0x10,
        ];
        p.extend_from_slice(payload);
        p.resize(PACKET, 0xff);
        p
    }

    fn pes_with_pts(pts: u64) -> Vec<u8> {
        vec![
            0,
            0,
            1,
            0xbd,
            0,
            0,
            0x80,
            0x80,
            5,
            0x21 | ((pts >> 29) & 0x0e) as u8,
            (pts >> 22) as u8,
            ((pts >> 14) & 0xfe) as u8 | 1,
            (pts >> 7) as u8,
            ((pts << 1) & 0xfe) as u8 | 1,
        ]
    }

    #[test]
    fn finds_pes_timestamps_across_split_reads_and_skips_tables() {
        let mut stream = packet(0, true, &[0; 20]);
        stream.extend(packet(0x1000, true, &[0; 20]));
        stream.extend(packet(0x100, true, &pes_with_pts(0x1_2345_6789)));
        stream.extend(packet(0x100, false, &[1, 2, 3]));
        stream.extend(packet(0x100, true, &pes_with_pts(900)));
        let mut scanner = Scanner::default();
        let mut seen = Vec::new();
        let mut bytes = 0;
        for chunk in stream.chunks(100) {
            bytes += scanner.feed(chunk, |pes| seen.push(pes.pts));
        }
        assert_eq!(seen, [Some(0x1_2345_6789), Some(900)]);
        assert_eq!(bytes, 3 * 184);
    }

    #[test]
    fn latency_is_read_time_minus_stamp_across_the_wrap() {
        assert_eq!(ingest_ms(1_000_000 + 13_000, 1_000_000, 900), 3.0);
        let base = 5;
        let now = base + (1u64 << 33) * 100 / 9 + 1000; // 1 ms past the wrap
        assert!((ingest_ms(now, base, (1 << 33) - 180) - 3.0).abs() < 0.05);
        assert_eq!(ingest_ms(1_000_000, 1_000_000, 450), -5.0);
    }
}
