//! The page's side of the audio worker. On a cross-origin isolated page the audio track is
//! received, decoded and written into the worklet's shared ring by a dedicated worker
//! (`worker.rs`), on its own WebTransport session, so a busy page neither delays sound nor is
//! slowed by it. The page keeps what only it has: the audio context, its worklet and gain (so
//! muting stays here), and the video. It starts the worker with the compiled viewer module and
//! the ring, posts it a [`Tick`] every [`TICK_MS`] (the context's output clock, whether it runs,
//! the video's latency), and reports the figures the worker posts back in `stats().audio`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{
    Blob, BlobPropertyBag, ErrorEvent, MessageEvent, Url, Worker, WorkerOptions, WorkerType,
};

use super::audio_output::AudioOutput;
use super::describe;
use super::shared::Shared;
use crate::audio::status::AudioReport;
use crate::audio::worker_link::{TICK_MS, Tick, WorkerStart};

/// The worker's script: imports this very module (`{VIEWER}`), instantiates the compiled wasm the
/// page posts with the start, and hands over to `audioWorkerMain` (`worker.rs`). Messages that
/// come while it loads are ticks, which the next one supersedes.
const BOOTSTRAP: &str = r#"import init, { audioWorkerMain } from "{VIEWER}";
let started = false;
self.onmessage = async (event) => {
  if (started) return;
  started = true;
  const { module, start, ring } = event.data;
  try {
    await init({ module_or_path: module });
    audioWorkerMain(start, ring);
  } catch (err) {
    self.postMessage({ failed: String((err && err.message) || err) });
  }
};
"#;

#[wasm_bindgen]
extern "C" {
    /// The URL of the module this viewer was loaded from (`viewer.js`).
    #[wasm_bindgen(thread_local_v2, js_namespace = ["import", "meta"], js_name = url)]
    static VIEWER_URL: String;
}

/// Play the track `start` names in a worker writing `output`'s shared ring, until the worker
/// fails (the future is dropped when the track stops being wanted, which ends the worker).
pub async fn play(
    shared: &Rc<Shared>,
    output: &AudioOutput,
    start: &WorkerStart,
) -> Result<(), String> {
    let ring = output
        .shared_buffer()
        .ok_or("the audio worker needs shared memory")?;
    let failed = Rc::new(RefCell::new(None));
    let worker = AudioWorker::spawn(shared.clone(), failed.clone())?;
    let message = Object::new();
    let set = |key: &str, value: &JsValue| {
        let _ = Reflect::set(&message, &key.into(), value);
    };
    set("module", &wasm_bindgen::module());
    let start = serde_json::to_string(start).map_err(|err| err.to_string())?;
    set("start", &start.into());
    set("ring", ring);
    worker.worker.post_message(&message).map_err(describe)?;
    loop {
        if let Some(why) = failed.borrow_mut().take() {
            return Err(format!("the audio worker failed: {why}"));
        }
        let running = output.running();
        let video_latency_p50 = shared.telemetry().video_latency_p50();
        let tick = Tick {
            output: output.stamp(shared.now_unix_ms()),
            running,
            video_latency_p50,
        };
        shared.telemetry().audio.context_running(running);
        if let Ok(tick) = serde_json::to_string(&tick) {
            let _ = worker.worker.post_message(&tick.into());
        }
        super::timer::sleep(Duration::from_millis(TICK_MS as u64)).await;
    }
}

/// A running audio worker, ended when dropped.
struct AudioWorker {
    worker: Worker,
    /// The script's blob URL.
    url: String,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
    _onerror: Closure<dyn FnMut(ErrorEvent)>,
}

impl AudioWorker {
    /// Start the worker; its reports go to `shared`'s stats, and why it failed to `failed`.
    fn spawn(shared: Rc<Shared>, failed: Rc<RefCell<Option<String>>>) -> Result<Self, String> {
        let source = VIEWER_URL.with(|url| BOOTSTRAP.replace("{VIEWER}", url));
        let options = BlobPropertyBag::new();
        options.set_type("text/javascript");
        let blob =
            Blob::new_with_str_sequence_and_options(&js_sys::Array::of1(&source.into()), &options)
                .map_err(describe)?;
        let url = Url::create_object_url_with_blob(&blob).map_err(describe)?;
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        options.set_name("viewer audio");
        // The script is fetched after this returns: its URL is revoked when the worker ends.
        let worker = Worker::new_with_options(&url, &options).map_err(|err| {
            let _ = Url::revoke_object_url(&url);
            format!("cannot start the audio worker: {}", describe(err))
        })?;
        let onmessage = {
            let failed = failed.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let text = |key: &str| {
                    Reflect::get(&event.data(), &key.into())
                        .ok()
                        .and_then(|value| value.as_string())
                };
                if let Some(report) = text("report")
                    && let Ok(report) = serde_json::from_str::<AudioReport>(&report)
                {
                    let mut telemetry = shared.telemetry();
                    telemetry.alive(shared.now_ms());
                    telemetry.audio.played(report);
                }
                if let Some(why) = text("failed") {
                    *failed.borrow_mut() = Some(why);
                }
            })
        };
        let onerror = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
            *failed.borrow_mut() = Some(event.message());
        });
        worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        worker.set_onerror(Some(onerror.as_ref().unchecked_ref()));
        Ok(Self {
            worker,
            url,
            _onmessage: onmessage,
            _onerror: onerror,
        })
    }
}

impl Drop for AudioWorker {
    fn drop(&mut self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
        let _ = Url::revoke_object_url(&self.url);
    }
}
