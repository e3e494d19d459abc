//! The sample ring between the page (the writer) and the AudioWorklet (the reader): a
//! single-producer, single-consumer ring of interleaved `f32` frames, addressed by free-running
//! `u32` frame counters that wrap. The capacity is a power of two, so a counter modulo the
//! capacity stays continuous across the counters' own wrap.
//!
//! The writer is [`Ring::write`]. The reader runs on the audio thread in JavaScript
//! (`web/audio_worklet.js`), which mirrors [`Reader::output`] step for step (where the ring runs
//! dry, a [`Concealer`] plays on); the Rust reader is the reference it is tested against here.

use super::conceal::Concealer;

/// The ring's header: the counters the worklet and the writer share, as `Int32` slots (the
/// counters wrap). `audio_worklet.js` names the same slots (a test checks them).
pub mod header {
    pub const WRITE: usize = 0;
    pub const READ: usize = 1;
    /// Quanta that ran dry after audio had started.
    pub const UNDERRUNS: usize = 2;
    /// Context frame minus the ring frame read at it.
    pub const OFFSET: usize = 3;
    pub const PLAYED: usize = 4;
    pub const CONCEALED: usize = 5;
    pub const CONCEALMENTS: usize = 6;
    /// Slots in all (the last is unused).
    pub const SLOTS: usize = 8;
}

/// The worklet's counters as last seen by the writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub read: u32,
    pub underruns: u32,
    pub frame_offset: u32,
    pub played: u32,
    /// Frames the worklet concealed where the ring ran dry after audio had started.
    pub concealed_frames: u32,
    /// Concealment events: runs of dry frames, each after audio from the ring.
    pub concealments: u32,
    /// Whether the worklet has reported at all (it sets the offset on its first quantum).
    pub seen: bool,
}

impl Counters {
    /// The counters from the header's slots, however they are read.
    pub fn read(slot: impl Fn(usize) -> i32) -> Self {
        Self {
            read: slot(header::READ) as u32,
            underruns: slot(header::UNDERRUNS) as u32,
            frame_offset: slot(header::OFFSET) as u32,
            played: slot(header::PLAYED) as u32,
            concealed_frames: slot(header::CONCEALED) as u32,
            concealments: slot(header::CONCEALMENTS) as u32,
            seen: true,
        }
    }
}

/// Where a ring's samples live: a `Vec` here, a `Float32Array` over a `SharedArrayBuffer` in
/// the browser.
pub trait Samples {
    /// Copy `data` into the ring's storage starting at sample (not frame) `offset`.
    fn copy_in(&mut self, offset: usize, data: &[f32]);
}

impl Samples for Vec<f32> {
    fn copy_in(&mut self, offset: usize, data: &[f32]) {
        self[offset..offset + data.len()].copy_from_slice(data);
    }
}

/// The ring's geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ring {
    capacity: u32,
    channels: u32,
}

/// What one write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Written {
    /// Frames stored; the write counter advances by this much.
    pub frames: u32,
    /// Frames that did not fit (the reader is behind) and were discarded.
    pub overrun: u32,
}

impl Ring {
    /// A ring for `channels` channels holding at least `min_frames` frames.
    pub fn new(min_frames: u32, channels: u32) -> Self {
        Self {
            capacity: min_frames.max(128).next_power_of_two(),
            channels: channels.max(1),
        }
    }

