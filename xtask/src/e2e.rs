//! End-to-end tests in a real headless Chromium against the real relay and publisher (release
//! builds, real ffmpeg). Each test prints one line; the run ends with `N passed, M failed`.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use viewer_wasm::telemetry::Report;

use crate::chromium::{Chromium, Recorder, json, or_null};
use crate::live::{Output, Stack};
use crate::page::Page;
use crate::{
    e2e_audio, e2e_browsers, e2e_crash, e2e_hevc, e2e_network, e2e_remote, e2e_takeover, glass,
    picture,
};

type Test = fn() -> anyhow::Result<()>;

const TESTS: [(&str, Test); 23] = [
    (
        "plays_a_live_stream_with_latency_and_a_real_picture",
        plays_a_live_stream,
    ),
    (
        "waits_for_a_broadcast_then_plays_it",
        waits_for_a_broadcast_then_plays,
    ),
    (
        "the_pixel_clock_reads_back_from_composited_frames",
        pixel_clock_reads_back,
    ),
    (
        "a_4x_throttled_viewer_never_freezes_for_half_a_second",
        smooth_under_throttling,
    ),
    (
        "a_crashed_relay_is_redialled_by_the_publisher_and_the_viewer",
        e2e_crash::a_crashed_relay_is_redialled_by_the_publisher_and_the_viewer,
    ),
    (
        "a_second_publisher_of_the_name_takes_over_without_a_reload",
        e2e_takeover::a_second_publisher_of_the_name_takes_over_without_a_reload,
    ),
    (
        "sound_plays_in_sync_with_the_picture",
        e2e_audio::sound_plays_in_sync_with_the_picture,
    ),
    (
        "sound_plays_when_fed_by_messages",
        e2e_audio::sound_plays_when_fed_by_messages,
    ),
    (
        "sound_waits_for_a_click_then_flows",
        e2e_audio::sound_waits_for_a_click,
    ),
    (
        "unsupported_audio_leaves_the_video_playing",
        e2e_audio::unsupported_audio_leaves_the_video_playing,
    ),
    (
        "an_audio_only_broadcast_plays",
        e2e_audio::an_audio_only_broadcast_plays,
    ),
    ("a_browser_without_hevc", e2e_hevc::a_browser_without_hevc),
    (
        "firefox_plays_over_the_transport_its_version_allows",
        e2e_browsers::firefox_plays_over_the_transport_its_version_allows,
    ),
    (
        "firefox_plays_over_a_websocket",
        e2e_browsers::firefox_plays_over_a_websocket,
    ),
    (
        "chromium_without_webtransport_plays_over_a_websocket",
        e2e_browsers::chromium_without_webtransport_plays_over_a_websocket,
    ),
    (
        "webkit_plays_over_a_websocket",
        e2e_browsers::webkit_plays_over_a_websocket,
    ),
    (
        "network_a_link_too_slow_for_the_main_rendition_steps_down_and_stays_near_live",
        e2e_network::a_link_too_slow_for_the_main_rendition_steps_down_and_stays_near_live,
    ),
    (
        "network_after_an_outage_the_viewer_is_back_near_live_within_three_seconds",
        e2e_network::after_an_outage_the_viewer_is_back_near_live_within_three_seconds,
    ),
    (
        "remote_a_public_relay_plays_on_another_machine_with_tokens",
        e2e_remote::public_relay_plays_on_another_machine_with_tokens,
    ),
    (
        "remote_plain_http_from_another_machine_links_to_https",
        e2e_remote::plain_http_from_another_machine_links_to_https,
    ),
    (
        "remote_the_default_relay_listens_on_loopback_only",
        e2e_remote::the_default_relay_listens_on_loopback_only,
    ),
    (
        "remote_a_two_relay_cluster_plays_from_the_leaf",
        e2e_remote::a_two_relay_cluster_plays_from_the_leaf,
    ),
    (
        "remote_a_renewed_certificate_is_followed_across_a_restart",
        e2e_remote::a_renewed_certificate_is_followed_across_a_restart,
    ),
];

/// Run every browser test (or those whose name contains `filter`); fails if any failed.
pub fn run(filter: Option<&str>) -> anyhow::Result<()> {
    let mut failed = 0;
    let mut ran = 0;
    for (name, test) in TESTS {
        if filter.is_some_and(|filter| !name.contains(filter)) {
            continue;
        }
        ran += 1;
        let started = Instant::now();
        match test() {
            Ok(()) => println!(
                "e2e {name} ... ok ({:.1} s)",
                started.elapsed().as_secs_f64()
            ),
            Err(err) => {
                failed += 1;
                println!("e2e {name} ... FAILED: {err:#}");
            }
        }
    }
    println!("e2e: {} passed, {failed} failed", ran - failed);
    ensure!(failed == 0, "{failed} browser test(s) failed");
    Ok(())
}

