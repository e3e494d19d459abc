//! Reads the chosen video track group by group, as fast as frames arrive, and hands each
//! frame to the player, which decides when it is decoded (or skipped). The first frame of
//! each group is its keyframe.

use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use moq_net::{frame, group, kio, track};

use super::decoder::Decoder;
use super::shared::Shared;
use crate::container;
use crate::player::Encoded;

/// Frames handled back to back without waiting before the loop yields to the browser, so a
/// backlog never holds the page's thread for long.
const YIELD_EVERY: u32 = 8;

/// Play `track` with `decoder` until it ends. A track that fails mid-stream is an end too:
/// its publisher went away, and the announcements say whether the broadcast comes back.
pub async fn play(shared: &Rc<Shared>, track: track::Subscriber, decoder: Decoder) {
    shared.stop_video();
    shared.set_decoder(Some(decoder));
    let _stop = StopOnDrop(shared);
    let mut track = track.ordered();
    let mut reader = Reader::default();
    loop {
        let next = track.next_group().await;
        let mut group = match next {
            Ok(Some(group)) => group,
            Ok(None) | Err(_) => return,
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
            if header.payload_offset >= frame.payload.len() {
                continue;
            }
            let encoded = Encoded {
                timestamp_us: header.timestamp_us as f64,
                keyframe: std::mem::take(&mut keyframe_next),
                payload: frame.payload.slice(header.payload_offset..),
            };
            shared.video(|player, now| player.received(now, encoded));
        }
    }
}

/// Ends video playback however `play` ends (returned, or dropped when the broadcast goes):
/// the decoder is closed, and what waits to be decoded or painted is dropped.
struct StopOnDrop<'a>(&'a Shared);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set_decoder(None);
        self.0.stop_video();
    }
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
