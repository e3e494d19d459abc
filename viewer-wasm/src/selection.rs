//! Picks the video rendition to start on from what the browser says it can decode: the
//! best-ranked rendition it decodes in hardware, else the best it decodes at all; lists the
//! renditions the player may switch between (every one the browser decodes, in rank order);
//! and, when there is none, says why in one line for the page to show.

use crate::catalog::Rendition;

/// The `hardwareAcceleration` a decoder is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceleration {
    PreferHardware,
    /// Let the browser choose; in practice software when no hardware decoder exists.
    NoPreference,
}

impl Acceleration {
    /// The WebCodecs spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Acceleration::PreferHardware => "prefer-hardware",
            Acceleration::NoPreference => "no-preference",
        }
    }
}

/// What the viewer learned about one rendition, in rank order.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The viewer can't play it whatever the browser supports (container, location).
    Unplayable(String),
    /// `VideoDecoder.isConfigSupported` answers for each acceleration preference.
    Browser { hardware: bool, software: bool },
}

/// The rendition to play: its index in rank order and how to configure the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub index: usize,
    pub acceleration: Acceleration,
}

/// Hardware first across all renditions, then software, each in rank order.
pub fn choose(verdicts: &[Verdict]) -> Option<Choice> {
    let supported = |wanted: Acceleration| {
        verdicts.iter().position(|verdict| match (verdict, wanted) {
            (Verdict::Browser { hardware, .. }, Acceleration::PreferHardware) => *hardware,
            (Verdict::Browser { software, .. }, Acceleration::NoPreference) => *software,
            (Verdict::Unplayable(_), _) => false,
        })
    };
    [Acceleration::PreferHardware, Acceleration::NoPreference]
        .into_iter()
        .find_map(|acceleration| {
            supported(acceleration).map(|index| Choice {
                index,
                acceleration,
            })
        })
}

/// The renditions the player may switch between, in rank order, each with how to configure
/// its decoder (hardware where the browser has it), and which of them to start on (see
/// [`choose`]). One rung per picture size: of renditions of the same size (the same picture in
/// HEVC and in H.264) the player keeps the one it decodes in hardware, else the first ranked, so
/// stepping down under load always means a lighter picture. `None` when nothing is playable.
pub fn ladder(ranked: &[(&str, &Rendition)], verdicts: &[Verdict]) -> Option<(Vec<Choice>, usize)> {
    let start = choose(verdicts)?;
    let decodable: Vec<Choice> = verdicts
        .iter()
        .enumerate()
        .filter_map(|(index, verdict)| match verdict {
            Verdict::Browser { hardware: true, .. } => Some(Choice {
                index,
                acceleration: Acceleration::PreferHardware,
            }),
            Verdict::Browser { software: true, .. } => Some(Choice {
                index,
                acceleration: Acceleration::NoPreference,
            }),
            _ => None,
        })
        .collect();
    let size = |choice: &Choice| {
        let rendition = ranked[choice.index].1;
        (rendition.coded_width, rendition.coded_height)
    };
    let rungs: Vec<Choice> = decodable
        .iter()
        .filter(|rung| {
            let best_of_size = decodable
                .iter()
                .filter(|other| size(other) == size(rung))
                .min_by_key(|other| {
                    (
                        other.acceleration != Acceleration::PreferHardware,
                        other.index,
                    )
                });
            best_of_size.is_some_and(|best| best.index == rung.index)
        })
        .copied()
        .collect();
    let at = rungs.iter().position(|rung| rung.index == start.index)?;
    Some((rungs, at))
}

