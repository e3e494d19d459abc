//! A QMux draft-00 client session's state and rules, sans-IO: messages in, messages out
//! through a [`Wire`], and in between the streams opened and accepted, read and written, with
//! QUIC's flow control both ways (the handles moq-net drives are in `handles.rs`). The browser
//! glue (`web/websocket.rs`) only carries WebSocket messages; `tests.rs` plays the relay.
//!
//! Stream ids are QUIC's: `index << 2 | uni << 1 | server`. Ours are client-initiated. The
//! relay's limits on what we send come in its transport parameters and MAX_* frames; ours on
//! what it sends go out in ours, and are raised again as what it sent is read ([`Windows`]).

use std::collections::{HashMap, VecDeque};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};

use super::frame::{Frame, MAX_VARINT, Params};

/// The largest STREAM payload one message carries: QMux draft-00 messages are at most 16 384
/// bytes, and the frame's header takes at most 25 of them.
const MAX_PAYLOAD: usize = 16_384 - 32;
/// QUIC's FLOW_CONTROL_ERROR, STREAM_LIMIT_ERROR and PROTOCOL_VIOLATION (RFC 9000 §20.1).
const FLOW_CONTROL_ERROR: u64 = 0x03;
const STREAM_LIMIT_ERROR: u64 = 0x04;
pub(super) const PROTOCOL_VIOLATION: u64 = 0x0a;

/// Where a session's messages go.
pub trait Wire {
    /// Send one message.
    fn send(&mut self, message: Bytes);
    /// The session is over: close the transport.
    fn close(&mut self);
}

/// How much the relay may send ahead of what is read: the receive windows, raised by this
/// much again once half of one is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub data: u64,
    pub stream: u64,
    pub streams_uni: u64,
    pub streams_bidi: u64,
}

impl Default for Windows {
    /// Roomy: a group of video is well under a megabyte, and moq-lite opens a unidirectional
    /// stream per group of every track.
    fn default() -> Self {
        Self {
            data: 64 << 20,
            stream: 16 << 20,
            streams_uni: 1_000,
            streams_bidi: 100,
        }
    }
}

/// Why a session or stream operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The session is over: closed by the relay (its code and reason), by us, or with the
    /// transport under it.
    Closed { code: u32, reason: String },
    /// The relay reset the stream with this code.
    Reset(u32),
    /// The relay asked us to stop sending on the stream, with this code.
    Stopped(u32),
    /// The stream was already finished or reset here.
    StreamClosed,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed { code, reason } => write!(f, "session closed ({code}): {reason}"),
            Self::Reset(code) => write!(f, "stream reset ({code})"),
            Self::Stopped(code) => write!(f, "stream stopped ({code})"),
            Self::StreamClosed => f.write_str("stream already closed"),
        }
    }
}

impl std::error::Error for Error {}

impl web_transport_trait::Error for Error {
    fn session_error(&self) -> Option<(u32, String)> {
        match self {
            Self::Closed { code, reason } => Some((*code, reason.clone())),
            _ => None,
        }
    }

    fn stream_error(&self) -> Option<u32> {
        match self {
            Self::Reset(code) | Self::Stopped(code) => Some(*code),
            _ => None,
        }
    }
}

pub(super) fn code32(code: u64) -> u32 {
    u32::try_from(code).unwrap_or(u32::MAX)
}

fn is_uni(id: u64) -> bool {
    id & 2 != 0
}

fn is_ours(id: u64) -> bool {
    id & 1 == 0
}

/// Where a stream's sending side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sending {
    Open,
    Finished,
    Reset,
}

/// One stream's state, both sides (a unidirectional stream uses one).
#[derive(Debug)]
pub(super) struct Stream {
    pub(super) recv: VecDeque<Bytes>,
    /// The offset after the last byte received, and how far the relay may send.
    pub(super) received: u64,
    pub(super) recv_limit: u64,
    /// Bytes handed to the reader.
    pub(super) consumed: u64,
    pub(super) fin: bool,
    /// The relay reset the stream with this code; and whether the reader has been told.
    pub(super) reset: Option<u64>,
    pub(super) reset_seen: bool,
    /// We asked the relay to stop sending (the reader went away).
    pub(super) stopped: bool,
    pub(super) read_waker: Option<Waker>,
    pub(super) sending: Sending,
    pub(super) sent: u64,
    pub(super) send_limit: u64,
    pub(super) peer_stopped: Option<u64>,
    pub(super) write_waker: Option<Waker>,
    /// Whether the stream has each side at all.
    pub(super) has_recv: bool,
    pub(super) has_send: bool,
}

