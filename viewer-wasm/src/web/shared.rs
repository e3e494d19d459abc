//! State shared between the playback task, the decoder callbacks and the paint loop, all on
//! the page's one thread: the telemetry `stats()` reads and the frame waiting to be painted.

use std::cell::{Cell, RefCell};

use web_sys::{Performance, VideoFrame};

use crate::playout::Newest;
use crate::state::Event;
use crate::telemetry::Telemetry;

pub struct Shared {
    pub telemetry: RefCell<Telemetry>,
    newest: RefCell<Newest<VideoFrame>>,
    closed: Cell<bool>,
    performance: Performance,
}

impl Shared {
    pub fn new(performance: Performance) -> Self {
        Self {
            telemetry: RefCell::default(),
            newest: RefCell::default(),
            closed: Cell::new(false),
            performance,
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

    /// A decoded frame for the next paint. Whichever frame loses (normally the one still
    /// waiting) is closed here and counted as dropped.
    pub fn offer(&self, frame: VideoFrame) {
        if self.closed.get() {
            frame.close();
            return;
        }
        let loser = self.newest.borrow_mut().offer(frame.timestamp(), frame);
        if let Some(loser) = loser {
            loser.close();
            self.telemetry.borrow_mut().counters.dropped += 1;
        }
    }

    /// The frame to paint, if a new one was decoded since the last paint.
    pub fn take_frame(&self) -> Option<VideoFrame> {
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
