//! `stats()`'s return value: the telemetry report as a plain JavaScript object, with `null`
//! for everything not known yet.

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;

use crate::audio::status::AudioReport;
use crate::stats::Summary;
use crate::telemetry::Report;

pub fn to_object(report: &Report) -> Object {
    let stats = Object::new();
    set(&stats, "state", report.state.into());
    set(&stats, "error", optional(report.error.as_deref()));
    set(&stats, "codec", optional(report.codec.as_deref()));
    set(&stats, "width", optional(report.width));
    set(&stats, "height", optional(report.height));
    set(
        &stats,
        "hardwareAcceleration",
        optional(report.acceleration),
    );
    let counters = &report.counters;
    set(&stats, "framesReceived", count(counters.received));
    set(&stats, "framesDecoded", count(counters.decoded));
    set(&stats, "framesRendered", count(counters.rendered));
    set(&stats, "framesDropped", count(counters.dropped));
    set(&stats, "decoderErrors", count(counters.decoder_errors));
    set(
        &stats,
        "latencyMs",
        summary(&report.latency_ms, true).into(),
    );
    set(&stats, "decodeMs", summary(&report.decode_ms, false).into());
    set(&stats, "audio", audio(&report.audio).into());
    stats
}

fn audio(report: &AudioReport) -> Object {
    let audio = Object::new();
    set(&audio, "state", report.state.into());
    set(&audio, "error", optional(report.error.as_deref()));
    set(&audio, "codec", optional(report.codec.as_deref()));
    set(&audio, "sampleRate", optional(report.sample_rate));
    set(&audio, "channels", optional(report.channels));
    set(&audio, "transport", optional(report.transport));
    set(&audio, "bufferedMs", optional(report.buffered_ms));
    set(&audio, "packetsReceived", count(report.packets_received));
    set(&audio, "targetMs", optional(report.target_ms));
    set(&audio, "errorMs", optional(report.error_ms));
    set(
        &audio,
        "arrivalMs",
        summary(&report.arrival_ms, false).into(),
    );
    set(&audio, "underruns", count(report.underruns));
    set(&audio, "overruns", count(report.overruns));
    set(&audio, "jumps", count(report.jumps));
    set(&audio, "framesPlayed", count(report.frames_played));
    set(&audio, "decoderErrors", count(report.decoder_errors));
    set(&audio, "muted", report.muted.into());
    set(&audio, "volume", report.volume.into());
    set(
        &audio,
        "latencyMs",
        summary(&report.latency_ms, true).into(),
    );
    set(&audio, "skewMs", optional(report.skew_ms));
    audio
}

/// `{last, p50, p95}`, or `{p50, p95}` without `last`.
fn summary(summary: &Summary, with_last: bool) -> Object {
    let object = Object::new();
    if with_last {
        set(&object, "last", optional(summary.last));
    }
    set(&object, "p50", optional(summary.p50));
    set(&object, "p95", optional(summary.p95));
    object
}

fn optional<T: Into<JsValue>>(value: Option<T>) -> JsValue {
    value.map_or(JsValue::NULL, Into::into)
}

/// Counts stay far below 2^53, so a JS number holds them exactly.
fn count(value: u64) -> JsValue {
    (value as f64).into()
}

fn set(object: &Object, key: &str, value: JsValue) {
    // Defining a property on a fresh plain object cannot fail.
    let _ = Reflect::set(object, &key.into(), &value);
}
