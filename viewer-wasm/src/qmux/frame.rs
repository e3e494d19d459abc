//! QMux draft-00 frames, as one WebSocket binary message each: QUIC v1's encoding (RFC 9000
//! §19) of the frames a stream multiplexer needs, plus QMux's QX_TRANSPORT_PARAMETERS. STREAM
//! frames always carry their offset and length, as the relay's `qmux` sends them.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// QX_TRANSPORT_PARAMETERS: "\xffQMX\r\n\r\n" as a varint.
const TRANSPORT_PARAMETERS: u64 = 0x3f51_5330_0d0a_0d0a;
const RESET_STREAM: u64 = 0x04;
const STOP_SENDING: u64 = 0x05;
const STREAM: u64 = 0x08;
const STREAM_OFF: u64 = 0x04;
const STREAM_LEN: u64 = 0x02;
const STREAM_FIN: u64 = 0x01;
const MAX_DATA: u64 = 0x10;
const MAX_STREAM_DATA: u64 = 0x11;
const MAX_STREAMS_BIDI: u64 = 0x12;
const MAX_STREAMS_UNI: u64 = 0x13;
const CONNECTION_CLOSE: u64 = 0x1c;
const APPLICATION_CLOSE: u64 = 0x1d;

/// The largest value a QUIC varint holds.
pub const MAX_VARINT: u64 = (1 << 62) - 1;

/// The transport parameters QMux exchanges first (RFC 9000 §18.2's subset): each side's
/// limits on what the other may send it. Zero is "nothing", as in QUIC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Params {
    pub max_data: u64,
    /// For bidirectional streams the sender of these parameters opened.
    pub max_stream_data_bidi_local: u64,
    /// For bidirectional streams its peer opened.
    pub max_stream_data_bidi_remote: u64,
    pub max_stream_data_uni: u64,
    pub max_streams_bidi: u64,
    pub max_streams_uni: u64,
}

const PARAM_MAX_DATA: u64 = 0x04;
const PARAM_BIDI_LOCAL: u64 = 0x05;
const PARAM_BIDI_REMOTE: u64 = 0x06;
const PARAM_UNI: u64 = 0x07;
const PARAM_STREAMS_BIDI: u64 = 0x08;
const PARAM_STREAMS_UNI: u64 = 0x09;

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    TransportParameters(Params),
    Stream {
        id: u64,
        offset: u64,
        data: Bytes,
        fin: bool,
    },
    ResetStream {
        id: u64,
        code: u64,
        final_size: u64,
    },
    StopSending {
        id: u64,
        code: u64,
    },
    MaxData(u64),
    MaxStreamData {
        id: u64,
        max: u64,
    },
    MaxStreamsBidi(u64),
    MaxStreamsUni(u64),
    /// CONNECTION_CLOSE (a transport error) or APPLICATION_CLOSE (the application's).
    Close {
        application: bool,
        code: u64,
        reason: String,
    },
    /// A frame that changes nothing here (PADDING, the *_BLOCKED hints).
    Ignored,
}

/// What cannot be read as a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The message ends inside the frame.
    Short,
    /// A frame type QMux draft-00 does not use here.
    UnknownType(u64),
    /// Bytes after the frame (draft-00 carries one frame per message).
    Trailing,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Short => f.write_str("a QMux frame cut short"),
            Self::UnknownType(kind) => write!(f, "an unknown QMux frame type {kind:#x}"),
            Self::Trailing => f.write_str("bytes after a QMux frame"),
        }
    }
}

