//! The player core, free of any browser type: every video playback decision — which rendition
//! to play and when to switch ([`ladder`]), whether a catalog update restarts playback
//! ([`catalog_update`]), which received frame goes to the decoder and when
//! ([`decode`]), which decoded frame is painted and which is closed ([`paint`]) — and the
//! telemetry those decisions feed; and the session's decisions around it: when a broadcast is
//! opened, what of its catalog plays, and when it is played again ([`session`]). The glue feeds it events with the
//! time they happened (a frame read, the decoder taking a chunk, a decoded frame, an animation
//! frame, a decoder failure) and carries out the [`Action`]s it returns, in order.
//!
//! `P` is an encoded frame's payload and `F` a decoded frame (`Bytes` and `VideoFrame` in the
//! browser, plain numbers in the tests and the load simulator).

pub mod catalog_update;
pub mod decode;
pub mod ladder;
pub mod paint;
pub mod priority;
pub mod session;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod sim_link;

use std::collections::VecDeque;

use crate::telemetry::{Report, Telemetry};
use decode::{Next, Scheduler};
use ladder::{Ladder, Lateness};
use paint::{Offered, PaintSlot};

/// How far behind the picture a keyframe of the rendition being switched to may be and still
/// be switched at, ms: the picture holds until the new rendition passes it. A rendition
/// stepped up to has larger keyframes than the one playing, which cross the link after the
/// frame of the same instant: on a link with headroom they come tens of ms behind, and a
/// switch that waited for one ahead of the picture would never happen.
pub const SWITCH_HOLD_MS: f64 = 150.0;

/// One encoded video frame as read from the track.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded<P> {
    /// Presentation timestamp, µs on the broadcast clock.
    pub timestamp_us: f64,
    /// The first frame of its group: decodable on its own.
    pub keyframe: bool,
    /// Which video rendition it belongs to (an index into the ranked renditions).
    pub rendition: usize,
    pub payload: P,
}

/// What the glue must do, in the order given.
#[derive(Debug, PartialEq)]
pub enum Action<P, F> {
    /// Start reading this rendition's track and report its frames.
    Subscribe(usize),
    /// Stop reading this rendition's track.
    Unsubscribe(usize),
    /// Configure the decoder for this rendition (its keyframe is decoded next).
    Configure(usize),
    /// Hand this chunk to the decoder.
    Decode(Encoded<P>),
    /// Draw this frame now, close it, and report [`Player::painted`].
    Paint(F),
    /// Close this frame unpainted.
    Close(F),
}

/// The player: video decisions plus the telemetry `stats()` reports.
#[derive(Debug)]
pub struct Player<P, F> {
    pub telemetry: Telemetry,
    decode: Scheduler<P>,
    slot: PaintSlot<F>,
    ladder: Ladder,
    /// How late the current rendition's frames arrive.
    lateness: Lateness,
    /// The rendition whose frames are decoded.
    current: usize,
    /// The rendition being switched to, until its first keyframe arrives.
    pending: Option<usize>,
    /// Rendition switches made.
    switches: u64,
    /// Whether video plays (between `start` and `stop`).
    playing: bool,
    actions: VecDeque<Action<P, F>>,
}

impl<P, F> Default for Player<P, F> {
    fn default() -> Self {
        Self {
            telemetry: Telemetry::default(),
            decode: Scheduler::configured_for(0),
            slot: PaintSlot::default(),
            ladder: Ladder::new(vec![1.0], 0),
            lateness: Lateness::default(),
            current: 0,
            pending: None,
            switches: 0,
            playing: false,
            actions: VecDeque::new(),
        }
    }
}

impl<P, F> Player<P, F> {
    /// The next thing to do, if any. Call until `None` after every event.
    pub fn poll_action(&mut self) -> Option<Action<P, F>> {
        self.actions.pop_front()
    }

    /// Video playback starts on rendition `playing` of renditions ranked best first with
    /// these relative decode `costs` (pixels × frame rate) and `bitrates` (b/s, where the
    /// catalog says), with the decoder configured for it and its track subscribed.
    pub fn start(&mut self, costs: Vec<f64>, bitrates: Vec<Option<f64>>, playing: usize) {
        self.stop();
        self.decode = Scheduler::configured_for(playing);
        let mut ladder = Ladder::new(costs, playing).with_bitrates(bitrates);
        ladder.bandwidth(self.telemetry.bandwidth_bps.map(|bps| bps as f64));
        self.ladder = ladder;
        self.lateness = Lateness::default();
        self.current = playing;
        self.pending = None;
        self.playing = true;
    }

    /// The relay's bandwidth estimate changed (b/s; `None`: it has none now).
    pub fn bandwidth(&mut self, bps: Option<u64>) {
        self.telemetry.bandwidth_bps = bps;
        self.ladder.bandwidth(bps.map(|bps| bps as f64));
    }

    /// What `stats()` reports.
    pub fn report(&mut self) -> Report {
        let mut report = self.telemetry.report();
        if self.playing {
            report.rendition = Some(self.current);
            report.lag_ms = Some(self.decode.lag_ms());
            report.late_ms = Some(self.lateness.late_ms());
        }
        report.switches = self.switches;
        report
    }

