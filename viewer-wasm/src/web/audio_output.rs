//! Where decoded audio goes: an `AudioContext` (one per page, created at the stream's sample
//! rate), the ring-reading `AudioWorkletNode` (`audio_worklet.js`) and a gain node for volume
//! and mute. The ring is a `SharedArrayBuffer` when the page is cross-origin isolated (the
//! relay's pages are), written by the audio worker (`audio_worker.rs`), and otherwise the same
//! ring kept in the worklet, fed by messages from the page's thread (`ring_writer.rs` writes
//! both).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Int32Array, Object, Reflect, SharedArrayBuffer};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AudioContext, AudioContextOptions, AudioContextState, AudioWorkletNode,
    AudioWorkletNodeOptions, Blob, BlobPropertyBag, GainNode, MessageEvent, Url,
};

use super::describe;
use super::ring_writer::RingWriter;
use crate::audio::ring::{Counters, Ring};
use crate::audio::worker_link::OutputStamp;

/// The worklet's source, loaded from a blob URL so an embedding page needs no extra file.
const WORKLET: &str = include_str!("audio_worklet.js");
const PROCESSOR: &str = "viewer-ring-reader";

/// Ring capacity: one second of audio is far more than any playout target.
const RING_SECONDS: u32 = 1;

/// Message transport: the worklet posts its counters every this many render quanta.
const REPORT_EVERY_QUANTA: u32 = 4;
/// Frames in a render quantum (Web Audio's fixed block size).
const QUANTUM_FRAMES: u32 = 128;
/// The audio thread's callback period assumed where the context does not say (`baseLatency`).
const DEFAULT_BASE_LATENCY_S: f64 = 0.01;

/// The page's audio context and the settings the user chose, kept across tracks.
#[derive(Default)]
pub struct Speakers {
    context: RefCell<Option<AudioContext>>,
    gain: RefCell<Option<GainNode>>,
    muted: Cell<bool>,
    volume: Cell<f64>,
}

impl Speakers {
    pub fn new() -> Self {
        let speakers = Self::default();
        speakers.volume.set(1.0);
        speakers
    }

    /// The context, created at `sample_rate` (or replaced if it runs at another rate). Created
    /// outside a user gesture, browsers start it suspended: see [`Speakers::unmute`].
    pub fn context(&self, sample_rate: u32) -> Result<(AudioContext, GainNode), String> {
        if let (Some(context), Some(gain)) = (&*self.context.borrow(), &*self.gain.borrow())
            && context.sample_rate() as u32 == sample_rate
        {
            return Ok((context.clone(), gain.clone()));
        }
        if let Some(old) = self.context.borrow_mut().take() {
            let _ = old.close();
        }
        let options = AudioContextOptions::new();
        options.set_sample_rate(sample_rate as f32);
        // "interactive" (10 ms on Linux); 0 (the device's smallest) made Chromium's render
        // thread run dry hundreds of times a minute here.
        options.set_latency_hint(&"interactive".into());
        let context = AudioContext::new_with_context_options(&options).map_err(describe)?;
        let gain = context.create_gain().map_err(describe)?;
        gain.connect_with_audio_node(&context.destination())
            .map_err(describe)?;
        *self.context.borrow_mut() = Some(context.clone());
        *self.gain.borrow_mut() = Some(gain.clone());
        self.apply_gain();
        Ok((context, gain))
    }

    /// Start sound: must run inside a user gesture (a click) for the browser to allow it.
    pub fn unmute(&self) {
        self.muted.set(false);
        self.apply_gain();
        if self.context.borrow().is_none() {
            // Created inside the gesture, the context is allowed to run; tracks reuse it.
            let _ = self.context(48_000);
        }
        if let Some(context) = self.context.borrow().as_ref() {
            let _ = context.resume();
        }
    }

    pub fn set_muted(&self, muted: bool) {
        self.muted.set(muted);
        self.apply_gain();
    }

    pub fn set_volume(&self, volume: f64) {
        self.volume.set(if volume.is_finite() {
            volume.clamp(0.0, 1.0)
        } else {
            1.0
        });
        self.apply_gain();
    }

