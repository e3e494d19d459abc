//! Reads the video tracks the player asks for, group by group, as fast as frames arrive, and
//! hands each frame to the player, which decides when it is decoded (or skipped) and when to
//! switch renditions. One track is read while a rendition plays; two while the player switches
//! to another (until the new one's keyframe). The first frame of each group is its keyframe.

use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::future::{AbortHandle, Abortable};
use futures::stream::{self, LocalBoxStream, SelectAll};
use futures::{FutureExt, StreamExt};
use moq_net::{broadcast, frame, group, kio, track};

use super::decoder::Decoder;
use super::shared::{Shared, TrackRequest};
use crate::container;
use crate::player::{Encoded, priority};

/// Frames handled back to back without waiting before the loop yields to the browser, so a
/// backlog never holds the page's thread for long.
const YIELD_EVERY: u32 = 8;

/// What a track's reader yields.
enum Read {
    Frame(Encoded<Bytes>),
    /// The track ended or failed: its publisher went away, or it was never there.
    Ended(usize),
}

/// Play video from `broadcast`: the renditions named in `names` (ranked best first, with their
/// relative decode costs), starting on `start`, decoded by `decoder` (configured for it).
/// Returns when the rendition playing ends; the announcements say whether the broadcast comes
/// back.
pub async fn play(
    shared: &Rc<Shared>,
    broadcast: &broadcast::Consumer,
    names: &[String],
    costs: Vec<f64>,
    bitrates: Vec<Option<f64>>,
    start: usize,
    decoder: Decoder,
) {
    let (requests, mut asked) = mpsc::unbounded();
    shared.set_decoder(Some(decoder));
    shared.set_track_requests(Some(requests));
    shared.video(|player, _| player.start(costs, bitrates, start));
    let _stop = StopOnDrop(shared);
    let mut readers = Readers {
        reading: SelectAll::new(),
        abort: vec![None; names.len()],
    };
    let subscribe = |readers: &mut Readers, rendition: usize| {
        let reader = frames(broadcast.clone(), names[rendition].clone(), rendition);
        readers.add(rendition, reader);
    };
    subscribe(&mut readers, start);
    loop {
        futures::select! {
            request = asked.next() => match request {
                Some(TrackRequest::Subscribe(rendition)) if rendition < names.len() => {
                    subscribe(&mut readers, rendition)
                }
                Some(TrackRequest::Unsubscribe(rendition)) => readers.remove(rendition),
                Some(TrackRequest::Subscribe(_)) | None => {}
            },
            read = readers.reading.next() => match read {
                Some(Read::Frame(frame)) => shared.video(|player, now| player.received(now, frame)),
                Some(Read::Ended(rendition)) => {
                    if shared.video(|player, _| player.rendition()) == rendition {
                        return;
                    }
                }
                // Only while a switch aborted every reader: cannot last.
                None => return,
            },
        }
    }
}

/// The tracks being read, each abortable.
struct Readers {
    reading: SelectAll<LocalBoxStream<'static, Read>>,
    abort: Vec<Option<AbortHandle>>,
}

impl Readers {
    fn add(&mut self, rendition: usize, reader: LocalBoxStream<'static, Read>) {
        let (handle, registration) = AbortHandle::new_pair();
        self.remove(rendition);
        self.abort[rendition] = Some(handle);
        self.reading
            .push(Abortable::new(reader, registration).boxed_local());
    }

    fn remove(&mut self, rendition: usize) {
        if let Some(handle) = self.abort.get_mut(rendition).and_then(Option::take) {
            handle.abort();
        }
    }
}

/// The frames of rendition `rendition` (track `name`), subscribed on the first poll, then
/// [`Read::Ended`].
fn frames(
    broadcast: broadcast::Consumer,
    name: String,
    rendition: usize,
) -> LocalBoxStream<'static, Read> {
    let subscribed = async move {
        let subscription = track::Subscription::default().with_priority(priority::video(rendition));
        let track = broadcast
            .track(&name)
            .ok()?
            .subscribe(subscription)
            .await
            .ok()?;
        Some(TrackReader {
            track: track.ordered(),
            group: None,
            keyframe_next: false,
            reader: Reader::default(),
            rendition,
        })
    };
    subscribed
        .map(|reader| {
            stream::unfold(reader, |reader| async move {
                let mut reader = reader?;
                let frame = reader.next().await?;
                Some((Read::Frame(frame), Some(reader)))
            })
        })
        .flatten_stream()
        .chain(stream::once(async move { Read::Ended(rendition) }))
        .boxed_local()
}

/// One subscribed track, read frame by frame across its groups.
struct TrackReader {
    track: track::Ordered,
    group: Option<group::Consumer>,
    keyframe_next: bool,
    reader: Reader,
    rendition: usize,
}

impl TrackReader {
    /// The next non-empty frame, or `None` once the track ends.
    async fn next(&mut self) -> Option<Encoded<Bytes>> {
        loop {
            let group = match &mut self.group {
                Some(group) => group,
                None => {
                    let group = self.track.next_group().await.ok()??;
                    // A group read from its start begins with its keyframe.
                    self.keyframe_next = group.index() == 0;
                    self.group.insert(group)
                }
            };
            let frame = match self.reader.next(group).await {
                Ok(Some(frame)) => frame,
                // The group is over: finished, or superseded by a newer one (`Old`), which is
                // how a live subscription skips ahead. Take the next group.
                Ok(None) | Err(_) => {
                    self.group = None;
                    continue;
                }
            };
            // Empty frames occur (group ends carry one); a decoder fed an empty chunk fails.
            let Ok(header) = container::parse(&frame.payload) else {
                continue;
            };
            if header.payload_offset >= frame.payload.len() {
                continue;
            }
            return Some(Encoded {
                timestamp_us: header.timestamp_us as f64,
                keyframe: std::mem::take(&mut self.keyframe_next),
                rendition: self.rendition,
                payload: frame.payload.slice(header.payload_offset..),
            });
        }
    }
}

/// Ends video playback however `play` ends (returned, or dropped when the broadcast goes):
/// the decoder is closed, and what waits to be decoded or painted is dropped.
struct StopOnDrop<'a>(&'a Shared);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set_track_requests(None);
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
