//! A deterministic simulator of the whole audio path, driving the real player core
//! ([`Player`], the code the page and the audio worker run): packets cross a network, wait for
//! the writer thread (which may be starved: stalled for tens of ms, or slow in bursts), come out
//! of the decoder into [`Player::arrived`], and are written into the ring, which the audio
//! thread reads on time every render quantum ([`Reader`], concealing where it runs dry).
//! Measured as a listener hears it: concealment events and time, jumps (audible steps of the
//! audio clock), the latency and how far sound trails the picture.

use crate::audio::player::{Chunk, Moment, Player};
use crate::audio::ring::{Counters, Reader, Ring};
use crate::audio::schedule::{MARGIN_MS, START_CARRY_MS};
use crate::audio::worker_link::OutputStamp;
use crate::clock::{Clock, MOQ_EPOCH_UNIX_MILLIS};

const RATE: f64 = 48_000.0;
const PACKET_FRAMES: u32 = 480;
const PACKET_MS: f64 = 10.0;
const QUANTUM: u32 = 128;
const NETWORK_MS: f64 = 20.0;
const OUTPUT_LATENCY_MS: f64 = 10.0;
/// The latency of a calm path: the network, the output, the part of a quantum the next read
/// is away, and the playout's margin, ms.
const FLOOR_MS: f64 = NETWORK_MS + OUTPUT_LATENCY_MS + QUANTUM as f64 * 1000.0 / RATE + MARGIN_MS;
/// Time the writer spends on one chunk (decode output, copy, write), ms.
const WRITE_MS: f64 = 0.1;

/// What a listener got over one second of the run.
#[derive(Debug, Default, Clone, Copy)]
struct Heard {
    concealments: u32,
    concealed_frames: u32,
    jumps: u64,
    /// The planned latency at the second's end, ms.
    target_ms: f64,
}

/// A run's conditions.
struct Path<N, W> {
    seconds: u32,
    /// Extra network delay of the packet captured at a time (ms), on top of [`NETWORK_MS`].
    network: N,
    /// When the writer thread gets to a packet that reached it at a time (ms): at once, or
    /// later where it is stalled.
    writer: W,
    /// The video's latency the audio follows, if any.
    video_latency_ms: Option<f64>,
}

/// Runs the path and reports each second.
fn run(path: Path<impl Fn(f64) -> f64, impl Fn(f64) -> f64>) -> Vec<Heard> {
    let ring = Ring::new(48_000, 1);
    let mut storage = vec![0.0f32; ring.samples()];
    let mut reader = Reader::default();
    // The catalog clock: timestamp zero captured at the moq epoch, which is the run's 0 ms.
    let clock = Clock::new(0, 1_000_000).ok();
    let unix = |ms: f64| MOQ_EPOCH_UNIX_MILLIS + ms;
    let mut player = Player::new(ring, RATE, 0.0, clock);
    let mut context_frame = 0u32;
    let mut next_quantum_ms = 0.0;
    let mut out = Vec::new();
    let packet = vec![0.25f32; PACKET_FRAMES as usize];

    // When each packet comes out of the decoder, in the order the writer handles them.
    let packets = (f64::from(path.seconds) * 1000.0 / PACKET_MS) as u32;
    let mut reached: Vec<(f64, f64)> = (0..packets)
        .map(|n| {
            let capture = f64::from(n) * PACKET_MS;
            (capture + NETWORK_MS + (path.network)(capture), capture)
        })
        .collect();
    reached.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut writer_free_ms: f64 = 0.0;

    let mut seconds_heard = Vec::new();
    let mut previous = (0u32, 0u32, 0u64);
    let mut next_report_ms = 1000.0;
    let mut target_ms = 0.0;
    for (reached_ms, capture) in reached {
        let now = (path.writer)(reached_ms).max(writer_free_ms);
        writer_free_ms = now + WRITE_MS;
        // The audio thread plays every quantum that is due before this chunk is written.
        while next_quantum_ms <= now {
            let quantum = reader.quantum(&ring, player.write_position(), QUANTUM);
            context_frame = context_frame.wrapping_add(quantum.from_ring + quantum.silent);
            next_quantum_ms += f64::from(QUANTUM) * 1000.0 / RATE;
            if next_quantum_ms >= next_report_ms {
                let counts = (reader.concealments, reader.concealed, player.status.jumps);
                seconds_heard.push(Heard {
                    concealments: counts.0 - previous.0,
                    concealed_frames: counts.1 - previous.1,
                    jumps: counts.2 - previous.2,
                    target_ms,
                });
                previous = counts;
                next_report_ms += 1000.0;
            }
        }
        let timestamp_us = capture * 1000.0;
        player.submitted(timestamp_us);
        let counters = Counters {
            read: reader.read,
            underruns: reader.underruns,
            frame_offset: context_frame.wrapping_sub(reader.read),
            played: reader.played as u32,
            concealed_frames: reader.concealed,
            concealments: reader.concealments,
            seen: reader.started || context_frame > 0,
        };
        // Context frame F leaves the speakers at F / rate + the output latency.
        let context_seconds = f64::from(context_frame) / RATE;
        let moment = Moment {
            now_unix_ms: unix(now),
            running: true,
            counters,
            stamp: Some(OutputStamp {
                context_seconds,
                unix_ms: unix(context_seconds * 1000.0 + OUTPUT_LATENCY_MS),
            }),
            video_latency_p50: path.video_latency_ms,
        };
        let chunk = Chunk {
            timestamp_us,
            frames: PACKET_FRAMES,
            sample_rate: RATE,
        };
        let Some(plan) = player.arrived(chunk, &moment) else {
            continue;
        };
        target_ms = player.status.target_ms.unwrap_or(0.0);
        player.render(&plan, &packet, &mut out);
        let written = ring.write(&mut storage, player.write_position(), reader.read, &out);
        player.wrote(written);
    }
    seconds_heard
}

