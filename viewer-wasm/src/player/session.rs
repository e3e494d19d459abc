//! The session's decisions for one broadcast, free of any browser type: when to open it (it
//! was announced, or announced again by a newer publisher), what to play of each catalog
//! (which renditions combine, and what to say when nothing plays), whether a catalog update
//! restarts playback, when playback has ended, and when to play the broadcast again.
//!
//! The glue (`web/broadcast.rs` on the page, `web/worker.rs` in the audio worker) carries
//! events in — the announcements, each catalog read, what the browser's probes found playable,
//! a track ending, the time — and carries out the [`Action`]s returned, in order. The audio
//! worker plays one track it was given and reads no catalog: for it, [`Action::Open`] opens
//! and plays that track, and [`Session::ended`] reports its end.

use crate::catalog::{AudioRendition, Catalog, Rendition};
use crate::player::catalog_update;
use crate::selection::Acceleration;
use crate::state::Event;
use crate::telemetry::Playing;

/// Pause before playing an announced broadcast again after its playback stopped by itself
/// (a publisher restarting, a track failing): long enough not to spin, short enough that a
/// restarted publisher is back at once.
pub const REPLAY_DELAY_MS: f64 = 1000.0;

/// The video renditions playback may switch between, and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoLadder {
    /// Track name, rendition and decoder acceleration, ranked best first.
    pub rungs: Vec<(String, Rendition, Acceleration)>,
    pub start: usize,
}

impl VideoLadder {
    pub fn starting(&self) -> &(String, Rendition, Acceleration) {
        &self.rungs[self.start]
    }
}

/// What this browser can play of a catalog, as the glue's probes found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Playable {
    /// `None` when the broadcast has no video, `Err` when none of it plays here (and why).
    pub video: Result<Option<VideoLadder>, String>,
    /// The audio rendition to play, if the broadcast has one that plays here.
    pub audio: Option<(String, AudioRendition)>,
    /// Why the broadcast's audio does not play here, if it has audio and it does not.
    pub audio_refused: Option<String>,
}

/// What to play, chosen from a catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub catalog: Catalog,
    pub video: Option<VideoLadder>,
    pub audio: Option<(String, AudioRendition)>,
    /// Why only sound plays though the broadcast has video.
    pub video_error: Option<String>,
}

impl Plan {
    /// The video renditions played, by track name, best first (empty when only sound plays).
    pub fn video_renditions(&self) -> Vec<(String, Rendition)> {
        self.video
            .iter()
            .flat_map(|ladder| &ladder.rungs)
            .map(|(name, rendition, _)| (name.clone(), rendition.clone()))
            .collect()
    }

    /// What the stats say is playing.
    pub fn playing(&self) -> Playing<'_> {
        let starting = self.video.as_ref().map(VideoLadder::starting);
        Playing {
            codec: starting.map(|(_, rendition, _)| rendition.codec.as_str()),
            video_error: self.video_error.as_deref(),
            size: starting
                .and_then(|(_, rendition, _)| rendition.coded_width.zip(rendition.coded_height)),
            acceleration: starting.map_or(Acceleration::NoPreference, |(_, _, acceleration)| {
                *acceleration
            }),
            clock: self.catalog.clock,
        }
    }
}

/// A read of the catalog track.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogRead {
    Catalog(Catalog),
    /// A catalog that could not be understood (and why).
    Unreadable(String),
    /// The track ended (`Ok`: the publisher finished it) or failed.
    Ended(Result<(), String>),
}

/// What the glue must do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Drop everything opened for the broadcast (media, catalog, the broadcast itself) and
    /// clear the picture. Answer nothing; inputs about what was dropped are not expected.
    Close,
    /// Request the broadcast (from its newest publisher) and read its catalog; a failure to do
    /// so is reported with [`Session::ended`].
    Open,
    /// Find what this browser can play of `catalog` (answer with [`Session::probed`]),
    /// replacing any probe still in flight.
    Probe(Catalog),
    /// Stop the media playing, keeping the broadcast and its catalog open: a catalog update
    /// changed what plays.
    StopMedia,
    /// Play this (answer with [`Session::video_ended`], [`Session::audio_ended`]).
    Play(Box<Plan>),
    /// Tell the page.
    Report(Event),
    /// Call [`Session::tick`] at this time (ms, the clock the inputs use).
    WakeAt(f64),
}

#[derive(Debug, Clone, PartialEq, Default)]
enum Phase {
    /// The broadcast is not announced.
    #[default]
    Away,
    /// Opened: waiting for a catalog.
    Reading,
    /// Waiting for what the browser can play of this catalog.
    Probing(Catalog),
    Playing(Played),
    /// Playback ended by itself: open again at this time.
    Pausing {
        until_ms: f64,
    },
}

