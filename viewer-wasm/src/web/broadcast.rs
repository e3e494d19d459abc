//! Follows one broadcast on a connected session: waits for its announcement, plays it while
//! it is announced (catalog → renditions → video and audio tracks → decoders), stops when it
//! is unannounced and starts again when it returns, or when it is announced again by a newer
//! publisher (the newest publisher of a name is the one watched). A broadcast may have video, audio or both;
//! audio that cannot play never stops the video.

use std::convert::Infallible;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures::future::{Either, LocalBoxFuture, pending, select};
use moq_net::{Path, Pattern, Patterns, broadcast, origin, track};

use super::audio_track;
use super::catalog_track::CatalogTrack;
use super::decoder::{self, Decoder};
use super::shared::Shared;
use super::video_track;
use crate::audio::status::AudioState;
use crate::catalog::{self, AudioRendition, Catalog, Rendition};
use crate::player::catalog_update;
use crate::selection::{self, Acceleration};
use crate::state::Event;
use crate::telemetry::Playing;

/// Subscriber priorities, as hang orders them: the catalog preempts the media.
const CATALOG_PRIORITY: u8 = 100;
/// Audio is small and a gap in it is heard: it goes before video.
const AUDIO_PRIORITY: u8 = 80;
/// How long an audio group may trail the newest one and still be delivered.
const AUDIO_MAX_AGE: Duration = Duration::from_millis(200);

/// Pause before playing an announced broadcast again after its playback stopped by itself.
pub const REPLAY_DELAY: Duration = Duration::from_secs(1);

/// Follow the broadcast `name` until the session's origin closes.
pub async fn follow(
    shared: Rc<Shared>,
    origin: origin::Consumer,
    name: String,
) -> Result<Infallible, String> {
    let gone = || {
        shared.stop_video();
        shared.on(Event::Gone);
    };
    let play = |origin, path| {
        // A replaced playback's picture stops before the newer one starts.
        shared.stop_video();
        Box::pin(replay(shared.clone(), origin, path)) as LocalBoxFuture<_>
    };
    follow_announced(origin, name, gone, play).await
}

/// Run `play` for the broadcast `name` while it is announced on `origin` (dropping it when it
/// goes away, and calling `gone`; starting it afresh when it is announced again), until the
/// origin closes.
pub async fn follow_announced(
    origin: origin::Consumer,
    name: String,
    mut gone: impl FnMut(),
    mut play: impl FnMut(origin::Consumer, Path<'static>) -> LocalBoxFuture<'static, Infallible>,
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
            gone();
        } else {
            // Announced again while playing: a newer publisher of the name (a second one, or
            // the same one reconnected). The relay serves new requests from the newest one but
            // leaves open subscriptions on the old, so play the name afresh.
            drop(playing.take());
            playing = Some(play(origin.clone(), path.to_owned()));
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
        shared.stop_video();
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
        let video = choose(&catalog).await;
        let audio = choose_audio(shared, &catalog).await;
        let mut video_error = None;
        let video = match (video, &audio) {
            (Ok(Some(video)), _) => Some(video),
            (Ok(None), Some(_)) => None,
            // Sound without its picture: play it, and say why there is no picture.
            (Err(message), Some(_)) => {
                video_error = Some(message);
                None
            }
            (Ok(None), None) => {
                let why = shared.telemetry().audio.error.clone();
                shared.on(Event::Failed(match why {
                    Some(why) => format!("the broadcast has no video, and its audio: {why}"),
                    None => "the broadcast has no video or audio".into(),
                }));
                next = catalogs.next().await;
                continue;
            }
            (Err(message), None) => {
                shared.on(Event::Failed(message));
                next = catalogs.next().await;
                continue;
            }
        };

        let mut video_decoder = None;
        if let Some(ladder) = &video {
            let configs = ladder
                .rungs
                .iter()
                .map(|(_, rendition, acceleration)| decoder::config(rendition, *acceleration))
                .collect();
            video_decoder = Some(Decoder::new(shared, configs, ladder.start)?);
            shared.set_captured_width(ladder.rungs[0].1.coded_width);
        }
        if let Some((_, rendition)) = &audio {
            shared.telemetry().audio.start(
                &rendition.codec,
                rendition.sample_rate,
                rendition.number_of_channels,
            );
        }
        let starting = video.as_ref().map(VideoLadder::starting);
        let playing = Playing {
            codec: starting.map(|(_, rendition, _)| rendition.codec.as_str()),
            video_error: video_error.as_deref(),
            size: starting
                .and_then(|(_, rendition, _)| rendition.coded_width.zip(rendition.coded_height)),
            acceleration: starting.map_or(Acceleration::NoPreference, |(_, _, acceleration)| {
                *acceleration
            }),
            clock: catalog.clock,
        };
        shared.telemetry().playing(playing, shared.now_ms());

        let playing_video: Vec<(String, Rendition)> = video
            .iter()
            .flat_map(|ladder| &ladder.rungs)
            .map(|(name, rendition, _)| (name.clone(), rendition.clone()))
            .collect();
        let video_ends = async {
            match (video_decoder.take(), &video) {
                (Some(decoder), Some(ladder)) => {
                    let names: Vec<String> =
                        playing_video.iter().map(|(name, _)| name.clone()).collect();
                    let costs = playing_video
                        .iter()
                        .map(|(_, rendition)| rendition.decode_cost())
                        .collect();
                    video_track::play(shared, &broadcast, &names, costs, ladder.start, decoder)
                        .await;
                    Ok(())
                }
                _ => pending().await,
            }
        };
        let audio_ends = async {
            if let Some((name, rendition)) = &audio {
                match audio_track::play(shared, &broadcast, name, rendition, catalog.clock).await {
                    Ok(()) => shared.telemetry().audio.stop(),
                    Err(why) => audio_track::failed(shared, why),
                }
                if video.is_none() {
                    return Ok(());
                }
            }
            pending().await
        };
        let (video_ends, audio_ends) = (pin!(video_ends), pin!(audio_ends));
        let mut playback = pin!(select(video_ends, audio_ends));
        loop {
            match select(playback.as_mut(), pin!(catalogs.next())).await {
                Either::Left((ended, _)) => return ended.factor_first().0,
                Either::Right((update, _)) => {
                    let keep_playing = match &update {
                        Ok(Some(Ok(update))) => {
                            let playing = catalog_update::Playing {
                                catalog: &catalog,
                                video: &playing_video,
                                audio: audio
                                    .as_ref()
                                    .map(|(name, rendition)| (name.as_str(), rendition)),
                            };
                            !catalog_update::restarts(playing, update)
                        }
                        // An unreadable update: the media itself still plays.
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

/// The video renditions playback may switch between, and where it starts.
struct VideoLadder {
    /// Track name, rendition and decoder acceleration, ranked best first.
    rungs: Vec<(String, Rendition, Acceleration)>,
    start: usize,
}

impl VideoLadder {
    fn starting(&self) -> &(String, Rendition, Acceleration) {
        &self.rungs[self.start]
    }
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
        .with_priority(AUDIO_PRIORITY)
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
