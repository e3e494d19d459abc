//! The writing end of the worklet's sample ring (`audio_worklet.js` reads it), usable on the
//! page's thread and in the audio worker: in a `SharedArrayBuffer` (cross-origin isolated
//! pages), written in place with Atomics for the counters, or, on the page only, posted to the
//! worklet in chunks, with the counters it posts back.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Atomics, Float32Array, Int32Array, SharedArrayBuffer};
use web_sys::MessagePort;

use crate::audio::ring::{Counters, Ring, Samples, Written, header};

/// The header's length, in `Int32` slots.
pub const HEADER: u32 = header::SLOTS as u32;

/// How samples reach the worklet.
enum Transport {
    Shared {
        slots: Int32Array,
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

/// Appends audio to the ring at the write counter it is given (the player keeps it).
pub struct RingWriter {
    transport: Transport,
    ring: Ring,
}

impl RingWriter {
    /// The bytes a shared buffer needs for `ring`.
    pub fn shared_bytes(ring: &Ring) -> u32 {
        HEADER * 4 + ring.samples() as u32 * 4
    }

    /// Writing into `buffer` (of [`RingWriter::shared_bytes`]), which the worklet reads.
    pub fn shared(buffer: &SharedArrayBuffer, ring: Ring) -> Self {
        Self {
            transport: Transport::Shared {
                slots: Int32Array::new_with_byte_offset_and_length(buffer, 0, HEADER),
                samples: SharedSamples(Float32Array::new_with_byte_offset_and_length(
                    buffer,
                    HEADER * 4,
                    ring.samples() as u32,
                )),
            },
            ring,
        }
    }

    /// Posting chunks to the worklet on `port`, which posts `counters` back; a chunk written
    /// now can be heard `delivery_ms` later than the counters say at the earliest.
    pub fn message(
        port: MessagePort,
        counters: Rc<Cell<Counters>>,
        delivery_ms: f64,
        ring: Ring,
    ) -> Self {
        Self {
            transport: Transport::Message {
                port,
                counters,
                delivery_ms,
            },
            ring,
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

    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The worklet's counters now (shared) or as last reported (message).
    pub fn counters(&self) -> Counters {
        match &self.transport {
            Transport::Shared { slots, .. } => {
                let mut counters =
                    Counters::read(|slot| Atomics::load(slots, slot as u32).unwrap_or(0));
                counters.seen = counters.frame_offset != 0 || counters.read != 0;
                counters
            }
            Transport::Message { counters, .. } => counters.get(),
        }
    }

    /// Append interleaved frames at write counter `write`.
    pub fn write(&mut self, write: u32, data: &[f32], counters: &Counters) -> Written {
        match &mut self.transport {
            Transport::Shared { slots, samples } => {
                let read = Atomics::load(slots, header::READ as u32).unwrap_or(0) as u32;
                let written = self.ring.write(samples, write, read, data);
                let next = write.wrapping_add(written.frames);
                let _ = Atomics::store(slots, header::WRITE as u32, next as i32);
                written
            }
            Transport::Message { port, .. } => {
                let free = self.ring.free(write, counters.read);
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
        }
    }
}
