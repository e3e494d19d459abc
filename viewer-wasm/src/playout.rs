//! The playout policy, free of any browser type: which received frames go to the decoder, and
//! which decoded frame gets painted. No buffering anywhere: the newest frame wins.
//!
//! - Decode side ([`DecodeGate`]): every frame is decoded while the viewer keeps up. Once the
//!   frames waiting (received but unread, plus queued in the decoder) stay above
//!   [`MAX_FRAMES_BEHIND`] for [`CATCH_UP_MS`], the rest of the group's delta frames are
//!   skipped and decoding resumes at the next keyframe. The grace period lets a healthy
//!   decoder absorb a hiccup (a GC pause, decoder start-up) instead of freezing for a GOP.
//! - Paint side ([`Newest`]): each animation frame paints the newest decoded frame; a decoded
//!   frame that a newer one overtakes before the paint is dropped (and must be closed).

/// Frames allowed to wait for decoding before the viewer counts as behind live.
pub const MAX_FRAMES_BEHIND: u32 = 2;

/// How long the viewer may stay behind before it skips to the next keyframe.
pub const CATCH_UP_MS: f64 = 50.0;

/// How far the decoder is behind what has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Frames already received in the current group and not yet read.
    pub unread_frames: u32,
    /// `VideoDecoder.decodeQueueSize`.
    pub decode_queue: u32,
    /// Whether the decoder has output a frame since it was configured: until then a queue is
    /// just start-up, not slowness.
    pub decoder_warm: bool,
}

impl Backlog {
    fn is_behind(self) -> bool {
        self.decoder_warm && self.unread_frames + self.decode_queue > MAX_FRAMES_BEHIND
    }
}

/// Whether a received frame goes to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Decode,
    /// Not decoded: counts as dropped.
    Skip,
}

/// Decides frame by frame; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeGate {
    awaiting_keyframe: bool,
    behind_since_ms: Option<f64>,
}

impl Default for DecodeGate {
    fn default() -> Self {
        Self {
            awaiting_keyframe: true,
            behind_since_ms: None,
        }
    }
}

impl DecodeGate {
    /// Admit or skip the next frame; `now_ms` is any monotonic clock in milliseconds.
    pub fn admit(&mut self, keyframe: bool, backlog: Backlog, now_ms: f64) -> Admit {
        if keyframe {
            self.awaiting_keyframe = false;
            self.behind_since_ms = None;
            return Admit::Decode;
        }
        if self.awaiting_keyframe {
            return Admit::Skip;
        }
        if !backlog.is_behind() {
            self.behind_since_ms = None;
            return Admit::Decode;
        }
        let since = *self.behind_since_ms.get_or_insert(now_ms);
        if now_ms - since < CATCH_UP_MS {
            return Admit::Decode;
        }
        self.awaiting_keyframe = true;
        self.behind_since_ms = None;
        Admit::Skip
    }

    /// Delta frames are useless until the next keyframe (decoder reset, lost group).
    pub fn await_keyframe(&mut self) {
        self.awaiting_keyframe = true;
        self.behind_since_ms = None;
    }
}

/// The one decoded frame waiting to be painted.
#[derive(Debug)]
pub struct Newest<F> {
    waiting: Option<(f64, F)>,
}

impl<F> Default for Newest<F> {
    fn default() -> Self {
        Self { waiting: None }
    }
}

impl<F> Newest<F> {
    /// Offer a decoded frame with its timestamp. Returns the frame that loses (the older of
    /// the two, normally the one already waiting): the caller closes it and counts it dropped.
    pub fn offer(&mut self, timestamp: f64, frame: F) -> Option<F> {
        match self.waiting.take() {
            Some((waiting_ts, waiting)) if waiting_ts > timestamp => {
                self.waiting = Some((waiting_ts, waiting));
                Some(frame)
            }
            previous => {
                self.waiting = Some((timestamp, frame));
                previous.map(|(_, frame)| frame)
            }
        }
    }

    /// The frame to paint now, if one arrived since the last paint.
    pub fn take(&mut self) -> Option<F> {
        self.waiting.take().map(|(_, frame)| frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEPING_UP: Backlog = Backlog {
        unread_frames: 0,
        decode_queue: 1,
        decoder_warm: true,
    };
    const BEHIND: Backlog = Backlog {
        unread_frames: 2,
        decode_queue: 1,
        decoder_warm: true,
    };

    #[test]
    fn waits_for_the_first_keyframe() {
        let mut gate = DecodeGate::default();
        assert_eq!(gate.admit(false, KEEPING_UP, 0.0), Admit::Skip);
        assert_eq!(gate.admit(true, KEEPING_UP, 1.0), Admit::Decode);
        assert_eq!(gate.admit(false, KEEPING_UP, 2.0), Admit::Decode);
    }

    #[test]
    fn a_short_hiccup_is_caught_up_by_decoding() {
        let mut gate = DecodeGate::default();
        gate.admit(true, KEEPING_UP, 0.0);
        assert_eq!(gate.admit(false, BEHIND, 100.0), Admit::Decode);
        assert_eq!(
            gate.admit(false, BEHIND, 100.0 + CATCH_UP_MS / 2.0),
            Admit::Decode
        );
        // Caught up: the grace period starts over.
        assert_eq!(gate.admit(false, KEEPING_UP, 120.0), Admit::Decode);
        assert_eq!(
            gate.admit(false, BEHIND, 130.0 + CATCH_UP_MS / 2.0),
            Admit::Decode
        );
    }

    #[test]
    fn staying_behind_skips_to_the_next_keyframe() {
        let mut gate = DecodeGate::default();
        gate.admit(true, KEEPING_UP, 0.0);
        assert_eq!(gate.admit(false, BEHIND, 10.0), Admit::Decode);
        assert_eq!(gate.admit(false, BEHIND, 10.0 + CATCH_UP_MS), Admit::Skip);
        // Skipping continues even once the backlog is gone: deltas need their reference.
        assert_eq!(gate.admit(false, KEEPING_UP, 100.0), Admit::Skip);
        assert_eq!(gate.admit(true, BEHIND, 110.0), Admit::Decode);
        assert_eq!(gate.admit(false, KEEPING_UP, 120.0), Admit::Decode);
    }

    #[test]
    fn a_cold_decoder_is_never_behind() {
        let mut gate = DecodeGate::default();
        gate.admit(true, KEEPING_UP, 0.0);
        let starting = Backlog {
            unread_frames: 3,
            decode_queue: 5,
            decoder_warm: false,
        };
        assert_eq!(gate.admit(false, starting, 0.0), Admit::Decode);
        assert_eq!(
            gate.admit(false, starting, 10.0 * CATCH_UP_MS),
            Admit::Decode
        );
    }

    #[test]
    fn a_decoder_reset_waits_for_a_keyframe() {
        let mut gate = DecodeGate::default();
        gate.admit(true, KEEPING_UP, 0.0);
        gate.await_keyframe();
        assert_eq!(gate.admit(false, KEEPING_UP, 1.0), Admit::Skip);
        assert_eq!(gate.admit(true, KEEPING_UP, 2.0), Admit::Decode);
    }

    #[test]
    fn newest_frame_wins_and_the_loser_is_handed_back() {
        let mut newest = Newest::default();
        assert_eq!(newest.take(), None);
        assert_eq!(newest.offer(1.0, "a"), None);
        assert_eq!(newest.offer(2.0, "b"), Some("a"));
        // A late, older frame loses to the one waiting.
        assert_eq!(newest.offer(1.5, "late"), Some("late"));
        assert_eq!(newest.take(), Some("b"));
        assert_eq!(newest.take(), None);
    }
}
