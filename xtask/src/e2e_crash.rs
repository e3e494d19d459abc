//! A relay that crashes (SIGKILL: no GOAWAY, its sessions just stop answering) and is started
//! again on the same ports: the publisher and the browser viewer, left alone, are live again
//! within [`BACK_WITHIN`], the page never reloaded (issue 11's fault tests).

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use crate::chromium::Chromium;
use crate::e2e::describe;
use crate::live::{Output, Stack, wait_for_log_line};

/// How soon after the relay is back the viewer must show 60 new frames.
const BACK_WITHIN: Duration = Duration::from_secs(10);

pub fn a_crashed_relay_is_redialled_by_the_publisher_and_the_viewer() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    let publisher = stack.publish(
        "crash",
        &[
            "--source",
            "test",
            "--no-audio",
            "--renditions",
            "1",
            "--size",
            "640x360",
        ],
    )?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&stack.page_url("crash"))?;
    let live = chromium.wait_for_stats(Duration::from_secs(30), |s| {
        s.state == "live" && s.counters.rendered >= 60
    })?;
    ensure!(
        live.as_ref()
            .is_some_and(|s| s.state == "live" && s.counters.rendered >= 60),
        "the viewer never played: {}",
        describe(&live)
    );

    let before = chromium
        .viewer_stats()?
        .context("no viewer")?
        .counters
        .rendered;
    stack.crash_and_restart_relay()?;
    let up = Instant::now();
    let mut first_new = None;
    let back = chromium.wait_for_stats(Duration::from_secs(60), |s| {
        if s.counters.rendered > before + 5 {
            first_new.get_or_insert_with(|| up.elapsed());
        }
        s.state == "live" && s.counters.rendered >= before + 60
    })?;
    let back_in = up.elapsed();
    let came_back = back
        .as_ref()
        .is_some_and(|s| s.state == "live" && s.counters.rendered >= before + 60);
    let seconds = |at: Option<Duration>| {
        at.map_or_else(|| "never".into(), |at| format!("{:.1} s", at.as_secs_f64()))
    };
    let outage = format!(
        "after the relay was killed and started again, the viewer rendered again {} and 60 new \
         frames {}",
        seconds(first_new),
        seconds(came_back.then_some(back_in)),
    );
    ensure!(
        came_back && back_in <= BACK_WITHIN,
        "not back within {BACK_WITHIN:?}: {outage}: {}",
        describe(&back)
    );
    let publisher_log = stack.log_of(publisher).context("no log")?;
    wait_for_log_line(publisher_log, "connected to", 2, Duration::from_secs(10))
        .context("the publisher did not say it reconnected")?;
    stack.check_alive()?;
    println!("  {outage}; the publisher reconnected");
    Ok(())
}
