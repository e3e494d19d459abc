//! Follows one broadcast on a connected session for the page: the [`Session`] core decides
//! (when to open the broadcast, what of each catalog plays, when a catalog update restarts
//! playback, when to play again); this carries the announcements, the catalog track, the
//! browser's codec probes and the tracks' endings in, and opens, probes, plays and reports as
//! the core's actions say. A broadcast may have video, audio or both; audio that cannot play
//! never stops the video.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::future::LocalBoxFuture;
use moq_net::{Path, Pattern, Patterns, broadcast, origin, track};

use super::audio_track;
use super::catalog_track::CatalogTrack;
use super::decoder::{self, Decoder};
use super::shared::Shared;
use super::video_track;
use crate::audio::status::AudioState;
use crate::catalog::{self, AudioRendition, Catalog};
use crate::player::priority;
use crate::player::session::{Action, CatalogRead, Plan, Playable, Session, VideoLadder};
use crate::selection;

/// How long an audio group may trail the newest one and still be delivered.
const AUDIO_MAX_AGE: Duration = Duration::from_millis(200);

/// Follow the broadcast `name` until the session's origin closes: the [`Session`] core
/// decides, this carries its events in and its actions out.
pub async fn follow(
    shared: Rc<Shared>,
    origin: origin::Consumer,
    name: String,
) -> Result<Infallible, String> {
    let mut announcements = Announcements::new(&origin, name)?;
    let mut session = Session::default();
    let mut glue = Glue {
        shared: shared.clone(),
        origin: announcements.origin.clone(),
        path: announcements.path.clone(),
        opened: None,
        catalogs: None,
        opening: None,
        probe: None,
        video: None,
        audio: None,
        wake: None,
    };
    loop {
        let input = {
            let mut announcement = pin!(announcements.next());
            let mut catalog = glue
                .catalogs
                .as_mut()
                .map(|catalogs| Box::pin(catalogs.next()));
            poll_fn(|cx| {
                if let Poll::Ready(active) = announcement.as_mut().poll(cx) {
                    return Poll::Ready(Input::Announcement(active));
                }
                if let Some(read) = catalog.as_mut()
                    && let Poll::Ready(read) = read.as_mut().poll(cx)
                {
                    return Poll::Ready(Input::Catalog(catalog_read(read)));
                }
                if let Poll::Ready(opened) = poll_slot(&mut glue.opening, cx) {
                    return Poll::Ready(Input::Opened(opened.map(Box::new)));
                }
                if let Poll::Ready(playable) = poll_slot(&mut glue.probe, cx) {
                    return Poll::Ready(Input::Probed(playable));
                }
                if let Poll::Ready(()) = poll_slot(&mut glue.video, cx) {
                    return Poll::Ready(Input::VideoEnded);
                }
                if let Poll::Ready(()) = poll_slot(&mut glue.audio, cx) {
                    return Poll::Ready(Input::AudioEnded);
                }
                if let Poll::Ready(()) = poll_slot(&mut glue.wake, cx) {
                    return Poll::Ready(Input::Wake);
                }
                Poll::Pending
            })
            .await
        };
        let now_ms = shared.now_ms();
        let actions = match input {
            Input::Announcement(None) => return Err("the session's origin closed".into()),
            Input::Announcement(Some(true)) => session.announced(),
            Input::Announcement(Some(false)) => session.unannounced(),
            Input::Opened(Ok(opened)) => {
                let (broadcast, catalogs) = *opened;
                glue.opened = Some(broadcast);
                glue.catalogs = Some(catalogs);
                Vec::new()
            }
            Input::Opened(Err(why)) => session.ended(Err(why), now_ms),
            Input::Catalog(read) => session.catalog(read, now_ms),
            Input::Probed(playable) => session.probed(playable),
            Input::VideoEnded => session.video_ended(now_ms),
            Input::AudioEnded => session.audio_ended(now_ms),
            Input::Wake => session.tick(now_ms),
        };
        let mut queue = VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            if let Err(why) = glue.act(action, now_ms) {
                queue.extend(session.ended(Err(why), shared.now_ms()));
            }
        }
    }
}

/// What happened, for the session core.
enum Input {
    /// The broadcast announced (`true`) or unannounced; `None`: the origin closed.
    Announcement(Option<bool>),
    Opened(Result<Box<(broadcast::Consumer, CatalogTrack)>, String>),
    Catalog(CatalogRead),
    Probed(Playable),
    VideoEnded,
    AudioEnded,
    Wake,
}