impl Stream {
    pub(super) fn new(has_recv: bool, has_send: bool, recv_limit: u64, send_limit: u64) -> Self {
        Self {
            recv: VecDeque::new(),
            received: 0,
            recv_limit,
            consumed: 0,
            fin: false,
            reset: None,
            reset_seen: false,
            stopped: false,
            read_waker: None,
            sending: Sending::Open,
            sent: 0,
            send_limit,
            peer_stopped: None,
            write_waker: None,
            has_recv,
            has_send,
        }
    }

    /// Whether the receiving side is over (or absent).
    pub(super) fn recv_done(&self) -> bool {
        !self.has_recv || self.stopped || self.reset_seen || (self.fin && self.recv.is_empty())
    }

    fn send_done(&self) -> bool {
        !self.has_send || self.sending != Sending::Open || self.peer_stopped.is_some()
    }
}

/// Flow-control credit we grant: the limit sent, what of it has been used up.
#[derive(Debug, Clone, Copy)]
pub(super) struct Grant {
    limit: u64,
    used: u64,
    window: u64,
}

impl Grant {
    pub(super) fn new(window: u64) -> Self {
        Self {
            limit: window,
            used: 0,
            window,
        }
    }

    /// `n` more used; the new limit to announce once half the window is gone.
    fn use_up(&mut self, n: u64) -> Option<u64> {
        self.used += n;
        (self.limit - self.used.min(self.limit) < self.window / 2).then(|| {
            self.limit = (self.used + self.window).min(MAX_VARINT);
            self.limit
        })
    }
}

pub(super) struct Core {
    pub(super) wire: Box<dyn Wire>,
    pub(super) windows: Windows,
    pub(super) closed: Option<Error>,
    /// The relay's transport parameters, once they came.
    pub(super) peer: Option<Params>,
    /// Connection-level credit the relay gave us, and what we used of it.
    pub(super) send_limit: u64,
    pub(super) sent: u64,
    /// Streams we may open (the relay's MAX_STREAMS) and have opened.
    pub(super) open_limit: [u64; 2],
    pub(super) opened: [u64; 2],
    /// Connection-level credit we gave (used up as bytes are read), what the relay sent, and
    /// the relay's streams we allow.
    pub(super) data_grant: Grant,
    pub(super) data_received: u64,
    pub(super) stream_grants: [Grant; 2],
    /// The index of the relay's next stream of each kind.
    pub(super) next_incoming: [u64; 2],
    pub(super) streams: HashMap<u64, Stream>,
    pub(super) incoming: [VecDeque<u64>; 2],
    pub(super) accept_wakers: [Option<Waker>; 2],
    pub(super) open_wakers: Vec<Waker>,
    pub(super) closed_wakers: Vec<Waker>,
    /// Wakers to wake once the state is released.
    pub(super) woken: Vec<Waker>,
}

/// Index 0: bidirectional, 1: unidirectional.
fn kind(uni: bool) -> usize {
    usize::from(uni)
}

impl Core {
    pub(super) fn send(&mut self, frame: &Frame) {
        if self.closed.is_none() {
            self.wire.send(frame.encode());
        }
    }

    fn wake(&mut self, waker: Option<Waker>) {
        self.woken.extend(waker);
    }

    fn wake_writers(&mut self) {
        let wakers: Vec<Waker> = self
            .streams
            .values_mut()
            .filter_map(|stream| stream.write_waker.take())
            .collect();
        self.woken.extend(wakers);
    }

    /// End the session: say why to the relay (unless it ended it), wake everyone.
    pub(super) fn end(&mut self, error: Error, tell: Option<Frame>) {
        if self.closed.is_some() {
            return;
        }
        if let Some(frame) = tell {
            self.send(&frame);
        }
        self.closed = Some(error);
        self.wire.close();
        let mut wakers: Vec<Waker> = self
            .streams
            .values_mut()
            .flat_map(|stream| [stream.read_waker.take(), stream.write_waker.take()])
            .flatten()
            .collect();
        wakers.extend(self.accept_wakers.iter_mut().filter_map(Option::take));
        wakers.append(&mut self.open_wakers);
        wakers.append(&mut self.closed_wakers);
        self.woken.extend(wakers);
    }

    pub(super) fn violation(&mut self, code: u64, reason: &str) {
        let error = Error::Closed {
            code: code32(code),
            reason: reason.to_owned(),
        };
        let frame = Frame::Close {
            application: false,
            code,
            reason: reason.to_owned(),
        };
        self.end(error, Some(frame));
    }