    /// Frames the ring holds at most.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    pub fn channels(&self) -> u32 {
        self.channels
    }

    /// Samples (frames × channels) the storage needs.
    pub fn samples(&self) -> usize {
        self.capacity as usize * self.channels as usize
    }

    /// Frames written but not read yet. A reader can never pass the writer, so this is at most
    /// the capacity; anything else means the counters are corrupt, and reads as empty.
    pub fn filled(&self, write: u32, read: u32) -> u32 {
        let filled = write.wrapping_sub(read);
        if filled > self.capacity { 0 } else { filled }
    }

    /// Frames that can be written without overwriting unread ones.
    pub fn free(&self, write: u32, read: u32) -> u32 {
        self.capacity - self.filled(write, read)
    }

    /// Store the interleaved frames of `data` at counter `write` (the reader being at `read`):
    /// what does not fit is an overrun and is dropped, newest last, so the audio that is kept
    /// stays contiguous.
    pub fn write(
        &self,
        storage: &mut impl Samples,
        write: u32,
        read: u32,
        data: &[f32],
    ) -> Written {
        let channels = self.channels as usize;
        let offered = (data.len() / channels) as u32;
        let frames = offered.min(self.free(write, read));
        let start = write % self.capacity;
        let first = frames.min(self.capacity - start);
        let (head, tail) = data[..frames as usize * channels].split_at(first as usize * channels);
        storage.copy_in(start as usize * channels, head);
        storage.copy_in(0, tail);
        Written {
            frames,
            overrun: offered - frames,
        }
    }
}

/// One render quantum as the reader took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantum {
    /// Frames taken from the ring, starting at the read counter as it was.
    pub from_ring: u32,
    /// Frames after them that the ring could not supply: concealed once audio has started,
    /// silence before.
    pub silent: u32,
}

/// The reader's state, as the worklet keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reader {
    pub read: u32,
    /// Quanta that ran dry after audio had started flowing.
    pub underruns: u32,
    /// Frames concealed: the dry frames after audio had started (wrapping, as the worklet's).
    pub concealed: u32,
    /// Concealment events: runs of dry frames, each begun after audio from the ring.
    pub concealments: u32,
    /// Whether the last quantum ended dry, so that dry frames next continue its concealment.
    pub dry: bool,
    /// Frames played from the ring (not silence).
    pub played: u64,
    /// Whether any audio has been read yet: the wait for the first chunk is not an underrun.
    pub started: bool,
}

impl Reader {
    /// Take one quantum of `wanted` frames with the writer at `write`.
    pub fn quantum(&mut self, ring: &Ring, write: u32, wanted: u32) -> Quantum {
        let from_ring = wanted.min(ring.filled(write, self.read));
        self.read = self.read.wrapping_add(from_ring);
        self.played += u64::from(from_ring);
        if from_ring > 0 {
            self.started = true;
            self.dry = false;
        }
        let silent = wanted - from_ring;
        if silent > 0 && self.started {
            self.underruns += 1;
            self.concealed = self.concealed.wrapping_add(silent);
            if !self.dry {
                self.concealments += 1;
            }
            self.dry = true;
        }
        Quantum { from_ring, silent }
    }

    /// What the worklet plays for one quantum: take it ([`quantum`](Self::quantum)) and append
    /// `wanted` interleaved frames to `out` — the ring's, through `concealer` (which crossfades
    /// them in after a concealment), then where the ring ran dry the concealment once audio
    /// has started, silence before.
    pub fn output(
        &mut self,
        ring: &Ring,
        storage: &[f32],
        write: u32,
        wanted: u32,
        concealer: &mut Concealer,
        out: &mut Vec<f32>,
    ) -> Quantum {
        let at = self.read;
        let quantum = self.quantum(ring, write, wanted);
        let start = out.len();
        Self::copy_out(ring, storage, at, quantum.from_ring, out);
        out.resize(start + (wanted * ring.channels) as usize, 0.0);
        let frames = out[start..].chunks_exact_mut(ring.channels as usize);
        for (index, frame) in frames.enumerate() {
            if index < quantum.from_ring as usize {
                concealer.play(frame);
            } else if self.started {
                concealer.conceal(frame);
            }
        }
        quantum
    }

