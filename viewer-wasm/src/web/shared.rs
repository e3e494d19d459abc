//! State shared between the playback tasks, the decoder callbacks and the paint loop, all on
//! the page's one thread: the player core (its decisions and telemetry), the video decoder and
//! painter that carry out its actions, the speakers, and the sync probe when one was asked for.
//!
//! Every video event goes through [`Shared::video`]: it hands the event to the player, then
//! carries out the actions the player returns with no borrow of the player held, so a call
//! into JavaScript can never find the player borrowed.

use std::cell::{Cell, RefCell, RefMut};
use std::rc::Rc;

use bytes::Bytes;
use futures::channel::mpsc::UnboundedSender;
use web_sys::{Performance, VideoFrame};

use super::audio_output::Speakers;
use super::decoder::Decoder;
use super::render::Painter;
use crate::player::{Action, Player};
use crate::state::Event;
use crate::sync_probe::SyncProbe;
use crate::telemetry::{Report, Telemetry};
use crate::transport::Transport;

pub type VideoPlayer = Player<Bytes, VideoFrame>;

/// A change to the video tracks read, asked for by the player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackRequest {
    Subscribe(usize),
    Unsubscribe(usize),
}

/// What the viewer watches, from where: the relay URL (with its token), where its certificate
/// fingerprint is served, and the broadcast name.
pub struct Source {
    pub relay: String,
    pub fingerprint: Option<String>,
    pub transport: Transport,
    pub name: String,
}

pub struct Shared {
    pub source: Source,
    player: RefCell<VideoPlayer>,
    /// The video decoder while a video track plays.
    decoder: RefCell<Option<Decoder>>,
    /// Where the player's subscription changes go while video plays.
    track_requests: RefCell<Option<UnboundedSender<TrackRequest>>>,
    painter: RefCell<Option<Painter>>,
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
    pub fn new(
        source: Source,
        performance: Performance,
        probe: bool,
        audio_messages_only: bool,
    ) -> Self {
        Self {
            source,
            player: RefCell::default(),
            decoder: RefCell::default(),
            track_requests: RefCell::default(),
            painter: RefCell::default(),
            closed: Cell::new(false),
            performance,
            speakers: Speakers::new(),
            probe: probe.then(Rc::default),
            audio_messages_only,
        }
    }

    /// What `stats()` reports, for reading and updating (never held across a call into JS).
    pub fn telemetry(&self) -> RefMut<'_, Telemetry> {
        RefMut::map(self.player.borrow_mut(), |player| &mut player.telemetry)
    }

    /// What `stats()` reports.
    pub fn report(&self) -> Report {
        let mut report = self.player.borrow_mut().report();
        report.transport = Some(self.source.transport.as_str().to_owned());
        report
    }

    pub fn on(&self, event: Event) {
        self.telemetry().status.on(event);
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

    /// The playing broadcast's largest rendition is this wide (the sync probe's frame of
    /// reference).
    pub fn set_captured_width(&self, width: Option<u32>) {
        if let Some(painter) = self.painter.borrow().as_ref() {
            painter.set_captured_width(width);
        }
    }

    /// The decoder that carries out `Decode` actions (`None` when no video track plays).
    pub fn set_decoder(&self, decoder: Option<Decoder>) {
        let previous = self.decoder.replace(decoder);
        drop(previous);
    }

    /// Where the player's `Subscribe` and `Unsubscribe` actions go (`None` when video stops).
    pub fn set_track_requests(&self, requests: Option<UnboundedSender<TrackRequest>>) {
        *self.track_requests.borrow_mut() = requests;
    }

    /// The decoder's `decodeQueueSize`, 0 when there is none.
    pub fn decode_queue_size(&self) -> u32 {
        self.decoder
            .borrow()
            .as_ref()
            .map_or(0, Decoder::queue_size)
    }

    /// Whether an error closed the decoder.
    pub fn decoder_closed(&self) -> bool {
        self.decoder
            .borrow()
            .as_ref()
            .is_some_and(Decoder::is_closed)
    }

    /// Hand an event to the player, then carry out what it decided.
    pub fn video<R>(&self, event: impl FnOnce(&mut VideoPlayer, f64) -> R) -> R {
        let result = event(&mut self.player.borrow_mut(), self.now_ms());
        self.carry_out();
        result
    }

    fn carry_out(&self) {
        loop {
            let Some(action) = self.player.borrow_mut().poll_action() else {
                return;
            };
            match action {
                Action::Decode(chunk) => {
                    let decoded = match self.decoder.borrow().as_ref() {
                        Some(decoder) => decoder.decode(&chunk),
                        None => Ok(()),
                    };
                    if decoded.is_err() {
                        self.decoder_failed();
                    }
                }
                Action::Configure(rendition) => {
                    let configured = match self.decoder.borrow_mut().as_mut() {
                        Some(decoder) => decoder.configure(rendition),
                        None => Ok(()),
                    };
                    if configured.is_err() {
                        self.decoder_failed();
                    }
                }
                Action::Subscribe(rendition) => self.request(TrackRequest::Subscribe(rendition)),
                Action::Unsubscribe(rendition) => {
                    self.request(TrackRequest::Unsubscribe(rendition))
                }
                Action::Paint(frame) => self.paint(frame),
                Action::Close(frame) => frame.close(),
            }
        }
    }

    fn request(&self, request: TrackRequest) {
        if let Some(requests) = self.track_requests.borrow().as_ref() {
            // The reader is gone only when video stopped, which makes the request moot.
            let _ = requests.unbounded_send(request);
        }
    }

    fn paint(&self, frame: VideoFrame) {
        if self.closed.get() {
            frame.close();
            return;
        }
        // The probe notes when a flash's frame was captured as well as painted.
        let probe = self.probe.as_ref().map(|probe| {
            let captured_unix_ms = self.telemetry().captured_unix_ms(frame.timestamp());
            (probe, captured_unix_ms)
        });
        let painted = match self.painter.borrow().as_ref() {
            Some(painter) => painter.paint(frame, probe, self.now_unix_ms()),
            None => {
                frame.close();
                Err(())
            }
        };
        let mut player = self.player.borrow_mut();
        match painted {
            Ok(paint) => player.painted(paint.timestamp_us, paint.unix_ms, paint.size),
            Err(()) => player.paint_failed(),
        }
    }

    /// The decoder failed (an error closed it, or `decode()` threw): build a fresh one and
    /// let the player resume at the next keyframe.
    pub fn decoder_failed(&self) {
        let rebuilt = self.decoder.borrow_mut().as_mut().map(Decoder::rebuild);
        if let Some(Err(why)) = rebuilt {
            self.on(Event::Failed(why));
            return;
        }
        self.video(|player, now| player.decoder_failed(now));
    }

    /// Playback stopped: forget what waits to be decoded or painted (it counts as dropped).
    pub fn stop_video(&self) {
        self.video(|player, _| player.stop());
    }

    pub fn close(&self) {
        self.closed.set(true);
        if let Some(painter) = self.painter.borrow().as_ref() {
            painter.remove();
        }
        self.set_decoder(None);
        self.stop_video();
        self.on(Event::Closed);
    }
}
