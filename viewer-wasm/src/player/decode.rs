//! The decode side of the player: which received frame goes to the decoder, and when.
//!
//! - **Every frame of the current group is decoded.** x264 without B-frames makes every
//!   frame a reference, so skipping one freezes the picture until the next keyframe: frames
//!   are only ever dropped after decoding, at paint (see [`super::paint`]).
//! - **The decoder's queue is bounded** ([`DECODE_QUEUE`] chunks not yet taken up), refilled as
//!   it takes chunks (its `dequeue` events) or outputs frames; the rest wait here, where they
//!   can still be skipped. A busy page thread delays the refill, never the decoding in hand.
//! - **Lag is measured in media time**: the newest timestamp received minus the newest
//!   decoded. A viewer whose decoding falls behind live by more than [`JUMP_BUDGET_MS`] jumps,
//!   but only at a group boundary: once a newer group's keyframe has arrived, everything
//!   queued before it is skipped and decoding continues from that keyframe. The decoder is
//!   never reset for being late (what it holds is decoded and, if late, dropped at paint).
//! - **Joining** is the same rule: a subscription starts at its group's keyframe with
//!   everything since already waiting; that group is decoded through (fast-forwarding to
//!   live if decoding is faster than real time) until the next keyframe arrives.

use std::collections::VecDeque;

use super::Encoded;

/// Chunks allowed to wait inside the decoder (`decodeQueueSize`): enough to keep it busy
/// through a page-thread stall of about four frame intervals at 60 fps.
pub const DECODE_QUEUE: u32 = 4;

/// How far decoding may fall behind the newest frame received before the player jumps to the
/// next keyframe.
pub const JUMP_BUDGET_MS: f64 = 300.0;

/// Frames held here at most: two groups of 60 fps video with 2 s groups. A viewer this far
/// behind drops the oldest (it would have jumped past them anyway).
const MAX_QUEUED: usize = 240;

/// What [`Scheduler::next_step`] decided.
#[derive(Debug, PartialEq)]
pub enum Next<P> {
    /// Configure the decoder for this rendition (a keyframe of it comes next).
    Configure(usize),
    /// Hand this to the decoder.
    Decode(Encoded<P>),
    /// These frames were skipped without decoding, waiting for a keyframe.
    Skipped(u64),
    /// These frames were skipped to jump to a newer keyframe: decoding was too far behind.
    Jumped(u64),
}

/// Frames received and not yet decoded, and how far the decoder is behind.
#[derive(Debug)]
pub struct Scheduler<P> {
    queue: VecDeque<Encoded<P>>,
    /// Chunks handed over and not yet taken up by the decoder, as far as we know.
    decode_queue: u32,
    /// Chunks handed over whose frames have not come out.
    in_flight: u32,
    /// A decoder (re)start needs a keyframe first.
    awaiting_keyframe: bool,
    newest_received_us: Option<f64>,
    newest_decoded_us: Option<f64>,
    /// The rendition the decoder is configured for.
    configured: Option<usize>,
}

impl<P> Default for Scheduler<P> {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            decode_queue: 0,
            in_flight: 0,
            awaiting_keyframe: true,
            newest_received_us: None,
            newest_decoded_us: None,
            configured: None,
        }
    }
}

impl<P> Scheduler<P> {
    /// A scheduler for a decoder already configured for `rendition`.
    pub fn configured_for(rendition: usize) -> Self {
        Self {
            configured: Some(rendition),
            ..Self::default()
        }
    }

    /// A frame arrived. Returns how many old frames were dropped to bound the queue.
    pub fn push(&mut self, frame: Encoded<P>) -> u64 {
        let newest = self.newest_received_us.unwrap_or(f64::MIN);
        self.newest_received_us = Some(newest.max(frame.timestamp_us));
        self.queue.push_back(frame);
        let mut dropped = 0;
        while self.queue.len() > MAX_QUEUED {
            self.queue.pop_front();
            dropped += 1;
            self.awaiting_keyframe = true;
        }
        dropped
    }

    /// Whether decoding has already passed `timestamp_us`.
    pub fn decoded_past(&self, timestamp_us: f64) -> bool {
        self.newest_decoded_us
            .is_some_and(|decoded| decoded >= timestamp_us)
    }

    /// Switch to another rendition at its keyframe `keyframe` (which decoding has not passed):
    /// what is queued at or after its time is dropped, since the new rendition shows that.
    /// Returns how many were dropped.
    pub fn switch(&mut self, keyframe: Encoded<P>) -> u64 {
        let before = self.queue.len();
        let at = keyframe.timestamp_us;
        self.queue.retain(|frame| frame.timestamp_us < at);
        let dropped = (before - self.queue.len()) as u64;
        dropped + self.push(keyframe)
    }

