//! A small MPEG-TS demuxer for the audio ffmpeg's output: the program's elementary streams, from
//! its first PMT, and their PES packets, each reassembled whole with its PTS.
//!
//! It reads what ffmpeg's muxer writes to a pipe: whole 188-byte packets from the first byte, a
//! PAT and a PMT that each fit one packet, no corruption (so no CRC or continuity checks). A PES
//! is handed out the moment its last byte is read, by its `PES_packet_length` (ffmpeg sets it on
//! audio), so no packet waits for the next one; an unbounded PES (length 0) ends where the next
//! one on its PID starts.
//!
//! Garbage never makes it hold more than a partial packet and, per elementary stream, one PES
//! of at most [`MAX_PES_BYTES`].
//!
//! It is the audio import's demuxer, not a second parser beside moq-mux's: moq-mux's TS import
//! would publish every audio packet as a group of its own (see [`crate::audio_import`]). The
//! audio meter's ingest latency comes from the stamps it gives anyway.

use std::collections::HashMap;

use anyhow::Context;

const PACKET: usize = 188;
const PAT_PID: u16 = 0;
const PAT_TABLE: u8 = 0;
const PMT_TABLE: u8 = 2;
/// The largest PES a header can declare (its 6 bytes and a 16-bit length); an unbounded one
/// that grows past it is dropped rather than buffered without end.
pub const MAX_PES_BYTES: usize = 6 + 0xffff;

/// An elementary stream the PMT lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    pub pid: u16,
    pub stream_type: u8,
    /// Its ES-level descriptors, as (tag, data).
    pub descriptors: Vec<(u8, Vec<u8>)>,
}

/// One whole PES packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pes<'a> {
    pub pid: u16,
    /// The 33-bit PTS (90 kHz), when present.
    pub pts: Option<u64>,
    /// The elementary-stream bytes after the PES header.
    pub payload: &'a [u8],
}

/// What the demuxer found.
#[derive(Debug)]
pub enum Event<'a> {
    /// The program's elementary streams, from its first PMT (ffmpeg repeats it unchanged).
    Streams(&'a [Stream]),
    Pes(Pes<'a>),
}

/// Walks TS packets across arbitrarily split input.
#[derive(Debug, Default)]
pub struct Demuxer {
    /// A trailing partial packet.
    partial: Vec<u8>,
    pmt_pid: Option<u16>,
    /// Empty until the PMT has been read.
    streams: Vec<Stream>,
    /// The PES in progress on each elementary PID, from its start code.
    pes: HashMap<u16, Vec<u8>>,
}

impl Demuxer {
    /// Demux the next chunk, calling `on_event` for what it completes; an error from `on_event`
    /// stops the demuxing and is returned.
    pub fn feed(
        &mut self,
        data: &[u8],
        mut on_event: impl FnMut(Event<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.partial.extend_from_slice(data);
        let whole = self.partial.len() / PACKET * PACKET;
        let packets = std::mem::take(&mut self.partial);
        let result = packets[..whole]
            .chunks_exact(PACKET)
            .try_for_each(|packet| self.packet(packet, &mut on_event));
        self.partial = packets;
        self.partial.drain(..whole);
        result
    }

    fn packet(
        &mut self,
        packet: &[u8],
        on_event: &mut impl FnMut(Event<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(packet[0] == 0x47, "lost the MPEG-TS packet sync");
        let start = packet[1] & 0x40 != 0;
        let pid = (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2]);
        let control = (packet[3] >> 4) & 3;
        if control & 1 == 0 {
            return Ok(()); // no payload
        }
        let offset = if control & 2 != 0 {
            5 + usize::from(packet[4])
        } else {
            4
        };
        let Some(payload) = packet.get(offset..) else {
            return Ok(());
        };
        if pid == PAT_PID && start && self.pmt_pid.is_none() {
            self.pmt_pid = pat(payload);
        } else if Some(pid) == self.pmt_pid && start && self.streams.is_empty() {
            self.streams = pmt(payload).context("reading the PMT")?;
            if !self.streams.is_empty() {
                on_event(Event::Streams(&self.streams))?;
            }
        } else if self.streams.iter().any(|s| s.pid == pid) {
            if start {
                // An unbounded PES ends here; a bounded one that hasn't is cut short: dropped.
                if let Some(previous) = self.pes.insert(pid, payload.to_vec())
                    && declared_len(&previous) == Some(0)
                {
                    emit(pid, &previous, on_event)?;
                }
            } else if let Some(pes) = self.pes.get_mut(&pid) {
                pes.extend_from_slice(payload);
            }
            if let Some(pes) = self.pes.get(&pid) {
                if declared_len(pes).is_some_and(|len| len > 0 && pes.len() >= len) {
                    let pes = self.pes.remove(&pid).unwrap_or_default();
                    emit(pid, &pes, on_event)?;
                } else if pes.len() > MAX_PES_BYTES {
                    tracing::warn!(pid, bytes = pes.len(), "dropped an oversized PES packet");
                    self.pes.remove(&pid);
                }
            }
        }
        Ok(())
    }
}

/// The whole PES's length (header included) as its header declares it: 0 when unbounded, `None`
/// while the header is incomplete.
fn declared_len(pes: &[u8]) -> Option<usize> {
    let len = usize::from(u16::from_be_bytes([*pes.get(4)?, *pes.get(5)?]));
    Some(if len == 0 { 0 } else { 6 + len })
}

/// Hand out one reassembled PES; anything that isn't one is dropped with a warning.
fn emit(
    pid: u16,
    pes: &[u8],
    on_event: &mut impl FnMut(Event<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match parse_pes(pid, pes) {
        Some(pes) => on_event(Event::Pes(pes)),
        None => {
            tracing::warn!(pid, bytes = pes.len(), "dropped a malformed PES packet");
            Ok(())
        }
    }
}

fn parse_pes(pid: u16, pes: &[u8]) -> Option<Pes<'_>> {
    if pes.get(..3)? != [0, 0, 1] {
        return None;
    }
    let end = match declared_len(pes)? {
        0 => pes.len(),
        len => len,
    };
    // The optional header ('10' marker bits): every stream ffmpeg writes audio on has it.
    if pes.get(6)? & 0xc0 != 0x80 {
        return Some(Pes {
            pid,
            pts: None,
            payload: pes.get(6..end)?,
        });
    }
    let header_end = 9 + usize::from(*pes.get(8)?);
    let pts = (pes[7] & 0x80 != 0)
        .then(|| pes.get(9..14))
        .flatten()
        .map(|b| {
            (u64::from(b[0] >> 1) & 7) << 30
                | u64::from(b[1]) << 22
                | u64::from(b[2] >> 1) << 15
                | u64::from(b[3]) << 7
                | u64::from(b[4] >> 1)
        });
    Some(Pes {
        pid,
        pts,
        payload: pes.get(header_end..end)?,
    })
}

/// The body of the PSI section starting in `payload` (after its pointer field), when it is a
/// whole `table` section, without the 5 bytes after the length and the CRC.
fn section(payload: &[u8], table: u8) -> Option<&[u8]> {
    let section = payload.get(1 + usize::from(*payload.first()?)..)?;
    if *section.first()? != table {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*section.get(1)?, *section.get(2)?]) & 0x0fff);
    section.get(8..(3 + len).checked_sub(4)?)
}