    /// Copy what [`quantum`](Self::quantum) took out of `storage`, interleaved.
    pub fn copy_out(ring: &Ring, storage: &[f32], at: u32, frames: u32, out: &mut Vec<f32>) {
        let channels = ring.channels as usize;
        for index in 0..frames {
            let frame = (at.wrapping_add(index) % ring.capacity) as usize;
            out.extend_from_slice(&storage[frame * channels..(frame + 1) * channels]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worklet_reads_the_same_header() {
        for (name, slot) in [
            ("WRITE", header::WRITE),
            ("READ", header::READ),
            ("UNDERRUNS", header::UNDERRUNS),
            ("OFFSET", header::OFFSET),
            ("PLAYED", header::PLAYED),
            ("CONCEALED", header::CONCEALED),
            ("CONCEALMENTS", header::CONCEALMENTS),
            ("HEADER", header::SLOTS),
        ] {
            assert_eq!(crate::audio::worklet_constant(name), slot as f64, "{name}");
        }
    }

    fn frames(range: std::ops::Range<u32>) -> Vec<f32> {
        range.flat_map(|n| [n as f32, -(n as f32)]).collect()
    }

    #[test]
    fn capacity_is_a_power_of_two_at_least_asked() {
        assert_eq!(Ring::new(48_000, 2).capacity(), 65_536);
        assert_eq!(Ring::new(1, 2).capacity(), 128);
        assert_eq!(Ring::new(48_000, 2).samples(), 131_072);
    }

    #[test]
    fn writes_wrap_around_the_end_and_read_back_in_order() {
        let ring = Ring::new(128, 2);
        let mut storage = vec![0.0; ring.samples()];
        let mut reader = Reader::default();
        let mut write = 0u32;
        let mut heard = Vec::new();
        // 100-frame chunks through a 128-frame ring: every second chunk straddles the end.
        for chunk in 0..5u32 {
            let data = frames(chunk * 100..chunk * 100 + 100);
            let written = ring.write(&mut storage, write, reader.read, &data);
            assert_eq!(
                written,
                Written {
                    frames: 100,
                    overrun: 0
                }
            );
            write = write.wrapping_add(written.frames);
            let at = reader.read;
            let quantum = reader.quantum(&ring, write, 100);
            assert_eq!(
                quantum,
                Quantum {
                    from_ring: 100,
                    silent: 0
                }
            );
            Reader::copy_out(&ring, &storage, at, quantum.from_ring, &mut heard);
        }
        assert_eq!(heard, frames(0..500));
        assert_eq!(reader.played, 500);
    }

    #[test]
    fn counters_wrapping_at_u32_max_keep_the_audio_contiguous() {
        let ring = Ring::new(128, 2);
        let mut storage = vec![0.0; ring.samples()];
        let start = u32::MAX - 50;
        let mut reader = Reader {
            read: start,
            ..Reader::default()
        };
        let written = ring.write(&mut storage, start, reader.read, &frames(0..100));
        assert_eq!(written.frames, 100);
        let write = start.wrapping_add(100);
        assert_eq!(ring.filled(write, reader.read), 100);
        let quantum = reader.quantum(&ring, write, 100);
        let mut heard = Vec::new();
        Reader::copy_out(&ring, &storage, start, quantum.from_ring, &mut heard);
        assert_eq!(heard, frames(0..100));
    }

    #[test]
    fn an_overrun_keeps_the_oldest_frames_and_counts_the_rest() {
        let ring = Ring::new(128, 2);
        let mut storage = vec![0.0; ring.samples()];
        let first = ring.write(&mut storage, 0, 0, &frames(0..100));
        let second = ring.write(&mut storage, 100, 0, &frames(100..200));
        assert_eq!(
            first,
            Written {
                frames: 100,
                overrun: 0
            }
        );
        assert_eq!(
            second,
            Written {
                frames: 28,
                overrun: 72
            }
        );
        assert_eq!(ring.free(128, 0), 0);
        let mut reader = Reader::default();
        let mut heard = Vec::new();
        let quantum = reader.quantum(&ring, 128, 128);
        Reader::copy_out(&ring, &storage, 0, quantum.from_ring, &mut heard);
        assert_eq!(heard, frames(0..128), "unread audio is never overwritten");
    }

    #[test]
    fn an_underrun_is_counted_only_after_audio_started() {
        let ring = Ring::new(256, 2);
        let mut reader = Reader::default();
        assert_eq!(
            reader.quantum(&ring, 0, 128),
            Quantum {
                from_ring: 0,
                silent: 128
            }
        );
        assert_eq!(
            reader.underruns, 0,
            "waiting for the first chunk is not an underrun"
        );
        assert_eq!(
            reader.quantum(&ring, 200, 128),
            Quantum {
                from_ring: 128,
                silent: 0
            }
        );
        assert_eq!(
            reader.quantum(&ring, 200, 128),
            Quantum {
                from_ring: 72,
                silent: 56
            }
        );
        assert_eq!(reader.underruns, 1);
        assert_eq!(
            reader.quantum(&ring, 200, 128),
            Quantum {
                from_ring: 0,
                silent: 128
            }
        );
        assert_eq!(
            (reader.underruns, reader.played, reader.read),
            (2, 200, 200)
        );
        assert_eq!(
            (reader.concealed, reader.concealments),
            (56 + 128, 1),
            "one concealment of the dry frames"
        );
    }

    /// A mono 200 Hz sine of amplitude 0.5 at 48 kHz (a 240-frame period), from frame `from`,
    /// inverted if `inverted`.
    fn tone(from: u32, frames: u32, inverted: bool) -> Vec<f32> {
        let sign = if inverted { -0.5 } else { 0.5 };
        (from..from + frames)
            .map(|n| sign * (std::f64::consts::TAU * 200.0 * f64::from(n) / 48_000.0).sin() as f32)
            .collect()
    }

    /// The sine's largest step from one sample to the next: 2 · 0.5 · sin(π · 200 / 48000).
    const TONE_STEP: f32 = 0.013_09;

    /// Plays 128-frame quanta, the ring fed `feed(quantum)` before each; what was heard.
    fn play(
        quanta: u32,
        reader: &mut Reader,
        concealer: &mut Concealer,
        mut feed: impl FnMut(u32) -> Vec<f32>,
    ) -> Vec<f32> {
        let ring = Ring::new(8_192, 1);
        let mut storage = vec![0.0; ring.samples()];
        let mut write = reader.read;
        let mut heard = Vec::new();
        for quantum in 0..quanta {
            write = write.wrapping_add(
                ring.write(&mut storage, write, reader.read, &feed(quantum))
                    .frames,
            );
            reader.output(&ring, &storage, write, 128, concealer, &mut heard);
        }
        heard
    }

    /// 0.1 s of the tone, then `dry` quanta with nothing, then the tone again from its
    /// negative peak (a step of 0.5 from silence: the worst case for the crossfade back).
    fn outage(reader: &mut Reader, dry: u32, quanta: u32) -> Vec<f32> {
        let mut concealer = Concealer::new(48_000.0, 1);
        play(quanta, reader, &mut concealer, |quantum| match quantum {
            0 => tone(0, 4_800, false),
            q if q < 38 + dry => Vec::new(),
            q if q == 38 + dry => tone(60, 4_800, true),
            _ => Vec::new(),
        })
    }

    #[test]
    fn a_dry_ring_continues_the_tone_then_fades_it_out() {
        // 4800 frames of tone play out in 37.5 quanta, then 11.5 quanta (31 ms) of nothing.
        let mut reader = Reader::default();
        let heard = outage(&mut reader, 12, 49);
        let (last, concealed) = (heard[4_799], &heard[4_800..]);
        assert!(
            (concealed[0] - last).abs() <= TONE_STEP,
            "the concealment starts where the tone stopped: {last} then {}",
            concealed[0]
        );
        // The first period continues the tone, sample for sample, at the gain of the fade:
        // 0.5^(k(k−1) / (960 × 959)) after k frames, one half after 960 (20 ms).
        let gain = |k: f64| 0.5f64.powf(k * (k - 1.0) / (960.0 * 959.0)) as f32;
        let expected = tone(4_800, 240, false);
        for (n, (heard, expected)) in concealed.iter().zip(&expected).enumerate() {
            let expected = expected * gain(n as f64);
            assert!(
                (heard - expected).abs() < 1e-4,
                "frame {n}: {heard} for {expected}"
            );
        }
        assert!((gain(960.0) - 0.5).abs() < 1e-6);
        // Around 20 ms (frames 960–1200 of it), the tone's peaks are down to a half.
        let peak = |range: std::ops::Range<usize>| {
            concealed[range]
                .iter()
                .fold(0f32, |peak, sample| peak.max(sample.abs()))
        };
        assert!(peak(0..240) > 0.49, "{}", peak(0..240));
        assert!(
            (0.2..=0.26).contains(&peak(960..1_200)),
            "{}",
            peak(960..1_200)
        );
        assert!(peak(1_200..1_440) < 0.2, "{}", peak(1_200..1_440));
        assert_eq!((reader.concealments, reader.concealed), (1, 1_472));
    }

    #[test]
    fn a_long_outage_becomes_exact_silence_before_100_ms() {
        let mut reader = Reader::default();
        let heard = outage(&mut reader, 80, 118);
        let concealed = &heard[4_800..4_800 + 4_800];
        let silent_from = concealed
            .iter()
            .rposition(|sample| *sample != 0.0)
            .expect("sound")
            + 1;
        // The gain reaches 1 % after √(log2 100) × 20 ms ≈ 52 ms: 2474 frames.
        assert!(
            (2_400..2_550).contains(&silent_from),
            "zeros from {silent_from} frames on"
        );
        assert!(
            concealed[silent_from - 1].abs() <= 0.01 * 0.5 + 1e-4,
            "the step into silence is at most 1 % of the tone: no click"
        );
        assert!(concealed[silent_from..].iter().all(|sample| *sample == 0.0));
    }

    #[test]
    fn returning_audio_is_crossfaded_in_without_a_click() {
        // Back after 33 ms (the concealment at 15 %) and after 150 ms (silent): either way, no
        // step is larger than the tone's own plus what 2.5 ms of crossfade adds at most — the
        // weight moving by 1/120 across the two signals' largest gap, 2 × 0.5.
        let limit = TONE_STEP + 1.0 / 120.0 + 1e-4;
        for dry in [12, 56] {
            let mut reader = Reader::default();
            let heard = outage(&mut reader, dry, dry + 60);
            let back = (38 + dry) as usize * 128;
            assert_eq!(
                heard[back + 150],
                tone(150, 1, true)[0],
                "the ring's audio again"
            );
            for (n, pair) in heard.windows(2).enumerate() {
                let step = (pair[1] - pair[0]).abs();
                assert!(
                    step <= limit,
                    "{dry} quanta dry: a step of {step} at frame {n}"
                );
            }
        }
    }

    #[test]
    fn concealment_is_counted_in_frames_and_events() {
        let mut reader = Reader::default();
        let mut concealer = Concealer::new(48_000.0, 1);
        // Quanta 0–1: waiting (not concealment); 2: 200 frames arrive; 3: 72 of them then 56
        // dry; 4–5: dry; 6: 100 frames arrive, 28 dry; 7: 128 frames arrive.
        play(8, &mut reader, &mut concealer, |quantum| match quantum {
            2 => tone(0, 200, false),
            6 => tone(200, 100, false),
            7 => tone(300, 128, false),
            _ => Vec::new(),
        });
        assert_eq!(reader.concealments, 2, "two outages");
        assert_eq!(reader.concealed, 56 + 2 * 128 + 28, "their dry frames");
        assert_eq!(reader.underruns, 4, "dry quanta, as before");
        assert_eq!(reader.played, 428);
    }

    #[test]
    fn corrupt_counters_read_as_empty_not_as_garbage() {
        let ring = Ring::new(128, 2);
        assert_eq!(ring.filled(10, 20), 0, "a reader ahead of the writer");
        assert_eq!(ring.free(10, 20), 128);
    }
}