fn plays_a_live_stream() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish("e2e", &["--source", "test"])?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&stack.page_url("e2e"))?;

    let live = chromium.wait_for_stats(Duration::from_secs(20), |s| s.state == "live")?;
    ensure!(
        live.as_ref().is_some_and(|s| s.state == "live"),
        "never went live: {}",
        describe(&live)
    );
    let live_at = Instant::now();
    let stats = chromium.wait_for_stats(Duration::from_secs(15), |s| s.counters.rendered >= 200)?;
    stack.check_alive()?;
    let stats = stats.context("no stats")?;
    ensure!(
        stats.counters.rendered >= 200,
        "fewer than 200 frames rendered within 15 s of live: {}",
        json(&stats)
    );
    let p95 = stats.latency_ms.p95;
    ensure!(
        p95.is_some_and(f64::is_finite),
        "latencyMs.p95 is not a finite number: {}",
        json(&stats)
    );
    ensure!(
        stats
            .codec
            .as_deref()
            .is_some_and(|c| c.starts_with("avc1")),
        "codec: {}",
        json(&stats)
    );
    ensure!(
        (stats.width, stats.height) == (Some(1280), Some(720)),
        "size: {}",
        json(&stats)
    );

    let png = chromium.screenshot("#stage")?;
    let (width, height, channels, pixels) = picture::decode_png(&png)?;
    let spread = picture::luma_spread(channels, &pixels);
    ensure!(
        width > 100 && height > 100,
        "the picture's screenshot is {width}x{height}"
    );
    ensure!(
        spread > 10.0,
        "the picture is a flat colour (luma spread {spread:.2})"
    );
    println!(
        "  {} frames rendered {:.1} s after live, latency p50 {} / p95 {:.1} ms, picture luma spread {spread:.1}",
        stats.counters.rendered,
        live_at.elapsed().as_secs_f64(),
        or_null(stats.latency_ms.p50),
        p95.unwrap_or(f64::NAN),
    );
    Ok(())
}

fn waits_for_a_broadcast_then_plays() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&stack.page_url("later"))?;
    let waiting = chromium.wait_for_stats(Duration::from_secs(15), |s| {
        s.state == "waiting for broadcast"
    })?;
    ensure!(
        waiting
            .as_ref()
            .is_some_and(|s| s.state == "waiting for broadcast"),
        "the viewer did not wait for the absent broadcast: {}",
        describe(&waiting)
    );
    // Still waiting a moment later, not failing.
    std::thread::sleep(Duration::from_secs(2));
    let still = chromium.viewer_stats()?;
    ensure!(
        still
            .as_ref()
            .is_some_and(|s| s.state == "waiting for broadcast"),
        "the viewer stopped waiting: {}",
        describe(&still)
    );

    // Video only: the viewer plays it and says there is no sound.
    stack.publish("later", &["--source", "test", "--no-audio"])?;
    let playing = chromium.wait_for_stats(Duration::from_secs(20), |s| {
        s.state == "live" && s.counters.rendered >= 60
    })?;
    stack.check_alive()?;
    match playing {
        Some(s) if s.state == "live" && s.counters.rendered >= 60 && s.audio.state == "off" => {
            Ok(())
        }
        other => bail!(
            "the broadcast appeared but did not play: {}",
            describe(&other)
        ),
    }
}

/// Proof that the capture time survives encode, transport, decode and paint: read it from what
/// the compositor drew and compare with the clock now.
fn pixel_clock_reads_back() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish("clock", &["--source", "test"])?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&stack.page_url("clock"))?;
    let playing =
        chromium.wait_for_stats(Duration::from_secs(20), |s| s.counters.rendered >= 30)?;
    ensure!(
        playing.as_ref().is_some_and(|s| s.counters.rendered >= 30),
        "the viewer did not play: {}",
        describe(&playing)
    );
    let glass::Recording {
        samples,
        frames,
        last_png,
    } = glass::record(&mut chromium, Recorder::Light, Duration::from_secs(3))?;
    stack.check_alive()?;
    if samples.is_empty() {
        return Err(unreadable_clock(frames, last_png));
    }
    let summary = glass::summarize(&samples, Duration::from_secs(3)).context("no samples")?;
    ensure!(
        (-1000.0..5000.0).contains(&summary.p50),
        "the clock read back {:.0} ms away from the time it was drawn",
        summary.p50
    );
    println!(
        "  clock read from {} of {frames} composited frames; glass-to-glass p50 {:.0} ms",
        samples.len(),
        summary.p50
    );
    Ok(())
}

