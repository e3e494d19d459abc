//! The playout policy, free of any browser type: which received frames go to the decoder, and
//! which decoded frame gets painted. No buffering anywhere: the newest frame wins.
//!
//! - Decode side ([`DecodeGate`]): every frame is decoded while the viewer keeps up. When more
//!   than [`MAX_FRAMES_BEHIND`] frames wait (received but unread, plus in the decoder) and that
//!   backlog has not shrunk for [`CATCH_UP_MS`], the rest of the group's delta frames are
//!   skipped (and what the decoder still holds is flushed: it is just as late) and decoding
//!   resumes at the next keyframe. A backlog that is shrinking is left
//!   alone: a decoder catching up after a hiccup (a GC pause, a busy CPU) costs a few frames of
//!   latency for a moment, while skipping would freeze the picture for the rest of the GOP.
//!   Joining is the same: a subscription starts at its group's keyframe, with everything since
//!   already waiting, so the joined group is decoded through (fast-forwarding to live) until the
//!   viewer first catches up, the next group starts, or [`JOIN_MS`] have passed (a viewer too
//!   slow to fast-forward must not fall further behind).
//! - Paint side ([`Newest`]): each animation frame paints the newest decoded frame; a decoded
//!   frame that a newer one overtakes before the paint is dropped (and must be closed).

/// Frames allowed to wait for decoding before the viewer counts as behind live.
pub const MAX_FRAMES_BEHIND: u32 = 2;

/// How long a backlog may go without shrinking before the viewer skips to the next keyframe.
pub const CATCH_UP_MS: f64 = 50.0;

/// The longest the joined group is decoded through regardless of the backlog.
pub const JOIN_MS: f64 = 1000.0;

/// How far the decoder is behind what has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Frames already received in the current group and not yet read.
    pub unread_frames: u32,
    /// Chunks in the decoder: at least `VideoDecoder.decodeQueueSize`, better everything
    /// decoded whose frame has not come out yet.
    pub decode_queue: u32,
}

impl Backlog {
    /// Frames waiting beyond what keeping up allows.
    fn excess(self) -> u32 {
        self.unread_frames
            .saturating_add(self.decode_queue)
            .saturating_sub(MAX_FRAMES_BEHIND)
    }
}

/// Whether a received frame goes to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Decode,
    /// Not decoded (waiting for a keyframe): counts as dropped.
    Skip,
    /// Too far behind: not decoded, and the frames still in the decoder are stale too, so
    /// flush them (they count as dropped). `Skip` follows until the next keyframe.
    Flush,
}

/// Decides frame by frame; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeGate {
    awaiting_keyframe: bool,
    /// Decoding through the group playback (re)started in, see the module docs.
    joining: bool,
    /// When the joined group's keyframe was admitted.
    joined_at_ms: f64,
    behind: Option<Behind>,
}

/// A backlog being watched: its smallest size so far and when it was reached.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Behind {
    lowest: u32,
    since_ms: f64,
}

impl Default for DecodeGate {
    fn default() -> Self {
        Self {
            awaiting_keyframe: true,
            joining: true,
            joined_at_ms: 0.0,
            behind: None,
        }
    }
}

impl DecodeGate {
    /// Admit or skip the next frame; `now_ms` is any monotonic clock in milliseconds.
    pub fn admit(&mut self, keyframe: bool, backlog: Backlog, now_ms: f64) -> Admit {
        if keyframe {
            // The keyframe after the one playback started at ends the joined group.
            self.joining &= self.awaiting_keyframe;
            if self.joining {
                self.joined_at_ms = now_ms;
            }
            self.awaiting_keyframe = false;
            self.behind = None;
            return Admit::Decode;
        }
        if self.awaiting_keyframe {
            return Admit::Skip;
        }
        let excess = backlog.excess();
        if excess == 0 {
            self.joining = false;
            self.behind = None;
            return Admit::Decode;
        }
        if self.joining && now_ms - self.joined_at_ms < JOIN_MS {
            return Admit::Decode;
        }
        self.joining = false;
        match self.behind {
            // Still no smaller than its low point: how long has it been stuck?
            Some(behind) if excess >= behind.lowest => {
                if now_ms - behind.since_ms < CATCH_UP_MS {
                    return Admit::Decode;
                }
                self.awaiting_keyframe = true;
                self.behind = None;
                Admit::Flush
            }
            // Newly behind, or catching up: (re)start the clock.
            _ => {
                self.behind = Some(Behind {
                    lowest: excess,
                    since_ms: now_ms,
                });
                Admit::Decode
            }
        }
    }

    /// Start over as if newly subscribed (the decoder was rebuilt or failed): wait for a
    /// keyframe, then decode its group through.
    pub fn restart(&mut self) {
        *self = Self::default();
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
    };
    const BEHIND: Backlog = Backlog {
        unread_frames: 2,
        decode_queue: 1,
    };

    /// A gate past its joining group, keeping up.
    fn settled() -> DecodeGate {
        let mut gate = DecodeGate::default();
        gate.admit(true, KEEPING_UP, 0.0);
        gate.admit(false, KEEPING_UP, 0.0);
        gate
    }

    fn waiting(frames: u32) -> Backlog {
        Backlog {
            unread_frames: 0,
            decode_queue: frames,
        }
    }

