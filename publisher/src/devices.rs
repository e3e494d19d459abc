//! The audio devices ffmpeg lists on Windows (DirectShow) and macOS (AVFoundation), read from
//! its listing, and which of them carries **what the desktop plays** — the sound `--source
//! screen` publishes when no `--audio-device` is named.
//!
//! Neither DirectShow nor AVFoundation offers the desktop's own output as a capture device: the
//! sound the desktop plays is capturable only through a loopback device — on Windows a virtual
//! cable (VB-Audio's "CABLE Output", VoiceMeeter) or the sound card's "Stereo Mix" when enabled;
//! on macOS BlackHole, Loopback or Soundflower. The default is the first such device listed
//! (virtual cables before Stereo Mix: people install a cable on purpose). Without one the
//! publisher sends no sound rather than the microphone, and says how to name a device. Linux
//! keeps PulseAudio/PipeWire's `default` source.

use crate::audio_args::Platform;

/// Names (lower case, matched as parts of the device name) of loopback devices that carry the
/// desktop's sound, in order of preference.
const WINDOWS_LOOPBACKS: [&str; 7] = [
    "cable output",
    "voicemeeter out",
    "stereo mix",
    "stereomix",
    "what u hear",
    "wave out mix",
    "loopback",
];
const MACOS_LOOPBACKS: [&str; 3] = ["blackhole", "loopback audio", "soundflower"];

