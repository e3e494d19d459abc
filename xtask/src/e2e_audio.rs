//! Browser tests for sound: it plays without glitches — over a window after settling, almost
//! nothing concealed and no jump (an audible step of the audio clock) — and in sync with the
//! picture (measured from the media), also when fed by messages, it waits for the user's click
//! where the browser demands one, and audio this browser cannot decode leaves the video playing
//! and says why.
//!
//! Sync is judged from the media: the beep's onset as the audio context says it leaves the
//! speakers, against the flash as it is painted into the canvas. The canvas reaches the screen
//! one to three frame intervals after it is painted, so what a person perceives is that much
//! closer (sound comes after picture here). Measuring the picture as shown needs a screencast,
//! whose own load on this 2-core machine delayed the page's audio by 20–90 ms: the benchmark
//! reports it, the test does not rely on it.

use std::ops::RangeInclusive;
use std::time::Duration;

use anyhow::{Context, ensure};

use viewer_wasm::audio::schedule::SETTLE_MS;

use crate::av_sync::percentile;
use crate::chromium::{Autoplay, Chromium, json};
use crate::listening;
use crate::live::{Output, Stack};
use crate::page::Page;

/// How long sound is listened to.
const LISTEN: Duration = Duration::from_secs(20);
/// Share of that time the worklet must have played real audio.
const MIN_PLAYED_SHARE: f64 = 0.95;
/// The most of the window that may be concealed (issue 10: ≤ 0.1 %, 20 ms in 20 s).
const MAX_CONCEALED_PERCENT: f64 = 0.1;
/// Concealment events allowed per minute of window (issue 10), a started minute counting whole.
const MAX_CONCEALMENTS_PER_MINUTE: f64 = 1.0;
/// The A/V skew (median, beep heard − flash painted) the test accepts: sound after picture, by
/// no more than EBU R37's tolerance for sound that lags (60 ms) once the painted flash has
/// reached the screen (at least one frame interval, 16.7 ms, later): 75 ms. ITU-R BT.1359
/// puts the threshold of detectability for lagging sound at 125 ms (45 ms is its threshold
/// for sound that *leads*, which this limit once used). Measured here: 22–43 ms on a quiet or
/// loaded machine; a busy start carries up to `START_CARRY_MS` more for a while.
const SKEW_MS: RangeInclusive<f64> = 0.0..=75.0;

pub fn sound_plays_in_sync_with_the_picture() -> anyhow::Result<()> {
    plays_in_sync("sound", "", Judge::Skew)
}

/// The same, with the worklet fed by messages: the path a page that is not cross-origin isolated
/// (an embed in another site) takes. Its skew is reported; the playout that sets it is the same.
pub fn sound_plays_when_fed_by_messages() -> anyhow::Result<()> {
    plays_in_sync("messages", "&audio=message", Judge::Playback)
}

/// What a run is judged on beyond continuous playback.
#[derive(PartialEq)]
enum Judge {
    Playback,
    Skew,
}