fn catalog_read(
    read: Result<Option<Result<Catalog, catalog::CatalogError>>, moq_net::Error>,
) -> CatalogRead {
    match read {
        Ok(Some(Ok(catalog))) => CatalogRead::Catalog(catalog),
        Ok(Some(Err(err))) => CatalogRead::Unreadable(err.to_string()),
        Ok(None) => CatalogRead::Ended(Ok(())),
        Err(err) => CatalogRead::Ended(Err(err.to_string())),
    }
}

/// What the page has opened for the broadcast, and carries the core's actions out on.
struct Glue {
    shared: Rc<Shared>,
    origin: origin::Consumer,
    path: Path<'static>,
    opened: Option<broadcast::Consumer>,
    catalogs: Option<CatalogTrack>,
    opening: Slot<Result<(broadcast::Consumer, CatalogTrack), String>>,
    probe: Slot<Playable>,
    video: Slot<()>,
    audio: Slot<()>,
    wake: Slot<()>,
}

impl Glue {
    /// Carry out `action` at `now_ms`; `Err` when playing could not start (and why).
    fn act(&mut self, action: Action, now_ms: f64) -> Result<(), String> {
        match action {
            Action::Close => {
                self.stop_media();
                (self.opened, self.catalogs, self.opening, self.wake) = (None, None, None, None);
                self.shared.stop_video();
            }
            Action::Open => {
                let (origin, path) = (self.origin.clone(), self.path.clone());
                self.opening = Some(Box::pin(async move { open(&origin, &path).await }));
            }
            Action::Probe(catalog) => {
                let shared = self.shared.clone();
                self.probe = Some(Box::pin(async move { probe(&shared, &catalog).await }));
            }
            Action::StopMedia => self.stop_media(),
            Action::Play(plan) => self.play(*plan, now_ms)?,
            Action::Report(event) => self.shared.on(event),
            Action::WakeAt(at_ms) => {
                let wait = Duration::from_secs_f64((at_ms - now_ms).max(0.0) / 1000.0);
                self.wake = Some(Box::pin(super::timer::sleep(wait)));
            }
        }
        Ok(())
    }

    fn stop_media(&mut self) {
        (self.probe, self.video, self.audio) = (None, None, None);
    }

    /// Start the decoders and the tracks `plan` chose.
    fn play(&mut self, plan: Plan, now_ms: f64) -> Result<(), String> {
        let broadcast = self.opened.clone().ok_or("the broadcast is not open")?;
        let shared = &self.shared;
        if let Some(ladder) = &plan.video {
            let configs = ladder
                .rungs
                .iter()
                .map(|(_, rendition, acceleration)| decoder::config(rendition, *acceleration))
                .collect();
            let decoder = Decoder::new(shared, configs, ladder.start)?;
            shared.set_captured_width(ladder.rungs[0].1.coded_width);
            let renditions = plan.video_renditions();
            let names: Vec<String> = renditions.iter().map(|(name, _)| name.clone()).collect();
            let costs = renditions.iter().map(|(_, r)| r.decode_cost()).collect();
            let bitrates = renditions
                .iter()
                .map(|(_, r)| r.bitrate.map(|bps| bps as f64))
                .collect();
            let (shared, broadcast, start) = (shared.clone(), broadcast.clone(), ladder.start);
            self.video = Some(Box::pin(async move {
                video_track::play(&shared, &broadcast, &names, costs, bitrates, start, decoder)
                    .await;
            }));
        }
        if let Some((name, rendition)) = plan.audio.clone() {
            shared.telemetry().audio.start(
                &rendition.codec,
                rendition.sample_rate,
                rendition.number_of_channels,
            );
            let (shared, clock) = (shared.clone(), plan.catalog.clock);
            self.audio = Some(Box::pin(async move {
                match audio_track::play(&shared, &broadcast, &name, &rendition, clock).await {
                    Ok(()) => shared.telemetry().audio.stop(),
                    Err(why) => audio_track::failed(&shared, why),
                }
            }));
        }
        self.shared.telemetry().playing(plan.playing(), now_ms);
        Ok(())
    }
}

/// Request the broadcast and subscribe to its catalog.
async fn open(
    origin: &origin::Consumer,
    path: &Path<'_>,
) -> Result<(broadcast::Consumer, CatalogTrack), String> {
    let broadcast = origin
        .request_broadcast(path)
        .await
        .map_err(|err| format!("cannot open broadcast {path}: {err}"))?;
    let subscription = track::Subscription::default().with_priority(priority::CATALOG);
    let catalog_track = subscribe(&broadcast, catalog::TRACK, subscription).await?;
    Ok((broadcast, CatalogTrack::new(catalog_track)))
}

