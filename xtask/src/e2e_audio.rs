//! Browser tests for sound: it plays continuously and in sync with the picture (measured from
//! the media), also when fed by messages, it waits for the user's click where the browser
//! demands one, and audio this browser cannot decode leaves the video playing and says why.
//!
//! Sync is judged where a person meets it: the beep's onset as the audio context says it leaves
//! the speakers, against the picture as the compositor shows it (the pixel clock read from
//! screencast frames). The flash as painted into the canvas is reported beside it; the canvas
//! reaches the screen one to three frame intervals after it is painted.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::Value;

use crate::av_sync::{self, percentile};
use crate::chromium::{Autoplay, Chromium};
use crate::glass;
use crate::live::{Output, Stack};

/// How long sound is listened to.
const LISTEN: Duration = Duration::from_secs(20);
/// Share of that time the worklet must have played real audio.
const MIN_PLAYED_SHARE: f64 = 0.95;
/// The largest A/V skew (median, sound heard against picture shown) the test accepts.
const MAX_SKEW_MS: f64 = 30.0;
/// How long the composited picture is recorded for the skew, after the page has settled under
/// the screencast.
const SHOWN: Duration = Duration::from_secs(6);
const SETTLE: Duration = Duration::from_secs(3);

/// What a run of listening measured.
pub struct Listening {
    pub played_share: f64,
    pub underruns: f64,
    pub sync: av_sync::Sync,
    pub stats: Value,
}

/// The probe's onsets (Unix ms) of one kind: "flashes" or "beeps".
fn onsets(chromium: &mut Chromium, kind: &str) -> anyhow::Result<Vec<f64>> {
    let probe = chromium.evaluate("window.viewer.syncProbe()")?;
    Ok(probe[kind]
        .as_array()
        .map(|values| values.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default())
}

/// Sound heard against picture shown, over `duration`.
pub struct Shown {
    /// Capture → speakers of the beeps heard meanwhile, ms.
    pub audio_latency_ms: Vec<f64>,
    pub video: glass::Summary,
}

impl Shown {
    /// Median audio latency minus median glass-to-glass video latency.
    pub fn skew_ms(&self) -> Option<f64> {
        Some(percentile(&self.audio_latency_ms, 50.0)? - self.video.p50)
    }
}

/// Record the composited picture for `duration` (after [`SETTLE`]) while the probe notes beeps.
pub fn watch_and_listen(chromium: &mut Chromium, duration: Duration) -> anyhow::Result<Shown> {
    let from_unix_ms = unix_ms() + SETTLE.as_secs_f64() * 1000.0;
    // Every fourth composite: the screencast's own load otherwise delays the page's audio.
    let recording = glass::record_after(chromium, SETTLE, duration, 4)?;
    let beeps: Vec<f64> = onsets(chromium, "beeps")?
        .into_iter()
        .filter(|&heard| heard >= from_unix_ms)
        .collect();
    let video = glass::summarize(&recording.samples, duration).with_context(|| {
        format!(
            "no pixel clock read from {} composited frames",
            recording.frames
        )
    })?;
    let audio_latency_ms = av_sync::measure(&[], &beeps).audio_latency_ms;
    Ok(Shown {
        audio_latency_ms,
        video,
    })
}

/// Listen to the page in `chromium` for `duration` with the sync probe on.
pub fn listen(chromium: &mut Chromium, duration: Duration) -> anyhow::Result<Listening> {
    let before = chromium.viewer_stats()?.context("no viewer")?;
    let started = Instant::now();
    std::thread::sleep(duration);
    let after = chromium.viewer_stats()?.context("no viewer")?;
    let elapsed = started.elapsed().as_secs_f64();
    let audio = |stats: &Value, key: &str| stats["audio"][key].as_f64().unwrap_or(0.0);
    let rate = audio(&after, "sampleRate").max(1.0);
    let played = audio(&after, "framesPlayed") - audio(&before, "framesPlayed");
    let (flashes, beeps) = (onsets(chromium, "flashes")?, onsets(chromium, "beeps")?);
    Ok(Listening {
        played_share: played / rate / elapsed,
        underruns: audio(&after, "underruns") - audio(&before, "underruns"),
        sync: av_sync::measure(&flashes, &beeps),
        stats: after,
    })
}

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
        s["state"] == "live" && s["audio"]["state"] == "playing"
    })?;
    ensure!(
        playing
            .as_ref()
            .is_some_and(|s| s["audio"]["state"] == "playing"),
        "sound never started: {}",
        playing.map_or("no viewer".into(), |s| s.to_string())
    );
    // Let the playout settle on its latency before judging it.
    std::thread::sleep(Duration::from_secs(3));
    let heard = listen(&mut chromium, LISTEN)?;
    let shown = watch_and_listen(&mut chromium, SHOWN)?;
    stack.check_alive()?;
    let stats = &heard.stats;
    let audio = &stats["audio"];
    ensure!(
        audio["codec"] == "opus" && audio["sampleRate"] == 48000 && audio["channels"] == 2,
        "audio rendition: {audio}"
    );
    let transport = if page_options.contains("message") {
        "message"
    } else {
        "shared"
    };
    ensure!(
        audio["transport"] == transport,
        "expected the {transport} transport (the relay's page must be cross-origin isolated): {audio}"
    );
    ensure!(
        heard.played_share >= MIN_PLAYED_SHARE,
        "audio played {:.1} % of the time (< {:.0} %): {audio}",
        heard.played_share * 100.0,
        MIN_PLAYED_SHARE * 100.0
    );
    let beeps = heard.sync.audio_latency_ms.len();
    ensure!(
        beeps >= 15,
        "only {beeps} beeps heard in {} s: {audio}",
        LISTEN.as_secs()
    );
    let skew = shown
        .skew_ms()
        .context("no beeps heard while the picture was recorded")?;
    ensure!(
        judge == Judge::Playback || skew.abs() <= MAX_SKEW_MS,
        "sound heard {skew:.1} ms after the picture shown (limit ±{MAX_SKEW_MS}): audio latency \
         {:?}, picture p50 {:.1} ms",
        shown.audio_latency_ms,
        shown.video.p50
    );
    let painted = &heard.sync.skews_ms;
    println!(
        "  audio played {:.1} % of {} s, {} underruns; heard − shown skew {skew:.1} ms (audio p50 \
         {:.0} ms, picture shown p50 {:.0} ms); heard − painted skew p50 {:.1} ms over {} pairs; \
         viewer skewMs {}",
        heard.played_share * 100.0,
        LISTEN.as_secs(),
        heard.underruns,
        percentile(&shown.audio_latency_ms, 50.0).unwrap_or(f64::NAN),
        shown.video.p50,
        percentile(painted, 50.0).unwrap_or(f64::NAN),
        painted.len(),
        audio["skewMs"],
    );
    Ok(())
}

