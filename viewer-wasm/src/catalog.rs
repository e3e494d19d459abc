//! The hang catalog (`catalog.json`) as this viewer reads it: the video renditions and the
//! root clock. Small local serde types instead of `hang::Catalog`, so the wasm doesn't carry
//! hang's regex-based codec parsing; everything the viewer ignores (audio, data tracks,
//! unknown fields) is skipped rather than validated.

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
    pub clock: Option<Clock>,
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

    /// The video renditions, best first: largest picture, then highest bitrate; unknown sizes
    /// rank last and ties keep track-name order (hang's own ranking).
    pub fn ranked_video(&self) -> Vec<(&str, &Rendition)> {
        let mut ranked: Vec<_> = self
            .video
            .renditions
            .iter()
            .map(|(name, rendition)| (name.as_str(), rendition))
            .collect();
        ranked
            .sort_by_key(|(_, rendition)| std::cmp::Reverse((rendition.area(), rendition.bitrate)));
        ranked
    }
}

impl Rendition {
    fn area(&self) -> u64 {
        u64::from(self.coded_width.unwrap_or(0)) * u64::from(self.coded_height.unwrap_or(0))
    }

    /// Why this viewer cannot play the rendition whatever the browser supports, if it can't.
    pub fn unplayable_reason(&self) -> Option<String> {
        if let Container::Other(kind) = &self.container {
            return Some(format!(
                "container \"{kind}\" is not supported (only \"legacy\")"
            ));
        }
        if self
            .broadcast
            .as_deref()
            .is_some_and(|path| !path.is_empty())
        {
            return Some("the track lives in another broadcast".into());
        }
        None
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
        let names: Vec<_> = catalog
            .ranked_video()
            .iter()
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(names, ["c", "b", "a", "d"]);
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
        let catalog = parse(r#"{"audio":{"renditions":{"a":{"codec":"opus"}}}}"#).expect("parses");
        assert!(catalog.ranked_video().is_empty());
        assert_eq!(catalog.clock, None);
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
