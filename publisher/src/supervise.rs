//! When to restart an ffmpeg pipeline, and when to give up on it: pure policy, with time passed in.
//!
//! The glue reports what happens to one pipeline (a run started, it produced output, it ended and
//! why, time passed) and does what it is told:
//!
//! - **Stall:** a run that has produced nothing for [`Supervisor::stall_after`] — the longer of
//!   [`STALL_MIN`] and [`STALL_FRAMES`] frame intervals — is to be killed as stalled. Before its
//!   first output a run gets [`STARTUP_GRACE`] instead (opening a device, connecting a socket).
//! - **Restart:** every run that ends (it exited, or was killed as stalled) is restarted after
//!   the reconnect backoff's wait ([`crate::backoff`]: growing, jittered). The backoff starts
//!   over only after a run produced output for [`RAN_WELL`], so a pipeline that keeps dying
//!   soon after starting keeps backing off.
//! - **Cannot start:** a pipeline whose very first run ends without any output never worked:
//!   bad arguments, a missing device or file. Retrying cannot fix that, so it is said at once.
//! - **Give up:** once it has worked, [`GIVE_UP_AFTER`] runs in a row that ended without any
//!   output (the device unplugged, the file gone) end the pipeline with the last run's reason.

use std::time::{Duration, Instant};

use crate::backoff::Backoff;

/// The shortest silence that counts as a stall, whatever the frame rate.
pub const STALL_MIN: Duration = Duration::from_secs(2);
/// A stall is this many frame intervals without output (when longer than [`STALL_MIN`]).
pub const STALL_FRAMES: u32 = 10;
/// How long a run may take to produce its first output before it counts as stalled.
pub const STARTUP_GRACE: Duration = Duration::from_secs(10);
/// How long a run must have produced output for the backoff to start over.
pub const RAN_WELL: Duration = Duration::from_secs(10);
/// How many runs in a row may end without output before the pipeline gives up.
pub const GIVE_UP_AFTER: u32 = 5;

/// What to do once a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start the next run after `after`; it will be attempt `attempt`.
    Restart { after: Duration, attempt: u32 },
    /// The first run ended without any output: the pipeline cannot start.
    CannotStart,
    /// Stop trying, for this reason.
    GiveUp(String),
}

/// One pipeline's supervision state.
#[derive(Debug)]
pub struct Supervisor {
    stall_after: Duration,
    backoff: Backoff,
    /// The run in progress: when it started, and its first and last output.
    run: Option<Run>,
    /// Runs in a row that ended without output.
    silent_runs: u32,
    /// Whether any run ever produced output.
    ever_output: bool,
}

#[derive(Clone, Copy, Debug)]
struct Run {
    started: Instant,
    first_output: Option<Instant>,
    last_output: Option<Instant>,
}

impl Supervisor {
    /// Supervise a pipeline producing a frame (or packet) every `frame_interval`.
    pub fn new(frame_interval: Duration) -> Self {
        Self {
            stall_after: (frame_interval * STALL_FRAMES).max(STALL_MIN),
            backoff: Backoff::default(),
            run: None,
            silent_runs: 0,
            ever_output: false,
        }
    }

    /// A run started at `now`.
    pub fn started(&mut self, now: Instant) {
        self.run = Some(Run {
            started: now,
            first_output: None,
            last_output: None,
        });
    }

    /// The running pipeline produced output at `now`.
    pub fn output(&mut self, now: Instant) {
        if let Some(run) = &mut self.run {
            run.first_output.get_or_insert(now);
            run.last_output = Some(now);
        }
    }

    /// Time passed: whether the running pipeline is to be killed as stalled, and then how long
    /// it has produced nothing. Its end is reported after, as for any other.
    pub fn tick(&self, now: Instant) -> Option<Duration> {
        let run = self.run?;
        let (since, limit) = match run.last_output {
            Some(last) => (last, self.stall_after),
            None => (run.started, STARTUP_GRACE.max(self.stall_after)),
        };
        let quiet = now.saturating_duration_since(since);
        (quiet >= limit).then_some(quiet)
    }