    /// The decoder took chunks: `decode_queue` is its `decodeQueueSize` now.
    pub fn dequeued(&mut self, decode_queue: u32) {
        self.decode_queue = decode_queue.min(self.in_flight);
    }

    /// The decoder output the frame stamped `timestamp_us`.
    pub fn decoded(&mut self, timestamp_us: f64) {
        self.in_flight = self.in_flight.saturating_sub(1);
        // Whatever came out was taken up first.
        self.decode_queue = self.decode_queue.min(self.in_flight);
        let newest = self.newest_decoded_us.unwrap_or(f64::MIN);
        self.newest_decoded_us = Some(newest.max(timestamp_us));
    }

    /// How far decoding is behind the newest frame received, in ms of media time.
    pub fn lag_ms(&self) -> f64 {
        let Some(received) = self.newest_received_us else {
            return 0.0;
        };
        let position = self
            .newest_decoded_us
            .or_else(|| self.queue.front().map(|frame| frame.timestamp_us))
            .unwrap_or(received);
        (received - position).max(0.0) / 1000.0
    }

    /// The next thing to do, or `None` while the decoder is full or nothing is waiting.
    pub fn next_step(&mut self) -> Option<Next<P>> {
        let jump = !self.awaiting_keyframe && self.lag_ms() > JUMP_BUDGET_MS;
        let skip_to = if self.awaiting_keyframe {
            self.queue.iter().position(|frame| frame.keyframe)
        } else if jump {
            // The newest keyframe beyond the front: the next group boundary worth jumping to.
            self.queue
                .iter()
                .rposition(|frame| frame.keyframe)
                .filter(|&at| at > 0)
        } else {
            None
        };
        match skip_to {
            Some(at) if at > 0 => {
                self.queue.drain(..at);
                let skipped = at as u64;
                return Some(if jump {
                    Next::Jumped(skipped)
                } else {
                    Next::Skipped(skipped)
                });
            }
            None if self.awaiting_keyframe && !self.queue.is_empty() => {
                let skipped = self.queue.len() as u64;
                self.queue.clear();
                return Some(Next::Skipped(skipped));
            }
            _ => {}
        }
        if self.decode_queue >= DECODE_QUEUE {
            return None;
        }
        let rendition = self.queue.front()?.rendition;
        if self.configured != Some(rendition) {
            self.configured = Some(rendition);
            return Some(Next::Configure(rendition));
        }
        let frame = self.queue.pop_front()?;
        self.awaiting_keyframe = false;
        self.decode_queue += 1;
        self.in_flight += 1;
        Some(Next::Decode(frame))
    }

    /// The decoder failed or was rebuilt: nothing in it comes out, and decoding resumes at
    /// a keyframe.
    pub fn restart(&mut self) {
        self.decode_queue = 0;
        self.in_flight = 0;
        self.awaiting_keyframe = true;
    }

    /// Playback stopped: forget everything. Returns how many frames were waiting.
    pub fn clear(&mut self) -> u64 {
        let waiting = self.queue.len() as u64;
        *self = Self {
            configured: self.configured,
            ..Self::default()
        };
        waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_US: f64 = 1_000_000.0 / 60.0;

    fn frame(index: u64) -> Encoded<u64> {
        Encoded {
            timestamp_us: index as f64 * FRAME_US,
            keyframe: index.is_multiple_of(120),
            rendition: 0,
            payload: index,
        }
    }

    fn low(index: u64) -> Encoded<u64> {
        Encoded {
            rendition: 1,
            payload: 1000 + index,
            ..frame(index)
        }
    }

    fn decodes(scheduler: &mut Scheduler<u64>) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(next) = scheduler.next_step() {
            if let Next::Decode(frame) = next {
                out.push(frame.payload);
            }
        }
        out
    }

    #[test]
    fn waits_for_a_keyframe_then_decodes_in_order() {
        let mut scheduler = Scheduler::configured_for(0);
        scheduler.push(frame(118));
        scheduler.push(frame(119));
        assert_eq!(scheduler.next_step(), Some(Next::Skipped(2)));
        scheduler.push(frame(120));
        scheduler.push(frame(121));
        assert_eq!(decodes(&mut scheduler), [120, 121]);
    }

    #[test]
    fn the_decoder_queue_is_bounded_and_refilled_as_it_drains() {
        let mut scheduler = Scheduler::configured_for(0);
        for index in 0..10 {
            scheduler.push(frame(index));
        }
        assert_eq!(decodes(&mut scheduler), [0, 1, 2, 3]);
        scheduler.dequeued(2);
        assert_eq!(decodes(&mut scheduler), [4, 5]);
        // An output means its chunk left the queue, even without a dequeue event.
        scheduler.decoded(0.0);
        scheduler.decoded(FRAME_US);
        scheduler.decoded(2.0 * FRAME_US);
        // Six were handed over and three came out: at most three can still be queued.
        assert_eq!(decodes(&mut scheduler), [6]);
    }

