//! The QMux client session against a scripted relay: what it sends, what it lets through,
//! and how it ends.

use std::cell::RefCell;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use web_transport_trait::poll::{RecvStream as _, SendStream as _, Session as _};

use super::frame::{Frame, Params};
use super::handles::{RecvStream, Session};
use super::session::{Error, Windows, Wire};

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
    assert!(matches!(session.poll_accept_uni(&mut cx()), Poll::Ready(Err(ref e)) if *e == closed));
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
