//! The audio worker's side (see `audio_worker.rs` for the page's): `audioWorkerMain`, called by
//! the worker's bootstrap once the viewer module is instantiated there. It keeps its own
//! WebTransport session to the relay (the page's connection code, redialling the same way),
//! follows the broadcast, subscribes to the audio track the page chose, decodes it and writes
//! it into the worklet's shared ring with the same player the page uses, on the output clock
//! and video latency the page ticks in. Its figures go back to the page every tick.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use js_sys::{Object, Reflect, SharedArrayBuffer};
use moq_net::{Path, origin};
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent, Performance};

use super::audio_output;
use super::audio_track::{self, Decoder, Host, Player};
use super::broadcast::{self, Slot, poll_slot};
use super::connection::{self, Link};
use super::ring_writer::RingWriter;
use crate::audio::status::AudioReport;
use crate::audio::worker_link::{OutputStamp, Tick, WorkerStart};
use crate::player::session::{Action, Session};
use crate::state::Event;

/// Start playing as `start` (a [`WorkerStart`] as JSON) says. Runs in the audio
/// worker only; returns once playback is under way. `buffer` is the ring's memory, shared
/// with the page's worklet.
#[wasm_bindgen(js_name = audioWorkerMain)]
pub fn audio_worker_main(start: &str, buffer: SharedArrayBuffer) -> Result<(), JsError> {
    let start: WorkerStart = serde_json::from_str(start)
        .map_err(|err| JsError::new(&format!("bad audio worker start: {err}")))?;
    let scope: DedicatedWorkerGlobalScope = js_sys::global()
        .dyn_into()
        .map_err(|_| JsError::new("audioWorkerMain runs in a dedicated worker"))?;
    let performance = scope
        .performance()
        .ok_or_else(|| JsError::new("the audio worker needs performance"))?;
    let host = Rc::new(WorkerHost {
        scope: scope.clone(),
        performance,
        tick: Cell::default(),
    });
    let onmessage = {
        let host = host.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(tick) = event.data().as_string()
                && let Ok(tick) = serde_json::from_str::<Tick>(&tick)
            {
                host.tick.set(tick);
            }
        })
    };
    scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    // The handler lives as long as the worker, which the page ends when audio stops.
    onmessage.forget();

    let ring = audio_output::ring(start.sample_rate, start.channels.max(1));
    let writer = RingWriter::shared(&buffer, ring);
    let sample_rate = f64::from(start.sample_rate);
    let player = Rc::new(RefCell::new(Player::new(
        writer,
        sample_rate,
        start.clock,
        "worker",
    )));
    wasm_bindgen_futures::spawn_local(run(start, host, player));
    Ok(())
}

/// Keep a session to the relay and play the track on each.
async fn run(start: WorkerStart, host: Rc<WorkerHost>, player: Rc<RefCell<Player>>) {
    let on = |link| match link {
        // The page's own session reports the bandwidth video competes for.
        Link::Dialling | Link::Bandwidth(_) => {}
        Link::Connected => player.borrow_mut().core.status.error = None,
        Link::Lost(why) => {
            let mut player = player.borrow_mut();
            player.core.status.error = Some(format!("audio: {why}"));
            player.report(&*host, host.now_unix_ms());
        }
    };
    let follow = |origin: origin::Consumer| {
        let (start, host, player) = (start.clone(), host.clone(), player.clone());
        async move { follow(origin, start, host, player).await }
    };
    let performance = host.performance.clone();
    connection::run(
        start.relay.clone(),
        start.fingerprint.clone(),
        start.transport,
        move || performance.now(),
        on,
        follow,
    )
    .await;
}