fn plays_in_sync(name: &str, page_options: &str, judge: Judge) -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish(name, &["--source", "test"])?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&format!("{}&probe=1{page_options}", stack.page_url(name)))?;
    let playing = chromium.wait_for_stats(Duration::from_secs(20), |s| {
        s.state == "live" && s.audio.state == "playing"
    })?;
    ensure!(
        playing.as_ref().is_some_and(|s| s.audio.state == "playing"),
        "sound never started: {}",
        playing.map_or("no viewer".into(), |s| json(&s))
    );
    // Judge the settled playout: the start (its first SETTLE_MS) follows what the page's busy
    // start-up asks at once, skips included; a window that began 3 s in held the settling,
    // with its jumps and whatever the start asked for, as CI's failures did.
    std::thread::sleep(Duration::from_millis(SETTLE_MS as u64) + Duration::from_secs(1));
    let heard = listening::listen(&mut chromium, LISTEN, |_, window| {
        std::thread::sleep(window);
        Ok(())
    })?;
    stack.check_alive()?;
    let audio = &heard.last.audio;
    ensure!(
        audio.codec.as_deref() == Some("opus")
            && audio.sample_rate == Some(48000)
            && audio.channels == Some(2),
        "audio rendition: {}",
        json(audio)
    );
    // The relay's page is cross-origin isolated: audio runs in the audio worker, writing the
    // shared ring; fed by messages (an embed's path) it runs on the page's thread.
    let (transport, thread) = if page_options.contains("message") {
        ("message", "page")
    } else {
        ("shared", "worker")
    };
    ensure!(
        audio.transport.as_deref() == Some(transport) && audio.thread.as_deref() == Some(thread),
        "expected the {transport} transport on the {thread} thread (the relay's page must be \
         cross-origin isolated): {}",
        json(audio)
    );
    let grown = heard.grown;
    let stalls = listening::describe_stalls(&heard.stalls);
    ensure!(
        grown.played_share() >= MIN_PLAYED_SHARE,
        "audio played {:.1} % of the time (< {:.0} %): {}",
        grown.played_share() * 100.0,
        MIN_PLAYED_SHARE * 100.0,
        json(audio)
    );
    ensure!(
        grown.concealed_percent() <= MAX_CONCEALED_PERCENT,
        "{:.1} ms concealed in {:.1} s ({:.2} % > {MAX_CONCEALED_PERCENT} %) in {} events; {}: {}",
        grown.concealed_ms,
        grown.seconds,
        grown.concealed_percent(),
        grown.concealments,
        stalls,
        json(audio)
    );
    let allowed = (grown.seconds / 60.0 * MAX_CONCEALMENTS_PER_MINUTE).ceil();
    ensure!(
        grown.concealments as f64 <= allowed,
        "{} concealments in {:.1} s (at most {allowed}), {:.1} ms; {}: {}",
        grown.concealments,
        grown.seconds,
        grown.concealed_ms,
        stalls,
        json(audio)
    );
    ensure!(
        grown.jumps == 0,
        "{} jumps (skips or inserted silences: steps in the audio clock) in {:.1} s after \
         settling: {}",
        grown.jumps,
        grown.seconds,
        json(audio)
    );
    let pairs = &heard.sync.skews_ms;
    ensure!(
        pairs.len() >= 15,
        "only {} flash/beep pairs in {:.1} s (beeps heard at {:?} ms past the second): {}",
        pairs.len(),
        grown.seconds,
        heard.sync.audio_latency_ms,
        json(audio)
    );
    let skew = percentile(pairs, 50.0).unwrap_or(f64::NAN);
    let abs: Vec<f64> = pairs.iter().map(|s| s.abs()).collect();
    ensure!(
        judge == Judge::Playback || SKEW_MS.contains(&skew),
        "beep heard {skew:.1} ms after the flash painted (expected {SKEW_MS:?}): {pairs:?}"
    );
    println!(
        "  audio played {:.1} % of {:.1} s, concealed {:.1} ms in {} events, {} jumps; beep heard \
         − flash painted p50 {skew:.1} ms, |p95| {:.1} ms over {} pairs (without the frame \
         sampling: {:.1} ms); audio latency p50 {:.0} ms, video (flash painted) {:.0} ms; viewer \
         skewMs {:.1}, targetMs {:.1}, arrival \
         p50/p95 {:.1}/{:.1} ms, buffered {:.1} ms; {stalls}",
        grown.played_share() * 100.0,
        grown.seconds,
        grown.concealed_ms,
        grown.concealments,
        grown.jumps,
        percentile(&abs, 95.0).unwrap_or(f64::NAN),
        pairs.len(),
        percentile(&heard.sync.pipeline_skews_ms, 50.0).unwrap_or(f64::NAN),
        percentile(&heard.sync.audio_latency_ms, 50.0).unwrap_or(f64::NAN),
        percentile(&heard.sync.video_latency_ms, 50.0).unwrap_or(f64::NAN),
        audio.skew_ms.unwrap_or(f64::NAN),
        audio.target_ms.unwrap_or(f64::NAN),
        audio.arrival_ms.p50.unwrap_or(f64::NAN),
        audio.arrival_ms.p95.unwrap_or(f64::NAN),
        audio.buffered_ms.unwrap_or(f64::NAN),
    );
    Ok(())
}

