//! A second publisher with the same name, real processes end to end (the relay in-process, two
//! publisher binaries, a native subscriber that follows the name as the viewer does).
//!
//! What moq-relay 0.17 does: it routes a name to its newest publisher, and announces the name
//! again (active) when a newer publisher arrives or the newest one leaves. Subscriptions already
//! open stay on the publisher they started on; a new request gets the newest. So a viewer follows
//! the newest publisher by playing the name afresh on every active announcement — the policy
//! these tests hold the subscriber to, and the browser viewer keeps.
#![cfg(target_os = "linux")]

#[allow(dead_code, unused_imports)] // every test file uses its own part of the shared support
mod support;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use support::start_relay;

/// A publisher binary, running (killed when dropped).
struct Publisher(Child);

impl Publisher {
    fn start(url: &str, name: &str) -> anyhow::Result<Self> {
        let args = [
            "--name",
            name,
            "--url",
            url,
            "--source",
            "test",
            "--size",
            "640x360",
            "--renditions",
            "1",
            "--no-audio",
        ];
        Ok(Self(
            Command::new(env!("CARGO_BIN_EXE_publisher"))
                .args(args)
                .stdin(Stdio::null())
                .spawn()?,
        ))
    }

    /// Stop it as Ctrl-C does, and wait for it to exit.
    fn interrupt(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -INT failed");
        self.0.wait()?;
        Ok(())
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A frame the follower read: when, and whose (its publisher's catalog clock, µs).
type Seen = Arc<Mutex<Vec<(Instant, u64)>>>;

/// Follow broadcast `name` on `url` as the viewer does: on every active announcement, play it
/// afresh (catalog, then its best video track), noting every frame and whose it is.
async fn follow(url: &str, name: &'static str) -> anyhow::Result<(Seen, impl Sized)> {
    let (connection, consumer) = support::connect(url).await?;
    let seen = Seen::default();
    let noted = seen.clone();
    let follower = tokio::spawn(async move {
        let mut announced = consumer.announced();
        let mut playing: Option<tokio::task::JoinHandle<anyhow::Result<()>>> = None;
        while let Some(update) = announced.next().await {
            if update.prefix.as_str() != name {
                continue;
            }
            if let Some(playing) = playing.take() {
                playing.abort();
            }
            if update.kind.is_active() {
                let (consumer, noted) = (consumer.clone(), noted.clone());
                playing = Some(tokio::spawn(async move {
                    let broadcast = consumer.request_broadcast(name).await?;
                    play(&broadcast, &noted).await
                }));
            }
        }
    });
    Ok((seen, (connection, AbortOnDrop(follower))))
}

/// Read the catalog, then the best video track, noting every frame with the catalog's clock.
async fn play(broadcast: &moq_net::broadcast::Consumer, seen: &Seen) -> anyhow::Result<()> {
    let catalog = support::first_catalog(broadcast, |c| !c.video.renditions.is_empty()).await?;
    let clock = catalog.clock.context("no clock")?.wall.as_micros() as u64;
    let track = catalog.video.ranked().next().context("no video")?.0.clone();
    let mut track = broadcast.track(&track)?.subscribe(None).await?;
    while let Some(mut group) = track.recv_group().await? {
        loop {
            match group.read_frame().await {
                Ok(Some(_)) => seen.lock().unwrap().push((Instant::now(), clock)),
                Ok(None) | Err(moq_net::Error::Old) => break,
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Wait up to `limit` for 30 frames after `since`, all of one publisher's that `whose` accepts;
/// returns that publisher's clock and when its first frame after `since` arrived.
async fn frames_of(
    seen: &Seen,
    since: Instant,
    limit: Duration,
    whose: impl Fn(u64) -> bool,
) -> anyhow::Result<(u64, Duration)> {
    let deadline = Instant::now() + limit;
    loop {
        let frames: Vec<(Instant, u64)> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, clock)| *at > since && whose(*clock))
            .copied()
            .collect();
        if frames.len() >= 30 {
            return Ok((frames[0].1, frames[0].0.duration_since(since)));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} such frames within {limit:?}",
            frames.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_follows_the_newest_publisher_of_a_name_and_back_when_it_stops()
-> anyhow::Result<()> {
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let _first = Publisher::start(&url, "twin")?;
    let (seen, _follower) = follow(&url, "twin").await?;
    let (first, _) = frames_of(&seen, Instant::now(), Duration::from_secs(30), |_| true).await?;

    let started = Instant::now();
    let second = Publisher::start(&url, "twin")?;
    let (_, took_over) = frames_of(&seen, started, Duration::from_secs(20), |c| c != first)
        .await
        .context("the follower never got the second publisher's frames")?;

    let stopped = Instant::now();
    second.interrupt()?;
    let (_, back) = frames_of(&seen, stopped, Duration::from_secs(20), |c| c == first)
        .await
        .context("the first publisher, still publishing, was not followed again")?;
    eprintln!(
        "takeover: the second publisher's frames came {:.2} s after it started; the first's \
         came back {:.2} s after the second stopped (Ctrl-C)",
        took_over.as_secs_f64(),
        back.as_secs_f64()
    );
    Ok(())
}