impl Frame {
    /// The frame as one message.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::new();
        match self {
            Frame::TransportParameters(params) => {
                let mut body = BytesMut::new();
                for (id, value) in [
                    (PARAM_MAX_DATA, params.max_data),
                    (PARAM_BIDI_LOCAL, params.max_stream_data_bidi_local),
                    (PARAM_BIDI_REMOTE, params.max_stream_data_bidi_remote),
                    (PARAM_UNI, params.max_stream_data_uni),
                    (PARAM_STREAMS_BIDI, params.max_streams_bidi),
                    (PARAM_STREAMS_UNI, params.max_streams_uni),
                ] {
                    // Zero is the default, and left out.
                    if value > 0 {
                        put_varint(&mut body, id);
                        put_varint(&mut body, varint_len(value) as u64);
                        put_varint(&mut body, value);
                    }
                }
                put_varint(&mut buf, TRANSPORT_PARAMETERS);
                put_varint(&mut buf, body.len() as u64);
                buf.put_slice(&body);
            }
            Frame::Stream {
                id,
                offset,
                data,
                fin,
            } => {
                let fin = if *fin { STREAM_FIN } else { 0 };
                put_varint(&mut buf, STREAM | STREAM_OFF | STREAM_LEN | fin);
                put_varint(&mut buf, *id);
                put_varint(&mut buf, *offset);
                put_varint(&mut buf, data.len() as u64);
                buf.put_slice(data);
            }
            Frame::ResetStream {
                id,
                code,
                final_size,
            } => put_varints(&mut buf, &[RESET_STREAM, *id, *code, *final_size]),
            Frame::StopSending { id, code } => put_varints(&mut buf, &[STOP_SENDING, *id, *code]),
            Frame::MaxData(max) => put_varints(&mut buf, &[MAX_DATA, *max]),
            Frame::MaxStreamData { id, max } => {
                put_varints(&mut buf, &[MAX_STREAM_DATA, *id, *max]);
            }
            Frame::MaxStreamsBidi(max) => put_varints(&mut buf, &[MAX_STREAMS_BIDI, *max]),
            Frame::MaxStreamsUni(max) => put_varints(&mut buf, &[MAX_STREAMS_UNI, *max]),
            Frame::Close {
                application,
                code,
                reason,
            } => {
                match application {
                    true => put_varints(&mut buf, &[APPLICATION_CLOSE, *code]),
                    // The frame type that caused it: none in particular.
                    false => put_varints(&mut buf, &[CONNECTION_CLOSE, *code, 0]),
                }
                put_varint(&mut buf, reason.len() as u64);
                buf.put_slice(reason.as_bytes());
            }
            Frame::Ignored => put_varint(&mut buf, 0),
        }
        buf.freeze()
    }

    /// The frame one message carries.
    pub fn decode(mut message: Bytes) -> Result<Frame, DecodeError> {
        let data = &mut message;
        let kind = get_varint(data)?;
        let frame = match kind {
            0x00 | 0x14..=0x17 => {
                // PADDING, DATA_BLOCKED, STREAM_DATA_BLOCKED, STREAMS_BLOCKED: hints only.
                data.advance(data.remaining());
                Frame::Ignored
            }
            TRANSPORT_PARAMETERS => {
                let len = get_len(data)?;
                let mut body = data.split_to(len);
                let mut params = Params::default();
                while body.has_remaining() {
                    let id = get_varint(&mut body)?;
                    let len = get_len(&mut body)?;
                    let mut value = body.split_to(len);
                    let slot = match id {
                        PARAM_MAX_DATA => &mut params.max_data,
                        PARAM_BIDI_LOCAL => &mut params.max_stream_data_bidi_local,
                        PARAM_BIDI_REMOTE => &mut params.max_stream_data_bidi_remote,
                        PARAM_UNI => &mut params.max_stream_data_uni,
                        PARAM_STREAMS_BIDI => &mut params.max_streams_bidi,
                        PARAM_STREAMS_UNI => &mut params.max_streams_uni,
                        // Others (idle timeout, record size, extensions) are not ours.
                        _ => continue,
                    };
                    *slot = get_varint(&mut value)?;
                }
                Frame::TransportParameters(params)
            }
            STREAM..=0x0f => {
                let id = get_varint(data)?;
                let offset = match kind & STREAM_OFF {
                    0 => 0,
                    _ => get_varint(data)?,
                };
                let len = match kind & STREAM_LEN {
                    0 => data.remaining(),
                    _ => get_len(data)?,
                };
                Frame::Stream {
                    id,
                    offset,
                    data: data.split_to(len),
                    fin: kind & STREAM_FIN != 0,
                }
            }
            RESET_STREAM => Frame::ResetStream {
                id: get_varint(data)?,
                code: get_varint(data)?,
                final_size: get_varint(data)?,
            },
            STOP_SENDING => Frame::StopSending {
                id: get_varint(data)?,
                code: get_varint(data)?,
            },
            MAX_DATA => Frame::MaxData(get_varint(data)?),
            MAX_STREAM_DATA => Frame::MaxStreamData {
                id: get_varint(data)?,
                max: get_varint(data)?,
            },
            MAX_STREAMS_BIDI => Frame::MaxStreamsBidi(get_varint(data)?),
            MAX_STREAMS_UNI => Frame::MaxStreamsUni(get_varint(data)?),
            CONNECTION_CLOSE | APPLICATION_CLOSE => {
                let application = kind == APPLICATION_CLOSE;
                let code = get_varint(data)?;
                if !application {
                    get_varint(data)?;
                }
                let len = get_len(data)?;
                let reason = String::from_utf8_lossy(&data.split_to(len)).into_owned();
                Frame::Close {
                    application,
                    code,
                    reason,
                }
            }
            other => return Err(DecodeError::UnknownType(other)),
        };
        match data.has_remaining() {
            true => Err(DecodeError::Trailing),
            false => Ok(frame),
        }
    }
}

