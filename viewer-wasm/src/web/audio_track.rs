//! Plays the chosen audio track, on the page's thread or in the audio worker
//! (`audio_worker.rs`): reads its frames, decodes them with a WebCodecs `AudioDecoder`, hands
//! each decoded chunk to the player core ([`crate::audio::player`]) with what this thread
//! knows now, and writes what it decides into the worklet's ring. No decision is made here.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Float32Array, Reflect, Uint8Array};
use moq_net::{broadcast, track};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AudioData, AudioDataCopyToOptions, AudioDecoder, AudioDecoderConfig, AudioDecoderInit,
    AudioSampleFormat, CodecState, EncodedAudioChunk, EncodedAudioChunkInit, EncodedAudioChunkType,
};

use super::audio_output::AudioOutput;
use super::audio_worker;
use super::describe;
use super::ring_writer::RingWriter;
use super::shared::Shared;
use crate::audio::player::{self, Chunk, Moment};
use crate::audio::status::{AudioReport, AudioState};
use crate::audio::worker_link::{OutputStamp, WorkerStart};
use crate::catalog::AudioRendition;
use crate::clock::Clock;
use crate::container;

/// The decoder configuration for `rendition`.
pub fn config(rendition: &AudioRendition) -> AudioDecoderConfig {
    let config = AudioDecoderConfig::new(
        &rendition.codec,
        rendition.number_of_channels,
        rendition.sample_rate,
    );
    if let Some(description) = &rendition.description {
        config.set_description_u8_array(&Uint8Array::from(description.as_slice()));
    }
    config
}

/// Why this browser cannot play `rendition`, if it cannot.
pub async fn refusal(rendition: &AudioRendition) -> Option<String> {
    if let Some(reason) = rendition.unplayable_reason() {
        return Some(reason);
    }
    let answer = JsFuture::from(AudioDecoder::is_config_supported(&config(rendition))).await;
    match answer {
        Ok(answer)
            if Reflect::get(&answer, &"supported".into()).is_ok_and(|yes| yes.is_truthy()) =>
        {
            None
        }
        Ok(_) => Some(format!(
            "this browser cannot decode {} audio",
            rendition.describe()
        )),
        Err(err) => Some(format!(
            "audio config {} rejected: {}",
            rendition.describe(),
            describe(err)
        )),
    }
}

/// Where a [`Player`] runs (the page's thread or the audio worker): what it reads from there
/// and where its figures go.
pub trait Host {
    /// Wall-clock Unix ms, sub-millisecond.
    fn now_unix_ms(&self) -> f64;
    /// Whether the audio context runs (sound is not blocked waiting for a click).
    fn running(&self) -> bool;
    /// The audio context's output timestamp, as recent as this thread knows it.
    fn output_stamp(&self, now_unix_ms: f64) -> Option<OutputStamp>;
    /// The video's paint latency median, which audio is played at.
    fn video_latency_p50(&self) -> Option<f64>;
    /// The player's figures, every [`TICK_MS`] while it plays.
    fn report(&self, report: AudioReport);
}

/// Play the audio track `name` of `broadcast` on the page: in the audio worker where the
/// page is cross-origin isolated, on the page's thread otherwise. Runs until the track ends
/// or fails with why sound stopped (video goes on either way).
pub async fn play(
    shared: &Rc<Shared>,
    broadcast: &broadcast::Consumer,
    name: &str,
    rendition: &AudioRendition,
    clock: Option<Clock>,
) -> Result<(), String> {
    let on_onset: Option<Box<dyn Fn(f64)>> = shared.probe.clone().map(|probe| {
        Box::new(move |heard: f64| probe.borrow_mut().heard(heard)) as Box<dyn Fn(f64)>
    });
    let output = AudioOutput::start(
        &shared.speakers,
        rendition.sample_rate,
        rendition.number_of_channels.max(1),
        on_onset,
        shared.audio_messages_only,
    )
    .await?;
    if output.shared_buffer().is_some() {
        let start = WorkerStart {
            relay: shared.source.relay.clone(),
            fingerprint: shared.source.fingerprint.clone(),
            transport: shared.source.transport,
            broadcast: shared.source.name.clone(),
            track: name.to_owned(),
            codec: rendition.codec.clone(),
            sample_rate: rendition.sample_rate,
            channels: rendition.number_of_channels,
            description: rendition.description.clone(),
            clock,
        };
        return audio_worker::play(shared, &output, &start).await;
    }
    let track =
        super::broadcast::subscribe(broadcast, name, super::broadcast::audio_subscription())
            .await?;
    let writer = output.writer()?;
    let host: Rc<dyn Host> = Rc::new(PageHost {
        shared: shared.clone(),
        output,
    });
    let sample_rate = f64::from(rendition.sample_rate);
    let player = Rc::new(RefCell::new(Player::new(
        writer,
        sample_rate,
        clock,
        "page",
    )));
    let mut decoder = Decoder::new(host, player.clone(), config(rendition))?;
    feed(track, &mut decoder, &player).await
}