/// Play the track while the broadcast is announced, as the [`Session`] core says: the same
/// decisions as the page's, with [`Action::Open`] opening and playing the one track the page
/// chose (the worker reads no catalog).
async fn follow(
    origin: origin::Consumer,
    start: WorkerStart,
    host: Rc<WorkerHost>,
    player: Rc<RefCell<Player>>,
) -> Result<Infallible, String> {
    let mut announcements = broadcast::Announcements::new(&origin, start.broadcast.clone())?;
    let mut session = Session::default();
    let mut playing: Slot<Result<(), String>> = None;
    let mut wake: Slot<()> = None;
    loop {
        let input = {
            let mut announcement = pin!(announcements.next());
            poll_fn(|cx| {
                if let Poll::Ready(active) = announcement.as_mut().poll(cx) {
                    return Poll::Ready(Input::Announcement(active));
                }
                if let Poll::Ready(result) = poll_slot(&mut playing, cx) {
                    return Poll::Ready(Input::Ended(result));
                }
                if let Poll::Ready(()) = poll_slot(&mut wake, cx) {
                    return Poll::Ready(Input::Wake);
                }
                Poll::Pending
            })
            .await
        };
        let now_ms = host.performance.now();
        let actions = match input {
            Input::Announcement(None) => return Err("the session's origin closed".into()),
            Input::Announcement(Some(true)) => session.announced(),
            Input::Announcement(Some(false)) => session.unannounced(),
            Input::Ended(result) => session.ended(result, now_ms),
            Input::Wake => session.tick(now_ms),
        };
        for action in actions {
            match action {
                Action::Close => (playing, wake) = (None, None),
                Action::Open => {
                    let (origin, path) = (announcements.origin.clone(), announcements.path.clone());
                    let (start, host, player) = (start.clone(), host.clone(), player.clone());
                    playing = Some(Box::pin(async move {
                        play(&origin, &path, &start, &host, &player).await
                    }));
                }
                Action::Report(Event::Failed(why)) => {
                    player.borrow_mut().core.status.error = Some(why)
                }
                Action::WakeAt(at_ms) => {
                    let wait = Duration::from_secs_f64((at_ms - now_ms).max(0.0) / 1000.0);
                    wake = Some(Box::pin(super::timer::sleep(wait)));
                }
                // Never asked of a session that is given no catalog; the page shows the rest.
                Action::Probe(_) | Action::StopMedia | Action::Play(_) | Action::Report(_) => {}
            }
        }
    }
}

/// What happened, for the session core.
enum Input {
    /// The broadcast announced (`true`) or unannounced; `None`: the origin closed.
    Announcement(Option<bool>),
    /// The track stopped playing.
    Ended(Result<(), String>),
    Wake,
}

/// Play the track until it ends.
async fn play(
    origin: &origin::Consumer,
    path: &Path<'_>,
    start: &WorkerStart,
    host: &Rc<WorkerHost>,
    player: &Rc<RefCell<Player>>,
) -> Result<(), String> {
    let consumer = origin
        .request_broadcast(path)
        .await
        .map_err(|err| format!("cannot open broadcast {path}: {err}"))?;
    let track =
        broadcast::subscribe(&consumer, &start.track, broadcast::audio_subscription()).await?;
    let host: Rc<dyn Host> = host.clone();
    let config = audio_track::config(&start.rendition());
    let mut decoder = Decoder::new(host, player.clone(), config)?;
    audio_track::feed(track, &mut decoder, player).await
}

/// The worker as a player's host: its clock, and what the page last ticked in.
struct WorkerHost {
    scope: DedicatedWorkerGlobalScope,
    performance: Performance,
    tick: Cell<Tick>,
}

impl Host for WorkerHost {
    fn now_unix_ms(&self) -> f64 {
        self.performance.time_origin() + self.performance.now()
    }

    fn running(&self) -> bool {
        self.tick.get().running
    }

    fn output_stamp(&self, _: f64) -> Option<OutputStamp> {
        self.tick.get().output
    }

    fn video_latency_p50(&self) -> Option<f64> {
        self.tick.get().video_latency_p50
    }

    fn report(&self, report: AudioReport) {
        let Ok(report) = serde_json::to_string(&report) else {
            return;
        };
        let message = Object::new();
        let _ = Reflect::set(&message, &"report".into(), &report.into());
        let _ = self.scope.post_message(&message);
    }
}