/// The message for a catalog with nothing playable, naming each rendition and why.
pub fn nothing_playable(ranked: &[(&str, &Rendition)], verdicts: &[Verdict]) -> String {
    if ranked.is_empty() {
        return "undecodable catalog: the broadcast has no video rendition".into();
    }
    let reasons: Vec<String> = ranked
        .iter()
        .zip(verdicts)
        .map(|((name, rendition), verdict)| {
            let why = match verdict {
                Verdict::Unplayable(reason) => reason.as_str(),
                Verdict::Browser { .. } => "this browser cannot decode it",
            };
            format!("{name} ({}): {why}", rendition.describe())
        })
        .collect();
    format!(
        "undecodable catalog: no playable video rendition: {}",
        reasons.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn browser(hardware: bool, software: bool) -> Verdict {
        Verdict::Browser { hardware, software }
    }

    #[test]
    fn prefers_hardware_over_rank() {
        let verdicts = [browser(false, true), browser(true, true)];
        assert_eq!(
            choose(&verdicts),
            Some(Choice {
                index: 1,
                acceleration: Acceleration::PreferHardware
            })
        );
    }

    #[test]
    fn falls_back_to_the_best_software_rendition() {
        // Headless Chromium: hardware always false.
        let verdicts = [
            Verdict::Unplayable("cmaf".into()),
            browser(false, true),
            browser(false, true),
        ];
        assert_eq!(
            choose(&verdicts),
            Some(Choice {
                index: 1,
                acceleration: Acceleration::NoPreference
            })
        );
        assert_eq!(Acceleration::NoPreference.as_str(), "no-preference");
    }

    #[test]
    fn nothing_supported_is_none_with_a_reason_per_rendition() {
        let catalog: Catalog = serde_json::from_str(
            r#"{"video":{"renditions":{
                "hevc": {"codec":"hev1.1.6.L93.B0","codedWidth":1920,"codedHeight":1080},
                "frag": {"codec":"avc1.640028","container":{"kind":"cmaf","init":""}}
            }}}"#,
        )
        .expect("parses");
        let ranked = catalog.ranked_video();
        let verdicts = [
            browser(false, false),
            Verdict::Unplayable("container \"cmaf\" is not supported".into()),
        ];
        assert_eq!(choose(&verdicts), None);
        let message = nothing_playable(&ranked, &verdicts);
        assert_eq!(
            message,
            "undecodable catalog: no playable video rendition: hevc (hev1.1.6.L93.B0 1920x1080): \
             this browser cannot decode it; frag (avc1.640028): container \"cmaf\" is not supported"
        );
    }

    fn sizes(json: &str) -> Catalog {
        serde_json::from_str(json).expect("test catalog")
    }

    #[test]
    fn the_ladder_is_every_decodable_picture_size_in_rank_order() {
        let catalog = sizes(
            r#"{"video":{"renditions":{
                "a": {"codec":"avc1.640028","codedWidth":1920,"codedHeight":1080},
                "b": {"codec":"avc1.640020","codedWidth":1280,"codedHeight":720},
                "c": {"codec":"avc1.64001f","codedWidth":960,"codedHeight":540},
                "d": {"codec":"avc1.64001e","codedWidth":640,"codedHeight":360}
            }}}"#,
        );
        let ranked = catalog.ranked_video();
        let verdicts = [
            browser(false, true),
            Verdict::Unplayable("cmaf".into()),
            browser(true, true),
            browser(false, false),
        ];
        let (rungs, start) = ladder(&ranked, &verdicts).expect("playable");
        assert_eq!(
            rungs,
            [
                Choice {
                    index: 0,
                    acceleration: Acceleration::NoPreference
                },
                Choice {
                    index: 2,
                    acceleration: Acceleration::PreferHardware
                }
            ]
        );
        // Hardware first: start on the lighter rendition the hardware decodes.
        assert_eq!(start, 1);
        assert_eq!(ladder(&ranked[..1], &[browser(false, false)]), None);
    }

    #[test]
    fn one_picture_in_two_codecs_is_one_rung() {
        // `publisher --codec hevc,h264`: 720p in HEVC and in H.264, and the light 360p.
        let catalog = sizes(
            r#"{"video":{"renditions":{
                "0": {"codec":"avc1.64001f","codedWidth":1280,"codedHeight":720},
                "1": {"codec":"hvc1.1.6.L93.90","codedWidth":1280,"codedHeight":720},
                "2": {"codec":"avc1.64001e","codedWidth":640,"codedHeight":360}
            }}}"#,
        );
        let ranked = catalog.ranked_video();
        let software = Acceleration::NoPreference;
        let rung = |index, acceleration| Choice {
            index,
            acceleration,
        };
        // No HEVC decoder (Debian's Chromium): H.264 at 720p, then 360p.
        let (rungs, start) = ladder(
            &ranked,
            &[
                browser(false, false),
                browser(false, true),
                browser(false, true),
            ],
        )
        .expect("playable");
        assert_eq!(
            (rungs, start),
            (vec![rung(1, software), rung(2, software)], 0)
        );
        // Both in software: HEVC, the publisher's first choice, and never both 720p rungs.
        let (rungs, start) = ladder(
            &ranked,
            &[
                browser(false, true),
                browser(false, true),
                browser(false, true),
            ],
        )
        .expect("playable");
        assert_eq!(
            (rungs, start),
            (vec![rung(0, software), rung(2, software)], 0)
        );
        // H.264 in hardware, HEVC in software only: the hardware one.
        let (rungs, start) = ladder(
            &ranked,
            &[
                browser(false, true),
                browser(true, true),
                browser(false, true),
            ],
        )
        .expect("playable");
        let hardware = Acceleration::PreferHardware;
        assert_eq!(
            (rungs, start),
            (vec![rung(1, hardware), rung(2, software)], 0)
        );
    }

    #[test]
    fn no_video_at_all_says_so() {
        assert_eq!(choose(&[]), None);
        assert!(nothing_playable(&[], &[]).contains("no video rendition"));
    }
}
