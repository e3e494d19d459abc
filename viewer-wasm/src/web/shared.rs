//! State shared between the playback task, the decoder callbacks and the paint loop, all on
//! the page's one thread: the telemetry `stats()` reads, the frame waiting to be painted, the
//! speakers, and the sync probe when one was asked for.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use web_sys::{Performance, VideoFrame};

use super::audio_output::Speakers;
use super::render::Painter;
use crate::playout::Newest;
use crate::state::Event;
use crate::sync_probe::SyncProbe;
use crate::telemetry::Telemetry;

pub struct Shared {
    pub telemetry: RefCell<Telemetry>,
    newest: RefCell<Newest<VideoFrame>>,
    painter: RefCell<Option<Painter>>,
    /// Whether a frame was drawn since the last animation frame began.
    painted_this_frame: Cell<bool>,
    closed: Cell<bool>,
    performance: Performance,
    pub speakers: Speakers,
    /// Flash and beep onsets, when the page asked for them (`syncProbe: true`).
    pub probe: Option<Rc<RefCell<SyncProbe>>>,
    /// Feed the worklet by messages even where a SharedArrayBuffer would do
    /// (`audioTransport: "message"`).
    pub audio_messages_only: bool,
}

impl Shared {
    pub fn new(performance: Performance, probe: bool, audio_messages_only: bool) -> Self {
        Self {
            telemetry: RefCell::default(),
            newest: RefCell::default(),
            painter: RefCell::default(),
            painted_this_frame: Cell::new(false),
            closed: Cell::new(false),
            performance,
            speakers: Speakers::new(),
            probe: probe.then(Rc::default),
            audio_messages_only,
        }
    }

    pub fn on(&self, event: Event) {
        self.telemetry.borrow_mut().status.on(event);
    }

    /// Monotonic milliseconds, for durations.
    pub fn now_ms(&self) -> f64 {
        self.performance.now()
    }

    /// Wall-clock Unix milliseconds with sub-millisecond resolution, for latency.
    pub fn now_unix_ms(&self) -> f64 {
        self.performance.time_origin() + self.performance.now()
    }

    pub fn set_painter(&self, painter: Painter) {
        *self.painter.borrow_mut() = Some(painter);
    }

    /// A decoded frame: drawn now if nothing was drawn since the last animation frame began,
    /// otherwise kept for the next one. Whichever frame loses there (normally the one still
    /// waiting) is closed here and counted as dropped.
    pub fn offer(&self, frame: VideoFrame) {
        if self.closed.get() {
            frame.close();
            return;
        }
        if !self.painted_this_frame.get()
            && let Some(painter) = self.painter.borrow().as_ref()
        {
            self.painted_this_frame.set(true);
            painter.paint(self, frame);
            return;
        }
        let loser = self.newest.borrow_mut().offer(frame.timestamp(), frame);
        if let Some(loser) = loser {
            loser.close();
            self.telemetry.borrow_mut().counters.dropped += 1;
        }
    }

    /// A new animation frame: draw the frame that waited for it, if any.
    pub fn animation_frame(&self) {
        self.painted_this_frame.set(false);
        if let Some(frame) = self.take_frame() {
            self.offer(frame);
        }
    }

    fn take_frame(&self) -> Option<VideoFrame> {
        self.newest.borrow_mut().take()
    }

    /// Close the frame waiting to be painted, if any (playback stopped): it counts as dropped.
    pub fn discard_frame(&self) {
        if let Some(frame) = self.take_frame() {
            frame.close();
            self.telemetry.borrow_mut().counters.dropped += 1;
        }
    }

    pub fn close(&self) {
        self.closed.set(true);
        self.discard_frame();
        self.on(Event::Closed);
    }
}