    /// The rendition whose frames are being decoded.
    pub fn rendition(&self) -> usize {
        self.current
    }

    /// A frame was read from a video track at `now_ms` (monotonic).
    pub fn received(&mut self, now_ms: f64, frame: Encoded<P>) {
        let dropped = if frame.rendition == self.current {
            self.lateness.arrived(now_ms, frame.timestamp_us / 1000.0);
            self.ladder.arriving(now_ms, self.lateness.late_ms());
            self.decode.push(frame)
        } else if self.pending == Some(frame.rendition)
            && frame.keyframe
            && !self
                .decode
                .decoded_past(frame.timestamp_us + SWITCH_HOLD_MS * 1000.0)
        {
            // The switch happens at the new rendition's first keyframe that is not behind the
            // picture by more than SWITCH_HOLD_MS: its current group starts in the past, so that
            // is normally the next.
            self.actions.push_back(Action::Unsubscribe(self.current));
            self.current = frame.rendition;
            self.pending = None;
            self.switches += 1;
            self.lateness = Lateness::default();
            self.decode.switch(frame)
        } else {
            // A rendition not (or not yet) played.
            return;
        };
        self.telemetry.received(now_ms);
        self.telemetry.counters.dropped += dropped;
        self.pump(now_ms);
    }

    /// The decoder took chunks off its queue; `decode_queue` is its `decodeQueueSize` now.
    pub fn dequeued(&mut self, now_ms: f64, decode_queue: u32) {
        self.decode.dequeued(decode_queue);
        self.pump(now_ms);
    }

    /// The decoder output the frame stamped `timestamp_us`.
    pub fn decoded(&mut self, now_ms: f64, timestamp_us: f64, frame: F) {
        self.decode.decoded(timestamp_us);
        if let Some(took_ms) = self.telemetry.decoded(timestamp_us, now_ms) {
            self.ladder.decoded(now_ms, took_ms);
        }
        match self.slot.offer(timestamp_us, frame) {
            Offered::Paint(frame) => self.actions.push_back(Action::Paint(frame)),
            Offered::Waiting => {}
            Offered::Lost(frame) => self.close(frame),
        }
        self.pump(now_ms);
    }

    /// A frame was drawn at `now_unix_ms` (wall clock).
    pub fn painted(&mut self, timestamp_us: f64, now_unix_ms: f64, size: (u32, u32)) {
        self.telemetry.painted(timestamp_us, now_unix_ms, size);
    }

    /// A frame could not be drawn.
    pub fn paint_failed(&mut self) {
        self.telemetry.counters.dropped += 1;
    }

    /// An animation frame began at `now_ms`.
    pub fn animation_frame(&mut self, now_ms: f64) {
        self.telemetry.check_stall(now_ms);
        if let Some(frame) = self.slot.animation_frame() {
            self.actions.push_back(Action::Paint(frame));
        }
    }

    /// The decoder failed (it is closed, and the glue builds a fresh one): nothing in it comes
    /// out, and decoding resumes at the next keyframe.
    pub fn decoder_failed(&mut self, now_ms: f64) {
        self.telemetry.counters.decoder_errors += 1;
        self.telemetry.decoder_reset();
        self.decode.restart();
        self.pump(now_ms);
    }

    /// Video playback stopped: forget what is queued and close the waiting frame.
    pub fn stop(&mut self) {
        self.pending = None;
        self.playing = false;
        self.telemetry.counters.dropped += self.decode.clear();
        self.telemetry.decoder_reset();
        if let Some(frame) = self.slot.discard() {
            self.close(frame);
        }
    }

    fn close(&mut self, frame: F) {
        self.telemetry.counters.dropped += 1;
        self.actions.push_back(Action::Close(frame));
    }

    /// Hand the decoder what it has room for.
    fn pump(&mut self, now_ms: f64) {
        let mut jumped = false;
        while let Some(next) = self.decode.next_step() {
            match next {
                Next::Configure(rendition) => self.actions.push_back(Action::Configure(rendition)),
                Next::Decode(frame) => {
                    self.telemetry.submitted(frame.timestamp_us, now_ms);
                    self.actions.push_back(Action::Decode(frame));
                }
                Next::Skipped(frames) => self.telemetry.counters.dropped += frames,
                Next::Jumped(frames) => {
                    jumped = true;
                    self.telemetry.counters.dropped += frames;
                }
            }
        }
        if let Some(to) = self.ladder.update(now_ms, self.decode.lag_ms(), jumped) {
            self.switch_to(to);
        }
    }

    /// Subscribe to rendition `to`; the switch happens at its first keyframe.
    fn switch_to(&mut self, to: usize) {
        if let Some(pending) = self.pending.take() {
            self.actions.push_back(Action::Unsubscribe(pending));
        }
        if to != self.current {
            self.pending = Some(to);
            self.actions.push_back(Action::Subscribe(to));
        }
    }
}
