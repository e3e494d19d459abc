//! A deterministic simulator of the whole audio path — packets arriving through a bursty
//! network, the page planning each one ([`Playout`], [`Corrector`]) into the ring, and the
//! audio thread reading it every render quantum ([`Reader`], concealing where it runs dry) —
//! to show the jitter buffer adapting to bursts and letting go of them, measured as a listener
//! hears it: concealment events, skips, and the latency.

use crate::audio::drift::{Corrector, resample};
use crate::audio::ring::{Reader, Ring};
use crate::audio::schedule::{OutputClock, Playout};

const RATE: f64 = 48_000.0;
const PACKET_FRAMES: u32 = 480;
const PACKET_MS: f64 = 10.0;
const QUANTUM: u32 = 128;
const NETWORK_MS: f64 = 20.0;
const OUTPUT_LATENCY_MS: f64 = 10.0;

/// What a listener got over one stretch of the run.
#[derive(Debug, Default, Clone, Copy)]
struct Heard {
    concealments: u32,
    concealed_frames: u32,
    skips: u64,
    /// The planned latency at the end, ms.
    target_ms: f64,
}

/// Runs the path for `seconds`, packets delayed by `delay(capture_ms)` on top of the network,
/// and reports each second.
fn run(seconds: u32, delay: impl Fn(f64) -> f64) -> Vec<Heard> {
    let ring = Ring::new(48_000, 1);
    let mut storage = vec![0.0f32; ring.samples()];
    let mut reader = Reader::default();
    let mut playout = Playout::default();
    let mut corrector = Corrector::default();
    let mut write = 0u32;
    let mut context_frame = 0u32;
    let mut next_quantum_ms = 0.0;
    let mut output = Vec::new();
    let packet = vec![0.25f32; PACKET_FRAMES as usize];

    // Arrivals in the order they happen.
    let packets = (f64::from(seconds) * 1000.0 / PACKET_MS) as u32;
    let mut arrivals: Vec<(f64, f64)> = (0..packets)
        .map(|n| {
            let capture = f64::from(n) * PACKET_MS;
            (capture + NETWORK_MS + delay(capture), capture)
        })
        .collect();
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut seconds_heard = Vec::new();
    let mut previous = (0u32, 0u32, 0u64);
    let mut next_report_ms = 1000.0;
    let mut target_ms = 0.0;
    for (now, capture) in arrivals {
        // The audio thread plays every quantum that is due before this packet is read.
        while next_quantum_ms <= now {
            let quantum = reader.quantum(&ring, write, QUANTUM);
            context_frame = context_frame.wrapping_add(quantum.from_ring + quantum.silent);
            next_quantum_ms += f64::from(QUANTUM) * 1000.0 / RATE;
            if next_quantum_ms >= next_report_ms {
                let counts = (reader.concealments, reader.concealed, corrector.jumps);
                seconds_heard.push(Heard {
                    concealments: counts.0 - previous.0,
                    concealed_frames: counts.1 - previous.1,
                    skips: counts.2 - previous.2,
                    target_ms,
                });
                previous = counts;
                next_report_ms += 1000.0;
            }
        }
        playout.arrived(capture, now);
        target_ms = playout.target_ms(None, OUTPUT_LATENCY_MS, now);
        // The next frame read is heard after the frames buffered ahead of it and the output.
        let clock = OutputClock {
            sample_rate: RATE,
            frame_offset: context_frame.wrapping_sub(reader.read),
            context_frames: (next_quantum_ms - OUTPUT_LATENCY_MS) * RATE / 1000.0,
            unix_ms: next_quantum_ms,
        };
        let lateness = clock.heard_unix_ms(write) - (capture + target_ms);
        let plan = corrector.plan(lateness, PACKET_FRAMES, RATE);
        resample(
            &packet[plan.skip as usize..],
            1,
            plan.frames as usize,
            &mut output,
        );
        let silence = vec![0.0; plan.silence as usize];
        for data in [&silence, &output] {
            let written = ring.write(&mut storage, write, reader.read, data);
            write = write.wrapping_add(written.frames);
        }
    }
    seconds_heard
}

/// 200 ms stalls every 2 s: the packets a stall holds up arrive together at its end.
fn stalls(capture_ms: f64) -> f64 {
    let phase = capture_ms % 2_000.0;
    if phase < 200.0 { 200.0 - phase } else { 0.0 }
}

#[test]
fn a_steady_network_plays_without_a_gap_at_a_few_ms_over_the_network() {
    let heard = run(60, |capture| {
        [0.0, 3.0, 1.0, 6.0][(capture / 10.0) as usize % 4]
    });
    let after_start = &heard[2..];
    assert!(
        after_start
            .iter()
            .all(|s| s.concealments == 0 && s.skips == 0),
        "{heard:?}"
    );
    let target = heard.last().unwrap().target_ms;
    assert!(
        target <= NETWORK_MS + 7.0 + OUTPUT_LATENCY_MS + 4.0 + 1.0,
        "{target}"
    );
}

#[test]
fn bursts_are_learnt_within_one_and_let_go_within_a_minute_of_calm() {
    // Calm while the page starts, 200 ms stalls from 10 s to 70 s, then calm.
    let heard = run(160, |capture| {
        if (10_000.0..70_000.0).contains(&capture) {
            stalls(capture)
        } else {
            0.0
        }
    });
    // The first stall heard while playing is concealed; after it, no stall is heard.
    let first = heard
        .iter()
        .position(|s| s.concealments > 0)
        .expect("no stall was noticed");
    assert!(
        (10..=11).contains(&first),
        "the first stall heard was at {first} s: {:?}",
        &heard[..12]
    );
    let concealed_ms = f64::from(heard[first].concealed_frames) * 1000.0 / RATE;
    assert!(
        concealed_ms <= 200.0,
        "{concealed_ms} ms concealed: more than the stall"
    );
    let adapted = &heard[first + 1..70];
    let gaps: u32 = adapted.iter().map(|s| s.concealments).sum();
    let skips: u64 = adapted.iter().map(|s| s.skips).sum();
    assert_eq!(
        (gaps, skips),
        (0, 0),
        "gaps or skips after adapting: {adapted:?}"
    );
    let bursty_target = heard[69].target_ms;
    assert!(bursty_target >= NETWORK_MS + 180.0, "{bursty_target}");
    // Calm from 70 s: back down within a minute, by stretching — no gap, no skip.
    let calm = &heard[70..];
    let settled = calm
        .iter()
        .position(|s| s.target_ms <= NETWORK_MS + OUTPUT_LATENCY_MS + 4.0 + 2.0)
        .expect("the target never came back down");
    assert!(settled <= 60, "took {settled} s of calm");
    assert!(
        calm.iter().all(|s| s.concealments == 0 && s.skips == 0),
        "{calm:?}"
    );
}
