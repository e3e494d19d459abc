//! The writing end of the worklet's sample ring (`audio_worklet.js` reads it), usable on the
//! page's thread and in the audio worker: in a `SharedArrayBuffer` (cross-origin isolated
//! pages), written in place with Atomics for the counters, or, on the page only, posted to the
//! worklet in chunks, with the counters it posts back.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Atomics, Float32Array, Int32Array, SharedArrayBuffer};
use web_sys::MessagePort;

use crate::audio::ring::{Ring, Samples, Written};

/// Header slots, as `audio_worklet.js` lays them out.
const WRITE: u32 = 0;
const READ: u32 = 1;
const UNDERRUNS: usize = 2;
const OFFSET: usize = 3;
const PLAYED: usize = 4;
const CONCEALED: usize = 5;
const CONCEALMENTS: usize = 6;
pub const HEADER: u32 = 8;

/// The worklet's counters as last seen.
#[derive(Debug, Clone, Copy, Default)]
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
            read: slot(READ as usize) as u32,
            underruns: slot(UNDERRUNS) as u32,
            frame_offset: slot(OFFSET) as u32,
            played: slot(PLAYED) as u32,
            concealed_frames: slot(CONCEALED) as u32,
            concealments: slot(CONCEALMENTS) as u32,
            seen: true,
        }
    }
}

/// How samples reach the worklet.
enum Transport {
    Shared {
        header: Int32Array,
        samples: SharedSamples,
    },
    Message {
        port: MessagePort,
        counters: Rc<Cell<Counters>>,
        delivery_ms: f64,
    },
}

/// The shared ring's samples, as [`Samples`] storage.
struct SharedSamples(Float32Array);

impl Samples for SharedSamples {
    fn copy_in(&mut self, offset: usize, data: &[f32]) {
        if data.is_empty() {
            return;
        }
        // SAFETY: the view borrows wasm memory, which only moves when Rust allocates; `set`
        // copies it out before anything can.
        let view = unsafe { Float32Array::view(data) };
        self.0.set(&view, offset as u32);
    }
}

/// Appends audio to the ring at its write counter.
pub struct RingWriter {
    transport: Transport,
    ring: Ring,
    write: u32,
    sample_rate: f64,
}

impl RingWriter {
    /// The bytes a shared buffer needs for `ring`.
    pub fn shared_bytes(ring: &Ring) -> u32 {
        HEADER * 4 + ring.samples() as u32 * 4
    }

    /// Writing into `buffer` (of [`RingWriter::shared_bytes`]), which the worklet reads.
    pub fn shared(buffer: &SharedArrayBuffer, ring: Ring, sample_rate: f64) -> Self {
        Self {
            transport: Transport::Shared {
                header: Int32Array::new_with_byte_offset_and_length(buffer, 0, HEADER),
                samples: SharedSamples(Float32Array::new_with_byte_offset_and_length(
                    buffer,
                    HEADER * 4,
                    ring.samples() as u32,
                )),
            },
            ring,
            write: 0,
            sample_rate,
        }
    }

    /// Posting chunks to the worklet on `port`, which posts `counters` back; a chunk written
    /// now can be heard `delivery_ms` later than the counters say at the earliest.
    pub fn message(
        port: MessagePort,
        counters: Rc<Cell<Counters>>,
        delivery_ms: f64,
        ring: Ring,
        sample_rate: f64,
    ) -> Self {
        Self {
            transport: Transport::Message {
                port,
                counters,
                delivery_ms,
            },
            ring,
            write: 0,
            sample_rate,
        }
    }

    /// How much later than the counters say a chunk written now can be heard at the earliest,
    /// ms: none with shared memory (the worklet sees the write and the writer the read at once).
    pub fn delivery_ms(&self) -> f64 {
        match self.transport {
            Transport::Shared { .. } => 0.0,
            Transport::Message { delivery_ms, .. } => delivery_ms,
        }
    }

    /// "shared" or "message".
    pub fn transport(&self) -> &'static str {
        match self.transport {
            Transport::Shared { .. } => "shared",
            Transport::Message { .. } => "message",
        }
    }

    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The ring's write counter.
    pub fn write_position(&self) -> u32 {
        self.write
    }

    /// The worklet's counters now (shared) or as last reported (message).
    pub fn counters(&self) -> Counters {
        match &self.transport {
            Transport::Shared { header, .. } => {
                let mut counters =
                    Counters::read(|slot| Atomics::load(header, slot as u32).unwrap_or(0));
                counters.seen = counters.frame_offset != 0 || counters.read != 0;
                counters
            }
            Transport::Message { counters, .. } => counters.get(),
        }
    }

    /// Append interleaved frames at the write counter.
    pub fn write(&mut self, data: &[f32], counters: &Counters) -> Written {
        let written = match &mut self.transport {
            Transport::Shared { header, samples } => {
                let read = Atomics::load(header, READ).unwrap_or(0) as u32;
                let written = self.ring.write(samples, self.write, read, data);
                let next = self.write.wrapping_add(written.frames);
                let _ = Atomics::store(header, WRITE, next as i32);
                written
            }
            Transport::Message { port, .. } => {
                let free = self.ring.free(self.write, counters.read);
                let channels = self.ring.channels() as usize;
                let offered = (data.len() / channels) as u32;
                let frames = offered.min(free);
                let chunk = Float32Array::from(&data[..frames as usize * channels]);
                let _ = port.post_message(&chunk);
                Written {
                    frames,
                    overrun: offered - frames,
                }
            }
        };
        self.write = self.write.wrapping_add(written.frames);
        written
    }
}