/// What plays: what a catalog update is compared with, and which ending ends playback.
#[derive(Debug, Clone, PartialEq)]
struct Played {
    catalog: Catalog,
    video: Vec<(String, Rendition)>,
    audio: Option<(String, AudioRendition)>,
}

/// One broadcast followed on a connected session.
#[derive(Debug, Default)]
pub struct Session {
    phase: Phase,
}

impl Session {
    /// The broadcast was announced: by its first publisher, or again by a newer one (the
    /// relay serves new requests from the newest, and leaves open subscriptions on the old),
    /// so what was opened is dropped and the broadcast opened afresh.
    pub fn announced(&mut self) -> Vec<Action> {
        self.phase = Phase::Reading;
        vec![Action::Close, Action::Open]
    }

    /// The broadcast was unannounced: the publisher left.
    pub fn unannounced(&mut self) -> Vec<Action> {
        self.phase = Phase::Away;
        vec![Action::Close, Action::Report(Event::Gone)]
    }

    /// The catalog track yielded `read` at `now_ms`.
    pub fn catalog(&mut self, read: CatalogRead, now_ms: f64) -> Vec<Action> {
        match (&self.phase, read) {
            (Phase::Away | Phase::Pausing { .. }, _) => Vec::new(),
            (_, CatalogRead::Ended(Ok(()))) => self.ended(Ok(()), now_ms),
            (_, CatalogRead::Ended(Err(why))) => {
                self.ended(Err(format!("catalog track failed: {why}")), now_ms)
            }
            (Phase::Playing(played), CatalogRead::Catalog(update)) => {
                let playing = catalog_update::Playing {
                    catalog: &played.catalog,
                    video: &played.video,
                    audio: played
                        .audio
                        .as_ref()
                        .map(|(name, rendition)| (name.as_str(), rendition)),
                };
                if !catalog_update::restarts(playing, &update) {
                    return Vec::new();
                }
                self.phase = Phase::Probing(update.clone());
                vec![Action::StopMedia, Action::Probe(update)]
            }
            // An unreadable update: the media itself still plays.
            (Phase::Playing(_), CatalogRead::Unreadable(_)) => Vec::new(),
            (Phase::Reading | Phase::Probing(_), CatalogRead::Catalog(catalog)) => {
                self.phase = Phase::Probing(catalog.clone());
                vec![Action::Probe(catalog)]
            }
            (Phase::Reading | Phase::Probing(_), CatalogRead::Unreadable(why)) => {
                vec![Action::Report(Event::Failed(why))]
            }
        }
    }

    /// The probes of the catalog being probed found `playable`.
    pub fn probed(&mut self, playable: Playable) -> Vec<Action> {
        let Phase::Probing(catalog) = &self.phase else {
            return Vec::new();
        };
        let (video, video_error) = match (playable.video, &playable.audio) {
            (Ok(Some(video)), _) => (Some(video), None),
            (Ok(None), Some(_)) => (None, None),
            // Sound without its picture: play it, and say why there is no picture.
            (Err(why), Some(_)) => (None, Some(why)),
            (Ok(None), None) => {
                self.phase = Phase::Reading;
                let why = match playable.audio_refused {
                    Some(why) => format!("the broadcast has no video, and its audio: {why}"),
                    None => "the broadcast has no video or audio".into(),
                };
                return vec![Action::Report(Event::Failed(why))];
            }
            (Err(why), None) => {
                self.phase = Phase::Reading;
                return vec![Action::Report(Event::Failed(why))];
            }
        };
        let plan = Plan {
            catalog: catalog.clone(),
            video,
            audio: playable.audio,
            video_error,
        };
        self.phase = Phase::Playing(Played {
            catalog: plan.catalog.clone(),
            video: plan.video_renditions(),
            audio: plan.audio.clone(),
        });
        vec![Action::Play(Box::new(plan))]
    }

    /// The video playing ended at `now_ms`: so has the broadcast.
    pub fn video_ended(&mut self, now_ms: f64) -> Vec<Action> {
        match self.phase {
            Phase::Playing(_) => self.ended(Ok(()), now_ms),
            _ => Vec::new(),
        }
    }

    /// The audio playing ended at `now_ms` (the glue has said why in the audio stats): the
    /// picture goes on without it, and sound alone ends the playback.
    pub fn audio_ended(&mut self, now_ms: f64) -> Vec<Action> {
        match &self.phase {
            Phase::Playing(played) if played.video.is_empty() => self.ended(Ok(()), now_ms),
            _ => Vec::new(),
        }
    }