/// The page's thread as a player's host.
struct PageHost {
    shared: Rc<Shared>,
    output: AudioOutput,
}

impl Host for PageHost {
    fn now_unix_ms(&self) -> f64 {
        self.shared.now_unix_ms()
    }

    fn running(&self) -> bool {
        self.output.running()
    }

    fn output_stamp(&self, now_unix_ms: f64) -> Option<OutputStamp> {
        self.output.stamp(now_unix_ms)
    }

    fn video_latency_p50(&self) -> Option<f64> {
        self.shared.telemetry().video_latency_p50()
    }

    fn report(&self, report: AudioReport) {
        let running = self.output.running();
        let mut telemetry = self.shared.telemetry();
        telemetry.alive(self.shared.now_ms());
        telemetry.audio.context_running(running);
        telemetry.audio.played(report);
    }
}

/// Decode the frames of `track` until it ends (`Ok`), or the decoder cannot be rebuilt.
pub async fn feed(
    track: track::Subscriber,
    decoder: &mut Decoder,
    player: &RefCell<Player>,
) -> Result<(), String> {
    let mut track = track.ordered();
    loop {
        let mut group = match track.next_group().await {
            Ok(Some(group)) => group,
            Ok(None) | Err(_) => return Ok(()),
        };
        while let Ok(Some(frame)) = group.read_frame().await {
            let Ok(header) = container::parse(&frame.payload) else {
                continue;
            };
            let payload = &frame.payload[header.payload_offset..];
            if payload.is_empty() {
                continue;
            }
            if decoder.recover()? {
                player.borrow_mut().core.status.decoder_errors += 1;
            }
            if let Err(err) = decoder.decode(payload, header.timestamp_us as f64) {
                player.borrow_mut().core.status.error = Some(err);
            }
        }
    }
}

/// The player core on this thread, with the ring it writes and its scratch buffers.
pub struct Player {
    /// The decisions ([`crate::audio::player`]).
    pub core: player::Player,
    writer: RingWriter,
    interleaved: Vec<f32>,
    rendered: Vec<f32>,
    plane: Vec<f32>,
}

impl Player {
    /// A player writing with `writer`, on `thread` ("page" or "worker").
    pub fn new(
        writer: RingWriter,
        sample_rate: f64,
        clock: Option<Clock>,
        thread: &'static str,
    ) -> Self {
        let mut core =
            player::Player::new(*writer.ring(), sample_rate, writer.delivery_ms(), clock);
        core.status.transport = Some(writer.transport());
        core.status.thread = Some(thread);
        Self {
            core,
            writer,
            interleaved: Vec::new(),
            rendered: Vec::new(),
            plane: Vec::new(),
        }
    }

    /// Report the figures now.
    pub fn report(&mut self, host: &dyn Host, now_unix_ms: f64) {
        host.report(self.core.report(now_unix_ms));
    }

    /// One decoded chunk: hand it to the core with what this thread knows now, and write what
    /// it decides.
    fn push(&mut self, host: &dyn Host, data: &AudioData) {
        let now_unix_ms = host.now_unix_ms();
        if let Some(report) = self.core.due_report(now_unix_ms) {
            host.report(report);
        }
        let counters = self.writer.counters();
        let moment = Moment {
            now_unix_ms,
            running: host.running(),
            counters,
            stamp: host.output_stamp(now_unix_ms),
            video_latency_p50: host.video_latency_p50(),
        };
        let chunk = Chunk {
            timestamp_us: data.timestamp(),
            frames: data.number_of_frames(),
            sample_rate: f64::from(data.sample_rate()),
        };
        let Some(plan) = self.core.arrived(chunk, &moment) else {
            return;
        };
        if self.copy_out(data).is_none() {
            return;
        }
        self.core
            .render(&plan, &self.interleaved, &mut self.rendered);
        let written = self
            .writer
            .write(self.core.write_position(), &self.rendered, &counters);
        self.core.wrote(written);
    }

