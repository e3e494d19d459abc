//! Fuzzes the audio payload scanners (Opus-in-TS control headers, ADTS, AC-3 sync frames):
//! arbitrary and mutated PES payloads never panic, every unit found lies inside the payload,
//! in order and without overlap, and valid payloads give exactly the units written.
//! `FUZZ_ITERATIONS=1000000 cargo test -p publisher fuzz_` runs longer.

use super::tests::{adts_frame, opus_unit};
use super::*;
use fuzz_input::{Rng, iterations};

/// Each unit's (offset, length) in `data`, checking they lie inside it, in order.
fn offsets(data: &[u8], units: &Units<'_>) -> Vec<(usize, usize)> {
    let start = data.as_ptr() as usize;
    let mut end = 0;
    units
        .iter()
        .map(|(unit, _)| {
            let offset = (unit.as_ptr() as usize).wrapping_sub(start);
            assert!(offset >= end && offset + unit.len() <= data.len());
            end = offset + unit.len();
            (offset, unit.len())
        })
        .collect()
}

/// A 48 kHz stereo AC-3 sync frame of 128 bytes (32 kb/s).
fn ac3_frame() -> Vec<u8> {
    let mut frame = vec![0x0b, 0x77, 0, 0, 0x00, 8 << 3, 2 << 5];
    frame.resize(128, 0);
    frame
}

#[test]
fn fuzz_audio_valid_payloads() {
    let mut rng = Rng::new(0xa0_0001);
    for _ in 0..iterations(5_000) {
        let lens: Vec<usize> = (0..1 + rng.below(5)).map(|_| 1 + rng.below(700)).collect();
        let opus: Vec<u8> = lens.iter().flat_map(|len| opus_unit(*len)).collect();
        let packets = opus_packets(&opus).expect("valid Opus");
        let found: Vec<_> = offsets(&opus, &packets).iter().map(|u| u.1).collect();
        assert_eq!(found, lens);
        assert!(packets.iter().all(|(_, samples)| *samples == 480));

        let adts: Vec<u8> = lens.iter().flat_map(|len| adts_frame(*len)).collect();
        let (frames, _) = adts_frames(&adts).expect("valid ADTS");
        let found: Vec<_> = offsets(&adts, &frames).iter().map(|u| u.1).collect();
        assert_eq!(found, lens);
    }
}

#[test]
fn fuzz_audio_arbitrary_payloads() {
    let mut rng = Rng::new(0xa0_0002);
    for _ in 0..iterations(50_000) {
        let data = match rng.below(4) {
            0 => rng.bytes(300),
            1 => {
                let unit = opus_unit(1 + rng.below(600));
                rng.mutate(unit)
            }
            2 => {
                let frame = adts_frame(rng.below(300));
                rng.mutate(frame)
            }
            _ => rng.mutate([ac3_frame(), ac3_frame()].concat()),
        };
        if let Ok(packets) = opus_packets(&data) {
            offsets(&data, &packets);
            for (packet, samples) in &packets {
                assert_eq!(opus_samples(packet).ok(), Some(*samples));
            }
        }
        if let Ok((frames, _)) = adts_frames(&data) {
            offsets(&data, &frames);
        }
        if let Ok((frames, _)) = ac3_frames(&data) {
            offsets(&data, &frames);
        }
    }
}
