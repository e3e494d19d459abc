//! Waiting in the browser, on the page or in a worker: `setTimeout` behind a promise. The viewer's own waits (redial
//! backoff, replay delay, yielding during a backlog) use this rather than `web_async::time`,
//! whose wasmtimer-based sleeps were seen never to fire after a session ended, leaving the
//! viewer stuck in "error" instead of redialling.

use std::time::Duration;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// The global `setTimeout`: the page's or a worker's.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: i32) -> JsValue;
}

/// Resolve after `duration` (or on the next macrotask for zero), letting the page run
/// whatever is queued meanwhile.
pub async fn sleep(duration: Duration) {
    let ms = i32::try_from(duration.as_millis()).unwrap_or(i32::MAX);
    let promise = Promise::new(&mut |resolve, _reject| {
        set_timeout(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}