    #[test]
    fn waits_for_the_first_keyframe() {
        let mut gate = DecodeGate::default();
        assert_eq!(gate.admit(false, KEEPING_UP, 0.0), Admit::Skip);
        assert_eq!(gate.admit(true, KEEPING_UP, 1.0), Admit::Decode);
        assert_eq!(gate.admit(false, KEEPING_UP, 2.0), Admit::Decode);
    }

    #[test]
    fn the_joined_group_is_decoded_through() {
        let mut gate = DecodeGate::default();
        assert_eq!(gate.admit(true, waiting(0), 0.0), Admit::Decode);
        // Two seconds of group already waiting, and a slow start: still decoded.
        for n in 1..19 {
            let backlog = Backlog {
                unread_frames: 120 - n,
                decode_queue: n,
            };
            assert_eq!(
                gate.admit(false, backlog, f64::from(n) * CATCH_UP_MS),
                Admit::Decode
            );
        }
        // Once caught up, the usual rules apply.
        assert_eq!(gate.admit(false, waiting(1), 2_000.0), Admit::Decode);
        assert_eq!(gate.admit(false, BEHIND, 2_010.0), Admit::Decode);
        assert_eq!(
            gate.admit(false, BEHIND, 2_010.0 + CATCH_UP_MS),
            Admit::Flush
        );
    }

    #[test]
    fn joining_ends_at_the_next_group() {
        let mut gate = DecodeGate::default();
        gate.admit(true, waiting(50), 0.0);
        gate.admit(false, waiting(50), 10.0);
        assert_eq!(gate.admit(true, waiting(50), 20.0), Admit::Decode);
        assert_eq!(gate.admit(false, waiting(50), 30.0), Admit::Decode);
        assert_eq!(
            gate.admit(false, waiting(50), 30.0 + CATCH_UP_MS),
            Admit::Flush
        );
    }

    #[test]
    fn joining_ends_when_it_takes_too_long() {
        let mut gate = DecodeGate::default();
        gate.admit(true, waiting(0), 100.0);
        assert_eq!(
            gate.admit(false, waiting(60), 100.0 + JOIN_MS - 1.0),
            Admit::Decode
        );
        assert_eq!(
            gate.admit(false, waiting(60), 100.0 + JOIN_MS),
            Admit::Decode
        );
        assert_eq!(
            gate.admit(false, waiting(60), 100.0 + JOIN_MS + CATCH_UP_MS),
            Admit::Flush
        );
    }

    #[test]
    fn a_short_hiccup_is_caught_up_by_decoding() {
        let mut gate = settled();
        assert_eq!(gate.admit(false, BEHIND, 100.0), Admit::Decode);
        assert_eq!(
            gate.admit(false, BEHIND, 100.0 + CATCH_UP_MS / 2.0),
            Admit::Decode
        );
        // Caught up: the grace period starts over.
        assert_eq!(gate.admit(false, KEEPING_UP, 140.0), Admit::Decode);
        assert_eq!(
            gate.admit(false, BEHIND, 150.0 + CATCH_UP_MS / 2.0),
            Admit::Decode
        );
    }

    #[test]
    fn staying_behind_skips_to_the_next_keyframe() {
        let mut gate = settled();
        assert_eq!(gate.admit(false, BEHIND, 10.0), Admit::Decode);
        assert_eq!(gate.admit(false, BEHIND, 10.0 + CATCH_UP_MS), Admit::Flush);
        // Skipping continues even once the backlog is gone: deltas need their reference.
        assert_eq!(gate.admit(false, KEEPING_UP, 100.0), Admit::Skip);
        assert_eq!(gate.admit(true, BEHIND, 110.0), Admit::Decode);
        assert_eq!(gate.admit(false, KEEPING_UP, 120.0), Admit::Decode);
    }

    #[test]
    fn a_shrinking_backlog_is_left_to_catch_up() {
        let mut gate = settled();
        // A stall left nine frames waiting; the decoder works through them.
        for (step, frames) in (3..=9).rev().enumerate() {
            let now = step as f64 * CATCH_UP_MS;
            assert_eq!(
                gate.admit(false, waiting(frames), now),
                Admit::Decode,
                "{frames} waiting"
            );
        }
    }

    #[test]
    fn a_backlog_that_wobbles_upward_is_cut() {
        let mut gate = settled();
        assert_eq!(gate.admit(false, waiting(4), 0.0), Admit::Decode);
        assert_eq!(gate.admit(false, waiting(5), 20.0), Admit::Decode);
        assert_eq!(gate.admit(false, waiting(4), 40.0), Admit::Decode);
        assert_eq!(gate.admit(false, waiting(6), CATCH_UP_MS), Admit::Flush);
    }

    #[test]
    fn a_restart_waits_for_a_keyframe_and_joins_again() {
        let mut gate = settled();
        gate.restart();
        assert_eq!(gate.admit(false, KEEPING_UP, 1.0), Admit::Skip);
        assert_eq!(gate.admit(true, waiting(30), 2.0), Admit::Decode);
        assert_eq!(
            gate.admit(false, waiting(30), 2.0 + 10.0 * CATCH_UP_MS),
            Admit::Decode
        );
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