/// The longest the shown picture may stay put on a 4× throttled viewer, after its first second.
const THROTTLED_FREEZE_MS: f64 = 500.0;

/// A viewer whose CPU is 4× slower than this machine's: the shown clock keeps moving.
fn smooth_under_throttling() -> anyhow::Result<()> {
    const WINDOW: Duration = Duration::from_secs(8);
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish("slow", &["--source", "test"])?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&stack.page_url("slow"))?;
    chromium.throttle_cpu(4.0)?;
    let playing =
        chromium.wait_for_stats(Duration::from_secs(30), |s| s.counters.rendered >= 10)?;
    ensure!(
        playing.as_ref().is_some_and(|s| s.counters.rendered >= 10),
        "the throttled viewer did not play: {}",
        describe(&playing)
    );
    std::thread::sleep(Duration::from_secs(1));
    let glass::Recording {
        samples,
        frames,
        last_png,
    } = glass::record(&mut chromium, Recorder::Light, WINDOW)?;
    let stats = chromium.viewer_stats()?.context("no stats")?;
    stack.check_alive()?;
    let Some(summary) = glass::summarize(&samples, WINDOW) else {
        return Err(unreadable_clock(frames, last_png));
    };
    println!(
        "  4× throttled: {:.1} frames shown/s, longest freeze {:.0} ms, glass p50 {:.0} / p95 {:.0} ms, playing {}×{}",
        summary.fps_shown,
        summary.longest_freeze,
        summary.p50,
        summary.p95,
        or_null(stats.width),
        or_null(stats.height),
    );
    ensure!(
        summary.longest_freeze <= THROTTLED_FREEZE_MS,
        "the picture froze for {:.0} ms (at most {THROTTLED_FREEZE_MS} ms): {}",
        summary.longest_freeze,
        json(&stats)
    );
    Ok(())
}

/// The failure for a recording whose pixel clock could not be read, with its last frame saved
/// for a look.
fn unreadable_clock(frames: usize, last_png: Option<Vec<u8>>) -> anyhow::Error {
    let saved = crate::workspace::root().join("target/xtask-logs/unreadable-clock.png");
    let written = last_png.map(|png| std::fs::write(&saved, png));
    let last = match written {
        Some(Ok(())) => saved.display().to_string(),
        Some(Err(err)) => format!("not saved: {err}"),
        None => "none".into(),
    };
    anyhow::anyhow!("no readable pixel clock in {frames} composited frames (last one: {last})")
}

/// The viewer's stats for a message, or that there is no viewer.
pub fn describe(stats: &Option<Report>) -> String {
    stats
        .as_ref()
        .map(json)
        .unwrap_or_else(|| "window.viewer never appeared".into())
}

/// How a viewer came back after an outage of the relay.
pub struct Back {
    /// The last stats read.
    pub last: Option<Report>,
    /// When frames were rendered again (over 5 new), after the relay was back.
    pub first_new: Option<Duration>,
    /// When 60 new frames had been rendered while live, after the relay was back.
    pub sixty_new: Option<Duration>,
}

impl Back {
    /// "rendered again … and 60 new frames …", for the test's message.
    pub fn times(&self) -> String {
        let seconds = |at: Option<Duration>| {
            at.map_or_else(|| "never".into(), |at| format!("{:.1} s", at.as_secs_f64()))
        };
        format!(
            "rendered again {} and 60 new frames {}",
            seconds(self.first_new),
            seconds(self.sixty_new)
        )
    }
}

/// Wait up to a minute for the viewer in `chromium`, which had rendered `rendered_before`
/// frames, to render 60 more while live, timing it from `up` (the relay back); `watch` sees
/// every stats read.
pub fn wait_until_back(
    chromium: &mut Chromium,
    rendered_before: u64,
    up: Instant,
    mut watch: impl FnMut(&Report),
) -> anyhow::Result<Back> {
    let mut first_new = None;
    let back = |s: &Report| s.state == "live" && s.counters.rendered >= rendered_before + 60;
    let last = chromium.wait_for_stats(Duration::from_secs(60), |s| {
        watch(s);
        if s.counters.rendered > rendered_before + 5 {
            first_new.get_or_insert_with(|| up.elapsed());
        }
        back(s)
    })?;
    let sixty_new = last.as_ref().is_some_and(back).then(|| up.elapsed());
    Ok(Back {
        last,
        first_new,
        sixty_new,
    })
}