pub fn sound_waits_for_a_click() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish("click", &["--source", "test"])?;
    let mut chromium = Chromium::launch_with(Autoplay::NeedsGesture)?;
    chromium.navigate(&stack.page_url("click"))?;
    let blocked = chromium.wait_for_stats(Duration::from_secs(20), |s| {
        s["state"] == "live"
            && s["audio"]["state"] == "blocked"
            && s["framesRendered"].as_f64() > Some(30.0)
    })?;
    let blocked = blocked.context("no viewer")?;
    ensure!(
        blocked["audio"]["state"] == "blocked",
        "before a click the audio should be blocked while video plays: {blocked}"
    );
    ensure!(
        blocked["audio"]["framesPlayed"] == 0,
        "sound flowed before any click: {}",
        blocked["audio"]
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
    let flowing = chromium.wait_for_stats(Duration::from_secs(10), |s| {
        s["audio"]["framesPlayed"].as_f64() > Some(24_000.0)
    })?;
    let flowing = flowing.context("no viewer")?;
    ensure!(
        flowing["audio"]["state"] == "playing"
            && flowing["audio"]["framesPlayed"].as_f64() > Some(24_000.0),
        "the click did not start the sound: {}",
        flowing["audio"]
    );
    let hidden = chromium.evaluate("document.getElementById('unmute').hidden")?;
    ensure!(
        hidden == true,
        "the unmute control stayed up after the click"
    );
    stack.check_alive()?;
    println!(
        "  blocked before the click (video {} frames), {} audio frames played after it",
        blocked["framesRendered"], flowing["audio"]["framesPlayed"]
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
        s["audio"]["state"] == "unsupported" && s["framesRendered"].as_f64() > Some(60.0)
    })?;
    stack.check_alive()?;
    let stats = stats.context("no viewer")?;
    ensure!(
        stats["state"] == "live" && stats["framesRendered"].as_f64() > Some(60.0),
        "the video should play on: {stats}"
    );
    let audio = &stats["audio"];
    let why = audio["error"].as_str().unwrap_or_default();
    ensure!(
        audio["state"] == "unsupported" && why.contains("ac-3"),
        "the stats should say the AC-3 audio cannot be decoded: {audio}"
    );
    println!(
        "  video plays ({} frames); audio: {why}",
        stats["framesRendered"]
    );
    Ok(())
}

pub fn an_audio_only_broadcast_plays() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish("radio", &["--source", "test", "--no-video"])?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&stack.page_url("radio"))?;
    let stats = chromium.wait_for_stats(Duration::from_secs(20), |s| {
        s["audio"]["framesPlayed"].as_f64() > Some(48_000.0)
    })?;
    stack.check_alive()?;
    let stats = stats.context("no viewer")?;
    ensure!(
        stats["state"] == "live"
            && stats["audio"]["state"] == "playing"
            && stats["audio"]["framesPlayed"].as_f64() > Some(48_000.0),
        "the sound-only broadcast did not play: {stats}"
    );
    ensure!(
        stats["framesReceived"] == 0 && stats["codec"].is_null(),
        "a sound-only broadcast has no video: {stats}"
    );
    // Still live a while later: sound alone keeps the broadcast from counting as stalled.
    std::thread::sleep(Duration::from_secs(4));
    let later = chromium.viewer_stats()?.context("no viewer")?;
    ensure!(
        later["state"] == "live",
        "went {} without video",
        later["state"]
    );
    println!(
        "  sound only: {} frames played, state {}",
        later["audio"]["framesPlayed"], later["state"]
    );
    Ok(())
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64() * 1000.0)
}