pub fn sound_waits_for_a_click() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish("click", &["--source", "test"])?;
    let mut chromium = Chromium::launch_with(Autoplay::NeedsGesture, &[])?;
    chromium.navigate(&stack.page_url("click"))?;
    let blocked = chromium.wait_for_stats(Duration::from_secs(20), |s| {
        s.state == "live" && s.audio.state == "blocked" && s.counters.rendered > 30
    })?;
    let blocked = blocked.context("no viewer")?;
    ensure!(
        blocked.audio.state == "blocked",
        "before a click the audio should be blocked while video plays: {}",
        json(&blocked)
    );
    ensure!(
        blocked.audio.frames_played == 0,
        "sound flowed before any click: {}",
        json(&blocked.audio)
    );
    let button = chromium.evaluate(
        "(() => { const b = document.getElementById('unmute'); const r = b.getBoundingClientRect(); \
         return !b.hidden && r.width > 50 && r.height > 20 && getComputedStyle(b).visibility === 'visible'; })()",
    )?;
    ensure!(
        button == true,
        "no visible unmute control while sound is blocked"
    );

    chromium.click("#unmute")?;
    let flowing =
        chromium.wait_for_stats(Duration::from_secs(10), |s| s.audio.frames_played > 24_000)?;
    let flowing = flowing.context("no viewer")?;
    ensure!(
        flowing.audio.state == "playing" && flowing.audio.frames_played > 24_000,
        "the click did not start the sound: {}",
        json(&flowing.audio)
    );
    let hidden = chromium.evaluate("document.getElementById('unmute').hidden")?;
    ensure!(
        hidden == true,
        "the unmute control stayed up after the click"
    );
    stack.check_alive()?;
    println!(
        "  blocked before the click (video {} frames), {} audio frames played after it",
        blocked.counters.rendered, flowing.audio.frames_played
    );
    Ok(())
}

pub fn unsupported_audio_leaves_the_video_playing() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    // AC-3: published, but Chromium has no decoder for it.
    stack.publish("ac3", &["--source", "test", "--audio-codec", "ac3"])?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&stack.page_url("ac3"))?;
    let stats = chromium.wait_for_stats(Duration::from_secs(20), |s| {
        s.audio.state == "unsupported" && s.counters.rendered > 60
    })?;
    stack.check_alive()?;
    let stats = stats.context("no viewer")?;
    ensure!(
        stats.state == "live" && stats.counters.rendered > 60,
        "the video should play on: {}",
        json(&stats)
    );
    let audio = &stats.audio;
    let why = audio.error.as_deref().unwrap_or_default();
    ensure!(
        audio.state == "unsupported" && why.contains("ac-3"),
        "the stats should say the AC-3 audio cannot be decoded: {}",
        json(audio)
    );
    println!(
        "  video plays ({} frames); audio: {why}",
        stats.counters.rendered
    );
    Ok(())
}

pub fn an_audio_only_broadcast_plays() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish("radio", &["--source", "test", "--no-video"])?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&stack.page_url("radio"))?;
    let stats =
        chromium.wait_for_stats(Duration::from_secs(20), |s| s.audio.frames_played > 48_000)?;
    stack.check_alive()?;
    let stats = stats.context("no viewer")?;
    ensure!(
        stats.state == "live"
            && stats.audio.state == "playing"
            && stats.audio.frames_played > 48_000,
        "the sound-only broadcast did not play: {}",
        json(&stats)
    );
    ensure!(
        stats.counters.received == 0 && stats.codec.is_none(),
        "a sound-only broadcast has no video: {}",
        json(&stats)
    );
    // Still live a while later: sound alone keeps the broadcast from counting as stalled.
    std::thread::sleep(Duration::from_secs(4));
    let later = chromium.viewer_stats()?.context("no viewer")?;
    // `{:?}`: the state quoted, as the JSON string it is.
    ensure!(
        later.state == "live",
        "went {:?} without video",
        later.state
    );
    println!(
        "  sound only: {} frames played, state {:?}",
        later.audio.frames_played, later.state
    );
    Ok(())
}