/// The totals over `seconds`.
fn total(seconds: &[Heard]) -> Heard {
    seconds.iter().fold(Heard::default(), |sum, s| Heard {
        concealments: sum.concealments + s.concealments,
        concealed_frames: sum.concealed_frames + s.concealed_frames,
        jumps: sum.jumps + s.jumps,
        target_ms: s.target_ms,
    })
}

fn ms(frames: u32) -> f64 {
    f64::from(frames) * 1000.0 / RATE
}

fn calm(_: f64) -> f64 {
    0.0
}

fn on_time(reached_ms: f64) -> f64 {
    reached_ms
}

/// 200 ms network stalls every 2 s: the packets a stall holds up arrive together at its end.
fn stalls(capture_ms: f64) -> f64 {
    let phase = capture_ms % 2_000.0;
    if phase < 200.0 { 200.0 - phase } else { 0.0 }
}

#[test]
fn a_steady_network_plays_without_a_gap_at_a_few_ms_over_the_network() {
    let heard = run(Path {
        seconds: 60,
        network: |capture| [0.0, 3.0, 1.0, 6.0][(capture / 10.0) as usize % 4],
        writer: on_time,
        video_latency_ms: None,
    });
    let after_start = &heard[2..];
    assert!(
        after_start
            .iter()
            .all(|s| s.concealments == 0 && s.jumps == 0),
        "{heard:?}"
    );
    let target = heard.last().unwrap().target_ms;
    assert!(target <= FLOOR_MS + 7.0 + 1.0, "{target}");
}

