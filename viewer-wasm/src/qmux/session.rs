//! A QMux draft-00 client session, sans-IO: messages in ([`Session::received`]), messages out
//! through a [`Wire`], and in between the `web_transport_trait::poll` surface moq-net drives
//! (streams opened and accepted, read and written, with QUIC's flow control both ways). The
//! browser glue (`web/websocket.rs`) only carries WebSocket messages; the tests here play the
//! relay.
//!
//! Stream ids are QUIC's: `index << 2 | uni << 1 | server`. Ours are client-initiated. The
//! relay's limits on what we send come in its transport parameters and MAX_* frames; ours on
//! what it sends go out in ours, and are raised again as what it sent is read ([`Windows`]).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use web_transport_trait::StatsUnavailable;
use web_transport_trait::poll;

use super::frame::{Frame, MAX_VARINT, Params};

/// The largest STREAM payload one message carries: QMux draft-00 messages are at most 16 384
/// bytes, and the frame's header takes at most 25 of them.
const MAX_PAYLOAD: usize = 16_384 - 32;
/// QUIC's FLOW_CONTROL_ERROR, STREAM_LIMIT_ERROR and PROTOCOL_VIOLATION (RFC 9000 §20.1).
const FLOW_CONTROL_ERROR: u64 = 0x03;
const STREAM_LIMIT_ERROR: u64 = 0x04;
const PROTOCOL_VIOLATION: u64 = 0x0a;

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

