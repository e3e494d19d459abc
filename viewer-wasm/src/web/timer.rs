//! Waiting in the browser: `setTimeout` behind a promise. The viewer's own waits (redial
//! backoff, replay delay, yielding during a backlog) use this rather than `web_async::time`,
//! whose wasmtimer-based sleeps were seen never to fire after a session ended, leaving the
//! viewer stuck in "error" instead of redialling.

use std::time::Duration;

use js_sys::Promise;
use wasm_bindgen_futures::JsFuture;

/// Resolve after `duration` (or on the next macrotask for zero), letting the page run
/// whatever is queued meanwhile.
pub async fn sleep(duration: Duration) {
    let ms = i32::try_from(duration.as_millis()).unwrap_or(i32::MAX);
    let promise = Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}
