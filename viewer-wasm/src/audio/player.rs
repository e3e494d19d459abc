//! The audio player core: where each decoded chunk is heard. Sans-IO — the host (the page's
//! thread or the audio worker, `web/audio_track.rs`) hands it each decoded chunk with what it
//! knows at that moment ([`Moment`]: the time, the worklet's counters, the output clock, the
//! video's latency) and writes what comes back ([`Plan`]) into the ring; the simulator
//! (`sim.rs`) drives this same code against a simulated network, writer and audio thread.
//!
//! Per chunk: pair it with its packet ([`Pairing`]), place it in the sender's wall-clock time
//! ([`Clock`]), learn its arrival ([`Playout`]), decide the latency it is heard at, and plan
//! how to get it there ([`Corrector`]): nudged, or after a concealment resumed where the
//! worklet left off (see [`Player::arrived`]).

use crate::audio::drift::{self, Corrector, Plan};
use crate::audio::pairing::Pairing;
use crate::audio::ring::{Counters, Ring, Written};
use crate::audio::schedule::Playout;
use crate::audio::status::{AudioReport, AudioStatus, STALL_MS, Stall};
use crate::audio::worker_link::{OutputStamp, TICK_MS};
use crate::clock::Clock;

/// The longest concealment that sound resumes after, ms: beyond it (an outage) what is due
/// is played and the rest skipped — a wait that long would only pile up.
pub const MAX_RESUME_MS: f64 = 250.0;

/// What the host knows when a chunk comes out of the decoder.
#[derive(Debug, Clone, Copy)]
pub struct Moment {
    /// Wall-clock Unix ms, sub-millisecond.
    pub now_unix_ms: f64,
    /// Whether the audio context runs (sound is not blocked waiting for a click).
    pub running: bool,
    /// The worklet's counters, as this thread sees them.
    pub counters: Counters,
    /// The context's output timestamp, as recent as this thread knows it.
    pub stamp: Option<OutputStamp>,
    /// The video's paint latency median, which audio is played at.
    pub video_latency_p50: Option<f64>,
}

/// One decoded chunk, as the decoder stamped it.
#[derive(Debug, Clone, Copy)]
pub struct Chunk {
    pub timestamp_us: f64,
    pub frames: u32,
    pub sample_rate: f64,
}

/// Schedules decoded audio into the ring: the decisions, none of the I/O.
#[derive(Debug, Clone)]
pub struct Player {
    /// What the player reports.
    pub status: AudioStatus,
    ring: Ring,
    /// The ring's sample rate.
    sample_rate: f64,
    /// How much later than the counters say a chunk written now can be heard at the earliest,
    /// ms (the message transport's delivery; 0 for shared memory).
    delivery_ms: f64,
    /// The ring's write counter: where the next frame written goes.
    write: u32,
    /// When it last reported, Unix ms.
    reported_unix_ms: f64,
    /// The packets decoding, for the timestamp each output is scheduled by.
    pairing: Pairing,
    clock: Option<Clock>,
    playout: Playout,
    corrector: Corrector,
    /// Sender Unix ms of timestamp zero when the catalog has no clock: the first chunk is
    /// taken as captured when it arrived.
    anchor_unix_ms: Option<f64>,
    /// The worklet's played counter as last seen.
    played: Option<u32>,
    /// When the previous chunk came out of the decoder, Unix ms.
    previous_unix_ms: Option<f64>,
}

impl Player {
    /// A player for `ring` at `sample_rate`, writing over a transport that delivers
    /// `delivery_ms` late, for a broadcast whose catalog clock is `clock`.
    pub fn new(ring: Ring, sample_rate: f64, delivery_ms: f64, clock: Option<Clock>) -> Self {
        Self {
            status: AudioStatus::default(),
            ring,
            sample_rate,
            delivery_ms,
            write: 0,
            reported_unix_ms: f64::NEG_INFINITY,
            pairing: Pairing::default(),
            clock,
            playout: Playout::default(),
            corrector: Corrector::default(),
            anchor_unix_ms: None,
            played: None,
            previous_unix_ms: None,
        }
    }

    /// The ring's write counter.
    pub fn write_position(&self) -> u32 {
        self.write
    }

    /// A packet with this timestamp went into the decoder.
    pub fn submitted(&mut self, timestamp_us: f64) {
        self.status.packets_received += 1;
        self.pairing.submitted(timestamp_us);
    }

    /// The decoder was rebuilt: whatever was in flight died with the old one.
    pub fn decoder_rebuilt(&mut self) {
        self.pairing.clear();
    }

    /// The figures to report now, if a report is due (every [`TICK_MS`]).
    pub fn due_report(&mut self, now_unix_ms: f64) -> Option<AudioReport> {
        (now_unix_ms - self.reported_unix_ms >= TICK_MS).then(|| self.report(now_unix_ms))
    }

    /// The figures now.
    pub fn report(&mut self, now_unix_ms: f64) -> AudioReport {
        self.reported_unix_ms = now_unix_ms;
        AudioReport {
            reported_unix_ms: Some(now_unix_ms),
            ..self.status.report(None)
        }
    }