    /// What was opened ended by itself at `now_ms` (`Ok`: the publisher finished it) or
    /// failed (opening the broadcast, its catalog, a decoder): say so, and play the broadcast
    /// again after [`REPLAY_DELAY_MS`] while it stays announced.
    pub fn ended(&mut self, result: Result<(), String>, now_ms: f64) -> Vec<Action> {
        if matches!(self.phase, Phase::Away | Phase::Pausing { .. }) {
            return Vec::new();
        }
        let until_ms = now_ms + REPLAY_DELAY_MS;
        self.phase = Phase::Pausing { until_ms };
        let event = match result {
            Ok(()) => Event::Gone,
            Err(why) => Event::Failed(why),
        };
        vec![
            Action::Close,
            Action::Report(event),
            Action::WakeAt(until_ms),
        ]
    }

    /// The time is `now_ms` (at or after a [`Action::WakeAt`]).
    pub fn tick(&mut self, now_ms: f64) -> Vec<Action> {
        match self.phase {
            Phase::Pausing { until_ms } if now_ms >= until_ms => {
                self.phase = Phase::Reading;
                vec![Action::Open]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::player::catalog_update::tests::{TWO, catalog};

    /// Everything in `catalog` plays here, in hardware, starting on the best rendition.
    fn all_of(catalog: &Catalog) -> Playable {
        let rungs = catalog
            .ranked_video()
            .into_iter()
            .map(|(name, rendition)| {
                (
                    name.to_owned(),
                    rendition.clone(),
                    Acceleration::PreferHardware,
                )
            })
            .collect::<Vec<_>>();
        Playable {
            video: Ok((!rungs.is_empty()).then_some(VideoLadder { rungs, start: 0 })),
            audio: catalog
                .best_audio()
                .map(|(name, rendition)| (name.to_owned(), rendition.clone())),
            audio_refused: None,
        }
    }

    fn the_plan(actions: &[Action]) -> &Plan {
        match actions {
            [Action::Play(plan)] => plan,
            other => panic!("expected one Play, got {other:?}"),
        }
    }

    /// Announced, and `catalog` read: probing it.
    fn probing(catalog: &Catalog) -> Session {
        let mut session = Session::default();
        session.announced();
        session.catalog(CatalogRead::Catalog(catalog.clone()), 0.0);
        session
    }

    /// Announced, a catalog read and probed: playing it.
    fn playing(session: &mut Session, catalog: &Catalog) -> Plan {
        assert_eq!(session.announced(), [Action::Close, Action::Open]);
        let read = CatalogRead::Catalog(catalog.clone());
        assert_eq!(session.catalog(read, 0.0), [Action::Probe(catalog.clone())]);
        the_plan(&session.probed(all_of(catalog))).clone()
    }

    #[test]
    fn announce_catalog_play_update_gone_and_back() {
        let mut session = Session::default();
        let two = catalog(TWO);
        let plan = playing(&mut session, &two);
        assert_eq!(plan.video.as_ref().map(|v| v.rungs.len()), Some(2));
        assert_eq!(
            plan.audio.as_ref().map(|(name, _)| name.as_str()),
            Some("a")
        );
        assert_eq!(plan.playing().codec, Some("avc1.640020"));
        assert_eq!(plan.playing().size, Some((1280, 720)));

        // A new measurement: nothing to do.
        let measured = catalog(&TWO.replace("4000000", "4400000"));
        assert_eq!(session.catalog(CatalogRead::Catalog(measured), 10.0), []);
        // An unreadable update: the media plays on.
        let unreadable = CatalogRead::Unreadable("bad".into());
        assert_eq!(session.catalog(unreadable, 20.0), []);
        // A new codec: the media stops, the new catalog is probed and played.
        let recoded = catalog(&TWO.replace("64001e", "64001f"));
        assert_eq!(
            session.catalog(CatalogRead::Catalog(recoded.clone()), 30.0),
            [Action::StopMedia, Action::Probe(recoded.clone())]
        );
        let replan = the_plan(&session.probed(all_of(&recoded))).clone();
        assert_eq!(replan.catalog, recoded);

        // The publisher leaves: everything closes, and what it left is ignored.
        assert_eq!(
            session.unannounced(),
            [Action::Close, Action::Report(Event::Gone)]
        );
        assert_eq!(session.catalog(CatalogRead::Catalog(two.clone()), 40.0), []);
        assert_eq!(session.probed(all_of(&two)), []);
        assert_eq!(session.video_ended(50.0), []);
        assert_eq!(session.tick(10_000.0), []);

        // It comes back: played afresh.
        let back = playing(&mut session, &two);
        assert_eq!(back, plan);
    }

    #[test]
    fn a_newer_publisher_announcing_the_name_is_opened_afresh() {
        let mut session = Session::default();
        playing(&mut session, &catalog(TWO));
        assert_eq!(session.announced(), [Action::Close, Action::Open]);
        // The old one's media ending now is not the new one's end.
        assert_eq!(session.video_ended(5.0), []);
    }

    #[test]
    fn playback_that_ends_by_itself_is_played_again_after_the_delay() {
        let mut session = Session::default();
        playing(&mut session, &catalog(TWO));
        assert_eq!(
            session.video_ended(1_000.0),
            [
                Action::Close,
                Action::Report(Event::Gone),
                Action::WakeAt(1_000.0 + REPLAY_DELAY_MS)
            ]
        );
        assert_eq!(session.tick(1_500.0), []);
        assert_eq!(session.tick(1_000.0 + REPLAY_DELAY_MS), [Action::Open]);
        // A failure to open says why, and tries again.
        assert_eq!(
            session.ended(Err("cannot open broadcast x".into()), 3_000.0),
            [
                Action::Close,
                Action::Report(Event::Failed("cannot open broadcast x".into())),
                Action::WakeAt(3_000.0 + REPLAY_DELAY_MS)
            ]
        );
        // One ending at a time: a second report while pausing changes nothing.
        assert_eq!(session.ended(Ok(()), 3_100.0), []);
    }

    #[test]
    fn the_catalog_track_ending_ends_the_playback() {
        let mut session = Session::default();
        playing(&mut session, &catalog(TWO));
        let actions = session.catalog(CatalogRead::Ended(Err("reset".into())), 7.0);
        assert_eq!(
            actions[1],
            Action::Report(Event::Failed("catalog track failed: reset".into()))
        );
        let mut session = Session::default();
        playing(&mut session, &catalog(TWO));
        let actions = session.catalog(CatalogRead::Ended(Ok(())), 7.0);
        assert_eq!(actions[1], Action::Report(Event::Gone));
    }

    #[test]
    fn sound_ending_leaves_the_picture_and_ends_sound_alone() {
        let mut session = Session::default();
        playing(&mut session, &catalog(TWO));
        assert_eq!(session.audio_ended(1.0), []);
        assert!(matches!(session.phase, Phase::Playing(_)));

        let sound_only = catalog(
            r#"{"audio":{"renditions":{"a":{"codec":"opus","sampleRate":48000,"numberOfChannels":2}}}}"#,
        );
        let mut session = Session::default();
        let plan = playing(&mut session, &sound_only);
        assert_eq!(plan.video, None);
        assert_eq!(plan.playing().codec, None);
        assert_eq!(session.audio_ended(2.0)[1], Action::Report(Event::Gone));
    }

    #[test]
    fn video_that_cannot_play_leaves_the_sound_and_says_why() {
        let two = catalog(TWO);
        let mut session = probing(&two);
        let playable = Playable {
            video: Err("no decoder for avc1".into()),
            ..all_of(&two)
        };
        let plan = the_plan(&session.probed(playable)).clone();
        assert_eq!(plan.video, None);
        assert_eq!(plan.video_error.as_deref(), Some("no decoder for avc1"));
        assert_eq!(plan.playing().video_error, Some("no decoder for avc1"));
    }

    #[test]
    fn nothing_playable_says_why_and_waits_for_the_next_catalog() {
        let two = catalog(TWO);
        let mut session = probing(&two);
        let nothing = Playable {
            video: Err("no decoder for avc1".into()),
            audio: None,
            audio_refused: Some("no Opus decoder".into()),
        };
        assert_eq!(
            session.probed(nothing),
            [Action::Report(Event::Failed("no decoder for avc1".into()))]
        );
        let unreadable = CatalogRead::Unreadable("not JSON".into());
        assert_eq!(
            session.catalog(unreadable, 1.0),
            [Action::Report(Event::Failed("not JSON".into()))]
        );
        let empty = catalog("{}");
        session.catalog(CatalogRead::Catalog(empty.clone()), 2.0);
        let refused = Playable {
            video: Ok(None),
            audio: None,
            audio_refused: Some("no Opus decoder".into()),
        };
        assert_eq!(
            session.probed(refused),
            [Action::Report(Event::Failed(
                "the broadcast has no video, and its audio: no Opus decoder".into()
            ))]
        );
        // The next catalog is probed and played.
        session.catalog(CatalogRead::Catalog(two.clone()), 3.0);
        the_plan(&session.probed(all_of(&two)));
    }

    #[test]
    fn a_catalog_that_arrives_while_probing_is_probed_instead() {
        let two = catalog(TWO);
        let recoded = catalog(&TWO.replace("64001e", "64001f"));
        let mut session = probing(&two);
        assert_eq!(
            session.catalog(CatalogRead::Catalog(recoded.clone()), 1.0),
            [Action::Probe(recoded.clone())]
        );
        assert_eq!(the_plan(&session.probed(all_of(&recoded))).catalog, recoded);
    }
}