/// What this browser can play of `catalog`.
async fn probe(shared: &Shared, catalog: &Catalog) -> Playable {
    let video = choose(catalog).await;
    let audio = choose_audio(shared, catalog).await;
    let audio_refused = match audio {
        Some(_) => None,
        None => shared.telemetry().audio.error.clone(),
    };
    Playable {
        video,
        audio,
        audio_refused,
    }
}

/// A future the glue waits on beside the others, if it is running.
pub type Slot<T> = Option<LocalBoxFuture<'static, T>>;

/// Poll `slot`'s future, emptying the slot once it is done.
pub fn poll_slot<T>(slot: &mut Slot<T>, cx: &mut Context<'_>) -> Poll<T> {
    let Some(future) = slot.as_mut() else {
        return Poll::Pending;
    };
    let done = ready!(future.as_mut().poll(cx));
    *slot = None;
    Poll::Ready(done)
}

/// The announcements of one broadcast name on a session's origin.
pub struct Announcements {
    pub origin: origin::Consumer,
    pub path: Path<'static>,
    announced: moq_net::announce::Consumer,
}

impl Announcements {
    pub fn new(origin: &origin::Consumer, name: String) -> Result<Self, String> {
        let path = Path::from(name);
        let pattern = Pattern::literal(path.as_str())
            .map_err(|err| format!("bad broadcast name {path}: {err}"))?;
        let origin = origin
            .scope("", &Patterns::from(pattern))
            .map_err(|err| format!("cannot watch {path}: {err}"))?;
        let announced = origin.announced();
        Ok(Self {
            origin,
            path: path.to_owned(),
            announced,
        })
    }

    /// Whether the broadcast was next announced (`true`: by a publisher, maybe a newer one of
    /// the same name) or unannounced; `None` once the origin closes.
    pub async fn next(&mut self) -> Option<bool> {
        loop {
            let update = self.announced.next().await?;
            if self.path.has_prefix(&update.prefix) {
                return Some(update.kind.is_active());
            }
        }
    }
}

/// The video renditions the player may switch between (ranked best first, each with its
/// decoder configuration) and the one to start on: `None` when the broadcast has no video,
/// `Err` when none of its video can be played here (and why).
async fn choose(catalog: &Catalog) -> Result<Option<VideoLadder>, String> {
    let ranked = catalog.ranked_video();
    if ranked.is_empty() {
        return Ok(None);
    }
    let mut verdicts = Vec::with_capacity(ranked.len());
    for (_, rendition) in &ranked {
        verdicts.push(decoder::probe(rendition).await);
    }
    let Some((rungs, start)) = selection::ladder(&ranked, &verdicts) else {
        return Err(selection::nothing_playable(&ranked, &verdicts));
    };
    let rungs = rungs
        .into_iter()
        .map(|choice| {
            let (name, rendition) = ranked[choice.index];
            (name.to_owned(), rendition.clone(), choice.acceleration)
        })
        .collect();
    Ok(Some(VideoLadder { rungs, start }))
}

/// Pick the audio rendition to play, if the broadcast has one this browser can play; the
/// audio stats say why not otherwise.
async fn choose_audio(shared: &Shared, catalog: &Catalog) -> Option<(String, AudioRendition)> {
    let Some((name, rendition)) = catalog.best_audio() else {
        shared.telemetry().audio.stop();
        return None;
    };
    match audio_track::refusal(rendition).await {
        None => Some((name.to_owned(), rendition.clone())),
        Some(why) => {
            let mut telemetry = shared.telemetry();
            telemetry.audio.start(
                &rendition.codec,
                rendition.sample_rate,
                rendition.number_of_channels,
            );
            telemetry.audio.refuse(AudioState::Unsupported, why);
            None
        }
    }
}

/// How audio tracks are subscribed to. Audio comes in short groups (100 ms from our publisher;
/// one per packet from others); a subscription's default budget abandons a group as soon as a
/// newer one lands, which loses packets that merely crossed on the way. Late ones are kept a
/// while: the playout decides what a late packet is still good for.
pub fn audio_subscription() -> track::Subscription {
    track::Subscription::default()
        .with_priority(priority::AUDIO)
        .with_max_age(AUDIO_MAX_AGE)
}

pub async fn subscribe(
    broadcast: &broadcast::Consumer,
    name: &str,
    subscription: track::Subscription,
) -> Result<track::Subscriber, String> {
    let failed = |err: moq_net::Error| format!("cannot subscribe to track {name}: {err}");
    broadcast
        .track(name)
        .map_err(failed)?
        .subscribe(subscription)
        .await
        .map_err(failed)
}
