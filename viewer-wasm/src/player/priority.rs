//! Subscriber priorities, as hang orders them (catalog 100, audio 80, video 60), and the order
//! of the video renditions among themselves. The relay sends a higher priority first and, at
//! equal priority, the older subscription first (moq-net 0.3.18, `lite/priority.rs`).

/// The catalog preempts the media.
pub const CATALOG: u8 = 100;
/// Audio is small and a gap in it is heard: it goes before video.
pub const AUDIO: u8 = 80;
/// Video, best rendition.
const VIDEO: u8 = 60;

/// The priority of video rendition `rendition` (ranked best first): the lighter, the higher,
/// and all below audio. On a link that cannot carry the rendition playing, the lighter one
/// stepped down to would otherwise wait behind it for ever (subscribed later, at the same
/// priority): its keyframe would never come and the switch never happen. A probe up, below the
/// rendition playing, takes only what the link has to spare.
pub fn video(rendition: usize) -> u8 {
    let rung = u8::try_from(rendition).unwrap_or(u8::MAX);
    VIDEO.saturating_add(rung).min(AUDIO - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lighter_renditions_go_first_and_all_video_after_audio() {
        assert_eq!(video(0), VIDEO);
        assert!(video(1) > video(0) && video(2) > video(1));
        assert_eq!(video(usize::MAX), AUDIO - 1);
        const { assert!(AUDIO < CATALOG) };
    }
}