    pub fn volume(&self) -> f64 {
        self.volume.get()
    }

    fn apply_gain(&self) {
        if let Some(gain) = self.gain.borrow().as_ref() {
            let level = if self.muted.get() {
                0.0
            } else {
                self.volume.get()
            };
            gain.gain().set_value(level as f32);
        }
    }
}

/// One track's connection to the speakers.
pub struct AudioOutput {
    context: AudioContext,
    node: AudioWorkletNode,
    /// The ring's memory, when it is shared (otherwise the worklet keeps it).
    buffer: Option<SharedArrayBuffer>,
    /// The worklet's counters as it last posted them (message transport).
    counters: Rc<Cell<Counters>>,
    ring: Ring,
    sample_rate: f64,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
}

impl AudioOutput {
    /// Load the worklet into the page's context and connect a ring reader for `channels`
    /// channels. `on_onset` receives the Unix ms at which each beep onset is heard (sync probe);
    /// `messages_only` uses the message transport even where memory could be shared.
    pub async fn start(
        speakers: &Speakers,
        sample_rate: u32,
        channels: u32,
        on_onset: Option<Box<dyn Fn(f64)>>,
        messages_only: bool,
    ) -> Result<Self, String> {
        let (context, gain) = speakers.context(sample_rate)?;
        let url = worklet_url()?;
        let loaded = context
            .audio_worklet()
            .map_err(describe)?
            .add_module(&url)
            .map_err(describe)?;
        let loaded = JsFuture::from(loaded).await;
        let _ = Url::revoke_object_url(&url);
        loaded.map_err(|err| format!("cannot load the audio worklet: {}", describe(err)))?;

        let ring = ring(sample_rate, channels);
        let processor = Object::new();
        let set = |key: &str, value: JsValue| {
            let _ = Reflect::set(&processor, &key.into(), &value);
        };
        set("capacity", ring.capacity().into());
        set("channels", channels.into());
        set("probe", on_onset.is_some().into());
        set("reportEvery", REPORT_EVERY_QUANTA.into());
        let shared = (!messages_only && shared_memory_available())
            .then(|| SharedArrayBuffer::new(RingWriter::shared_bytes(&ring)));
        if let Some(buffer) = &shared {
            set("sab", buffer.into());
        }
        let options = AudioWorkletNodeOptions::new();
        options.set_number_of_inputs(0);
        options.set_number_of_outputs(1);
        options.set_output_channel_count(&js_sys::Array::of1(&channels.into()));
        options.set_processor_options(Some(&processor));
        let node =
            AudioWorkletNode::new_with_options(&context, PROCESSOR, &options).map_err(describe)?;
        node.connect_with_audio_node(&gain).map_err(describe)?;

        let counters = Rc::new(Cell::new(Counters::default()));
        let onmessage = {
            let (counters, context) = (counters.clone(), context.clone());
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let data = event.data();
                if let Ok(header) = Reflect::get(&data, &"counters".into())
                    && let Ok(header) = header.dyn_into::<Int32Array>()
                {
                    counters.set(Counters::read(|slot| header.get_index(slot as u32)));
                }
                if let Some(on_onset) = &on_onset
                    && let Ok(frame) = Reflect::get(&data, &"onset".into())
                    && let Some(frame) = frame.as_f64()
                    && let Some(heard) = context_frame_heard(&context, frame)
                {
                    on_onset(heard);
                }
            })
        };
        let port = node.port().map_err(describe)?;
        port.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        Ok(Self {
            context,
            node,
            buffer: shared,
            counters,
            ring,
            sample_rate: f64::from(sample_rate),
            _onmessage: onmessage,
        })
    }

    /// The ring's memory, when it is shared: another thread may write it.
    pub fn shared_buffer(&self) -> Option<&SharedArrayBuffer> {
        self.buffer.as_ref()
    }

    /// The writer of this output's ring, on the page's thread.
    pub fn writer(&self) -> Result<RingWriter, String> {
        Ok(match &self.buffer {
            Some(buffer) => RingWriter::shared(buffer, self.ring),
            None => RingWriter::message(
                self.node.port().map_err(describe)?,
                self.counters.clone(),
                self.message_delivery_ms(),
                self.ring,
            ),
        })
    }

    /// How much later than the counters say a chunk posted now can be heard at the earliest,
    /// ms: the read position the page knows is up to a report period old, and a posted chunk
    /// reaches the worklet only between the audio thread's callbacks (`baseLatency` apart);
    /// planned without these, the ring ran dry for a few ms now and then.
    fn message_delivery_ms(&self) -> f64 {
        let report = f64::from(REPORT_EVERY_QUANTA * QUANTUM_FRAMES) / self.sample_rate;
        let callback = Reflect::get(&self.context, &"baseLatency".into())
            .ok()
            .and_then(|latency| latency.as_f64())
            .filter(|latency| latency.is_finite() && *latency > 0.0)
            .unwrap_or(DEFAULT_BASE_LATENCY_S);
        (report + callback) * 1000.0
    }

    pub fn running(&self) -> bool {
        self.context.state() == AudioContextState::Running
    }

    /// The context's output timestamp now, as Unix ms.
    pub fn stamp(&self, now_unix_ms: f64) -> Option<OutputStamp> {
        let (context_seconds, unix_ms) = output_timestamp(&self.context, now_unix_ms)?;
        Some(OutputStamp {
            context_seconds,
            unix_ms,
        })
    }
}
impl Drop for AudioOutput {
    fn drop(&mut self) {
        if let Ok(port) = self.node.port() {
            port.set_onmessage(None);
        }
        let _ = self.node.disconnect();
    }
}