    #[test]
    fn a_lagging_decoder_finishes_its_group_until_the_next_keyframe_arrives() {
        let mut scheduler = Scheduler::configured_for(0);
        // Joined with a second of the group waiting: decoded through, never skipped.
        for index in 0..60 {
            scheduler.push(frame(index));
        }
        assert!(scheduler.lag_ms() > JUMP_BUDGET_MS);
        assert_eq!(decodes(&mut scheduler), [0, 1, 2, 3]);
        for index in 0..4 {
            scheduler.decoded(index as f64 * FRAME_US);
        }
        assert_eq!(decodes(&mut scheduler), [4, 5, 6, 7]);
    }

    #[test]
    fn a_lagging_decoder_jumps_to_the_next_keyframe() {
        let mut scheduler = Scheduler::configured_for(0);
        for index in 0..60 {
            scheduler.push(frame(index));
        }
        assert_eq!(decodes(&mut scheduler), [0, 1, 2, 3]);
        scheduler.decoded(3.0 * FRAME_US);
        for index in 60..125 {
            scheduler.push(frame(index));
        }
        // 2 s of media behind, and group 1 has started: skip the rest of group 0.
        assert_eq!(scheduler.next_step(), Some(Next::Jumped(116)));
        assert_eq!(decodes(&mut scheduler), [120]);
    }

    #[test]
    fn a_small_lag_never_skips() {
        let mut scheduler = Scheduler::configured_for(0);
        for index in 100..130 {
            scheduler.push(frame(index));
        }
        assert_eq!(scheduler.next_step(), Some(Next::Skipped(20)));
        for index in 120..124 {
            scheduler.decoded(index as f64 * FRAME_US);
        }
        for index in 130..137 {
            scheduler.push(frame(index));
        }
        // 200 ms behind with frames waiting: decode them all.
        assert!(scheduler.lag_ms() < JUMP_BUDGET_MS);
        assert_eq!(decodes(&mut scheduler), [120, 121, 122, 123]);
    }

    #[test]
    fn a_restart_resumes_at_a_keyframe() {
        let mut scheduler = Scheduler::configured_for(0);
        for index in 0..3 {
            scheduler.push(frame(index));
        }
        assert_eq!(decodes(&mut scheduler), [0, 1, 2]);
        scheduler.restart();
        scheduler.push(frame(3));
        assert_eq!(scheduler.next_step(), Some(Next::Skipped(1)));
        scheduler.push(frame(120));
        assert_eq!(decodes(&mut scheduler), [120]);
        assert_eq!(scheduler.clear(), 0);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut scheduler = Scheduler::configured_for(0);
        let dropped: u64 = (0..(MAX_QUEUED as u64 + 5))
            .map(|index| scheduler.push(frame(index)))
            .sum();
        assert_eq!(dropped, 5);
        // The front lost its keyframe: skip to the next one; that is 2 s behind the newest
        // keyframe, so jump again.
        assert_eq!(scheduler.next_step(), Some(Next::Skipped(115)));
        assert_eq!(scheduler.next_step(), Some(Next::Decode(frame(120))));
        assert_eq!(scheduler.next_step(), Some(Next::Jumped(119)));
        assert_eq!(decodes(&mut scheduler), [240, 241, 242]);
    }

    #[test]
    fn a_switch_reconfigures_at_the_new_keyframe_after_the_older_frames() {
        let mut scheduler = Scheduler::configured_for(0);
        for index in 110..124 {
            scheduler.push(frame(index));
        }
        assert_eq!(scheduler.next_step(), Some(Next::Skipped(10)));
        assert_eq!(decodes(&mut scheduler), [120, 121, 122, 123]);
        for index in 124..130 {
            scheduler.push(frame(index));
        }
        // The light rendition's keyframe at frame 126's time: 124 and 125 still play.
        assert_eq!(
            scheduler.switch(Encoded {
                keyframe: true,
                ..low(126)
            }),
            4
        );
        for index in 0..4 {
            scheduler.decoded((120 + index) as f64 * FRAME_US);
        }
        assert_eq!(scheduler.next_step(), Some(Next::Decode(frame(124))));
        assert_eq!(scheduler.next_step(), Some(Next::Decode(frame(125))));
        assert_eq!(scheduler.next_step(), Some(Next::Configure(1)));
        assert_eq!(decodes(&mut scheduler), [1126]);
    }
}
