//! A relay that crashes (SIGKILL: no GOAWAY, its sessions just stop answering) and is started
//! again on the same ports: the publisher and the browser viewer, left alone, are live again
//! within [`BACK_WITHIN`], the page never reloaded (issue 11's fault tests).

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use crate::chromium::Chromium;
use crate::e2e::{describe, wait_until_back};
use crate::live::{Output, Stack, wait_for_log_line};
use crate::page::Page;

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
    let back = wait_until_back(&mut chromium, before, up, |_| {})?;
    let outage = format!(
        "after the relay was killed and started again, the viewer {}",
        back.times()
    );
    ensure!(
        back.sixty_new.is_some_and(|at| at <= BACK_WITHIN),
        "not back within {BACK_WITHIN:?}: {outage}: {}",
        describe(&back.last)
    );
    let publisher_log = stack.log_of(publisher).context("no log")?;
    wait_for_log_line(publisher_log, "connected to", 2, Duration::from_secs(10))
        .context("the publisher did not say it reconnected")?;
    stack.check_alive()?;
    println!("  {outage}; the publisher reconnected");
    Ok(())
}
