//! Follows one broadcast on a connected session: waits for its announcement, plays it while
//! it is announced (catalog → rendition → video track → decoder), stops when it is
//! unannounced and starts again when it returns.

use std::convert::Infallible;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures::future::{Either, LocalBoxFuture, select};
use moq_net::{Path, Pattern, Patterns, broadcast, origin, track};

use super::catalog_track::CatalogTrack;
use super::decoder::{self, Decoder};
use super::shared::Shared;
use super::video_track;
use crate::catalog::{self, Catalog, Rendition};
use crate::selection::{self, Acceleration};
use crate::state::Event;
use crate::telemetry::Playing;

/// Subscriber priorities, as hang orders them: the catalog preempts the media.
const CATALOG_PRIORITY: u8 = 100;
const VIDEO_PRIORITY: u8 = 60;

/// Pause before playing an announced broadcast again after its playback stopped by itself.
const REPLAY_DELAY: Duration = Duration::from_secs(1);

/// Follow the broadcast `name` until the session's origin closes.
pub async fn follow(
    shared: Rc<Shared>,
    origin: origin::Consumer,
    name: String,
) -> Result<Infallible, String> {
    let path = Path::from(name);
    let pattern = Pattern::literal(path.as_str())
        .map_err(|err| format!("bad broadcast name {path}: {err}"))?;
    let origin = origin
        .scope("", &Patterns::from(pattern))
        .map_err(|err| format!("cannot watch {path}: {err}"))?;
    let mut announced = origin.announced();
    let mut playing: Option<LocalBoxFuture<'static, Infallible>> = None;
    loop {
        let update = match playing.as_mut() {
            None => announced.next().await,
            Some(playback) => match select(pin!(announced.next()), playback).await {
                Either::Left((update, _)) => update,
                Either::Right((never, _)) => match never {},
            },
        };
        let Some(update) = update else {
            return Err("the session's origin closed".into());
        };
        if !path.has_prefix(&update.prefix) {
            continue;
        }
        if !update.kind.is_active() {
            playing = None;
            shared.discard_frame();
            shared.on(Event::Gone);
        } else if playing.is_none() {
            playing = Some(Box::pin(replay(
                shared.clone(),
                origin.clone(),
                path.to_owned(),
            )));
        }
    }
}

/// Play the broadcast over and over while it stays announced (the future is dropped when it
/// goes away): playback can end on its own when the publisher restarts or a track fails.
async fn replay(shared: Rc<Shared>, origin: origin::Consumer, path: Path<'static>) -> Infallible {
    loop {
        match play(&shared, &origin, &path).await {
            Ok(()) => shared.on(Event::Gone),
            Err(message) => shared.on(Event::Failed(message)),
        }
        shared.discard_frame();
        super::timer::sleep(REPLAY_DELAY).await;
    }
}

/// Play the broadcast until its tracks end (`Ok`) or something fails.
async fn play(
    shared: &Rc<Shared>,
    origin: &origin::Consumer,
    path: &Path<'_>,
) -> Result<(), String> {
    let broadcast = origin
        .request_broadcast(path)
        .await
        .map_err(|err| format!("cannot open broadcast {path}: {err}"))?;
    let subscription = track::Subscription::default().with_priority(CATALOG_PRIORITY);
    let catalog_track = subscribe(&broadcast, catalog::TRACK, subscription).await?;
    let mut catalogs = CatalogTrack::new(catalog_track);
    let mut next = catalogs.next().await;
    'catalog: loop {
        let catalog = match next.map_err(|err| format!("catalog track failed: {err}"))? {
            None => return Ok(()),
            Some(Ok(catalog)) => catalog,
            Some(Err(err)) => {
                shared.on(Event::Failed(err.to_string()));
                next = catalogs.next().await;
                continue;
            }
        };
        let (name, rendition, acceleration) = match choose(&catalog).await {
            Ok(choice) => choice,
            Err(message) => {
                shared.on(Event::Failed(message));
                next = catalogs.next().await;
                continue;
            }
        };
        let config = decoder::config(&rendition, acceleration);
        let subscription = track::Subscription::default().with_priority(VIDEO_PRIORITY);
        let video = subscribe(&broadcast, &name, subscription).await?;
        let mut decoder = Decoder::new(shared.clone(), config)?;
        let playing = Playing {
            codec: &rendition.codec,
            size: rendition.coded_width.zip(rendition.coded_height),
            acceleration,
            clock: catalog.clock,
        };
        shared
            .telemetry
            .borrow_mut()
            .playing(playing, shared.now_ms());
        let mut playback = pin!(video_track::play(shared, video, &mut decoder));
        loop {
            match select(playback.as_mut(), pin!(catalogs.next())).await {
                Either::Left((ended, _)) => return ended,
                Either::Right((update, _)) => {
                    let keep_playing = match &update {
                        Ok(Some(Ok(catalog))) => {
                            catalog.video.renditions.get(&name) == Some(&rendition)
                        }
                        // An unreadable update: the video itself still plays.
                        Ok(Some(Err(_))) => true,
                        // The catalog track ended or failed, and so has the broadcast.
                        Ok(None) | Err(_) => false,
                    };
                    if !keep_playing {
                        next = update;
                        continue 'catalog;
                    }
                }
            }
        }
    }
}

/// Pick the rendition to play, or say why there is none.
async fn choose(catalog: &Catalog) -> Result<(String, Rendition, Acceleration), String> {
    let ranked = catalog.ranked_video();
    let mut verdicts = Vec::with_capacity(ranked.len());
    for (_, rendition) in &ranked {
        verdicts.push(decoder::probe(rendition).await);
    }
    match selection::choose(&verdicts) {
        Some(choice) => {
            let (name, rendition) = ranked[choice.index];
            Ok((name.to_owned(), rendition.clone(), choice.acceleration))
        }
        None => Err(selection::nothing_playable(&ranked, &verdicts)),
    }
}

async fn subscribe(
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
