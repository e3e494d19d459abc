//! Fuzzes the MPEG-TS demuxer: arbitrary and mutated streams, split at arbitrary points, never
//! panic; the demuxer never holds more than a partial packet and one PES of at most
//! [`MAX_PES_BYTES`] per elementary stream; and any split of a stream gives what reading it
//! whole gives, for valid streams exactly the PES packets written.
//! `FUZZ_ITERATIONS=1000000 cargo test -p publisher fuzz_` runs longer.

use super::tests::{packet, pes, tables};
use super::*;
use fuzz_input::{Rng, iterations};

/// What reading `pieces` in order reports, up to and including the first error; the demuxer's
/// buffers are checked after every piece.
fn demux<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<String> {
    let mut demuxer = Demuxer::default();
    let mut seen = Vec::new();
    for piece in pieces {
        let result = demuxer.feed(piece, |event| {
            seen.push(match event {
                Event::Streams(streams) => format!("{streams:?}"),
                Event::Pes(pes) => format!("{} {:?} {:?}", pes.pid, pes.pts, pes.payload),
            });
            Ok(())
        });
        assert!(demuxer.partial.len() < PACKET);
        assert!(demuxer.pes.len() <= demuxer.streams.len());
        assert!(demuxer.pes.values().all(|pes| pes.len() <= MAX_PES_BYTES));
        if let Err(err) = result {
            seen.push(format!("error: {err:#}"));
            break;
        }
    }
    seen
}

/// A stream of PAT/PMT, PES packets on two PIDs and stray packets; also the PES packets
/// (PID, PTS, payload) a demuxer should report.
fn stream(rng: &mut Rng) -> (Vec<u8>, Vec<String>) {
    let mut stream = tables(0x100, 0x06, &[0x05, 4, b'O', b'p', b'u', b's']);
    let mut expected = vec![format!(
        "{:?}",
        [Stream {
            pid: 0x100,
            stream_type: 6,
            descriptors: vec![(5, b"Opus".to_vec())],
        }]
    )];
    for _ in 0..rng.below(6) {
        match rng.below(4) {
            0 => stream.extend(packet(0x101, rng.below(2) == 0, &rng.bytes(184))),
            1 => stream.extend(tables(0x100, 0x06, &[])),
            _ => {
                let pts = rng.next_u64() & ((1 << 33) - 1);
                let max = if rng.below(8) == 0 { 60_000 } else { 600 };
                let data = rng.bytes(max);
                stream.extend(pes(0x100, pts, &data));
                expected.push(format!("256 Some({pts}) {data:?}"));
            }
        }
    }
    (stream, expected)
}

/// A packet on one of the stream's PIDs with anything in it: random header bits, or a random
/// payload that may start a PES of any declared length (0: unbounded).
fn wild_packet(rng: &mut Rng) -> Vec<u8> {
    let pid = [0, 0x1000, 0x100, 0x101][rng.below(4)];
    if rng.below(4) == 0 {
        let mut packet = rng.bytes(PACKET);
        packet.resize(PACKET, 0xff);
        packet[0] = 0x47;
        packet[1] = (packet[1] & 0xe0) | (pid >> 8) as u8;
        packet[2] = pid as u8;
        return packet;
    }
    let start = rng.below(2) == 0;
    let mut payload = rng.bytes(PACKET - 4);
    if start && payload.len() >= 6 && rng.below(2) == 0 {
        let len = if rng.below(2) == 0 { 0 } else { rng.below(400) };
        payload[..6].copy_from_slice(&[0, 0, 1, 0xc0, (len >> 8) as u8, len as u8]);
    }
    packet(pid, start, &payload)
}

#[test]
fn fuzz_ts_valid_streams_in_any_split() {
    let mut rng = Rng::new(0x75_0001);
    for _ in 0..iterations(300) {
        let (stream, expected) = stream(&mut rng);
        let max = [1, 7, 188, 1000, 70_000][rng.below(5)];
        assert_eq!(demux(rng.split(&stream, max)), expected);
    }
}

#[test]
fn fuzz_ts_arbitrary_streams() {
    let mut rng = Rng::new(0x75_0002);
    for _ in 0..iterations(3_000) {
        let data = match rng.below(4) {
            0 => rng.bytes(2000),
            1 => {
                let (data, _) = stream(&mut rng);
                rng.mutate(data)
            }
            _ => {
                // A valid start, then packets that are TS but anything inside: unbounded PES
                // packets, bad lengths, PMTs of garbage.
                let mut data = stream(&mut rng).0;
                // Now and then an unbounded PES that runs past the largest bounded one.
                if rng.below(16) == 0 {
                    data.extend(packet(0x100, true, &[0, 0, 1, 0xc0, 0, 0]));
                    for _ in 0..400 {
                        data.extend(packet(0x100, false, &[rng.next_u64() as u8; 184]));
                    }
                }
                for _ in 0..rng.below(60) {
                    data.extend(wild_packet(&mut rng));
                }
                data
            }
        };
        let whole = demux([data.as_slice()]);
        assert_eq!(demux(rng.split(&data, 400)), whole);
    }
}

#[test]
fn an_unbounded_pes_that_never_ends_is_dropped_not_buffered() {
    let mut data = tables(0x100, 0x0f, &[]);
    data.extend(packet(0x100, true, &[0, 0, 1, 0xc0, 0, 0, 0x80, 0, 0]));
    for _ in 0..2 * MAX_PES_BYTES / 184 {
        data.extend(packet(0x100, false, &[0x55; 184]));
    }
    // The checks in `demux` hold throughout; nothing is reported but the streams.
    assert_eq!(demux(data.chunks(PACKET)).len(), 1);
}
