//! Reads the chosen video track group by group and feeds the decoder, applying the playout
//! policy frame by frame. The first frame of each group is its keyframe.

use std::task::Poll;
use std::time::Duration;

use moq_net::{frame, group, kio, track};

use super::decoder::Decoder;
use super::shared::Shared;
use crate::container;
use crate::playout::{Admit, Backlog, DecodeGate};

/// Frames handled back to back without waiting before the loop yields to the browser, so a
/// backlog never holds the page's thread for long.
const YIELD_EVERY: u32 = 8;

/// Play `track` until it ends. A track that fails mid-stream is an end too: its publisher went
/// away, and the announcements say whether the broadcast comes back.
pub async fn play(
    shared: &Shared,
    track: track::Subscriber,
    decoder: &mut Decoder,
) -> Result<(), String> {
    let mut track = track.ordered();
    let mut gate = DecodeGate::default();
    let mut reader = Reader::default();
    loop {
        let next = track.next_group().await;
        let mut group = match next {
            Ok(Some(group)) => group,
            Ok(None) | Err(_) => return Ok(()),
        };
        // A group read from its start begins with its keyframe.
        let mut keyframe_next = group.index() == 0;
        loop {
            let frame = match reader.next(&mut group).await {
                Ok(Some(frame)) => frame,
                // The group is over: finished, or superseded by a newer one (`Old`), which is
                // how a live subscription skips ahead. Take the next group.
                Ok(None) | Err(_) => break,
            };
            // Empty frames occur (group ends carry one); a decoder fed an empty chunk fails.
            let Ok(header) = container::parse(&frame.payload) else {
                continue;
            };
            let payload = &frame.payload[header.payload_offset..];
            if payload.is_empty() {
                continue;
            }
            let keyframe = std::mem::take(&mut keyframe_next);
            let unread_frames = group.frame_count().saturating_sub(group.index() as usize);
            let backlog = Backlog {
                unread_frames: u32::try_from(unread_frames).unwrap_or(u32::MAX),
                decode_queue: decoder.backlog(),
            };
            let chunk = Chunk {
                payload,
                timestamp_us: header.timestamp_us as f64,
                keyframe,
            };
            feed(shared, decoder, &mut gate, chunk, backlog)?;
        }
    }
}

/// One frame's codec payload and what the decoder needs to know about it.
struct Chunk<'a> {
    payload: &'a [u8],
    timestamp_us: f64,
    keyframe: bool,
}

/// Apply the playout policy to one frame and decode it if admitted.
fn feed(
    shared: &Shared,
    decoder: &mut Decoder,
    gate: &mut DecodeGate,
    chunk: Chunk<'_>,
    backlog: Backlog,
) -> Result<(), String> {
    let now = shared.now_ms();
    // JS is only called with no telemetry borrow held.
    let rebuilt = decoder.recover()?;
    let mut telemetry = shared.telemetry.borrow_mut();
    telemetry.received(now);
    if rebuilt {
        gate.restart();
        telemetry.decoder_reset();
        telemetry.counters.decoder_errors += 1;
    }
    match gate.admit(chunk.keyframe, backlog, now) {
        Admit::Decode => {}
        Admit::Skip => {
            telemetry.counters.dropped += 1;
            return Ok(());
        }
        Admit::Flush => {
            drop(telemetry);
            let discarded = decoder.flush()?;
            let mut telemetry = shared.telemetry.borrow_mut();
            telemetry.decoder_reset();
            telemetry.counters.dropped += 1 + u64::from(discarded);
            return Ok(());
        }
    }
    telemetry.submitted(chunk.timestamp_us, now);
    drop(telemetry);
    if decoder
        .decode(chunk.payload, chunk.timestamp_us, chunk.keyframe)
        .is_err()
    {
        // Whatever went wrong, the decoder needs a keyframe next (and a rebuild if it closed).
        gate.restart();
        shared.telemetry.borrow_mut().counters.dropped += 1;
    }
    Ok(())
}

/// Reads frames, yielding to the browser after a run of frames that were already waiting.
#[derive(Default)]
struct Reader {
    ready_in_a_row: u32,
}

impl Reader {
    async fn next(
        &mut self,
        group: &mut group::Consumer,
    ) -> Result<Option<frame::Frame>, moq_net::Error> {
        match group.poll_read_frame(&kio::Waiter::noop()) {
            Poll::Ready(frame) => {
                self.ready_in_a_row += 1;
                if self.ready_in_a_row >= YIELD_EVERY {
                    self.ready_in_a_row = 0;
                    super::timer::sleep(Duration::ZERO).await;
                }
                frame
            }
            Poll::Pending => {
                self.ready_in_a_row = 0;
                group.read_frame().await
            }
        }
    }
}
