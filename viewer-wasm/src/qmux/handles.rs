//! The handles moq-net drives: the [`Session`] (cloned handles share one state) and its
//! [`SendStream`]s and [`RecvStream`]s, implementing `web_transport_trait::poll` over the
//! session's state (`session::Core`), which they borrow for each call and release
//! before waking what it changed.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use web_transport_trait::StatsUnavailable;
use web_transport_trait::poll;

use super::frame::{Frame, Params};
use super::session::{Core, Error, Grant, PROTOCOL_VIOLATION, Sending, Windows, Wire, code32};

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
    /// The QUIC stream id.
    pub(super) id: u64,
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
