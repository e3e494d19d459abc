//! The browser side of MoQ over a WebSocket: open one to the relay offering QMux subprotocols,
//! and carry its binary messages to and from the [`crate::qmux`] session, which does the rest.

use bytes::Bytes;
use futures::channel::oneshot;
use js_sys::{Array, ArrayBuffer, Uint8Array};
use url::Url;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use super::describe;
use crate::qmux;
use crate::qmux::handles::Session;
use crate::qmux::session::{Windows, Wire};

/// The socket and its handlers, for as long as the session runs: dropped, it closes the socket
/// and lets the handlers (which hold the session) go.
pub struct Socket {
    ws: WebSocket,
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        self.ws.set_onopen(None);
        let _ = self.ws.close();
    }
}

/// The session's messages out through the socket.
struct SocketWire(WebSocket);

impl Wire for SocketWire {
    fn send(&mut self, message: Bytes) {
        // A socket closing under us fails the send; its close event ends the session.
        let _ = self.0.send_with_u8_array(&message);
    }

    fn close(&mut self) {
        let _ = self.0.close();
    }
}

/// Open a WebSocket to `url` and a QMux session over it, once the relay has accepted one of
/// the subprotocols.
pub async fn connect(url: &Url) -> Result<(Session, Socket), String> {
    let failed = |why: String| format!("cannot open a WebSocket to {url}: {why}");
    let protocols: Array = qmux::SUBPROTOCOLS
        .iter()
        .map(|p| JsValue::from(*p))
        .collect();
    let ws = WebSocket::new_with_str_sequence(url.as_str(), &protocols)
        .map_err(|err| failed(describe(err)))?;
    ws.set_binary_type(BinaryType::Arraybuffer);

    let (opened, open) = oneshot::channel::<Result<(), String>>();
    let opened = std::rc::Rc::new(std::cell::RefCell::new(Some(opened)));
    let settle = move |result: Result<(), String>| {
        if let Some(opened) = opened.borrow_mut().take() {
            let _ = opened.send(result);
        }
    };
    let on_open = {
        let settle = settle.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_| settle(Ok(())))
    };
    let on_fail = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let why = match event.dyn_ref::<CloseEvent>() {
            Some(close) => format!("closed ({}) before it opened", close.code()),
            None => "refused (the relay may not serve WebSockets)".into(),
        };
        settle(Err(why));
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_fail.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_fail.as_ref().unchecked_ref()));
    let mut socket = Socket {
        ws: ws.clone(),
        _handlers: vec![on_open, on_fail],
    };
    open.await
        .map_err(|_| failed("abandoned".into()))?
        .map_err(failed)?;

    let chosen = ws.protocol();
    let protocol = qmux::application_protocol(&chosen)
        .ok_or_else(|| failed(format!("the relay chose the subprotocol {chosen:?}")))?;
    let session = Session::new(
        protocol,
        Box::new(SocketWire(ws.clone())),
        Windows::default(),
    );
    let on_message = {
        let session = session.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let Some(message) = event.dyn_ref::<MessageEvent>() else {
                return;
            };
            // Text messages carry nothing in QMux.
            if let Ok(buffer) = message.data().dyn_into::<ArrayBuffer>() {
                session.received(Bytes::from(Uint8Array::new(&buffer).to_vec()));
            }
        })
    };
    let on_close = {
        let session = session.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let why = match event.dyn_ref::<CloseEvent>() {
                Some(close) => format!("the WebSocket closed ({})", close.code()),
                None => "the WebSocket failed".into(),
            };
            session.transport_closed(&why);
        })
    };
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onopen(None);
    socket._handlers = vec![on_message, on_close];
    Ok((session, socket))
}
