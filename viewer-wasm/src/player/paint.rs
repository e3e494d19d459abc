//! The paint side of the player: a decoded frame is drawn the moment it comes out of the
//! decoder when nothing was drawn yet since the last animation frame began (it then reaches the
//! very next composite instead of waiting a whole animation frame for its turn); a later frame
//! within the same animation frame waits as the newest and is drawn at the next one. A waiting
//! frame that a newer one overtakes is never drawn, nor is a frame older than the picture
//! already shown (a rendition switch decodes the new one through from a keyframe that may be
//! older): this is the only place frames are dropped once decoded.

/// What to do with a frame that was just offered.
#[derive(Debug, PartialEq, Eq)]
pub enum Offered<F> {
    /// Draw it now.
    Paint(F),
    /// It waits for the next animation frame; nothing to do.
    Waiting,
    /// This frame lost to a newer one (or was older than the one waiting): close it.
    Lost(F),
}

/// The one decoded frame waiting to be painted, and whether this animation frame has drawn.
#[derive(Debug)]
pub struct PaintSlot<F> {
    waiting: Option<(f64, F)>,
    painted_this_frame: bool,
    /// The timestamp of the picture shown.
    shown: Option<f64>,
}

/// A frame this much older than the picture shown starts a new timeline (the stream
/// restarted) rather than being late.
const RESTART_US: f64 = 5_000_000.0;

impl<F> Default for PaintSlot<F> {
    fn default() -> Self {
        Self {
            waiting: None,
            painted_this_frame: false,
            shown: None,
        }
    }
}

impl<F> PaintSlot<F> {
    /// A decoded frame stamped `timestamp`.
    pub fn offer(&mut self, timestamp: f64, frame: F) -> Offered<F> {
        if self
            .shown
            .is_some_and(|shown| timestamp <= shown && timestamp > shown - RESTART_US)
        {
            return Offered::Lost(frame);
        }
        if !self.painted_this_frame && self.waiting.is_none() {
            self.painted_this_frame = true;
            self.shown = Some(timestamp);
            return Offered::Paint(frame);
        }
        match self.waiting.take() {
            Some((waiting_ts, waiting)) if waiting_ts > timestamp => {
                self.waiting = Some((waiting_ts, waiting));
                Offered::Lost(frame)
            }
            previous => {
                self.waiting = Some((timestamp, frame));
                previous.map_or(Offered::Waiting, |(_, lost)| Offered::Lost(lost))
            }
        }
    }

    /// A new animation frame began: the frame that waited for it, if any, is drawn now.
    pub fn animation_frame(&mut self) -> Option<F> {
        let (timestamp, frame) = self.waiting.take().unzip();
        self.painted_this_frame = frame.is_some();
        self.shown = timestamp.or(self.shown);
        frame
    }

    /// The waiting frame, taken away unpainted (playback stopped); the next frame offered
    /// starts afresh.
    pub fn discard(&mut self) -> Option<F> {
        self.shown = None;
        self.waiting.take().map(|(_, frame)| frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_frame_of_an_animation_frame_is_painted_at_once() {
        let mut slot = PaintSlot::default();
        assert_eq!(slot.offer(1.0, "a"), Offered::Paint("a"));
        assert_eq!(slot.offer(2.0, "b"), Offered::Waiting);
        assert_eq!(slot.offer(3.0, "c"), Offered::Lost("b"));
        // A late, older frame loses to the one waiting.
        assert_eq!(slot.offer(2.5, "late"), Offered::Lost("late"));
        assert_eq!(slot.animation_frame(), Some("c"));
        // That animation frame has drawn: the next frame waits.
        assert_eq!(slot.offer(4.0, "d"), Offered::Waiting);
        assert_eq!(slot.animation_frame(), Some("d"));
        assert_eq!(slot.animation_frame(), None);
        // Nothing was drawn in this animation frame: paint at once again.
        assert_eq!(slot.offer(5.0, "e"), Offered::Paint("e"));
        assert_eq!(slot.offer(6.0, "f"), Offered::Waiting);
        assert_eq!(slot.discard(), Some("f"));
        assert_eq!(slot.discard(), None);
    }

    #[test]
    fn nothing_older_than_the_picture_shown_is_painted() {
        let mut slot = PaintSlot::default();
        assert_eq!(slot.offer(100.0, "shown"), Offered::Paint("shown"));
        assert_eq!(slot.animation_frame(), None);
        assert_eq!(slot.offer(90.0, "older"), Offered::Lost("older"));
        assert_eq!(slot.offer(100.0, "same"), Offered::Lost("same"));
        assert_eq!(slot.offer(110.0, "newer"), Offered::Paint("newer"));
        // A restarted stream's timeline starts far back: that is not late.
        assert_eq!(slot.animation_frame(), None);
        assert_eq!(
            slot.offer(0.0 - RESTART_US, "restart"),
            Offered::Paint("restart")
        );
    }
}