    /// The run ended (`why`: it exited, or was killed as stalled): restart it, or give up.
    pub fn ended(&mut self, why: &str) -> Action {
        let output = self
            .run
            .take()
            .and_then(|run| run.first_output.zip(run.last_output));
        match output {
            Some((first, last)) => {
                self.silent_runs = 0;
                self.ever_output = true;
                if last.saturating_duration_since(first) >= RAN_WELL {
                    self.backoff.succeeded();
                }
            }
            None if !self.ever_output => return Action::CannotStart,
            None => {
                self.silent_runs += 1;
                if self.silent_runs >= GIVE_UP_AFTER {
                    return Action::GiveUp(format!(
                        "ffmpeg ended {} times in a row without any output; the last time: {why}",
                        self.silent_runs
                    ));
                }
            }
        }
        let (after, attempt) = self.backoff.failed();
        Action::Restart { after, attempt }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_60: Duration = Duration::from_micros(16_667);

    fn s(seconds: f64) -> Duration {
        Duration::from_secs_f64(seconds)
    }

    /// A run started at `t0 + at` that produced output every 100 ms for `for_` seconds.
    fn run_with_output(sup: &mut Supervisor, t0: Instant, at: f64, for_: f64) -> Instant {
        let start = t0 + s(at);
        sup.started(start);
        let mut t = start;
        while t < start + s(for_) {
            t += s(0.1);
            sup.output(t);
        }
        t
    }

    fn wait(action: &Action) -> Duration {
        match action {
            Action::Restart { after, .. } => *after,
            other => panic!("expected a restart, got {other:?}"),
        }
    }

    #[test]
    fn a_stall_is_ten_frame_intervals_and_at_least_two_seconds() {
        assert_eq!(Supervisor::new(FRAME_60).stall_after, STALL_MIN);
        assert_eq!(Supervisor::new(s(0.5)).stall_after, s(5.0));
        assert_eq!(Supervisor::new(s(1.0)).stall_after, s(10.0));
    }

    #[test]
    fn a_running_pipeline_silent_for_the_stall_limit_is_killed_as_stalled() {
        let t0 = Instant::now();
        let mut sup = Supervisor::new(FRAME_60);
        let last = run_with_output(&mut sup, t0, 0.0, 5.0);
        assert_eq!(sup.tick(last + s(1.9)), None);
        assert_eq!(sup.tick(last + s(2.0)), Some(s(2.0)));
        sup.output(last + s(2.1));
        assert_eq!(sup.tick(last + s(3.0)), None, "output again: not stalled");
    }

    #[test]
    fn a_starting_pipeline_gets_the_startup_grace_before_its_first_output() {
        let t0 = Instant::now();
        let mut sup = Supervisor::new(FRAME_60);
        sup.started(t0);
        assert_eq!(sup.tick(t0 + s(9.9)), None);
        assert_eq!(sup.tick(t0 + STARTUP_GRACE), Some(STARTUP_GRACE));
    }

    #[test]
    fn nothing_is_stalled_between_runs() {
        let t0 = Instant::now();
        let mut sup = Supervisor::new(FRAME_60);
        run_with_output(&mut sup, t0, 0.0, 1.0);
        sup.ended("exited");
        assert_eq!(sup.tick(t0 + s(60.0)), None);
    }

    #[test]
    fn runs_that_end_are_restarted_with_growing_waits() {
        let t0 = Instant::now();
        let mut sup = Supervisor::new(FRAME_60);
        let mut waits = Vec::new();
        for i in 0..6 {
            run_with_output(&mut sup, t0, i as f64 * 20.0, 1.0);
            waits.push(sup.ended("ffmpeg exited"));
        }
        let attempts: Vec<u32> = waits
            .iter()
            .map(|a| match a {
                Action::Restart { attempt, .. } => *attempt,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(attempts, [2, 3, 4, 5, 6, 7], "never gives up while it runs");
        let waits: Vec<Duration> = waits.iter().map(wait).collect();
        assert!(waits[0] <= s(0.5), "the first wait is short: {waits:?}");
        for pair in waits[..4].windows(2) {
            assert!(pair[1] >= pair[0], "waits grow: {waits:?}");
        }
        assert!(waits[4] >= s(2.0), "backed off: {waits:?}");
    }

    #[test]
    fn the_backoff_starts_over_only_after_a_run_produced_output_for_a_while() {
        let t0 = Instant::now();
        let mut sup = Supervisor::new(FRAME_60);
        for i in 0..4 {
            run_with_output(&mut sup, t0, i as f64 * 20.0, 1.0);
            sup.ended("exited");
        }
        // Short runs keep the backoff high...
        run_with_output(&mut sup, t0, 100.0, RAN_WELL.as_secs_f64() - 1.0);
        assert!(wait(&sup.ended("exited")) >= s(2.0));
        // ...one that ran well brings it back to the start.
        run_with_output(&mut sup, t0, 200.0, RAN_WELL.as_secs_f64() + 0.5);
        let after = wait(&sup.ended("exited"));
        assert!(after <= s(0.5), "{after:?}");
    }

    #[test]
    fn a_first_run_ending_without_output_cannot_start() {
        let t0 = Instant::now();
        let mut sup = Supervisor::new(FRAME_60);
        sup.started(t0);
        assert_eq!(sup.ended("exit status: 1"), Action::CannotStart);
    }

    #[test]
    fn runs_ending_without_output_give_up_after_five_in_a_row_with_the_reason() {
        let t0 = Instant::now();
        let mut sup = Supervisor::new(FRAME_60);
        run_with_output(&mut sup, t0, 0.0, 1.0);
        wait(&sup.ended("killed"));
        for i in 0..GIVE_UP_AFTER - 1 {
            sup.started(t0 + s(i as f64));
            wait(&sup.ended("exit status: 1"));
        }
        sup.started(t0 + s(10.0));
        match sup.ended("exit status: 1; No such file or directory") {
            Action::GiveUp(why) => {
                assert!(why.contains("5 times in a row"), "{why}");
                assert!(why.contains("No such file or directory"), "{why}");
            }
            other => panic!("expected to give up, got {other:?}"),
        }
    }

    #[test]
    fn output_in_between_resets_the_count_of_silent_runs() {
        let t0 = Instant::now();
        let mut sup = Supervisor::new(FRAME_60);
        run_with_output(&mut sup, t0, 0.0, 1.0);
        wait(&sup.ended("killed"));
        for round in 0..3 {
            for i in 0..GIVE_UP_AFTER - 1 {
                sup.started(t0 + s(round as f64 * 100.0 + i as f64));
                wait(&sup.ended("exit status: 1"));
            }
            run_with_output(&mut sup, t0, round as f64 * 100.0 + 50.0, 1.0);
            wait(&sup.ended("killed"));
        }
    }

    #[test]
    fn a_run_killed_as_stalled_before_any_output_counts_as_silent() {
        let t0 = Instant::now();
        let mut sup = Supervisor::new(FRAME_60);
        run_with_output(&mut sup, t0, 0.0, 1.0);
        wait(&sup.ended("killed"));
        let t0 = t0 + s(10.0);
        let mut last = None;
        for i in 0..GIVE_UP_AFTER {
            let start = t0 + s(i as f64 * 20.0);
            sup.started(start);
            assert!(sup.tick(start + STARTUP_GRACE).is_some());
            last = Some(sup.ended("stalled: no output for 10.0 s"));
        }
        assert!(matches!(last, Some(Action::GiveUp(_))), "{last:?}");
    }
}
