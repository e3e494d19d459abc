//! The hang catalog (`catalog.json`) as this viewer reads it: the video and audio renditions
//! and the root clock. Small local serde types instead of `hang::Catalog`, so the wasm doesn't carry
//! hang's regex-based codec parsing; everything the viewer ignores (data tracks, unknown
//! fields) is skipped rather than validated.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::clock::Clock;

/// The catalog track's name in every hang broadcast.
pub const TRACK: &str = "catalog.json";

/// The parts of a hang catalog the viewer uses.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Catalog {
    pub video: Video,
    pub audio: Audio,
    pub clock: Option<Clock>,
}

/// `audio`: the audio renditions, keyed by track name. A malformed audio rendition is kept
/// with its problem rather than failing the whole catalog: the video still plays.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Audio {
    pub renditions: BTreeMap<String, AudioRendition>,
}

impl<'de> Deserialize<'de> for Audio {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Wire {
            renditions: BTreeMap<String, serde_json::Value>,
        }
        let wire = Wire::deserialize(deserializer)?;
        let renditions = wire
            .renditions
            .into_iter()
            .map(|(name, value)| {
                let rendition =
                    AudioRendition::deserialize(value).unwrap_or_else(|err| AudioRendition {
                        codec: String::new(),
                        sample_rate: 0,
                        number_of_channels: 0,
                        description: None,
                        bitrate: None,
                        container: Container::Legacy,
                        broadcast: None,
                        problem: Some(format!("malformed audio rendition: {err}")),
                    });
                (name, rendition)
            })
            .collect();
        Ok(Self { renditions })
    }
}

/// One audio rendition: a WebCodecs `AudioDecoderConfig` plus how its frames travel.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioRendition {
    /// WebCodecs codec string, e.g. `opus` or `mp4a.40.2`.
    pub codec: String,
    pub sample_rate: u32,
    pub number_of_channels: u32,
    /// Codec setup bytes (OpusHead, AudioSpecificConfig), hex on the wire.
    #[serde(default, deserialize_with = "hex_bytes")]
    pub description: Option<Vec<u8>>,
    pub bitrate: Option<u64>,
    #[serde(default)]
    pub container: Container,
    /// Set when the track lives in another broadcast, which this viewer doesn't follow.
    pub broadcast: Option<String>,
    /// Why the rendition could not be read, when it could not.
    #[serde(skip)]
    pub problem: Option<String>,
}

impl AudioRendition {
    /// Whether `other` decodes and travels like this one. Publishers update measured fields (the
    /// bitrate) as they go; only a change in what the decoder or the reader needs restarts
    /// playback.
    pub fn plays_like(&self, other: &Self) -> bool {
        (
            &self.codec,
            self.sample_rate,
            self.number_of_channels,
            &self.description,
            &self.container,
            &self.broadcast,
        ) == (
            &other.codec,
            other.sample_rate,
            other.number_of_channels,
            &other.description,
            &other.container,
            &other.broadcast,
        )
    }

    /// Why this viewer cannot play the rendition whatever the browser supports, if it can't.
    pub fn unplayable_reason(&self) -> Option<String> {
        if let Some(problem) = &self.problem {
            return Some(problem.clone());
        }
        refusal(&self.container, self.broadcast.as_deref())
    }

    /// `codec rate Hz ×channels`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {} Hz x{}",
            self.codec, self.sample_rate, self.number_of_channels
        )
    }
}

/// Why a rendition in `container`, living in `broadcast`, cannot be played by this viewer.
fn refusal(container: &Container, broadcast: Option<&str>) -> Option<String> {
    if let Container::Other(kind) = container {
        return Some(format!(
            "container \"{kind}\" is not supported (only \"legacy\")"
        ));
    }
    if broadcast.is_some_and(|path| !path.is_empty()) {
        return Some("the track lives in another broadcast".into());
    }
    None
}

/// `video`: the video renditions, keyed by track name.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Video {
    pub renditions: BTreeMap<String, Rendition>,
}

/// One video rendition: a WebCodecs `VideoDecoderConfig` plus where and how its frames travel.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendition {
    /// WebCodecs codec string, e.g. `avc1.640020`.
    pub codec: String,
    /// Codec setup bytes (the avcC for H.264), hex on the wire.
    #[serde(default, deserialize_with = "hex_bytes")]
    pub description: Option<Vec<u8>>,
    pub coded_width: Option<u32>,
    pub coded_height: Option<u32>,
    #[serde(alias = "displayRatioWidth")]
    pub display_aspect_width: Option<u32>,
    #[serde(alias = "displayRatioHeight")]
    pub display_aspect_height: Option<u32>,
    pub bitrate: Option<u64>,
    pub framerate: Option<f64>,
    #[serde(default)]
    pub container: Container,
    /// Set when the track lives in another broadcast, which this viewer doesn't follow.
    pub broadcast: Option<String>,
}