    /// Copy `data` into `interleaved` with the ring's channel count.
    fn copy_out(&mut self, data: &AudioData) -> Option<()> {
        let frames = data.number_of_frames();
        let source_channels = data.number_of_channels().max(1);
        let channels = self.writer.ring().channels();
        self.interleaved.clear();
        self.interleaved
            .resize(frames as usize * channels as usize, 0.0);
        let buffer = Float32Array::new_with_length(frames);
        for channel in 0..channels {
            let options = AudioDataCopyToOptions::new(channel.min(source_channels - 1));
            options.set_format(AudioSampleFormat::F32Planar);
            data.copy_to_with_buffer_source(&buffer, &options).ok()?;
            self.plane.resize(frames as usize, 0.0);
            buffer.copy_to(&mut self.plane);
            for (frame, sample) in self.plane.iter().enumerate() {
                self.interleaved[frame * channels as usize + channel as usize] = *sample;
            }
        }
        Some(())
    }
}

/// A configured `AudioDecoder` whose output goes to the [`Player`].
pub struct Decoder {
    decoder: AudioDecoder,
    player: Rc<RefCell<Player>>,
    config: AudioDecoderConfig,
    output: Closure<dyn FnMut(AudioData)>,
    error: Closure<dyn FnMut(JsValue)>,
}

impl Decoder {
    pub fn new(
        host: Rc<dyn Host>,
        player: Rc<RefCell<Player>>,
        config: AudioDecoderConfig,
    ) -> Result<Self, String> {
        let output = {
            let player = player.clone();
            Closure::<dyn FnMut(AudioData)>::new(move |data: AudioData| {
                player.borrow_mut().push(&*host, &data);
                data.close();
            })
        };
        let error = {
            let player = player.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |err: JsValue| {
                player.borrow_mut().core.status.error =
                    Some(format!("audio decoder: {}", describe(err)));
            })
        };
        let decoder = build(&config, &output, &error)?;
        // A new decoder pairs only what it was given.
        player.borrow_mut().core.decoder_rebuilt();
        Ok(Self {
            decoder,
            player,
            config,
            output,
            error,
        })
    }
    /// Rebuild the decoder if an error closed it; whether it did.
    fn recover(&mut self) -> Result<bool, String> {
        if self.decoder.state() != CodecState::Closed {
            return Ok(false);
        }
        self.decoder = build(&self.config, &self.output, &self.error)?;
        self.player.borrow_mut().core.decoder_rebuilt();
        Ok(true)
    }

    fn decode(&self, payload: &[u8], timestamp_us: f64) -> Result<(), String> {
        // SAFETY: as for video: nothing allocates before `EncodedAudioChunk::new` copies it.
        let data = unsafe { Uint8Array::view(payload) };
        let init = EncodedAudioChunkInit::new(&data, 0, EncodedAudioChunkType::Key);
        init.set_timestamp_f64(timestamp_us);
        let chunk = EncodedAudioChunk::new(&init).map_err(describe)?;
        self.decoder.decode(&chunk).map_err(describe)?;
        self.player.borrow_mut().core.submitted(timestamp_us);
        Ok(())
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        if self.decoder.state() != CodecState::Closed {
            let _ = self.decoder.close();
        }
    }
}

fn build(
    config: &AudioDecoderConfig,
    output: &Closure<dyn FnMut(AudioData)>,
    error: &Closure<dyn FnMut(JsValue)>,
) -> Result<AudioDecoder, String> {
    let init = AudioDecoderInit::new(
        error.as_ref().unchecked_ref(),
        output.as_ref().unchecked_ref(),
    );
    let decoder = AudioDecoder::new(&init).map_err(describe)?;
    decoder.configure(config).map_err(describe)?;
    Ok(decoder)
}

/// Why audio stopped, as the stats say it.
pub fn failed(shared: &Shared, why: String) {
    shared.telemetry().audio.refuse(AudioState::Failed, why);
}