    /// A stream's state ended on both sides: forget it, and let the relay open another.
    pub(super) fn retire_if_done(&mut self, id: u64) {
        let Some(stream) = self.streams.get(&id) else {
            return;
        };
        if !(stream.recv_done() && stream.send_done()) {
            return;
        }
        self.streams.remove(&id);
        if !is_ours(id) {
            let uni = is_uni(id);
            if let Some(limit) = self.stream_grants[kind(uni)].use_up(1) {
                let frame = match uni {
                    true => Frame::MaxStreamsUni(limit),
                    false => Frame::MaxStreamsBidi(limit),
                };
                self.send(&frame);
            }
        }
    }

    /// `n` bytes of stream `id` were read (or dropped unread): grant them again.
    pub(super) fn consumed(&mut self, id: u64, n: u64) {
        if let Some(limit) = self.data_grant.use_up(n) {
            self.send(&Frame::MaxData(limit));
        }
        let window = self.windows.stream;
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        stream.consumed += n;
        if !stream.fin && stream.recv_limit - stream.consumed < window / 2 {
            stream.recv_limit = (stream.consumed + window).min(MAX_VARINT);
            let max = stream.recv_limit;
            self.send(&Frame::MaxStreamData { id, max });
        }
    }

    pub(super) fn received(&mut self, frame: Frame) {
        match frame {
            Frame::TransportParameters(params) => {
                self.send_limit = params.max_data;
                self.open_limit = [params.max_streams_bidi, params.max_streams_uni];
                self.peer = Some(params);
                let wakers = std::mem::take(&mut self.open_wakers);
                self.woken.extend(wakers);
            }
            Frame::Stream {
                id,
                offset,
                data,
                fin,
            } => self.stream_data(id, offset, data, fin),
            Frame::ResetStream { id, code, .. } => {
                if let Some(stream) = self.incoming_stream(id) {
                    stream.reset = Some(code);
                    let unread: u64 = stream.recv.drain(..).map(|chunk| chunk.len() as u64).sum();
                    let waker = stream.read_waker.take();
                    self.wake(waker);
                    // Retired once the reader has been told.
                    self.consumed(id, unread);
                }
            }
            Frame::StopSending { id, code } => {
                if let Some(stream) = self.streams.get_mut(&id)
                    && stream.has_send
                {
                    stream.peer_stopped = Some(code);
                    let final_size = stream.sent;
                    let open = stream.sending == Sending::Open;
                    stream.sending = Sending::Reset;
                    let waker = stream.write_waker.take();
                    self.wake(waker);
                    // QUIC: a STOP_SENDING is answered with a RESET_STREAM.
                    if open {
                        self.send(&Frame::ResetStream {
                            id,
                            code,
                            final_size,
                        });
                    }
                    self.retire_if_done(id);
                }
            }
            Frame::MaxData(max) => {
                self.send_limit = self.send_limit.max(max);
                self.wake_writers();
            }
            Frame::MaxStreamData { id, max } => {
                if let Some(stream) = self.streams.get_mut(&id) {
                    stream.send_limit = stream.send_limit.max(max);
                    let waker = stream.write_waker.take();
                    self.wake(waker);
                }
            }
            Frame::MaxStreamsBidi(max) | Frame::MaxStreamsUni(max) => {
                let uni = matches!(frame, Frame::MaxStreamsUni(_));
                let limit = &mut self.open_limit[kind(uni)];
                *limit = (*limit).max(max);
                let wakers = std::mem::take(&mut self.open_wakers);
                self.woken.extend(wakers);
            }
            Frame::Close { code, reason, .. } => {
                let error = Error::Closed {
                    code: code32(code),
                    reason,
                };
                self.end(error, None);
            }
            Frame::Ignored => {}
        }
    }

    /// The state of stream `id` the relay sends on, opening the relay's streams up to it.
    /// `None`: one that is over here (its data is dropped), or an error already sent.
    fn incoming_stream(&mut self, id: u64) -> Option<&mut Stream> {
        if !is_ours(id) {
            let uni = is_uni(id);
            let index = id >> 2;
            let next = &mut self.next_incoming[kind(uni)];
            if index >= *next {
                if index >= self.stream_grants[kind(uni)].limit {
                    self.violation(STREAM_LIMIT_ERROR, "the relay opened too many streams");
                    return None;
                }
                let window = self.windows.stream;
                let send_limit = self
                    .peer
                    .map_or(0, |params| params.max_stream_data_bidi_local);
                for opened in *next..=index {
                    let opened_id = opened << 2 | id & 3;
                    let stream = Stream::new(true, !uni, window, send_limit);
                    self.streams.insert(opened_id, stream);
                    self.incoming[kind(uni)].push_back(opened_id);
                }
                *next = index + 1;
                let waker = self.accept_wakers[kind(uni)].take();
                self.woken.extend(waker);
            }
        } else if is_uni(id) {
            self.violation(PROTOCOL_VIOLATION, "data on a stream only we send on");
            return None;
        }
        self.streams.get_mut(&id).filter(|stream| stream.has_recv)
    }