#[test]
fn bursts_are_learnt_within_one_and_let_go_within_a_minute_of_calm() {
    // Calm while the page starts, 200 ms stalls from 10 s to 70 s, then calm.
    let heard = run(Path {
        seconds: 160,
        network: |capture| {
            if (10_000.0..70_000.0).contains(&capture) {
                stalls(capture)
            } else {
                0.0
            }
        },
        writer: on_time,
        video_latency_ms: None,
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
    let concealed_ms = ms(heard[first].concealed_frames);
    assert!(
        concealed_ms <= 200.0,
        "{concealed_ms} ms concealed: more than the stall"
    );
    let adapted = total(&heard[first + 1..70]);
    assert_eq!(
        (adapted.concealments, adapted.jumps),
        (0, 0),
        "gaps or jumps after adapting: {:?}",
        &heard[first + 1..70]
    );
    let bursty_target = heard[69].target_ms;
    assert!(bursty_target >= NETWORK_MS + 180.0, "{bursty_target}");
    // Calm from 70 s: back down within a minute, by stretching — no gap, no jump.
    let calm = &heard[70..];
    let settled = calm
        .iter()
        .position(|s| s.target_ms <= FLOOR_MS + 2.0)
        .expect("the target never came back down");
    assert!(settled <= 60, "took {settled} s of calm");
    let calm = total(calm);
    assert_eq!((calm.concealments, calm.jumps), (0, 0), "{calm:?}");
}

/// Where a writer thread, starved as the audio worker is on a busy 2-core machine, gets to a
/// packet that reached it at `reached_ms`: stalled `stall_ms` at each of `at_ms` (the CI
/// failures: packets on time, yet two ~36 ms concealments in 20 s, jumps, the target pushed
/// up), and for the first `busy_ms` — a page starting up — every 700 ms for 150 ms.
fn starved_writer(reached_ms: f64, stall_ms: f64, at_ms: &[f64], busy_ms: f64) -> f64 {
    if reached_ms < busy_ms {
        let phase = reached_ms % 700.0;
        if phase < 150.0 {
            return reached_ms - phase + 150.0;
        }
    }
    match at_ms
        .iter()
        .find(|&&at| (at..at + stall_ms).contains(&reached_ms))
    {
        Some(at) => at + stall_ms,
        None => reached_ms,
    }
}

/// Stalls at irregular intervals of 6–17 s from 6 s on (deterministic).
fn irregular_stalls() -> Vec<f64> {
    let gaps = [
        9_300.0, 6_100.0, 14_700.0, 11_200.0, 16_900.0, 7_400.0, 12_800.0,
    ];
    let mut at = 6_000.0;
    gaps.iter()
        .cycle()
        .take(40)
        .map(|gap| {
            at += gap;
            at
        })
        .collect()
}

#[test]
fn a_starved_writer_is_concealed_once_then_covered_without_a_jump() {
    // The sound cannot be as early as the picture (17 ms), so it plays as early as it can:
    // the starved writer is all the buffer has to cover.
    let stalls = irregular_stalls();
    let heard = run(Path {
        seconds: 180,
        network: calm,
        writer: |reached| starved_writer(reached, 45.0, &stalls, 3_000.0),
        video_latency_ms: Some(17.0),
    });
    // The e2e test's window — 20 s from a second after the start has settled — holds what
    // its limits allow: at most one concealment, of at most 20 ms; the rest of the run at most
    // one a minute. No jump anywhere after the start.
    let window = total(&heard[6..26]);
    assert_eq!(window.jumps, 0, "{:?}", &heard[6..26]);
    assert!(
        window.concealments <= 1 && ms(window.concealed_frames) <= 20.0,
        "{window:?}: {:?}",
        &heard[6..26]
    );
    let rest = total(&heard[26..]);
    assert_eq!(rest.jumps, 0, "{:?}", &heard[26..]);
    let minutes = (heard.len() - 26) as f64 / 60.0;
    assert!(
        f64::from(rest.concealments) <= minutes.ceil(),
        "{rest:?} in {minutes:.1} min: {:?}",
        &heard[26..]
    );
    // The start's 150 ms stalls are not carried whole past it.
    assert!(
        heard[8].target_ms < FLOOR_MS + START_CARRY_MS + 1.0,
        "{:?}",
        &heard[..10]
    );
}

#[test]
fn a_stall_after_a_calm_minute_is_concealed_and_resumed_from_not_skipped() {
    // A minute of calm teaches the jitter buffer that packets come on time: the first late
    // packet of a stall does not move its plan, so the chunk that ends a concealment would be
    // skipped to catch up with a plan it has already fallen behind — a second audible step.
    let stalls = [60_000.0, 75_000.0];
    let heard = run(Path {
        seconds: 90,
        network: calm,
        writer: |reached| starved_writer(reached, 45.0, &stalls, 0.0),
        video_latency_ms: Some(17.0),
    });
    let stalled = total(&heard[6..]);
    assert_eq!(stalled.jumps, 0, "{:?}", &heard[58..]);
    assert_eq!(
        stalled.concealments,
        1,
        "the second stall finds the buffer the first left: {:?}",
        &heard[58..]
    );
}

#[test]
fn a_second_longer_stall_finds_headroom_left_by_the_first() {
    // CI's run 9 of the proof loop: two stalls of the writer in the window, the second
    // longer than what the first left in the ring — each concealed. Stalls on a starved
    // machine vary in length; the buffer a concealment leaves covers the stall and some more.
    let stalls = [12_000.0, 20_000.0];
    let heard = run(Path {
        seconds: 30,
        network: calm,
        writer: |reached| {
            let stall_ms = if reached < 16_000.0 { 45.0 } else { 57.0 };
            starved_writer(reached, stall_ms, &stalls, 3_000.0)
        },
        video_latency_ms: Some(17.0),
    });
    let window = total(&heard[6..26]);
    assert_eq!(window.jumps, 0, "{:?}", &heard[6..26]);
    assert!(
        window.concealments <= 1 && ms(window.concealed_frames) <= 20.0,
        "{window:?}: {:?}",
        &heard[6..26]
    );
}
