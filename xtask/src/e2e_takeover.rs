//! A second publisher of the same name, in the browser: the viewer follows the newest publisher
//! of the name without a reload, and the older one again once the newer stops (see the README's
//! "Two publishers, one name").

use std::time::{Duration, Instant};

use crate::chromium::Chromium;
use crate::e2e::describe;
use crate::live::{Output, Stack};
use crate::page::Page;

/// The two publishers differ in picture size, so the viewer's stats say whose frames it shows.
const FIRST: (&str, u32) = ("640x360", 640);
const SECOND: (&str, u32) = ("1280x720", 1280);

fn publish(stack: &mut Stack, size: &str) -> anyhow::Result<u32> {
    let args = ["--source", "test", "--no-audio", "--renditions", "1"];
    stack.publish("twin", &[&args[..], &["--size", size]].concat())
}

pub fn a_second_publisher_of_the_name_takes_over_without_a_reload() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    publish(&mut stack, FIRST.0)?;
    let mut chromium = Chromium::launch()?;
    // One navigation for the whole test: whatever follows happens without a reload.
    chromium.navigate(&stack.page_url("twin"))?;
    let rendered = follows(
        &mut chromium,
        "the first publisher",
        FIRST.1,
        0,
        Instant::now(),
    )?;

    let started = Instant::now();
    let second = publish(&mut stack, SECOND.0)?;
    let rendered = follows(
        &mut chromium,
        "the second publisher",
        SECOND.1,
        rendered,
        started,
    )?;

    let stopped = Instant::now();
    stack.stop_publisher(second);
    follows(
        &mut chromium,
        "the first one again",
        FIRST.1,
        rendered,
        stopped,
    )?;
    stack.check_alive()
}

/// Wait up to 30 s for the viewer to show a picture `width` pixels wide with 60 more frames
/// rendered than `rendered` (framesRendered only ever rises: no reload, no reset); returns the
/// frames rendered by then.
fn follows(
    chromium: &mut Chromium,
    step: &str,
    width: u32,
    rendered: u64,
    since: Instant,
) -> anyhow::Result<u64> {
    let followed = |s: &viewer_wasm::telemetry::Report| {
        s.state == "live" && s.width == Some(width) && s.counters.rendered >= rendered + 60
    };
    let stats = chromium.wait_for_stats(Duration::from_secs(30), followed)?;
    match stats {
        Some(stats) if followed(&stats) => {
            println!(
                "  {step} ({width} px wide) shown {:.1} s after the change; {} frames rendered",
                since.elapsed().as_secs_f64(),
                stats.counters.rendered
            );
            Ok(stats.counters.rendered)
        }
        other => anyhow::bail!("{step} was not followed within 30 s: {}", describe(&other)),
    }
}
