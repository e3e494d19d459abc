//! Plays the chosen audio track: reads its frames, decodes them with a WebCodecs
//! `AudioDecoder`, and schedules every decoded chunk into the worklet's ring so it is heard at
//! its planned time ([`crate::audio::schedule`]), nudged or jumped back on plan
//! ([`crate::audio::drift`]).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Float32Array, Reflect, Uint8Array};
use moq_net::track;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AudioData, AudioDataCopyToOptions, AudioDecoder, AudioDecoderConfig, AudioDecoderInit,
    AudioSampleFormat, CodecState, EncodedAudioChunk, EncodedAudioChunkInit, EncodedAudioChunkType,
};

use super::audio_output::{AudioOutput, Counters};
use super::describe;
use super::shared::Shared;
use crate::audio::drift::{self, Corrector};
use crate::audio::pairing::Pairing;
use crate::audio::schedule::Playout;
use crate::audio::status::AudioState;
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

/// Play `track` until it ends, or fail with why sound stopped (video goes on either way).
pub async fn play(
    shared: &Rc<Shared>,
    track: track::Subscriber,
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
    shared.telemetry().audio.transport = Some(output.transport());
    let player = Rc::new(RefCell::new(Player::new(output, clock)));
    let mut decoder = Decoder::new(shared.clone(), player, config(rendition))?;

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
            shared.telemetry().audio.packets_received += 1;
            if decoder.recover()? {
                let mut telemetry = shared.telemetry();
                telemetry.audio.decoder_errors += 1;
            }
            if let Err(err) = decoder.decode(payload, header.timestamp_us as f64) {
                shared.telemetry().audio.error = Some(err);
            }
        }
    }
}

/// Schedules decoded audio into the ring.
struct Player {
    output: AudioOutput,
    /// The packets decoding, for the timestamp each output is scheduled by.
    pairing: Pairing,
    clock: Option<Clock>,
    playout: Playout,
    corrector: Corrector,
    /// Sender Unix ms of timestamp zero when the catalog has no clock: the first chunk is
    /// taken as captured when it arrived.
    anchor_unix_ms: Option<f64>,
    played: Option<u32>,
    interleaved: Vec<f32>,
    resampled: Vec<f32>,
    plane: Vec<f32>,
}

impl Player {
    fn new(output: AudioOutput, clock: Option<Clock>) -> Self {
        Self {
            output,
            pairing: Pairing::default(),
            clock,
            playout: Playout::default(),
            corrector: Corrector::default(),
            anchor_unix_ms: None,
            played: None,
            interleaved: Vec::new(),
            resampled: Vec::new(),
            plane: Vec::new(),
        }
    }

    /// One decoded chunk: copy it out, decide where it is heard, write it.
    fn push(&mut self, shared: &Shared, data: &AudioData) {
        let now_unix_ms = shared.now_unix_ms();
        let running = self.output.running();
        let counters = self.output.counters();
        self.update_status(shared, running, &counters);
        let timestamp_us = self.pairing.output(data.timestamp());
        if !running {
            // Blocked until the user clicks: nothing can be heard, so nothing is kept.
            return;
        }
        let Some(frames) = self.copy_out(data) else {
            return;
        };
        let channels = self.output.ring().channels() as usize;
        let sample_rate = f64::from(data.sample_rate());
        let capture_unix_ms = match self.clock {
            Some(clock) => clock.sender_unix_ms(timestamp_us),
            None => {
                let anchor = *self
                    .anchor_unix_ms
                    .get_or_insert(now_unix_ms - timestamp_us / 1000.0);
                anchor + timestamp_us / 1000.0
            }
        };
        self.playout.arrived(capture_unix_ms, now_unix_ms);

        let Some(clock) = self.output.clock(&counters, now_unix_ms) else {
            // The worklet has not played a quantum yet: start the stream; the plan takes over
            // from the next chunk.
            self.write_chunk(shared, 0, frames as usize);
            return;
        };
        let output_latency_ms =
            clock.heard_unix_ms(counters.read) - now_unix_ms + self.output.delivery_ms();
        let video_latency = shared.telemetry().video_latency_p50();
        let target_ms = self
            .playout
            .target_ms(video_latency, output_latency_ms, now_unix_ms);
        let heard_unix_ms = clock.heard_unix_ms(self.output.write_position());
        let lateness_ms = heard_unix_ms - (capture_unix_ms + target_ms);
        let plan = self.corrector.plan(lateness_ms, frames, sample_rate);
        {
            let mut telemetry = shared.telemetry();
            telemetry.audio.target_ms = Some(target_ms);
            telemetry.audio.arrival_ms = self.playout.arrival();
            telemetry.audio.error_ms = Some(lateness_ms);
        }

        if plan.silence > 0 {
            let silence = vec![0.0; plan.silence as usize * channels];
            let written = self.output.write(&silence, &counters);
            shared.telemetry().audio.overruns += u64::from(written.overrun);
        }
        if plan.frames > 0 {
            let first_heard = clock.heard_unix_ms(self.output.write_position());
            let first_captured = capture_unix_ms + f64::from(plan.skip) * 1000.0 / sample_rate;
            shared
                .telemetry()
                .audio
                .scheduled(first_captured, first_heard);
        }
        self.write_chunk(shared, plan.skip as usize, plan.frames as usize);
        shared.telemetry().audio.jumps = self.corrector.jumps;
    }