/// The ring for a stream of `sample_rate` and `channels` (the audio worker builds the same).
pub fn ring(sample_rate: u32, channels: u32) -> Ring {
    Ring::new(sample_rate * RING_SECONDS, channels)
}

/// Whether this page may share memory with the audio thread.
pub fn shared_memory_available() -> bool {
    let global = js_sys::global();
    Reflect::get(&global, &"crossOriginIsolated".into()).is_ok_and(|value| value.is_truthy())
        && Reflect::get(&global, &"SharedArrayBuffer".into()).is_ok_and(|value| value.is_function())
}

fn worklet_url() -> Result<String, String> {
    let parts = js_sys::Array::of1(&WORKLET.into());
    let options = BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options).map_err(describe)?;
    Url::create_object_url_with_blob(&blob).map_err(describe)
}

/// `(contextTime, Unix ms when it is heard)` from `getOutputTimestamp()`, or from
/// `currentTime` plus the reported output latency where that is not available yet or not
/// believable ([`OutputStamp::plausible`]).
fn output_timestamp(context: &AudioContext, now_unix_ms: f64) -> Option<(f64, f64)> {
    let number = |object: &JsValue, key: &str| {
        Reflect::get(object, &key.into())
            .ok()
            .and_then(|value| value.as_f64())
    };
    let performance = web_sys::window()?.performance()?;
    if let Ok(method) = Reflect::get(context, &"getOutputTimestamp".into())
        && let Ok(method) = method.dyn_into::<Function>()
        && let Ok(stamp) = method.call0(context)
        && let (Some(context_time), Some(performance_time)) = (
            number(&stamp, "contextTime"),
            number(&stamp, "performanceTime"),
        )
        && performance_time > 0.0
    {
        let stamp = OutputStamp {
            context_seconds: context_time,
            unix_ms: performance.time_origin() + performance_time,
        };
        if stamp.plausible(now_unix_ms) {
            return Some((stamp.context_seconds, stamp.unix_ms));
        }
    }
    let latency = number(context, "outputLatency").unwrap_or(0.0)
        + number(context, "baseLatency").unwrap_or(0.0);
    Some((context.current_time() - latency, now_unix_ms))
}

/// When context frame `frame` is heard, Unix ms.
fn context_frame_heard(context: &AudioContext, frame: f64) -> Option<f64> {
    let now = web_sys::window()?.performance()?;
    let now_unix_ms = now.time_origin() + now.now();
    let (context_seconds, heard_unix_ms) = output_timestamp(context, now_unix_ms)?;
    Some(heard_unix_ms + (frame / f64::from(context.sample_rate()) - context_seconds) * 1000.0)
}
