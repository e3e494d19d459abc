//! The WebCodecs `VideoDecoder` for one rendition: configuration from the catalog, support
//! probing, its events wired to the player, and recovery. A decoder error closes a WebCodecs
//! decoder for good, so recovery means building a fresh one with the same configuration and resuming at a keyframe.

use std::rc::Rc;

use bytes::Bytes;
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
use crate::player::Encoded;
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

/// A configured decoder whose events go to the player (see [`Shared::video`]), with the
/// configuration of every rendition the player may switch to.
pub struct Decoder {
    decoder: VideoDecoder,
    configs: Vec<VideoDecoderConfig>,
    /// The rendition it is configured for.
    configured: usize,
    output: Closure<dyn FnMut(VideoFrame)>,
    error: Closure<dyn FnMut(JsValue)>,
    dequeue: Closure<dyn FnMut()>,
}

impl Decoder {
    /// A decoder configured for rendition `start` of `configs`. Its callbacks hold `shared`
    /// weakly: the decoder lives inside it.
    pub fn new(
        shared: &Rc<Shared>,
        configs: Vec<VideoDecoderConfig>,
        start: usize,
    ) -> Result<Self, String> {
        let config = configs.get(start).ok_or("no such rendition")?;
        let output = {
            let shared = Rc::downgrade(shared);
            Closure::<dyn FnMut(VideoFrame)>::new(move |frame: VideoFrame| match shared.upgrade() {
                Some(shared) => {
                    shared.video(|player, now| player.decoded(now, frame.timestamp(), frame))
                }
                None => frame.close(),
            })
        };
        // The decoder is closed by the time this runs. A failed `decode()` call may already
        // have rebuilt it; otherwise rebuild now.
        let error = {
            let shared = Rc::downgrade(shared);
            Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
                if let Some(shared) = shared.upgrade()
                    && shared.decoder_closed()
                {
                    shared.decoder_failed();
                }
            })
        };
        let dequeue = {
            let shared = Rc::downgrade(shared);
            Closure::<dyn FnMut()>::new(move || {
                if let Some(shared) = shared.upgrade() {
                    let size = shared.decode_queue_size();
                    shared.video(|player, now| player.dequeued(now, size));
                }
            })
        };
        let decoder = build(config, &output, &error, &dequeue)?;
        Ok(Self {
            decoder,
            configs,
            configured: start,
            output,
            error,
            dequeue,
        })
    }

    /// Chunks handed over that the decoder has not taken up yet (`decodeQueueSize`).
    pub fn queue_size(&self) -> u32 {
        self.decoder.decode_queue_size()
    }

    pub fn is_closed(&self) -> bool {
        self.decoder.state() == CodecState::Closed
    }

    /// Build a fresh decoder if an error closed this one (the player then resumes at a
    /// keyframe).
    pub fn rebuild(&mut self) -> Result<(), String> {
        if self.is_closed() {
            let config = &self.configs[self.configured];
            self.decoder = build(config, &self.output, &self.error, &self.dequeue)?;
        }
        Ok(())
    }

    /// Configure for another rendition; chunks already queued decode first, and a keyframe
    /// of the new one must come next.
    pub fn configure(&mut self, rendition: usize) -> Result<(), String> {
        let config = self.configs.get(rendition).ok_or("no such rendition")?;
        self.decoder.configure(config).map_err(describe)?;
        self.configured = rendition;
        Ok(())
    }

    /// Queue one frame's codec payload (never empty) for decoding.
    pub fn decode(&self, chunk: &Encoded<Bytes>) -> Result<(), String> {
        let kind = match chunk.keyframe {
            true => EncodedVideoChunkType::Key,
            false => EncodedVideoChunkType::Delta,
        };
        // SAFETY: the view borrows wasm memory, which only moves when Rust allocates; nothing
        // allocates between here and `EncodedVideoChunk::new`, which copies the bytes out.
        let data = unsafe { Uint8Array::view(&chunk.payload) };
        let init = EncodedVideoChunkInit::new(&data, 0, kind);
        init.set_timestamp_f64(chunk.timestamp_us);
        let encoded = EncodedVideoChunk::new(&init).map_err(describe)?;
        self.decoder.decode(&encoded).map_err(describe)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        if !self.is_closed() {
            // Frames still in flight are never output once the decoder is closed.
            let _ = self.decoder.close();
        }
    }
}

fn build(
    config: &VideoDecoderConfig,
    output: &Closure<dyn FnMut(VideoFrame)>,
    error: &Closure<dyn FnMut(JsValue)>,
    dequeue: &Closure<dyn FnMut()>,
) -> Result<VideoDecoder, String> {
    let init = VideoDecoderInit::new(
        error.as_ref().unchecked_ref(),
        output.as_ref().unchecked_ref(),
    );
    let decoder = VideoDecoder::new(&init).map_err(describe)?;
    decoder.set_ondequeue(Some(dequeue.as_ref().unchecked_ref()));
    decoder.configure(config).map_err(describe)?;
    Ok(decoder)
}
