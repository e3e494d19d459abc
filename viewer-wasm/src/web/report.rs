//! `stats()`'s return value: the telemetry report as a plain JavaScript object, with `null`
//! for everything not known yet.

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;

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
    stats
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