/// How a rendition's frames are framed on the wire.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Container {
    /// A QUIC varint microsecond timestamp followed by the codec payload.
    #[default]
    Legacy,
    /// Anything else (`cmaf`, `loc`, future kinds), by its `kind`.
    Other(String),
}

/// Why the catalog could not be read at all.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogError(pub String);

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "undecodable catalog: {}", self.0)
    }
}

impl Catalog {
    /// Parse a catalog from its JSON value (a snapshot with any merge patches applied).
    pub fn from_value(value: &serde_json::Value) -> Result<Self, CatalogError> {
        if !value.is_object() {
            return Err(CatalogError("the catalog is not a JSON object".into()));
        }
        Self::deserialize(value).map_err(|err| CatalogError(err.to_string()))
    }

    /// The video renditions, best first: largest picture, then the codec that does more with
    /// its bits (the same picture in HEVC and in H.264, as `publisher --codec hevc,h264` sends
    /// it: HEVC first, in an order a bitrate figure never flips), then highest bitrate; unknown
    /// sizes rank last and ties keep track-name order (hang's own ranking).
    pub fn ranked_video(&self) -> Vec<(&str, &Rendition)> {
        let mut ranked: Vec<_> = self
            .video
            .renditions
            .iter()
            .map(|(name, rendition)| (name.as_str(), rendition))
            .collect();
        ranked.sort_by_key(|(_, rendition)| {
            std::cmp::Reverse((
                rendition.area(),
                rendition.codec_generation(),
                rendition.bitrate,
            ))
        });
        ranked
    }

    /// The audio rendition to play: the one with the most channels, then the highest bitrate
    /// (ties keep track-name order).
    pub fn best_audio(&self) -> Option<(&str, &AudioRendition)> {
        self.audio
            .renditions
            .iter()
            .rev()
            .max_by_key(|(_, rendition)| (rendition.number_of_channels, rendition.bitrate))
            .map(|(name, rendition)| (name.as_str(), rendition))
    }
}

impl Rendition {
    /// Whether `other` decodes and travels like this one: a new measured bitrate or frame rate
    /// in the catalog is no reason to restart playback.
    pub fn plays_like(&self, other: &Self) -> bool {
        (
            &self.codec,
            &self.description,
            self.coded_width,
            self.coded_height,
            self.display_aspect_width,
            self.display_aspect_height,
            &self.container,
            &self.broadcast,
        ) == (
            &other.codec,
            &other.description,
            other.coded_width,
            other.coded_height,
            other.display_aspect_width,
            other.display_aspect_height,
            &other.container,
            &other.broadcast,
        )
    }

    /// What decoding it costs relative to other renditions: pixels × frame rate (30 fps when
    /// the catalog does not say).
    pub fn decode_cost(&self) -> f64 {
        self.area().max(1) as f64 * self.framerate.filter(|fps| *fps > 0.0).unwrap_or(30.0)
    }

    /// Newer codecs carry the same picture in fewer bits: AV1 over HEVC and VP9 over H.264.
    fn codec_generation(&self) -> u8 {
        let family = self.codec.split('.').next().unwrap_or_default();
        match family {
            "av01" => 3,
            "hvc1" | "hev1" | "vp09" => 2,
            "avc1" | "avc3" => 1,
            _ => 0,
        }
    }

    fn area(&self) -> u64 {
        u64::from(self.coded_width.unwrap_or(0)) * u64::from(self.coded_height.unwrap_or(0))
    }

    /// Why this viewer cannot play the rendition whatever the browser supports, if it can't.
    pub fn unplayable_reason(&self) -> Option<String> {
        refusal(&self.container, self.broadcast.as_deref())
    }

