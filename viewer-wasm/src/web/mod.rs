//! The browser glue, wasm32 only: the `Viewer` class JavaScript constructs, wiring the
//! connection task, the decoder and the paint loop to one shared state.

mod audio_output;
mod audio_track;
mod audio_worker;
mod broadcast;
mod catalog_track;
mod connection;
mod decoder;
mod render;
mod ring_writer;
mod shared;
mod timer;
mod track_sink;
mod video_track;
mod websocket;
mod worker;

use std::rc::Rc;

use futures::future::{AbortHandle, Abortable};
use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

use crate::availability::unavailable;
use crate::transport;
use render::RenderLoop;
use shared::{Shared, Source};

/// The broadcast watched when the options name none.
const DEFAULT_NAME: &str = "screen";

/// A live viewer painting one broadcast into one canvas.
///
/// ```js
/// const viewer = new Viewer(canvas, { url: "http://localhost:4443/anon", name: "screen" });
/// viewer.stats(); // { state: "live", latencyMs: { last, p50, p95 }, … }
/// viewer.close();
/// ```
#[wasm_bindgen]
pub struct Viewer {
    shared: Rc<Shared>,
    connection: AbortHandle,
    render: RenderLoop,
}

#[wasm_bindgen]
impl Viewer {
    /// Start watching. `options.url` is the relay (`http://host:port/path` for a development
    /// relay with a self-signed certificate, or `https://…`); it defaults to port 4443 path
    /// `/anon` on the page's host. `options.fingerprint` is an absolute URL serving the relay
    /// certificate's hex SHA-256, to pin it whatever the relay URL's scheme (without it an
    /// `https://` relay is trusted by the system roots and an `http://` one publishes its hash
    /// at `/certificate.sha256` on its own host and port). A subscribe token in the relay URL
    /// (`?jwt=…`) never appears in `stats()` or in messages. `options.name` is the
    /// broadcast, `"screen"` by default.
    /// `options.syncProbe: true` notes flash and beep onsets (see `syncProbe()`);
    /// On a cross-origin isolated page, sound is received (on its own session), decoded and
    /// written for the audio worklet by a dedicated worker; `options.audioTransport: "message"`
    /// keeps it on the page's thread, feeding the worklet by messages (the path embeds in other
    /// sites take).
    /// Where the browser has `MediaStreamTrackGenerator`, frames are shown by a `<video>`
    /// element put in the canvas's place (id `<canvas id>-sink`, same classes; the canvas is
    /// hidden), which keeps the conversion off the page's thread; `options.sink: "canvas"`
    /// draws into the canvas instead.
    ///
    /// `options.transport` (`"wt"` or `"ws"`) forces WebTransport or the WebSocket; by default
    /// WebTransport where the browser has it, else the WebSocket.
    ///
    /// Throws a one-sentence error on a page that cannot watch (not a secure context, or a
    /// browser without WebCodecs).
    #[wasm_bindgen(constructor)]
    pub fn new(canvas: HtmlCanvasElement, options: JsValue) -> Result<Viewer, JsError> {
        let window = web_sys::window().ok_or_else(|| JsError::new("the viewer needs a window"))?;
        let has = |name: &str| Reflect::has(&js_sys::global(), &name.into()).unwrap_or(false);
        if let Some(why) = unavailable(window.is_secure_context(), has("VideoDecoder")) {
            return Err(JsError::new(why));
        }
        // Firefox before 155 has WebTransport without its `protocol` attribute.
        let protocols = Reflect::get(&js_sys::global(), &"WebTransport".into())
            .and_then(|class| Reflect::get(&class, &"prototype".into()))
            .and_then(|prototype| Reflect::has(&prototype, &"protocol".into()))
            .unwrap_or(false);
        let offered = transport::Offered {
            webtransport: has("WebTransport"),
            webtransport_protocols: protocols,
        };
        let transport = transport::choose(option(&options, "transport").as_deref(), offered)
            .map_err(|why| JsError::new(&why))?;
        let performance = window
            .performance()
            .ok_or_else(|| JsError::new("the viewer needs window.performance"))?;
        let url = match option(&options, "url") {
            Some(url) => url,
            None => {
                let host = window
                    .location()
                    .hostname()
                    .map_err(|_| JsError::new("the page has no hostname"))?;
                format!("http://{host}:4443/anon")
            }
        };
        let fingerprint = option(&options, "fingerprint");
        let name = option(&options, "name").unwrap_or_else(|| DEFAULT_NAME.to_owned());
        let probe = Reflect::get(&options, &"syncProbe".into()).is_ok_and(|on| on.is_truthy());

        let messages_only = option(&options, "audioTransport").as_deref() == Some("message");
        let track_sink = option(&options, "sink").as_deref() != Some("canvas");

        let source = Source {
            relay: url,
            fingerprint,
            transport,
            name,
        };
        let shared = Rc::new(Shared::new(source, performance, probe, messages_only));
        let render = RenderLoop::start(window, shared.clone(), canvas, track_sink)
            .map_err(|err| JsError::new(&err))?;
        let (connection, registration) = AbortHandle::new_pair();
        let running = connection::run_viewer(shared.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let _ = Abortable::new(running, registration).await;
        });
        Ok(Viewer {
            shared,
            connection,
            render,
        })
    }

    /// A snapshot of the viewer as a plain object: the fields of `telemetry::Report` in
    /// camelCase, `null` where not known yet — `state` ("connecting" | "waiting for
    /// broadcast" | "live" | "offline" | "error"), `error`, `codec`, `width`, `height` (the
    /// rendition painted), `hardwareAcceleration`, `framesReceived`, `framesDecoded`,
    /// `framesRendered`, `framesDropped`, `decoderErrors`, `latencyMs: {last, p50, p95}`
    /// (paint wall clock minus capture wall clock, last ~5 s), `decodeMs`, `rendition` (0 is
    /// the best), `lagMs` (decoding behind the newest frame received), `switches`,
    /// `bandwidthKbps` (the relay's estimate of what it can send this viewer), and `audio`
    /// (see `audio::status::AudioReport`: `state` "off" | "starting" | "blocked" (needs a
    /// click: call `unmute()`) | "playing" | "muted" | "unsupported" | "error", `thread`
    /// ("worker" | "page": where sound is decoded), `underruns`,
    /// `latencyMs`, `skewMs` (audio latency minus video latency) and more).
    pub fn stats(&self) -> JsValue {
        let report = self.shared.report();
        serde_json::to_string(&report)
            .ok()
            .and_then(|json| js_sys::JSON::parse(&json).ok())
            .unwrap_or(JsValue::NULL)
    }

    /// Start sound. Call it from a click or key handler: browsers only let a page make sound
    /// after the user interacted with it.
    pub fn unmute(&self) {
        self.shared.speakers.unmute();
        self.shared.telemetry().audio.set_muted(false);
    }

    /// Mute or unmute (muted audio keeps flowing, silently, so unmuting is instant).
    #[wasm_bindgen(js_name = setMuted)]
    pub fn set_muted(&self, muted: bool) {
        self.shared.speakers.set_muted(muted);
        self.shared.telemetry().audio.set_muted(muted);
    }

    /// Volume from 0 to 1.
    #[wasm_bindgen(js_name = setVolume)]
    pub fn set_volume(&self, volume: f64) {
        self.shared.speakers.set_volume(volume);
        self.shared.telemetry().audio.volume = self.shared.speakers.volume();
    }

    /// With `syncProbe: true` in the options: `{flashes, flashCaptures, beeps}`, the Unix ms at
    /// which each test-source flash was painted (and its first lit frame captured) and each beep
    /// onset heard (the last 120 of each). `null` otherwise.
    #[wasm_bindgen(js_name = syncProbe)]
    pub fn sync_probe(&self) -> JsValue {
        let Some(probe) = &self.shared.probe else {
            return JsValue::NULL;
        };
        let probe = probe.borrow();
        let object = js_sys::Object::new();
        let list = |values: &[f64]| -> JsValue {
            values
                .iter()
                .map(|&value| JsValue::from(value))
                .collect::<js_sys::Array>()
                .into()
        };
        let _ = Reflect::set(&object, &"flashes".into(), &list(&probe.flashes));
        let captures = list(&probe.flash_captures);
        let _ = Reflect::set(&object, &"flashCaptures".into(), &captures);
        let _ = Reflect::set(&object, &"beeps".into(), &list(&probe.beeps));
        object.into()
    }

    /// Disconnect, stop painting and release every frame. Idempotent.
    pub fn close(&self) {
        self.connection.abort();
        self.render.stop();
        self.shared.close();
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.close();
    }
}

/// A thrown JS value as text (a `DOMException`'s message, or whatever it stringifies to).
fn describe(value: JsValue) -> String {
    Reflect::get(&value, &"message".into())
        .ok()
        .and_then(|message| message.as_string())
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

/// A non-empty string option.
fn option(options: &JsValue, key: &str) -> Option<String> {
    if !options.is_object() {
        return None;
    }
    let value = Reflect::get(options, &key.into()).ok()?.as_string()?;
    Some(value.trim().to_owned()).filter(|value| !value.is_empty())
}
