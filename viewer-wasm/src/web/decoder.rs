//! The WebCodecs `VideoDecoder` for one rendition: configuration from the catalog, support
//! probing, and recovery. A decoder error closes a WebCodecs decoder for good, so recovery
//! means building a fresh one with the same configuration and resuming at a keyframe.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CodecState, EncodedVideoChunk, EncodedVideoChunkInit, EncodedVideoChunkType,
    HardwareAcceleration, VideoDecoder, VideoDecoderConfig, VideoDecoderInit, VideoFrame,
};

use super::describe;
use super::shared::Shared;
use crate::catalog::Rendition;
use crate::selection::{Acceleration, Verdict};

/// The decoder configuration for `rendition`, always tuned for latency.
pub fn config(rendition: &Rendition, acceleration: Acceleration) -> VideoDecoderConfig {
    let config = VideoDecoderConfig::new(&rendition.codec);
    if let Some(description) = &rendition.description {
        config.set_description_u8_array(&Uint8Array::from(description.as_slice()));
    }
    if let (Some(width), Some(height)) = (rendition.coded_width, rendition.coded_height) {
        config.set_coded_width(width);
        config.set_coded_height(height);
    }
    if let (Some(width), Some(height)) = (
        rendition.display_aspect_width,
        rendition.display_aspect_height,
    ) {
        config.set_display_aspect_width(width);
        config.set_display_aspect_height(height);
    }
    config.set_optimize_for_latency(true);
    config.set_hardware_acceleration(match acceleration {
        Acceleration::PreferHardware => HardwareAcceleration::PreferHardware,
        Acceleration::NoPreference => HardwareAcceleration::NoPreference,
    });
    config
}

/// Ask the browser whether it decodes `rendition` with each acceleration preference.
pub async fn probe(rendition: &Rendition) -> Verdict {
    if let Some(reason) = rendition.unplayable_reason() {
        return Verdict::Unplayable(reason);
    }
    let hardware = supported(&config(rendition, Acceleration::PreferHardware)).await;
    let software = hardware || supported(&config(rendition, Acceleration::NoPreference)).await;
    Verdict::Browser { hardware, software }
}

async fn supported(config: &VideoDecoderConfig) -> bool {
    // A malformed config rejects the promise (TypeError) rather than answering false.
    match JsFuture::from(VideoDecoder::is_config_supported(config)).await {
        Ok(answer) => {
            Reflect::get(&answer, &"supported".into()).is_ok_and(|supported| supported.is_truthy())
        }
        Err(_) => false,
    }
}

/// A configured decoder whose output goes to [`Shared::offer`].
pub struct Decoder {
    decoder: VideoDecoder,
    config: VideoDecoderConfig,
    /// Chunks decoded whose frames have not come out yet.
    pending: Rc<Cell<u32>>,
    output: Closure<dyn FnMut(VideoFrame)>,
    error: Closure<dyn FnMut(JsValue)>,
}

impl Decoder {
    pub fn new(shared: Rc<Shared>, config: VideoDecoderConfig) -> Result<Self, String> {
        let pending = Rc::new(Cell::new(0u32));
        let output = {
            let pending = pending.clone();
            Closure::<dyn FnMut(VideoFrame)>::new(move |frame: VideoFrame| {
                pending.set(pending.get().saturating_sub(1));
                let now = shared.now_ms();
                shared
                    .telemetry
                    .borrow_mut()
                    .decoded(frame.timestamp(), now);
                shared.offer(frame);
            })
        };
        // The decoder is closed by the time this runs; the playback loop notices that and
        // rebuilds it, so there is nothing to do here.
        let error = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {});
        let decoder = build(&config, &output, &error)?;
        Ok(Self {
            decoder,
            config,
            pending,
            output,
            error,
        })
    }

    /// Chunks handed to the decoder whose frames have not reached the page yet: at least
    /// `decodeQueueSize`, plus frames decoded but still waiting for the page's busy thread.
    pub fn backlog(&self) -> u32 {
        self.decoder.decode_queue_size().max(self.pending.get())
    }

    /// Rebuild the decoder if an error closed it. Returns whether it did: the caller must
    /// then resume at a keyframe.
    pub fn recover(&mut self) -> Result<bool, String> {
        if self.decoder.state() != CodecState::Closed {
            return Ok(false);
        }
        self.decoder = build(&self.config, &self.output, &self.error)?;
        self.pending.set(0);
        Ok(true)
    }

    /// Drop every chunk the decoder holds (its frames would all be late) and make it ready for
    /// the next keyframe. Returns how many frames that discarded.
    pub fn flush(&mut self) -> Result<u32, String> {
        let discarded = self.pending.replace(0);
        if self.decoder.state() == CodecState::Configured {
            self.decoder.reset().map_err(describe)?;
            self.decoder.configure(&self.config).map_err(describe)?;
        }
        Ok(discarded)
    }

    /// Queue one frame's codec payload (never empty) for decoding.
    pub fn decode(&self, payload: &[u8], timestamp_us: f64, keyframe: bool) -> Result<(), String> {
        let kind = match keyframe {
            true => EncodedVideoChunkType::Key,
            false => EncodedVideoChunkType::Delta,
        };
        // SAFETY: the view borrows wasm memory, which only moves when Rust allocates; nothing
        // allocates between here and `EncodedVideoChunk::new`, which copies the bytes out.
        let data = unsafe { Uint8Array::view(payload) };
        let init = EncodedVideoChunkInit::new(&data, 0, kind);
        init.set_timestamp_f64(timestamp_us);
        let chunk = EncodedVideoChunk::new(&init).map_err(describe)?;
        self.decoder.decode(&chunk).map_err(describe)?;
        self.pending.set(self.pending.get() + 1);
        Ok(())
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        if self.decoder.state() != CodecState::Closed {
            // Frames still in flight are never output once the decoder is closed.
            let _ = self.decoder.close();
        }
    }
}

fn build(
    config: &VideoDecoderConfig,
    output: &Closure<dyn FnMut(VideoFrame)>,
    error: &Closure<dyn FnMut(JsValue)>,
) -> Result<VideoDecoder, String> {
    let init = VideoDecoderInit::new(
        error.as_ref().unchecked_ref(),
        output.as_ref().unchecked_ref(),
    );
    let decoder = VideoDecoder::new(&init).map_err(describe)?;
    decoder.configure(config).map_err(describe)?;
    Ok(decoder)
}
