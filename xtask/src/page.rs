//! What the browser tests ask of a page, whichever browser shows it ([`crate::chromium`] over
//! the DevTools protocol, [`crate::firefox`] over WebDriver BiDi): open a URL, evaluate
//! JavaScript — and from that, the viewer's stats.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;
use viewer_wasm::telemetry::Report;

pub trait Page {
    /// Open `url` (not waiting for it to load).
    fn navigate(&mut self, url: &str) -> anyhow::Result<()>;

    /// Evaluate `expression` in the page (awaiting a returned promise) and return its value.
    fn evaluate(&mut self, expression: &str) -> anyhow::Result<Value>;

    /// `window.viewer.stats()`, or `None` while the page has not created the viewer yet.
    fn viewer_stats(&mut self) -> anyhow::Result<Option<Report>> {
        read_stats(&self.evaluate("window.viewer ? window.viewer.stats() : null")?)
    }

    /// Poll the viewer's stats until `done` accepts them or `timeout` passes; returns the last.
    fn wait_for_stats(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Report) -> bool,
    ) -> anyhow::Result<Option<Report>>
    where
        Self: Sized,
    {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(stats) = self.viewer_stats()? {
                let finished = done(&stats);
                last = Some(stats);
                if finished {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(last)
    }
}

/// End `process` and every process of its group (a browser's renderers, content and GPU
/// processes) with `signal` (`KILL`, or `TERM` for one that should clean up), and reap it.
/// The browsers are started as group leaders (`process_group(0)`).
pub fn end_group(process: &mut Child, signal: &str) {
    #[cfg(unix)]
    {
        // `--`: without it `kill` reads the negative group id as options (-1… would mean
        // "every process").
        let group = format!("-{}", process.id());
        let _ = Command::new("kill")
            .args(["-s", signal, "--", &group])
            .status();
    }
    if signal == "KILL" {
        let _ = process.kill();
    }
    let _ = process.wait();
}

/// The value `stats()` returned as the viewer's report; `null` is no viewer yet.
fn read_stats(stats: &Value) -> anyhow::Result<Option<Report>> {
    if stats.is_null() {
        return Ok(None);
    }
    let report = Report::deserialize(stats)
        .with_context(|| format!("the viewer's stats are not a telemetry report: {stats}"))?;
    Ok(Some(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chromium::json;
    use serde_json::json;

    /// What `stats()` hands back through `evaluate`: camelCase, whole numbers as
    /// integers (`volume: 1`), `null` for what is not known yet.
    fn page_stats() -> Value {
        let summary = |p50: Value| json!({"last": p50, "p50": p50, "p95": p50});
        json!({
            "state": "live", "error": null, "codec": "avc1.640020", "width": 1280,
            "height": 720, "hardwareAcceleration": "no-preference", "framesReceived": 250,
            "framesDecoded": 249, "framesRendered": 240, "framesDropped": 9, "decoderErrors": 0,
            "latencyMs": summary(json!(21.5)), "decodeMs": summary(json!(3)), "rendition": 0,
            "lagMs": null, "switches": 1,
            "audio": {
                "state": "playing", "error": null, "codec": "opus", "sampleRate": 48000,
                "channels": 2, "transport": "shared", "bufferedMs": 40.0, "packetsReceived": 500,
                "targetMs": 60, "arrivalMs": summary(Value::Null), "errorMs": null,
                "underruns": 0, "overruns": 0, "jumps": 1, "framesPlayed": 96000,
                "decoderErrors": 0, "muted": false, "volume": 1,
                "latencyMs": summary(json!(55.0)), "skewMs": 33.5
            }
        })
    }

    #[test]
    fn reads_the_pages_stats_as_the_viewers_report() {
        let report = read_stats(&page_stats())
            .expect("a report")
            .expect("a viewer");
        assert_eq!(report.state, "live");
        assert_eq!((report.width, report.height), (Some(1280), Some(720)));
        assert_eq!(report.counters.rendered, 240);
        assert_eq!(report.counters.dropped, 9);
        assert_eq!(report.latency_ms.p95, Some(21.5));
        assert_eq!(report.decode_ms.p50, Some(3.0));
        assert_eq!(report.audio.frames_played, 96_000);
        assert_eq!(report.audio.sample_rate, Some(48_000));
        assert_eq!(report.audio.arrival_ms.p95, None);
        assert_eq!(report.audio.volume, 1.0);
        assert_eq!(report.switches, 1);
        // What the tests print is that JSON again (whole floats written as `3.0`).
        let printed: Value = serde_json::from_str(&json(&report)).expect("JSON");
        assert_eq!(printed["framesRendered"], 240);
        assert_eq!(printed["audio"]["skewMs"], 33.5);
        assert_eq!(read_stats(&printed).expect("a report"), Some(report));
    }

    #[test]
    fn no_viewer_yet_is_none_and_other_values_are_errors() {
        assert_eq!(read_stats(&Value::Null).expect("null is fine"), None);
        let mut broken = page_stats();
        broken["framesRendered"] = json!("many");
        assert!(read_stats(&broken).is_err());
    }
}
