//! The relay's sending side for the load simulator (`sim.rs`), on a link narrower than what
//! the viewer subscribes to. Every subscribed video track's groups share one bottleneck, and
//! are sent in the order moq-lite's publisher gives its streams (moq-net 0.3.18,
//! `lite/priority.rs`): the higher track priority first, then the older subscription, and
//! within one subscription the newest group first. A group's frames cross in order, each
//! delivered a propagation delay after its last byte. A new subscription is served its current
//! group from the start. The viewer's ordered reader gives up a group once a newer group of the
//! same track has delivered a frame (its max age is 0), so what of the older group still
//! arrives is dropped unread — but it was sent, and it took the link.

use std::collections::VecDeque;

/// What is sent: a GOP-structured stream per rendition.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    pub fps: f64,
    /// Capture instants per group of each rendition (its first frame is the keyframe).
    pub gops: [u64; 2],
    /// Every how many capture instants each rendition has a frame (the light one may skip).
    pub steps: [u64; 2],
    /// Mean bitrate of each rendition, kb/s.
    pub kbps: [f64; 2],
}

/// How many delta frames' worth a keyframe weighs.
const KEYFRAME_WEIGHT: f64 = 5.0;

impl Stream {
    fn capture_ms(&self, frame: u64) -> f64 {
        frame as f64 * 1000.0 / self.fps
    }

    /// The bytes of `rendition`'s frame at capture instant `frame`: the rendition's mean
    /// bitrate spread over its group, a keyframe weighing [`KEYFRAME_WEIGHT`] delta frames.
    fn bytes(&self, rendition: usize, frame: u64) -> f64 {
        let (step, gop) = (self.steps[rendition], self.gops[rendition]);
        let frames_per_group = (gop / step) as f64;
        let group_bytes = self.kbps[rendition] * 1000.0 / 8.0 * gop as f64 / self.fps;
        let delta = group_bytes / (frames_per_group - 1.0 + KEYFRAME_WEIGHT);
        match frame.is_multiple_of(gop) {
            true => delta * KEYFRAME_WEIGHT,
            false => delta,
        }
    }
}

/// One subscription, as the relay keeps it.
#[derive(Debug)]
struct Subscription {
    priority: u8,
    /// Subscriptions are ordered by when they were made.
    order: u64,
    /// The first frame of the next group the publisher will start.
    next_group: u64,
}

/// One group's stream, with what is left to send.
#[derive(Debug)]
struct GroupStream {
    rendition: usize,
    priority: u8,
    order: u64,
    group: u64,
    /// The next frame to send, and the bytes of it still to cross.
    next: u64,
    left: f64,
    /// The first frame after the group.
    end: u64,
}

/// The link, the relay's streams on it, and the frames on their way.
#[derive(Debug)]
pub struct SharedLink {
    stream: Stream,
    bytes_per_ms: f64,
    propagation_ms: f64,
    subscriptions: [Option<Subscription>; 2],
    made: u64,
    sending: Vec<GroupStream>,
    /// (arrival ms, rendition, frame), in arrival order.
    on_the_way: VecDeque<(f64, usize, u64)>,
    /// The newest group each track has delivered a frame of.
    newest: [Option<u64>; 2],
}

impl SharedLink {
    /// A link of `kbps` with a one-way `propagation_ms`, carrying `stream`.
    pub fn new(stream: Stream, kbps: f64, propagation_ms: f64) -> Self {
        Self {
            stream,
            bytes_per_ms: kbps / 8.0,
            propagation_ms,
            subscriptions: [None, None],
            made: 0,
            sending: Vec::new(),
            on_the_way: VecDeque::new(),
            newest: [None, None],
        }
    }

    /// The link carries `kbps` from now on.
    pub fn set_rate(&mut self, kbps: f64) {
        self.bytes_per_ms = kbps / 8.0;
    }

    /// The viewer subscribed to `rendition` at `priority` at `now_ms`.
    pub fn subscribe(&mut self, rendition: usize, priority: u8, now_ms: f64) {
        self.unsubscribe(rendition);
        let stream = self.stream;
        let now = (now_ms * stream.fps / 1000.0) as u64;
        let current = now - now % stream.gops[rendition];
        self.made += 1;
        self.subscriptions[rendition] = Some(Subscription {
            priority,
            order: self.made,
            next_group: current,
        });
    }

    /// The viewer unsubscribed from `rendition`: the relay stops its streams.
    pub fn unsubscribe(&mut self, rendition: usize) {
        self.subscriptions[rendition] = None;
        self.sending.retain(|stream| stream.rendition != rendition);
        self.on_the_way.retain(|&(_, r, _)| r != rendition);
        self.newest[rendition] = None;
    }

    /// Send what the link carries over the `step_ms` ending at `now_ms`.
    pub fn send(&mut self, now_ms: f64, step_ms: f64) {
        let stream = self.stream;
        for (rendition, subscription) in self.subscriptions.iter_mut().enumerate() {
            let Some(subscription) = subscription else {
                continue;
            };
            while stream.capture_ms(subscription.next_group) <= now_ms {
                let group = subscription.next_group;
                self.sending.push(GroupStream {
                    rendition,
                    priority: subscription.priority,
                    order: subscription.order,
                    group,
                    next: group,
                    left: stream.bytes(rendition, group),
                    end: group + stream.gops[rendition],
                });
                subscription.next_group += stream.gops[rendition];
            }
        }
        // The relay's order: priority, then the older subscription, then the newest group.
        self.sending.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(a.order.cmp(&b.order))
                .then(b.group.cmp(&a.group))
        });
        let mut budget = self.bytes_per_ms * step_ms;
        while budget > 0.0 {
            let Some(ready) = self
                .sending
                .iter_mut()
                .find(|s| s.next < s.end && stream.capture_ms(s.next) <= now_ms)
            else {
                break;
            };
            let sent = ready.left.min(budget);
            budget -= sent;
            ready.left -= sent;
            if ready.left <= 0.0 {
                let arrival = now_ms + self.propagation_ms;
                self.on_the_way
                    .push_back((arrival, ready.rendition, ready.next));
                ready.next += stream.steps[ready.rendition];
                ready.left = stream.bytes(ready.rendition, ready.next);
            }
        }
        self.sending.retain(|s| s.next < s.end);
    }

    /// The next frame the viewer reads by `now_ms`: (rendition, capture instant).
    pub fn delivered(&mut self, now_ms: f64) -> Option<(usize, u64)> {
        while let Some(&(arrival, rendition, frame)) = self.on_the_way.front() {
            if arrival > now_ms {
                return None;
            }
            self.on_the_way.pop_front();
            let group = frame / self.stream.gops[rendition];
            if self.newest[rendition].is_some_and(|newest| group < newest) {
                // Superseded: the reader has moved on to a newer group.
                continue;
            }
            self.newest[rendition] = Some(group);
            return Some((rendition, frame));
        }
        None
    }
}