fn code32(code: u64) -> u32 {
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
enum Sending {
    Open,
    Finished,
    Reset,
}

/// One stream's state, both sides (a unidirectional stream uses one).
#[derive(Debug)]
struct Stream {
    recv: VecDeque<Bytes>,
    /// The offset after the last byte received, and how far the relay may send.
    received: u64,
    recv_limit: u64,
    /// Bytes handed to the reader.
    consumed: u64,
    fin: bool,
    /// The relay reset the stream with this code; and whether the reader has been told.
    reset: Option<u64>,
    reset_seen: bool,
    /// We asked the relay to stop sending (the reader went away).
    stopped: bool,
    read_waker: Option<Waker>,
    sending: Sending,
    sent: u64,
    send_limit: u64,
    peer_stopped: Option<u64>,
    write_waker: Option<Waker>,
    /// Whether the stream has each side at all.
    has_recv: bool,
    has_send: bool,
}

impl Stream {
    fn new(has_recv: bool, has_send: bool, recv_limit: u64, send_limit: u64) -> Self {
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
    fn recv_done(&self) -> bool {
        !self.has_recv || self.stopped || self.reset_seen || (self.fin && self.recv.is_empty())
    }

    fn send_done(&self) -> bool {
        !self.has_send || self.sending != Sending::Open || self.peer_stopped.is_some()
    }
}

/// Flow-control credit we grant: the limit sent, what of it has been used up.
#[derive(Debug, Clone, Copy)]
struct Grant {
    limit: u64,
    used: u64,
    window: u64,
}

impl Grant {
    fn new(window: u64) -> Self {
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

struct Core {
    wire: Box<dyn Wire>,
    windows: Windows,
    closed: Option<Error>,
    /// The relay's transport parameters, once they came.
    peer: Option<Params>,
    /// Connection-level credit the relay gave us, and what we used of it.
    send_limit: u64,
    sent: u64,
    /// Streams we may open (the relay's MAX_STREAMS) and have opened.
    open_limit: [u64; 2],
    opened: [u64; 2],
    /// Connection-level credit we gave (used up as bytes are read), what the relay sent, and
    /// the relay's streams we allow.
    data_grant: Grant,
    data_received: u64,
    stream_grants: [Grant; 2],
    /// The index of the relay's next stream of each kind.
    next_incoming: [u64; 2],
    streams: HashMap<u64, Stream>,
    incoming: [VecDeque<u64>; 2],
    accept_wakers: [Option<Waker>; 2],
    open_wakers: Vec<Waker>,
    closed_wakers: Vec<Waker>,
    /// Wakers to wake once the state is released.
    woken: Vec<Waker>,
}

/// Index 0: bidirectional, 1: unidirectional.
fn kind(uni: bool) -> usize {
    usize::from(uni)
}

impl Core {
    fn send(&mut self, frame: &Frame) {
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
    fn end(&mut self, error: Error, tell: Option<Frame>) {
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

    fn violation(&mut self, code: u64, reason: &str) {
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
    fn retire_if_done(&mut self, id: u64) {
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
    fn consumed(&mut self, id: u64, n: u64) {
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

    fn received(&mut self, frame: Frame) {
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
    fn poll_open(&mut self, cx: &mut Context<'_>, uni: bool) -> Poll<Result<u64, Error>> {
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

    fn poll_accept(&mut self, cx: &mut Context<'_>, uni: bool) -> Poll<Result<u64, Error>> {
        if let Some(id) = self.incoming[kind(uni)].pop_front() {
            return Poll::Ready(Ok(id));
        }
        if let Some(error) = &self.closed {
            return Poll::Ready(Err(error.clone()));
        }
        self.accept_wakers[kind(uni)] = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_write(
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

/// A shared handle to the state, waking what changed once it is released.
#[derive(Clone)]
struct Shared(Rc<RefCell<Core>>);

impl Shared {
    fn with<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        let (result, woken) = {
            let mut core = self.0.borrow_mut();
            let result = f(&mut core);
            (result, std::mem::take(&mut core.woken))
        };
        woken.into_iter().for_each(Waker::wake);
        result
    }
}

/// The session: cloned handles share it.
#[derive(Clone)]
pub struct Session {
    shared: Shared,
    /// The application protocol agreed with the transport (e.g. `moq-lite-06`).
    protocol: Rc<str>,
}

impl Session {
    /// A session speaking `protocol`, its messages going to `wire`; our transport parameters
    /// go out at once.
    pub fn new(protocol: &str, wire: Box<dyn Wire>, windows: Windows) -> Self {
        let core = Core {
            wire,
            windows,
            closed: None,
            peer: None,
            send_limit: 0,
            sent: 0,
            open_limit: [0, 0],
            opened: [0, 0],
            data_grant: Grant::new(windows.data),
            data_received: 0,
            stream_grants: [
                Grant::new(windows.streams_bidi),
                Grant::new(windows.streams_uni),
            ],
            next_incoming: [0, 0],
            streams: HashMap::new(),
            incoming: [VecDeque::new(), VecDeque::new()],
            accept_wakers: [None, None],
            open_wakers: Vec::new(),
            closed_wakers: Vec::new(),
            woken: Vec::new(),
        };
        let session = Self {
            shared: Shared(Rc::new(RefCell::new(core))),
            protocol: protocol.into(),
        };
        session.shared.with(|core| {
            core.send(&Frame::TransportParameters(Params {
                max_data: windows.data,
                max_stream_data_bidi_local: windows.stream,
                max_stream_data_bidi_remote: windows.stream,
                max_stream_data_uni: windows.stream,
                max_streams_bidi: windows.streams_bidi,
                max_streams_uni: windows.streams_uni,
            }));
        });
        session
    }

    /// A message from the relay.
    pub fn received(&self, message: Bytes) {
        self.shared.with(|core| {
            if core.closed.is_some() {
                return;
            }
            match Frame::decode(message) {
                Ok(frame) => core.received(frame),
                Err(err) => core.violation(PROTOCOL_VIOLATION, &err.to_string()),
            }
        });
    }

    /// The transport under the session ended (the WebSocket closed), for `reason`.
    pub fn transport_closed(&self, reason: &str) {
        let error = Error::Closed {
            code: 0,
            reason: reason.to_owned(),
        };
        self.shared.with(|core| core.end(error, None));
    }

    fn send_stream(&self, id: u64) -> SendStream {
        SendStream {
            shared: self.shared.clone(),
            id,
        }
    }

    fn recv_stream(&self, id: u64) -> RecvStream {
        RecvStream {
            shared: self.shared.clone(),
            id,
        }
    }
}

impl poll::Session for Session {
    type SendStream = SendStream;
    type RecvStream = RecvStream;
    type Error = Error;

    fn poll_accept_uni(&mut self, cx: &mut Context<'_>) -> Poll<Result<RecvStream, Error>> {
        let id = std::task::ready!(self.shared.with(|core| core.poll_accept(cx, true)))?;
        Poll::Ready(Ok(self.recv_stream(id)))
    }

    fn poll_accept_bi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(SendStream, RecvStream), Error>> {
        let id = std::task::ready!(self.shared.with(|core| core.poll_accept(cx, false)))?;
        Poll::Ready(Ok((self.send_stream(id), self.recv_stream(id))))
    }

    fn poll_open_uni(&mut self, cx: &mut Context<'_>) -> Poll<Result<SendStream, Error>> {
        let id = std::task::ready!(self.shared.with(|core| core.poll_open(cx, true)))?;
        Poll::Ready(Ok(self.send_stream(id)))
    }

    fn poll_open_bi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(SendStream, RecvStream), Error>> {
        let id = std::task::ready!(self.shared.with(|core| core.poll_open(cx, false)))?;
        Poll::Ready(Ok((self.send_stream(id), self.recv_stream(id))))
    }

    /// QMux draft-00 has no datagrams: what is sent is dropped (as a datagram may be).
    fn poll_send_datagram(&mut self, _: &mut Context<'_>, _: &[u8]) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_recv_datagram(&mut self, cx: &mut Context<'_>) -> Poll<Result<Bytes, Error>> {
        match self.poll_closed(cx) {
            Poll::Ready(error) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn max_datagram_size(&self) -> usize {
        0
    }

    fn protocol(&self) -> Option<&str> {
        Some(&self.protocol)
    }

    fn close(&mut self, code: u32, reason: &str) {
        let error = Error::Closed {
            code,
            reason: reason.to_owned(),
        };
        let frame = Frame::Close {
            application: true,
            code: u64::from(code),
            reason: reason.to_owned(),
        };
        self.shared.with(|core| core.end(error, Some(frame)));
    }

    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<Error> {
        self.shared.with(|core| match &core.closed {
            Some(error) => Poll::Ready(error.clone()),
            None => {
                core.closed_wakers.push(cx.waker().clone());
                Poll::Pending
            }
        })
    }

    fn stats(&self) -> impl web_transport_trait::Stats {
        StatsUnavailable
    }
}

/// Our side of a stream we send on.
pub struct SendStream {
    shared: Shared,
    id: u64,
}

impl poll::SendStream for SendStream {
    type Error = Error;

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize, Error>> {
        let id = self.id;
        self.shared.with(|core| core.poll_write(cx, id, buf))
    }

    /// One multiplexed WebSocket carries every stream in order: there is nothing to rank.
    fn set_priority(&mut self, _: u8) {}

    fn finish(&mut self) -> Result<(), Error> {
        let id = self.id;
        self.shared.with(|core| {
            if let Some(error) = &core.closed {
                return Err(error.clone());
            }
            let stream = core.streams.get_mut(&id).ok_or(Error::StreamClosed)?;
            if stream.sending != Sending::Open {
                return Err(Error::StreamClosed);
            }
            stream.sending = Sending::Finished;
            let offset = stream.sent;
            core.send(&Frame::Stream {
                id,
                offset,
                data: Bytes::new(),
                fin: true,
            });
            core.retire_if_done(id);
            Ok(())
        })
    }

    fn reset(&mut self, code: u32) {
        let id = self.id;
        self.shared.with(|core| {
            let Some(stream) = core.streams.get_mut(&id) else {
                return;
            };
            if stream.sending != Sending::Open {
                return;
            }
            stream.sending = Sending::Reset;
            let final_size = stream.sent;
            core.send(&Frame::ResetStream {
                id,
                code: u64::from(code),
                final_size,
            });
            core.retire_if_done(id);
        });
    }

    /// Ready once the stream is finished or reset here (a FIN's delivery is the WebSocket's),
    /// or stopped by the relay.
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let id = self.id;
        self.shared.with(|core| {
            let Some(stream) = core.streams.get_mut(&id) else {
                return Poll::Ready(Ok(()));
            };
            if let Some(code) = stream.peer_stopped {
                return Poll::Ready(Err(Error::Stopped(code32(code))));
            }
            if stream.sending != Sending::Open {
                return Poll::Ready(Ok(()));
            }
            if let Some(error) = &core.closed {
                return Poll::Ready(Err(error.clone()));
            }
            stream.write_waker = Some(cx.waker().clone());
            Poll::Pending
        })
    }
}

impl Drop for SendStream {
    /// An abandoned stream is reset, never silently finished.
    fn drop(&mut self) {
        poll::SendStream::reset(self, 0);
    }
}

/// Our side of a stream the relay sends on.
pub struct RecvStream {
    shared: Shared,
    id: u64,
}

impl RecvStream {
    /// The next bytes, at most `max`; `None` at the end of the stream.
    fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<Result<Option<Bytes>, Error>> {
        let id = self.id;
        self.shared.with(|core| {
            let closed = core.closed.clone();
            let Some(stream) = core.streams.get_mut(&id) else {
                return Poll::Ready(Ok(None));
            };
            if let Some(code) = stream.reset {
                stream.reset_seen = true;
                core.retire_if_done(id);
                return Poll::Ready(Err(Error::Reset(code32(code))));
            }
            if max == 0 {
                return Poll::Ready(Ok(Some(Bytes::new())));
            }
            if let Some(chunk) = stream.recv.front_mut() {
                let taken = match chunk.len() <= max {
                    true => stream.recv.pop_front().unwrap_or_default(),
                    false => chunk.split_to(max),
                };
                let n = taken.len() as u64;
                core.consumed(id, n);
                core.retire_if_done(id);
                return Poll::Ready(Ok(Some(taken)));
            }
            if stream.fin {
                core.retire_if_done(id);
                return Poll::Ready(Ok(None));
            }
            if let Some(error) = closed {
                return Poll::Ready(Err(error));
            }
            stream.read_waker = Some(cx.waker().clone());
            Poll::Pending
        })
    }
}

impl poll::RecvStream for RecvStream {
    type Error = Error;

    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<Result<Option<usize>, Error>> {
        let chunk = std::task::ready!(self.poll_chunk(cx, dst.len()))?;
        Poll::Ready(Ok(chunk.map(|chunk| {
            dst[..chunk.len()].copy_from_slice(&chunk);
            chunk.len()
        })))
    }

    fn poll_read_chunk(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<Result<Option<Bytes>, Error>> {
        self.poll_chunk(cx, max)
    }

    fn stop(&mut self, code: u32) {
        let id = self.id;
        self.shared.with(|core| {
            let Some(stream) = core.streams.get_mut(&id) else {
                return;
            };
            if stream.recv_done() {
                return;
            }
            if stream.reset.is_some() {
                // Reset already: nothing to stop.
                stream.reset_seen = true;
                core.retire_if_done(id);
                return;
            }
            stream.stopped = true;
            let unread: u64 = stream.recv.drain(..).map(|chunk| chunk.len() as u64).sum();
            core.send(&Frame::StopSending {
                id,
                code: u64::from(code),
            });
            core.consumed(id, unread);
            core.retire_if_done(id);
        });
    }

    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let id = self.id;
        self.shared.with(|core| {
            let Some(stream) = core.streams.get_mut(&id) else {
                return Poll::Ready(Ok(()));
            };
            if let Some(code) = stream.reset {
                stream.reset_seen = true;
                core.retire_if_done(id);
                return Poll::Ready(Err(Error::Reset(code32(code))));
            }
            if stream.recv_done() {
                return Poll::Ready(Ok(()));
            }
            if let Some(error) = &core.closed {
                return Poll::Ready(Err(error.clone()));
            }
            stream.read_waker = Some(cx.waker().clone());
            Poll::Pending
        })
    }
}

impl Drop for RecvStream {
    /// A reader that goes away asks the relay to stop, which returns its flow control.
    fn drop(&mut self) {
        poll::RecvStream::stop(self, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poll::{RecvStream as _, SendStream as _, Session as _};

    /// What the session sent, and whether it closed the transport.
    #[derive(Default)]
    struct Recorded {
        sent: Vec<Frame>,
        closed: bool,
    }

    struct Recorder(Rc<RefCell<Recorded>>);

    impl Wire for Recorder {
        fn send(&mut self, message: Bytes) {
            let frame = Frame::decode(message).expect("the session sends valid frames");
            self.0.borrow_mut().sent.push(frame);
        }

        fn close(&mut self) {
            self.0.borrow_mut().closed = true;
        }
    }

    /// A session with small windows, and what it sends.
    fn session() -> (Session, Rc<RefCell<Recorded>>) {
        let recorded = Rc::new(RefCell::new(Recorded::default()));
        let windows = Windows {
            data: 100,
            stream: 40,
            streams_uni: 4,
            streams_bidi: 2,
        };
        let session = Session::new("moq-lite-06", Box::new(Recorder(recorded.clone())), windows);
        (session, recorded)
    }

    fn taken(recorded: &Rc<RefCell<Recorded>>) -> Vec<Frame> {
        std::mem::take(&mut recorded.borrow_mut().sent)
    }

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    fn relay_params(session: &Session) {
        session.received(
            Frame::TransportParameters(Params {
                max_data: 1_000,
                max_stream_data_bidi_local: 100,
                max_stream_data_bidi_remote: 6,
                max_stream_data_uni: 100,
                max_streams_bidi: 1,
                max_streams_uni: 0,
            })
            .encode(),
        );
    }

    fn data(id: u64, offset: u64, bytes: &'static [u8], fin: bool) -> Bytes {
        Frame::Stream {
            id,
            offset,
            data: Bytes::from_static(bytes),
            fin,
        }
        .encode()
    }

    fn read(stream: &mut RecvStream) -> Poll<Result<Option<Bytes>, Error>> {
        stream.poll_read_chunk(&mut cx(), 1024)
    }

    #[test]
    fn our_parameters_go_first_and_streams_wait_for_the_relays() {
        let (mut session, recorded) = session();
        assert!(matches!(
            taken(&recorded)[..],
            [Frame::TransportParameters(Params {
                max_data: 100,
                max_streams_uni: 4,
                ..
            })]
        ));
        assert!(
            session.poll_open_bi(&mut cx()).is_pending(),
            "no credit yet"
        );
        relay_params(&session);
        let Poll::Ready(Ok((mut send, _recv))) = session.poll_open_bi(&mut cx()) else {
            panic!("a stream once the relay allows one");
        };
        assert!(session.poll_open_bi(&mut cx()).is_pending(), "one allowed");
        assert!(
            session.poll_open_uni(&mut cx()).is_pending(),
            "none allowed"
        );
        // The relay allows 6 bytes on it: the write is cut there, and waits for more.
        assert!(matches!(
            send.poll_write(&mut cx(), b"subscribe"),
            Poll::Ready(Ok(6))
        ));
        assert!(send.poll_write(&mut cx(), b"ribe").is_pending());
        session.received(Frame::MaxStreamData { id: 0, max: 20 }.encode());
        assert!(matches!(
            send.poll_write(&mut cx(), b"ribe"),
            Poll::Ready(Ok(4))
        ));
        send.finish().expect("finish");
        let sent = taken(&recorded);
        let stream = |offset: u64, bytes: &'static [u8], fin: bool| Frame::Stream {
            id: 0,
            offset,
            data: Bytes::from_static(bytes),
            fin,
        };
        assert_eq!(
            sent,
            [
                stream(0, b"subscr", false),
                stream(6, b"ibe", false),
                stream(10, b"", true)
            ]
            .map(|frame| match frame {
                Frame::Stream { offset: 6, .. } => stream(6, b"ribe", false),
                frame => frame,
            })
        );
    }

    #[test]
    fn the_relays_streams_are_accepted_in_order_and_read_to_their_end() {
        let (mut session, _recorded) = session();
        relay_params(&session);
        // Server-initiated unidirectional streams: 3, 7, 11. Index 2 arrives first: 0 and 1
        // open with it.
        session.received(data(11, 0, b"third", true));
        session.received(data(3, 0, b"gro", false));
        session.received(data(3, 3, b"up", true));
        let mut accepted = Vec::new();
        while let Poll::Ready(Ok(stream)) = session.poll_accept_uni(&mut cx()) {
            accepted.push(stream);
        }
        assert_eq!(
            accepted.iter().map(|s| s.id).collect::<Vec<_>>(),
            [3, 7, 11]
        );
        let first = &mut accepted[0];
        assert_eq!(
            read(first),
            Poll::Ready(Ok(Some(Bytes::from_static(b"gro"))))
        );
        assert_eq!(
            read(first),
            Poll::Ready(Ok(Some(Bytes::from_static(b"up"))))
        );
        assert_eq!(read(first), Poll::Ready(Ok(None)));
        assert!(read(&mut accepted[1]).is_pending(), "nothing on 7 yet");
        session.received(data(7, 0, b"late", true));
        assert_eq!(
            read(&mut accepted[1]),
            Poll::Ready(Ok(Some(Bytes::from_static(b"late"))))
        );
    }

    #[test]
    fn credit_is_given_back_as_the_relay_s_bytes_are_read() {
        let (mut session, recorded) = session();
        relay_params(&session);
        taken(&recorded);
        session.received(data(3, 0, b"0123456789012345678901234", false));
        let Poll::Ready(Ok(mut stream)) = session.poll_accept_uni(&mut cx()) else {
            panic!("accepted");
        };
        assert!(taken(&recorded).is_empty(), "nothing read, nothing granted");
        assert!(matches!(read(&mut stream), Poll::Ready(Ok(Some(_)))));
        // 25 of the stream's 40 read: below half left, so 25 + 40 more; the connection's 100
        // still has 75.
        assert_eq!(taken(&recorded), [Frame::MaxStreamData { id: 3, max: 65 }]);
        // Past the stream's limit is the relay's fault: the session ends, saying why.
        session.received(data(3, 25, &[0; 50], false));
        let sent = taken(&recorded);
        assert!(matches!(
            sent[..],
            [Frame::Close {
                application: false,
                code: 0x03,
                ..
            }]
        ));
        assert!(recorded.borrow().closed);
        assert!(matches!(
            read(&mut stream),
            Poll::Ready(Err(Error::Closed { code: 3, .. }))
        ));
    }

    #[test]
    fn finished_streams_let_the_relay_open_more() {
        let (mut session, recorded) = session();
        relay_params(&session);
        taken(&recorded);
        for id in [3, 7, 11] {
            session.received(data(id, 0, b"g", true));
            let Poll::Ready(Ok(mut stream)) = session.poll_accept_uni(&mut cx()) else {
                panic!("accepted {id}");
            };
            assert!(matches!(read(&mut stream), Poll::Ready(Ok(Some(_)))));
            assert_eq!(read(&mut stream), Poll::Ready(Ok(None)));
        }
        // Four allowed; three done leaves one: below half, so 3 + 4.
        let sent = taken(&recorded);
        assert!(sent.contains(&Frame::MaxStreamsUni(7)), "{sent:?}");
        // A fifth at once would be too many, but not after the grant.
        session.received(data(19, 0, b"g", true));
        assert!(!recorded.borrow().closed);
        session.received(data(31, 0, b"g", true));
        assert!(recorded.borrow().closed, "index 7 is past the limit of 7");
    }

    #[test]
    fn resets_stops_and_closes_reach_whoever_waits() {
        let (mut session, recorded) = session();
        relay_params(&session);
        session.received(data(3, 0, b"x", false));
        let Poll::Ready(Ok(mut group)) = session.poll_accept_uni(&mut cx()) else {
            panic!("accepted");
        };
        session.received(
            Frame::ResetStream {
                id: 3,
                code: 7,
                final_size: 1,
            }
            .encode(),
        );
        assert_eq!(read(&mut group), Poll::Ready(Err(Error::Reset(7))));
        let Poll::Ready(Ok((mut send, _recv))) = session.poll_open_bi(&mut cx()) else {
            panic!("opened");
        };
        taken(&recorded);
        session.received(Frame::StopSending { id: 0, code: 9 }.encode());
        assert_eq!(
            send.poll_write(&mut cx(), b"x"),
            Poll::Ready(Err(Error::Stopped(9)))
        );
        assert_eq!(
            taken(&recorded),
            [Frame::ResetStream {
                id: 0,
                code: 9,
                final_size: 0
            }],
            "a stop is answered with a reset"
        );
        assert!(session.poll_closed(&mut cx()).is_pending());
        session.received(
            Frame::Close {
                application: true,
                code: 0,
                reason: "going away".into(),
            }
            .encode(),
        );
        let closed = Error::Closed {
            code: 0,
            reason: "going away".into(),
        };
        assert_eq!(session.poll_closed(&mut cx()), Poll::Ready(closed.clone()));
        assert!(
            matches!(session.poll_accept_uni(&mut cx()), Poll::Ready(Err(ref e)) if *e == closed)
        );
        assert!(recorded.borrow().closed);
    }

    #[test]
    fn a_message_that_is_no_frame_ends_the_session() {
        let (mut session, recorded) = session();
        session.received(Bytes::from_static(&[0x21, 0x00]));
        assert!(matches!(
            taken(&recorded)[..],
            [
                Frame::TransportParameters(_),
                Frame::Close {
                    application: false,
                    code: 0x0a,
                    ..
                }
            ]
        ));
        assert!(session.poll_closed(&mut cx()).is_ready());
    }

    #[test]
    fn readers_that_go_away_stop_the_relay_and_free_its_credit() {
        let (mut session, recorded) = session();
        relay_params(&session);
        session.received(data(3, 0, b"unread", false));
        let Poll::Ready(Ok(stream)) = session.poll_accept_uni(&mut cx()) else {
            panic!("accepted");
        };
        taken(&recorded);
        drop(stream);
        assert_eq!(taken(&recorded), [Frame::StopSending { id: 3, code: 0 }]);
        // What still comes on it is dropped, and counts for nothing.
        session.received(data(3, 6, b"more", true));
        assert!(!recorded.borrow().closed);
    }
}