/// The audio capture devices in ffmpeg's `-list_devices true -f dshow -i dummy` output, by
/// name. ffmpeg 4.4+ prints `"NAME" (audio)` (or `(audio, video)`); older ones a section headed
/// "DirectShow audio devices" with one `"NAME"` a line. Alternative names are left out.
pub fn dshow_audio(listing: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_audio_section = false;
    for line in listing.lines() {
        let text = strip_component(line).trim();
        if text.starts_with("DirectShow audio devices") {
            in_audio_section = true;
            continue;
        }
        if text.starts_with("DirectShow video devices") {
            in_audio_section = false;
            continue;
        }
        let Some(rest) = text.strip_prefix('"') else {
            continue;
        };
        let Some((name, kind)) = rest.split_once('"') else {
            continue;
        };
        let kind = kind.trim();
        let audio = match kind.strip_prefix('(').and_then(|k| k.strip_suffix(')')) {
            Some(kinds) => kinds.split(',').any(|k| k.trim() == "audio"),
            None => in_audio_section && kind.is_empty(),
        };
        if audio && !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// The audio devices in ffmpeg's `-f avfoundation -list_devices true -i ""` output, by name
/// (`[N] NAME` lines after "AVFoundation audio devices:").
pub fn avfoundation_audio(listing: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_audio = false;
    for line in listing.lines() {
        let text = strip_component(line).trim();
        if text.starts_with("AVFoundation audio devices") {
            in_audio = true;
        } else if text.starts_with("AVFoundation video devices") {
            in_audio = false;
        } else if in_audio
            && let Some((index, name)) = text.strip_prefix('[').and_then(|t| t.split_once("] "))
            && index.parse::<u32>().is_ok()
        {
            names.push(name.trim().to_string());
        }
    }
    names
}

/// The audio devices of `platform` in its ffmpeg listing (none for Linux, whose listing is
/// shown as ffmpeg prints it).
pub fn audio_devices(platform: Platform, listing: &str) -> Vec<String> {
    match platform {
        Platform::Windows => dshow_audio(listing),
        Platform::MacOs => avfoundation_audio(listing),
        Platform::Linux => Vec::new(),
    }
}

/// The device that carries what the desktop plays, among `devices` of `platform`: the first
/// known loopback device, in order of preference; Linux's `default`.
pub fn desktop_sound(platform: Platform, devices: &[String]) -> Option<String> {
    let known: &[&str] = match platform {
        // The default PulseAudio/PipeWire source (often the microphone; a sink's `.monitor`
        // source is what the desktop plays, and people name it with --audio-device).
        Platform::Linux => return Some("default".into()),
        Platform::Windows => &WINDOWS_LOOPBACKS,
        Platform::MacOs => &MACOS_LOOPBACKS,
    };
    known.iter().find_map(|part| {
        devices
            .iter()
            .find(|name| name.to_lowercase().contains(part))
            .cloned()
    })
}

/// What `--list-devices` prints on Windows and macOS: each audio device's name as
/// `--audio-device` takes it, the desktop-sound default marked.
pub fn listing(platform: Platform, devices: &[String]) -> String {
    if devices.is_empty() {
        return "no audio capture devices found".into();
    }
    let default = desktop_sound(platform, devices);
    let mut text = String::from("audio devices (pass one with --audio-device \"NAME\"):");
    for name in devices {
        text.push_str(&format!("\n  \"{name}\""));
        if default.as_ref() == Some(name) {
            text.push_str("   <- what the desktop plays: the default for --source screen");
        }
    }
    if default.is_none() {
        text.push_str(&format!("\n{}", no_desktop_sound(platform)));
    }
    text
}

/// Why `--source screen` sends no sound when no loopback device exists, and what to do.
pub fn no_desktop_sound(platform: Platform) -> String {
    let install = match platform {
        Platform::MacOs => "install BlackHole (`brew install blackhole-2ch`) and play to it",
        _ => {
            "enable \"Stereo Mix\" (Sound settings → Recording) or install a virtual cable \
             (VB-Audio's CABLE) and play to it"
        }
    };
    format!(
        "no device here carries what the desktop plays: {install}, or name a device with \
         --audio-device NAME (--list-devices shows them)"
    )
}

/// `line` without ffmpeg's `[component @ 0x…] ` prefix.
fn strip_component(line: &str) -> &str {
    match line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
    {
        Some((_, message)) => message,
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ffmpeg 4.4 and newer.
    const DSHOW: &str = r#"[dshow @ 000001c1f6e4b2c0] "Integrated Camera" (video)
[dshow @ 000001c1f6e4b2c0]   Alternative name "@device_pnp_\\?\usb#vid_04f2&pid_b6d9&mi_00#6&1b7b5a5&0&0000#{65e8773d-8f56-11d0-a3b9-00a0c9223196}\global"
[dshow @ 000001c1f6e4b2c0] "OBS Virtual Camera" (none)
[dshow @ 000001c1f6e4b2c0] "Microphone (Realtek(R) Audio)" (audio)
[dshow @ 000001c1f6e4b2c0]   Alternative name "@device_cm_{33D9A762-90C8-11D0-BD43-00A0C911CE86}\wave_{8D1A0F4B-0F37-4B8C-9F1A-3B3C1D0C3F2E}"
[dshow @ 000001c1f6e4b2c0] "CABLE Output (VB-Audio Virtual Cable)" (audio)
[dshow @ 000001c1f6e4b2c0]   Alternative name "@device_cm_{33D9A762-90C8-11D0-BD43-00A0C911CE86}\wave_{1E2C3D4F-0000-4B8C-9F1A-3B3C1D0C3F2E}"
[dshow @ 000001c1f6e4b2c0] "Stereo Mix (Realtek(R) Audio)" (audio)
[dshow @ 000001c1f6e4b2c0] "Cam Link 4K" (audio, video)
[in#0 @ 000001c1f6e4a9c0] Error opening input: Immediate exit requested
Error opening input file dummy."#;

    /// ffmpeg 4.3 and older.
    const DSHOW_OLD: &str = r#"[dshow @ 0000024a] DirectShow video devices (some may be both video and audio devices)
[dshow @ 0000024a]  "Integrated Camera"
[dshow @ 0000024a]     Alternative name "@device_pnp_\\?\usb#vid_04f2"
[dshow @ 0000024a] DirectShow audio devices
[dshow @ 0000024a]  "Microphone (Realtek High Definition Audio)"
[dshow @ 0000024a]     Alternative name "@device_cm_{33D9A762-90C8-11D0-BD43-00A0C911CE86}\wave_{1}"
[dshow @ 0000024a]  "Stereomix (Realtek High Definition Audio)"
dummy: Immediate exit requested"#;

    /// ffmpeg 9.0 under Wine with no sound card.
    const DSHOW_NONE: &str = "\
[in#0 @ 0000000001138500] Could not enumerate video devices (or none found).
ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM default
[in#0 @ 0000000001138500] Could not enumerate audio only devices (or none found).
Error opening input file dummy.";

    const AVFOUNDATION: &str = "\
[AVFoundation indev @ 0x7fc] AVFoundation video devices:
[AVFoundation indev @ 0x7fc] [0] FaceTime HD Camera
[AVFoundation indev @ 0x7fc] [1] Capture screen 0
[AVFoundation indev @ 0x7fc] AVFoundation audio devices:
[AVFoundation indev @ 0x7fc] [0] MacBook Pro Microphone
[AVFoundation indev @ 0x7fc] [1] BlackHole 2ch
: Input/output error";

    #[test]
    fn dshow_audio_devices_by_name_in_both_listing_styles() {
        assert_eq!(
            dshow_audio(DSHOW),
            [
                "Microphone (Realtek(R) Audio)",
                "CABLE Output (VB-Audio Virtual Cable)",
                "Stereo Mix (Realtek(R) Audio)",
                "Cam Link 4K"
            ]
        );
        assert_eq!(
            dshow_audio(DSHOW_OLD),
            [
                "Microphone (Realtek High Definition Audio)",
                "Stereomix (Realtek High Definition Audio)"
            ]
        );
        assert!(dshow_audio(DSHOW_NONE).is_empty());
    }

    #[test]
    fn the_desktops_sound_is_a_loopback_device_cables_first_never_the_microphone() {
        let windows = |listing| desktop_sound(Platform::Windows, &dshow_audio(listing));
        assert_eq!(
            windows(DSHOW).as_deref(),
            Some("CABLE Output (VB-Audio Virtual Cable)")
        );
        assert_eq!(
            windows(DSHOW_OLD).as_deref(),
            Some("Stereomix (Realtek High Definition Audio)")
        );
        assert_eq!(windows(DSHOW_NONE), None);
        let microphone_only = ["Microphone (USB)".to_string()];
        assert_eq!(desktop_sound(Platform::Windows, &microphone_only), None);
        assert_eq!(
            desktop_sound(Platform::MacOs, &avfoundation_audio(AVFOUNDATION)).as_deref(),
            Some("BlackHole 2ch")
        );
        assert_eq!(
            desktop_sound(Platform::Linux, &[]).as_deref(),
            Some("default")
        );
    }

    #[test]
    fn avfoundation_audio_devices_by_name() {
        assert_eq!(
            avfoundation_audio(AVFOUNDATION),
            ["MacBook Pro Microphone", "BlackHole 2ch"]
        );
        assert_eq!(
            audio_devices(Platform::MacOs, AVFOUNDATION),
            avfoundation_audio(AVFOUNDATION)
        );
        assert!(audio_devices(Platform::Linux, AVFOUNDATION).is_empty());
    }

    #[test]
    fn the_listing_shows_names_as_audio_device_takes_them_and_marks_the_default() {
        let text = listing(Platform::Windows, &dshow_audio(DSHOW));
        assert!(
            text.contains("\"CABLE Output (VB-Audio Virtual Cable)\"   <- what the desktop plays"),
            "{text}"
        );
        assert!(
            text.contains("\n  \"Microphone (Realtek(R) Audio)\"\n"),
            "{text}"
        );
        let none = listing(Platform::Windows, &["Microphone (USB)".into()]);
        assert!(
            none.contains("Stereo Mix") && none.contains("--audio-device"),
            "{none}"
        );
        assert_eq!(
            listing(Platform::Windows, &[]),
            "no audio capture devices found"
        );
    }
}
