//! Whether a catalog update restarts playback. The publisher rewrites its catalog as it
//! measures (bitrate, frame rate) and when its audio comes and goes; only a change in what the
//! decoders or the readers need restarts, so a measurement never interrupts the picture.

use crate::catalog::{AudioRendition, Catalog, Rendition};

/// What is playing, as chosen from a catalog.
#[derive(Debug, Clone, Copy)]
pub struct Playing<'a> {
    /// The catalog playback started from.
    pub catalog: &'a Catalog,
    /// The video renditions the player switches between, with their track names (empty when
    /// only sound plays: the broadcast has no video, or none this browser decodes).
    pub video: &'a [(String, Rendition)],
    /// The audio rendition playing, if any.
    pub audio: Option<(&'a str, &'a AudioRendition)>,
}

/// Whether `update` changes what plays.
pub fn restarts(playing: Playing<'_>, update: &Catalog) -> bool {
    let names = |catalog: &Catalog| -> Vec<String> {
        catalog
            .ranked_video()
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect()
    };
    // Video that could not play (none this browser decodes) stays off until it changes, as
    // audio does below: compare the catalog's renditions then.
    let compared: Vec<(&str, &Rendition)> = if playing.video.is_empty() {
        playing.catalog.ranked_video()
    } else {
        playing
            .video
            .iter()
            .map(|(name, rendition)| (name.as_str(), rendition))
            .collect()
    };
    let same_video = names(playing.catalog) == names(update)
        && compared.iter().all(|(name, rendition)| {
            update
                .video
                .renditions
                .get(*name)
                .is_some_and(|new| rendition.plays_like(new))
        });
    let same_audio = match (update.best_audio(), playing.audio) {
        (Some((new_name, new)), Some((name, rendition))) => {
            new_name == name && rendition.plays_like(new)
        }
        (None, None) => true,
        // Audio that could not play stays unplayable until it changes; audio that appears is
        // picked up.
        (Some((_, new)), None) => playing
            .catalog
            .best_audio()
            .is_some_and(|(_, old)| old.plays_like(new)),
        (None, Some(_)) => false,
    };
    // A new clock (a restarted publisher) re-times everything.
    !(same_video && same_audio && update.clock == playing.catalog.clock)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The catalog `json` says (the player's tests share these).
    pub(crate) fn catalog(json: &str) -> Catalog {
        Catalog::from_value(&serde_json::from_str(json).expect("test JSON")).expect("catalog")
    }

    /// Two H.264 renditions and Opus, with a clock.
    pub(crate) const TWO: &str = r#"{"video":{"renditions":{
        "main": {"codec":"avc1.640020","codedWidth":1280,"codedHeight":720,"bitrate":4000000},
        "light": {"codec":"avc1.64001e","codedWidth":640,"codedHeight":360}
    }},"audio":{"renditions":{"a": {"codec":"opus","sampleRate":48000,"numberOfChannels":2}}},
    "clock":{"wall":1,"timescale":1000000}}"#;

    fn video(catalog: &Catalog) -> Vec<(String, Rendition)> {
        catalog
            .ranked_video()
            .into_iter()
            .map(|(name, rendition)| (name.to_owned(), rendition.clone()))
            .collect()
    }

    #[test]
    fn measurements_do_not_restart_and_changes_do() {
        let old = catalog(TWO);
        let video = video(&old);
        let audio = old.best_audio();
        let playing = Playing {
            catalog: &old,
            video: &video,
            audio,
        };
        assert!(!restarts(playing, &old));
        assert!(!restarts(
            playing,
            &catalog(&TWO.replace("4000000", "4400000"))
        ));
        // A rendition gone, a new codec, a new clock, audio gone: restart.
        let one = TWO.replace(
            r#""light": {"codec":"avc1.64001e","codedWidth":640,"codedHeight":360}"#,
            r#""other": {"codec":"avc1.64001e","codedWidth":640,"codedHeight":360}"#,
        );
        assert!(restarts(playing, &catalog(&one)));
        assert!(restarts(
            playing,
            &catalog(&TWO.replace("64001e", "64001f"))
        ));
        assert!(restarts(
            playing,
            &catalog(&TWO.replace(r#""wall":1"#, r#""wall":2"#))
        ));
        let mute = TWO.replace(
            r#""a": {"codec":"opus","sampleRate":48000,"numberOfChannels":2}"#,
            "",
        );
        assert!(restarts(playing, &catalog(&mute)));
    }

    #[test]
    fn audio_that_could_not_play_stays_off_until_it_changes() {
        let old = catalog(TWO);
        let video = video(&old);
        let playing = Playing {
            catalog: &old,
            video: &video,
            audio: None,
        };
        assert!(!restarts(playing, &old));
        assert!(restarts(playing, &catalog(&TWO.replace("48000", "44100"))));
    }

    #[test]
    fn video_that_could_not_play_stays_off_until_it_changes() {
        let hevc = TWO.replace("avc1.640020", "hvc1.1.6.L93.B0");
        let old = catalog(&hevc);
        let playing = Playing {
            catalog: &old,
            video: &[],
            audio: old.best_audio(),
        };
        assert!(!restarts(playing, &old));
        assert!(
            !restarts(playing, &catalog(&hevc.replace("4000000", "4400000"))),
            "a new measurement keeps the sound playing"
        );
        assert!(
            restarts(playing, &catalog(TWO)),
            "a codec this browser may decode is tried"
        );
        let without_video = catalog(&TWO.replace(
            r#""light": {"codec":"avc1.64001e","codedWidth":640,"codedHeight":360}"#,
            r#""other": {"codec":"avc1.64001e","codedWidth":640,"codedHeight":360}"#,
        ));
        assert!(restarts(playing, &without_video));
    }
}