    /// Write the interleaved chunk from frame `skip`, resampled to `frames` frames.
    fn write_chunk(&mut self, shared: &Shared, skip: usize, frames: usize) {
        let channels = self.output.ring().channels() as usize;
        let rest = &self.interleaved[(skip * channels).min(self.interleaved.len())..];
        drift::resample(rest, channels, frames, &mut self.resampled);
        let counters = self.output.counters();
        let written = self.output.write(&self.resampled, &counters);
        shared.telemetry().audio.overruns += u64::from(written.overrun);
    }

    /// Copy `data` into `interleaved` with the ring's channel count; the frame count.
    fn copy_out(&mut self, data: &AudioData) -> Option<u32> {
        let frames = data.number_of_frames();
        let source_channels = data.number_of_channels().max(1);
        let channels = self.output.ring().channels();
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
        Some(frames)
    }

    fn update_status(&mut self, shared: &Shared, running: bool, counters: &Counters) {
        let ring = *self.output.ring();
        let rate = f64::from(self.output_sample_rate());
        let mut telemetry = shared.telemetry();
        telemetry.alive(shared.now_ms());
        let audio = &mut telemetry.audio;
        audio.muted = shared.speakers.muted();
        audio.volume = shared.speakers.volume();
        audio.context_running(running);
        if counters.seen {
            audio.underruns = u64::from(counters.underruns);
            audio.concealment(counters.concealed_frames, counters.concealments, rate);
            let previous = self.played.replace(counters.played).unwrap_or(0);
            audio.frames_played += u64::from(counters.played.wrapping_sub(previous));
            let filled = ring.filled(self.output.write_position(), counters.read);
            audio.buffered_ms = Some(f64::from(filled) * 1000.0 / rate);
        }
    }

    fn output_sample_rate(&self) -> u32 {
        self.output.sample_rate() as u32
    }
}

/// A configured `AudioDecoder` whose output goes to the [`Player`].
struct Decoder {
    decoder: AudioDecoder,
    player: Rc<RefCell<Player>>,
    config: AudioDecoderConfig,
    output: Closure<dyn FnMut(AudioData)>,
    error: Closure<dyn FnMut(JsValue)>,
}

impl Decoder {
    fn new(
        shared: Rc<Shared>,
        player: Rc<RefCell<Player>>,
        config: AudioDecoderConfig,
    ) -> Result<Self, String> {
        let output = {
            let (shared, player) = (shared.clone(), player.clone());
            Closure::<dyn FnMut(AudioData)>::new(move |data: AudioData| {
                player.borrow_mut().push(&shared, &data);
                data.close();
            })
        };
        let error = Closure::<dyn FnMut(JsValue)>::new(move |err: JsValue| {
            shared.telemetry().audio.error = Some(format!("audio decoder: {}", describe(err)));
        });
        let decoder = build(&config, &output, &error)?;
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
        // Whatever was in flight died with the old decoder.
        self.player.borrow_mut().pairing.clear();
        Ok(true)
    }

    fn decode(&self, payload: &[u8], timestamp_us: f64) -> Result<(), String> {
        // SAFETY: as for video: nothing allocates before `EncodedAudioChunk::new` copies it.
        let data = unsafe { Uint8Array::view(payload) };
        let init = EncodedAudioChunkInit::new(&data, 0, EncodedAudioChunkType::Key);
        init.set_timestamp_f64(timestamp_us);
        let chunk = EncodedAudioChunk::new(&init).map_err(describe)?;
        self.decoder.decode(&chunk).map_err(describe)?;
        self.player.borrow_mut().pairing.submitted(timestamp_us);
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