    /// `codec WxH`, for messages and the stats line.
    pub fn describe(&self) -> String {
        match (self.coded_width, self.coded_height) {
            (Some(width), Some(height)) => format!("{} {width}x{height}", self.codec),
            _ => self.codec.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Container {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            kind: Option<String>,
        }
        Ok(match Wire::deserialize(deserializer)?.kind.as_deref() {
            Some("legacy") => Container::Legacy,
            Some(kind) => Container::Other(kind.to_owned()),
            None => Container::Other("(no kind)".to_owned()),
        })
    }
}

fn hex_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<u8>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    crate::hex::decode(&text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("description: expected hex"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What moq-mux's FLV import publishes for an H.264 stream.
    const FLV_CATALOG: &str = r#"{
        "video": {"renditions": {"0.flv-v": {
            "codec": "avc1.640020", "description": "0164001fffe1",
            "codedWidth": 1280, "codedHeight": 720, "framerate": 60,
            "container": {"kind": "legacy"}, "jitter": 17
        }}},
        "audio": {"renditions": {}},
        "clock": {"wall": 186000000000000, "timescale": 1000000},
        "somethingNew": [1, 2, 3]
    }"#;

    fn parse(json: &str) -> Result<Catalog, CatalogError> {
        let value: serde_json::Value = serde_json::from_str(json).expect("test JSON");
        Catalog::from_value(&value)
    }

    #[test]
    fn reads_an_flv_import_catalog() {
        let catalog = parse(FLV_CATALOG).expect("parses");
        let ranked = catalog.ranked_video();
        assert_eq!(ranked.len(), 1);
        let (name, rendition) = ranked[0];
        assert_eq!(name, "0.flv-v");
        assert_eq!(rendition.codec, "avc1.640020");
        assert_eq!(
            rendition.description.as_deref(),
            Some(&[0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1][..])
        );
        assert_eq!(
            (rendition.coded_width, rendition.coded_height),
            (Some(1280), Some(720))
        );
        assert_eq!(rendition.container, Container::Legacy);
        assert_eq!(rendition.unplayable_reason(), None);
        assert_eq!(rendition.describe(), "avc1.640020 1280x720");
        assert_eq!(
            catalog.clock,
            Some(Clock::new(186_000_000_000_000, 1_000_000).expect("clock"))
        );
    }

    #[test]
    fn decode_cost_is_pixels_times_frame_rate() {
        let catalog: Catalog = serde_json::from_str(
            r#"{"video":{"renditions":{
                "main": {"codec":"avc1.640020","codedWidth":1280,"codedHeight":720,"framerate":60},
                "light": {"codec":"avc1.64001e","codedWidth":640,"codedHeight":360}
            }}}"#,
        )
        .expect("parses");
        let ranked = catalog.ranked_video();
        assert_eq!(ranked[0].1.decode_cost(), 1280.0 * 720.0 * 60.0);
        assert_eq!(ranked[1].1.decode_cost(), 640.0 * 360.0 * 30.0);
    }

    #[test]
    fn ranks_larger_pictures_then_higher_bitrates_first() {
        let catalog = parse(
            r#"{"video":{"renditions":{
                "a": {"codec":"avc1.42e01e","codedWidth":640,"codedHeight":360},
                "b": {"codec":"avc1.640028","codedWidth":1920,"codedHeight":1080,"bitrate":1000},
                "c": {"codec":"avc1.640028","codedWidth":1920,"codedHeight":1080,"bitrate":6000},
                "d": {"codec":"avc1.640028"}
            }}}"#,
        )
        .expect("parses");
        assert_eq!(ranked_names(&catalog), ["c", "b", "a", "d"]);
    }

    fn ranked_names(catalog: &Catalog) -> Vec<&str> {
        catalog
            .ranked_video()
            .iter()
            .map(|(name, _)| *name)
            .collect()
    }

    #[test]
    fn the_same_picture_in_a_newer_codec_ranks_first_whatever_the_bitrates() {
        let catalog = parse(
            r#"{"video":{"renditions":{
                "0": {"codec":"avc1.64001f","codedWidth":1280,"codedHeight":720,"bitrate":4600000},
                "1": {"codec":"hvc1.1.6.L93.90","codedWidth":1280,"codedHeight":720,"bitrate":3900000},
                "2": {"codec":"avc1.64001e","codedWidth":640,"codedHeight":360,"bitrate":900000}
            }}}"#,
        )
        .expect("parses");
        assert_eq!(ranked_names(&catalog), ["1", "0", "2"]);
    }

    #[test]
    fn container_defaults_to_legacy_and_flags_others() {
        let catalog = parse(
            r#"{"video":{"renditions":{
                "plain": {"codec":"vp09.00.10.08"},
                "cmaf": {"codec":"avc1.640028","container":{"kind":"cmaf","init":"AAEC"}},
                "far": {"codec":"avc1.640028","broadcast":"../other"}
            }}}"#,
        )
        .expect("parses");
        let renditions = &catalog.video.renditions;
        assert_eq!(renditions["plain"].container, Container::Legacy);
        assert_eq!(renditions["plain"].unplayable_reason(), None);
        assert!(
            renditions["cmaf"]
                .unplayable_reason()
                .expect("refused")
                .contains("cmaf")
        );
        assert!(
            renditions["far"]
                .unplayable_reason()
                .expect("refused")
                .contains("another broadcast")
        );
    }

    #[test]
    fn an_audio_only_catalog_has_no_video() {
        let catalog = parse(
            r#"{"audio":{"renditions":{"a":{"codec":"opus","sampleRate":48000,"numberOfChannels":2}}}}"#,
        )
        .expect("parses");
        assert!(catalog.ranked_video().is_empty());
        assert_eq!(catalog.clock, None);
        assert_eq!(catalog.best_audio().map(|(name, _)| name), Some("a"));
    }

    /// What moq-mux's TS import publishes for the publisher's Opus track.
    #[test]
    fn reads_an_opus_rendition() {
        let catalog = parse(
            r#"{"audio":{"renditions":{"0.opus":{
                "codec":"opus","sampleRate":48000,"numberOfChannels":2,"bitrate":128000,
                "description":"4f707573486561640102380180bb00000000","container":{"kind":"legacy"},
                "jitter":10
            }}}}"#,
        )
        .expect("parses");
        let (name, audio) = catalog.best_audio().expect("audio");
        assert_eq!(name, "0.opus");
        assert_eq!(audio.describe(), "opus 48000 Hz x2");
        assert_eq!(audio.description.as_deref().map(<[u8]>::len), Some(18));
        assert_eq!(audio.unplayable_reason(), None);
    }

    #[test]
    fn measured_fields_changing_is_the_same_stream_a_new_codec_is_not() {
        let before = parse(FLV_CATALOG).expect("parses");
        let mut after = before.clone();
        let video = after.video.renditions.values_mut().next().expect("video");
        video.bitrate = Some(4_400_000);
        video.framerate = Some(59.9);
        let original = before.video.renditions.values().next().expect("video");
        assert!(original.plays_like(video));
        video.coded_width = Some(1920);
        assert!(!original.plays_like(video));

        let opus = parse(
            r#"{"audio":{"renditions":{"a":{"codec":"opus","sampleRate":48000,"numberOfChannels":2}}}}"#,
        )
        .expect("parses");
        let (_, audio) = opus.best_audio().expect("audio");
        let mut louder = audio.clone();
        louder.bitrate = Some(144_000);
        assert!(audio.plays_like(&louder));
        louder.number_of_channels = 1;
        assert!(!audio.plays_like(&louder));
    }

    #[test]
    fn a_malformed_audio_rendition_leaves_the_video_playable() {
        let catalog = parse(
            r#"{"video":{"renditions":{"v":{"codec":"avc1.640020"}}},
                "audio":{"renditions":{"a":{"codec":"opus","description":"zz"}}}}"#,
        )
        .expect("the catalog still parses");
        assert_eq!(catalog.ranked_video().len(), 1);
        let (_, audio) = catalog.best_audio().expect("kept");
        let reason = audio.unplayable_reason().expect("refused");
        assert!(reason.starts_with("malformed audio rendition"), "{reason}");
    }

    #[test]
    fn the_best_audio_has_the_most_channels_then_the_highest_bitrate() {
        let catalog = parse(
            r#"{"audio":{"renditions":{
                "mono": {"codec":"opus","sampleRate":48000,"numberOfChannels":1,"bitrate":96000},
                "low": {"codec":"opus","sampleRate":48000,"numberOfChannels":2,"bitrate":32000},
                "high": {"codec":"opus","sampleRate":48000,"numberOfChannels":2,"bitrate":128000}
            }}}"#,
        )
        .expect("parses");
        assert_eq!(catalog.best_audio().map(|(name, _)| name), Some("high"));
    }

    #[test]
    fn bad_fields_are_clear_errors_not_panics() {
        let err =
            parse(r#"{"video":{"renditions":{"v":{"codec":"avc1","description":"AUIAKv/h"}}}}"#)
                .expect_err("base64 is not hex");
        assert!(err.to_string().contains("expected hex"), "{err}");

        let err =
            parse(r#"{"video":{"renditions":{"v":{"codedWidth":5}}}}"#).expect_err("no codec");
        assert!(err.to_string().starts_with("undecodable catalog:"), "{err}");

        assert!(parse(r#"{"video":"yes"}"#).is_err());
        assert!(parse(r#"[]"#).is_err());
    }
}