    /// A decoded chunk came out at `moment`: where it is written, or `None` when nothing can
    /// be heard (the context is blocked until the user clicks) and it is dropped.
    ///
    /// A chunk that comes after the worklet concealed — the writer (or the network before it)
    /// stalled and the ring ran dry — resumes the sound where the concealment leaves off
    /// instead of skipping to where the plan says: the stall has already been heard as the
    /// concealment, and a skip on top would be a second audible step. The latency grows by
    /// what was concealed and a headroom (stalls vary: the next may be longer), reached by
    /// stretching; the jitter buffer asks for about as much, having measured the stall, and
    /// what it does not ask for is given back by stretching.
    pub fn arrived(&mut self, chunk: Chunk, moment: &Moment) -> Option<Plan> {
        let counters = moment.counters;
        let concealed_since = self.update_status(&counters);
        let timestamp_us = self.pairing.output(chunk.timestamp_us);
        if !moment.running {
            return None;
        }
        let now_unix_ms = moment.now_unix_ms;
        if let Some(previous) = self.previous_unix_ms.replace(now_unix_ms)
            && now_unix_ms - previous >= STALL_MS
        {
            self.status.stalled(Stall {
                ended_unix_ms: now_unix_ms,
                gap_ms: now_unix_ms - previous,
                buffered_ms: self.status.buffered_ms.unwrap_or(0.0),
            });
        }
        let capture_unix_ms = match self.clock {
            Some(clock) => clock.sender_unix_ms(timestamp_us),
            None => {
                let anchor = *self
                    .anchor_unix_ms
                    .get_or_insert(now_unix_ms - timestamp_us / 1000.0);
                anchor + timestamp_us / 1000.0
            }
        };
        self.playout.arrived(capture_unix_ms, now_unix_ms);
        let whole = Plan {
            silence: 0,
            skip: 0,
            frames: chunk.frames,
        };
        let clock = match counters.seen {
            true => moment
                .stamp
                .map(|stamp| stamp.clock(self.sample_rate, counters.frame_offset)),
            false => None,
        };
        let Some(clock) = clock else {
            // The worklet has not played a quantum yet: start the stream; the plan takes over
            // from the next chunk.
            return Some(whole);
        };
        let output_latency_ms = clock.heard_unix_ms(counters.read) - now_unix_ms + self.delivery_ms;
        let mut target_ms =
            self.playout
                .target_ms(moment.video_latency_p50, output_latency_ms, now_unix_ms);
        let heard_unix_ms = clock.heard_unix_ms(self.write);
        let mut lateness_ms = heard_unix_ms - (capture_unix_ms + target_ms);
        // After a concealment the latency is at least where sound resumed, with headroom
        // (also when the jitter buffer's ask already covers the resumed write).
        if concealed_since && lateness_ms <= MAX_RESUME_MS {
            target_ms = self.playout.resumed(target_ms + lateness_ms, now_unix_ms);
            lateness_ms = heard_unix_ms - (capture_unix_ms + target_ms);
        }
        let plan = self
            .corrector
            .plan(lateness_ms, chunk.frames, chunk.sample_rate);
        self.status.target_ms = Some(target_ms);
        self.status.arrival_ms = self.playout.arrival();
        self.status.error_ms = Some(lateness_ms);
        if plan.frames > 0 {
            let first_heard = clock.heard_unix_ms(self.write.wrapping_add(plan.silence));
            let first_captured =
                capture_unix_ms + f64::from(plan.skip) * 1000.0 / chunk.sample_rate;
            self.status.scheduled(first_captured, first_heard);
        }
        self.status.jumps = self.corrector.jumps;
        Some(plan)
    }

    /// The samples `plan` writes, from the chunk's interleaved samples `chunk`: its silence,
    /// then the chunk from its skip, resampled to its frames. Into `out`, replaced.
    pub fn render(&self, plan: &Plan, chunk: &[f32], out: &mut Vec<f32>) {
        let channels = self.ring.channels() as usize;
        let rest = &chunk[(plan.skip as usize * channels).min(chunk.len())..];
        drift::resample(rest, channels, plan.frames as usize, out);
        if plan.silence > 0 {
            out.splice(
                0..0,
                std::iter::repeat_n(0.0, plan.silence as usize * channels),
            );
        }
    }

    /// What a write into the ring did: the write counter moves on.
    pub fn wrote(&mut self, written: Written) {
        self.write = self.write.wrapping_add(written.frames);
        self.status.overruns += u64::from(written.overrun);
    }

    /// The worklet's counters into the status; whether it concealed since they were last seen.
    fn update_status(&mut self, counters: &Counters) -> bool {
        if !counters.seen {
            return false;
        }
        let rate = self.sample_rate;
        let audio = &mut self.status;
        audio.underruns = u64::from(counters.underruns);
        let concealed_before = audio.concealed_ms;
        audio.concealment(counters.concealed_frames, counters.concealments, rate);
        let previous = self.played.replace(counters.played).unwrap_or(0);
        audio.frames_played += u64::from(counters.played.wrapping_sub(previous));
        let filled = self.ring.filled(self.write, counters.read);
        audio.buffered_ms = Some(f64::from(filled) * 1000.0 / rate);
        audio.concealed_ms > concealed_before
    }
}
