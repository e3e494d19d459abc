//! The sample ring between the page (the writer) and the AudioWorklet (the reader): a
//! single-producer, single-consumer ring of interleaved `f32` frames, addressed by free-running
//! `u32` frame counters that wrap. The capacity is a power of two, so a counter modulo the
//! capacity stays continuous across the counters' own wrap.
//!
//! The writer is [`Ring::write`]. The reader runs on the audio thread in JavaScript
//! (`web/audio_worklet.js`), which mirrors [`Reader::quantum`] step for step; the Rust reader
//! is the reference it is tested against here.

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
    /// Frames of silence after them, because the ring ran dry.
    pub silent: u32,
}

/// The reader's state, as the worklet keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reader {
    pub read: u32,
    /// Quanta that ran dry after audio had started flowing.
    pub underruns: u32,
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
        }
        let silent = wanted - from_ring;
        if silent > 0 && self.started {
            self.underruns += 1;
        }
        Quantum { from_ring, silent }
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
    fn an_underrun_plays_silence_and_is_counted_only_after_audio_started() {
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
    }

    #[test]
    fn corrupt_counters_read_as_empty_not_as_garbage() {
        let ring = Ring::new(128, 2);
        assert_eq!(ring.filled(10, 20), 0, "a reader ahead of the writer");
        assert_eq!(ring.free(10, 20), 128);
    }
}