/// The PMT PID of the PAT's first program.
fn pat(payload: &[u8]) -> Option<u16> {
    section(payload, PAT_TABLE)?
        .chunks_exact(4)
        .find(|entry| entry[..2] != [0, 0]) // program 0 names the network PID
        .map(|entry| u16::from_be_bytes([entry[2], entry[3]]) & 0x1fff)
}

/// The elementary streams a PMT lists; none for a packet that doesn't start a whole PMT.
fn pmt(payload: &[u8]) -> anyhow::Result<Vec<Stream>> {
    let Some(body) = section(payload, PMT_TABLE) else {
        return Ok(Vec::new());
    };
    let info = body.get(2..4).context("truncated PMT")?;
    let info_len = usize::from(u16::from_be_bytes([info[0], info[1]]) & 0x0fff);
    let mut entries = body.get(4 + info_len..).context("program info overruns")?;
    let mut streams = Vec::new();
    while !entries.is_empty() {
        let header = entries.get(..5).context("truncated stream entry")?;
        let es_len = usize::from(u16::from_be_bytes([header[3], header[4]]) & 0x0fff);
        let mut info = entries.get(5..5 + es_len).context("ES info overruns")?;
        let mut descriptors = Vec::new();
        while let [tag, len, rest @ ..] = info {
            let data = rest
                .get(..usize::from(*len))
                .context("descriptor overruns")?;
            descriptors.push((*tag, data.to_vec()));
            info = &rest[data.len()..];
        }
        streams.push(Stream {
            pid: u16::from_be_bytes([header[1], header[2]]) & 0x1fff,
            stream_type: header[0],
            descriptors,
        });
        entries = &entries[5 + es_len..];
    }
    Ok(streams)
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A TS packet on `pid` carrying `payload` (stuffed after it, as ffmpeg pads a PES's last
    /// packet with an adaptation field; here with trailing 0xff, which a PSI reader ignores too).
    pub fn packet(pid: u16, start: bool, payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() <= PACKET - 4);
        let stuffing = PACKET - 4 - payload.len();
        let mut p = vec![
            0x47,
            (pid >> 8) as u8 | if start { 0x40 } else { 0 },
            pid as u8,
            if stuffing > 0 { 0x30 } else { 0x10 },
        ];
        if stuffing > 0 {
            p.push((stuffing - 1) as u8);
            if stuffing > 1 {
                p.push(0);
                p.resize(4 + stuffing, 0xff);
            }
        }
        p.extend_from_slice(payload);
        p
    }

    /// A PSI section (pointer field included) with a dummy CRC.
    fn psi(table: u8, id: u16, body: &[u8]) -> Vec<u8> {
        let len = 5 + body.len() + 4;
        let mut s = vec![0, table, 0xb0 | (len >> 8) as u8, len as u8];
        s.extend_from_slice(&id.to_be_bytes());
        s.extend_from_slice(&[0xc1, 0, 0]);
        s.extend_from_slice(body);
        s.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        s
    }

    /// PAT and PMT packets naming one elementary stream on `pid`, as ffmpeg writes them.
    pub fn tables(pid: u16, stream_type: u8, descriptors: &[u8]) -> Vec<u8> {
        let mut out = packet(0, true, &psi(0, 1, &[0, 1, 0xf0, 0x00]));
        let mut pmt = vec![0xe1, 0x00, 0xf0, 0x00, stream_type];
        pmt.extend_from_slice(&(0xe000 | pid).to_be_bytes());
        pmt.extend_from_slice(&(0xf000 | descriptors.len() as u16).to_be_bytes());
        pmt.extend_from_slice(descriptors);
        out.extend(packet(0x1000, true, &psi(2, 1, &pmt)));
        out
    }

    /// A PES (stream id 0xbd) of `data` stamped `pts`, with its length set, split into packets.
    pub fn pes(pid: u16, pts: u64, data: &[u8]) -> Vec<u8> {
        let mut pes = vec![0, 0, 1, 0xbd];
        pes.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        pes.extend_from_slice(&[
            0x80,
            0x80,
            5,
            0x21 | ((pts >> 29) & 0x0e) as u8,
            (pts >> 22) as u8,
            ((pts >> 14) & 0xfe) as u8 | 1,
            (pts >> 7) as u8,
            ((pts << 1) & 0xfe) as u8 | 1,
        ]);
        pes.extend_from_slice(data);
        pes.chunks(PACKET - 4)
            .enumerate()
            .flat_map(|(i, chunk)| packet(pid, i == 0, chunk))
            .collect()
    }

    fn demux(stream: &[u8], chunk: usize) -> Vec<String> {
        let mut demuxer = Demuxer::default();
        let mut seen = Vec::new();
        for data in stream.chunks(chunk) {
            demuxer
                .feed(data, |event| {
                    seen.push(match event {
                        Event::Streams(streams) => format!("{streams:?}"),
                        Event::Pes(pes) => {
                            format!("{} {:?} {} bytes", pes.pid, pes.pts, pes.payload.len())
                        }
                    });
                    Ok(())
                })
                .unwrap();
        }
        seen
    }

    #[test]
    fn a_pmt_too_short_for_its_program_info_is_an_error_not_a_panic() {
        // Pointer 0, table 2, section length 10: one byte between the 5 skipped after the length
        // and the CRC, where the program info length needs four.
        let payload = [0, PMT_TABLE, 0xb0, 10, 0, 1, 0xc1, 0, 0, 0xe1, 0, 0, 0, 0];
        assert!(pmt(&payload).is_err());
    }

    #[test]
    fn reads_the_pmt_and_whole_pes_packets_across_split_reads() {
        let mut stream = tables(0x100, 0x06, &[0x05, 4, b'O', b'p', b'u', b's']);
        stream.extend(pes(0x100, 0x1_2345_6789, &[7; 300]));
        stream.extend(tables(0x100, 0x06, &[])); // repeated: not reported again
        stream.extend(pes(0x100, 900, &[7; 10]));
        stream.extend(packet(0x101, true, &[0, 0, 1, 0xc0, 0, 0])); // not in the PMT
        for chunk in [1, 100, 188, 4096] {
            assert_eq!(
                demux(&stream, chunk),
                [
                    "[Stream { pid: 256, stream_type: 6, descriptors: [(5, [79, 112, 117, 115])] }]",
                    "256 Some(4886718345) 300 bytes",
                    "256 Some(900) 10 bytes",
                ],
                "read {chunk} bytes at a time"
            );
        }
    }

    #[test]
    fn a_pes_is_out_as_soon_as_its_declared_length_is_in() {
        let mut stream = tables(0x100, 0x0f, &[]);
        stream.extend(pes(0x100, 0, &[1; 200]));
        assert_eq!(demux(&stream, 188)[1..], ["256 Some(0) 200 bytes"]);
    }

    #[test]
    fn an_unbounded_pes_ends_at_the_next_start() {
        let mut stream = tables(0x100, 0x0f, &[]);
        let unbounded = [0, 0, 1, 0xc0, 0, 0, 0x80, 0, 0, 42, 42];
        stream.extend(packet(0x100, true, &unbounded));
        stream.extend(pes(0x100, 5, &[1; 3]));
        let seen = demux(&stream, 188);
        assert_eq!(seen[1..], ["256 None 2 bytes", "256 Some(5) 3 bytes"]);
    }
}