    fn stream_data(&mut self, id: u64, offset: u64, mut data: Bytes, fin: bool) {
        let end = offset + data.len() as u64;
        let Some(stream) = self.incoming_stream(id) else {
            if self.closed.is_none() {
                // A stream over here: its bytes count against the connection's credit, which
                // is given back at once.
                let n = data.len() as u64;
                self.data_received += n;
                self.consumed(id, n);
            }
            return;
        };
        if end > stream.recv_limit {
            self.violation(FLOW_CONTROL_ERROR, "the relay sent past a stream's limit");
            return;
        }
        // A reliable, ordered transport repeats nothing; drop what is already here anyway.
        let already = stream
            .received
            .saturating_sub(offset)
            .min(data.len() as u64);
        data.advance(already as usize);
        let new = data.len() as u64;
        stream.received = stream.received.max(end);
        stream.fin |= fin;
        let discard = stream.stopped || stream.reset.is_some();
        if !discard && !data.is_empty() {
            stream.recv.push_back(data);
        }
        let waker = stream.read_waker.take();
        self.wake(waker);
        self.data_received += new;
        if self.data_received > self.data_grant.limit {
            self.violation(
                FLOW_CONTROL_ERROR,
                "the relay sent past the connection's limit",
            );
            return;
        }
        if discard {
            self.consumed(id, new);
        }
        self.retire_if_done(id);
    }

    /// Open one of our streams.
    pub(super) fn poll_open(
        &mut self,
        cx: &mut Context<'_>,
        uni: bool,
    ) -> Poll<Result<u64, Error>> {
        if let Some(error) = &self.closed {
            return Poll::Ready(Err(error.clone()));
        }
        let Some(peer) = self.peer else {
            self.open_wakers.push(cx.waker().clone());
            return Poll::Pending;
        };
        let k = kind(uni);
        if self.opened[k] >= self.open_limit[k] {
            self.open_wakers.push(cx.waker().clone());
            return Poll::Pending;
        }
        let id = self.opened[k] << 2 | u64::from(uni) << 1;
        self.opened[k] += 1;
        let send_limit = match uni {
            true => peer.max_stream_data_uni,
            false => peer.max_stream_data_bidi_remote,
        };
        let stream = Stream::new(!uni, true, self.windows.stream, send_limit);
        self.streams.insert(id, stream);
        Poll::Ready(Ok(id))
    }

    pub(super) fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
        uni: bool,
    ) -> Poll<Result<u64, Error>> {
        if let Some(id) = self.incoming[kind(uni)].pop_front() {
            return Poll::Ready(Ok(id));
        }
        if let Some(error) = &self.closed {
            return Poll::Ready(Err(error.clone()));
        }
        self.accept_wakers[kind(uni)] = Some(cx.waker().clone());
        Poll::Pending
    }

    pub(super) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        id: u64,
        buf: &[u8],
    ) -> Poll<Result<usize, Error>> {
        if let Some(error) = &self.closed {
            return Poll::Ready(Err(error.clone()));
        }
        let connection_credit = self.send_limit.saturating_sub(self.sent);
        let Some(stream) = self.streams.get_mut(&id) else {
            return Poll::Ready(Err(Error::StreamClosed));
        };
        if let Some(code) = stream.peer_stopped {
            return Poll::Ready(Err(Error::Stopped(code32(code))));
        }
        if stream.sending != Sending::Open {
            return Poll::Ready(Err(Error::StreamClosed));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let credit = stream
            .send_limit
            .saturating_sub(stream.sent)
            .min(connection_credit)
            .min(MAX_PAYLOAD as u64) as usize;
        if credit == 0 {
            stream.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(credit);
        let offset = stream.sent;
        stream.sent += n as u64;
        self.sent += n as u64;
        let data = Bytes::copy_from_slice(&buf[..n]);
        self.send(&Frame::Stream {
            id,
            offset,
            data,
            fin: false,
        });
        Poll::Ready(Ok(n))
    }
}