/// How many bytes `value` takes as a varint.
fn varint_len(value: u64) -> usize {
    match value {
        0..=0x3f => 1,
        0x40..=0x3fff => 2,
        0x4000..=0x3fff_ffff => 4,
        _ => 8,
    }
}

fn put_varint(buf: &mut BytesMut, value: u64) {
    let value = value.min(MAX_VARINT);
    match varint_len(value) {
        1 => buf.put_u8(value as u8),
        2 => buf.put_u16(0x4000 | value as u16),
        4 => buf.put_u32(0x8000_0000 | value as u32),
        _ => buf.put_u64(0xc000_0000_0000_0000 | value),
    }
}

fn put_varints(buf: &mut BytesMut, values: &[u64]) {
    values.iter().for_each(|value| put_varint(buf, *value));
}

fn get_varint(data: &mut Bytes) -> Result<u64, DecodeError> {
    let first = *data.first().ok_or(DecodeError::Short)?;
    let len = 1 << (first >> 6);
    if data.remaining() < len {
        return Err(DecodeError::Short);
    }
    let value = data[1..len]
        .iter()
        .fold(u64::from(first & 0x3f), |value, &byte| {
            (value << 8) | u64::from(byte)
        });
    data.advance(len);
    Ok(value)
}

/// A length, checked against what the message has left.
fn get_len(data: &mut Bytes) -> Result<usize, DecodeError> {
    let len = usize::try_from(get_varint(data)?).map_err(|_| DecodeError::Short)?;
    match len <= data.remaining() {
        true => Ok(len),
        false => Err(DecodeError::Short),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_take_the_sizes_rfc_9000_gives() {
        // RFC 9000 §A.1's examples.
        for (value, wire) in [
            (
                151_288_809_941_952_652,
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c][..],
            ),
            (494_878_333, &[0x9d, 0x7f, 0x3e, 0x7d]),
            (15_293, &[0x7b, 0xbd]),
            (37, &[0x25]),
        ] {
            let mut buf = BytesMut::new();
            put_varint(&mut buf, value);
            assert_eq!(&buf[..], wire, "{value}");
            assert_eq!(get_varint(&mut buf.freeze()), Ok(value));
        }
    }

    #[test]
    fn every_frame_reads_back_as_written() {
        let frames = [
            Frame::TransportParameters(Params {
                max_data: 1 << 26,
                max_stream_data_bidi_local: 1 << 24,
                max_stream_data_bidi_remote: 0,
                max_stream_data_uni: 1 << 24,
                max_streams_bidi: 100,
                max_streams_uni: 1000,
            }),
            Frame::Stream {
                id: 3,
                offset: 70_000,
                data: Bytes::from_static(b"group"),
                fin: true,
            },
            Frame::Stream {
                id: 0,
                offset: 0,
                data: Bytes::new(),
                fin: false,
            },
            Frame::ResetStream {
                id: 7,
                code: 2,
                final_size: 9,
            },
            Frame::StopSending { id: 11, code: 4 },
            Frame::MaxData(1 << 40),
            Frame::MaxStreamData { id: 0, max: 77 },
            Frame::MaxStreamsBidi(104),
            Frame::MaxStreamsUni(2_000),
            Frame::Close {
                application: true,
                code: 0,
                reason: "bye".into(),
            },
            Frame::Close {
                application: false,
                code: 0x0a,
                reason: "protocol".into(),
            },
        ];
        for frame in frames {
            assert_eq!(Frame::decode(frame.encode()), Ok(frame.clone()));
        }
    }

    #[test]
    fn the_relays_wire_bytes_decode() {
        // A STREAM frame as qmux writes it (OFF|LEN|FIN on stream 3), and a CONNECTION_CLOSE
        // with its frame-type field.
        let stream = Bytes::from_static(&[0x0f, 0x03, 0x00, 0x02, b'h', b'i']);
        assert_eq!(
            Frame::decode(stream),
            Ok(Frame::Stream {
                id: 3,
                offset: 0,
                data: Bytes::from_static(b"hi"),
                fin: true
            })
        );
        let close = Bytes::from_static(&[0x1c, 0x0a, 0x00, 0x01, b'x']);
        assert!(matches!(
            Frame::decode(close),
            Ok(Frame::Close {
                application: false,
                code: 0x0a,
                ..
            })
        ));
    }

    #[test]
    fn bad_messages_are_errors_not_panics() {
        for bytes in [
            &[][..],
            &[0x0e, 0x03, 0x05],       // a length longer than the message
            &[0x40],                   // a varint cut short
            &[0x21],                   // an unknown type
            &[0x10, 0x05, 0x00],       // trailing bytes
            &[0x3f, 0x51, 0x53, 0x30], // transport parameters cut short
        ] {
            assert!(
                Frame::decode(Bytes::copy_from_slice(bytes)).is_err(),
                "{bytes:?}"
            );
        }
    }
}
