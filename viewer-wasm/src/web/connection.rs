//! The connection lifecycle: dial the relay over WebTransport (trusting a self-signed
//! certificate by its published fingerprint), run the moq-lite session and follow the broadcast
//! on it; when anything ends it, say why (without the subscribe token) and redial with backoff.

use std::convert::Infallible;
use std::pin::pin;
use std::rc::Rc;

use futures::future::{Either, select};
use moq_net::{origin, time};
use url::Url;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;
use web_transport_wasm::ClientBuilder;

use super::broadcast;
use super::describe;
use super::shared::Shared;
use crate::reconnect::Redial;
use crate::relay_url::{self, Dial};
use crate::state::Event;

/// Keep a viewer connected to `relay` (pinning its certificate with the hash served at
/// `fingerprint`, when given) and following the broadcast `name`, forever.
pub async fn run(shared: Rc<Shared>, relay: String, fingerprint: Option<String>, name: String) {
    let mut redial = Redial::default();
    loop {
        shared.on(Event::Dialling);
        let Err(message) =
            session(&shared, &relay, fingerprint.as_deref(), &name, &mut redial).await;
        shared.stop_video();
        // The messages may name the session URL: never show its subscribe token.
        shared.on(Event::Failed(token_redact::redact(
            &crate::error_text::plain(&message),
            None,
        )));
        // Without an entropy source every wait is half its base: still growing, just unspread.
        let random = getrandom::u64().unwrap_or_default();
        super::timer::sleep(redial.ended(shared.now_ms(), random)).await;
    }
}

/// One connection, from dialling to the reason it ended.
async fn session(
    shared: &Rc<Shared>,
    relay: &str,
    fingerprint: Option<&str>,
    name: &str,
    redial: &mut Redial,
) -> Result<Infallible, String> {
    let dial = relay_url::dial(relay, fingerprint)?;
    let transport = connect(&dial).await?;
    let _close = CloseOnDrop(transport.clone());

    let (origin, origin_driver) = origin::Producer::new(origin::Config::default());
    let announcements = origin.consume();
    let (_session, driver) = moq_net::Client::new()
        .with_subscriber(origin)
        .connect_lite(time::Instant::now(), transport)
        .await
        .map_err(|err| format!("MoQ handshake with {} failed: {err}", dial.session))?;
    redial.connected(shared.now_ms());
    shared.on(Event::Connected);

    let session_driver = pin!(time::run(driver));
    let origin_driver = pin!(time::run(origin_driver));
    let drivers = select(session_driver, origin_driver);
    let following = pin!(broadcast::follow(
        shared.clone(),
        announcements,
        name.to_owned()
    ));
    Err(match select(following, drivers).await {
        Either::Left((Err(message), _)) => message,
        Either::Left((Ok(never), _)) => match never {},
        Either::Right((Either::Left((err, _)), _)) => {
            format!("connection to the relay lost: {err}")
        }
        Either::Right((Either::Right((err, _)), _)) => {
            format!("subscription origin stopped: {err}")
        }
    })
}

/// Open the WebTransport session, offering only moq-lite (the viewer speaks nothing else).
async fn connect(dial: &Dial) -> Result<web_transport_wasm::Session, String> {
    let protocols = moq_net::ALPNS
        .iter()
        .filter(|alpn| alpn.starts_with("moq-lite-"));
    let builder = ClientBuilder::new().with_protocols(protocols);
    let client = match &dial.fingerprint {
        Some(url) => builder.with_server_certificate_hashes(vec![fingerprint(url).await?]),
        None => builder.with_system_roots(),
    };
    client
        .connect(dial.session.clone())
        .await
        .map_err(|err| format!("cannot connect to {}: {err}", dial.session))
}

/// Fetch a self-signed relay certificate's fingerprint (hex SHA-256).
async fn fingerprint(url: &Url) -> Result<Vec<u8>, String> {
    let failed =
        |why: String| format!("cannot fetch the relay certificate fingerprint from {url}: {why}");
    let window = web_sys::window().ok_or_else(|| failed("no window".into()))?;
    let response = JsFuture::from(window.fetch_with_str(url.as_str()))
        .await
        .map_err(|err| failed(describe(err)))?;
    let response: Response = response
        .dyn_into()
        .map_err(|_| failed("not a response".into()))?;
    if !response.ok() {
        return Err(failed(format!("HTTP {}", response.status())));
    }
    let text = response.text().map_err(|err| failed(describe(err)))?;
    let text = JsFuture::from(text)
        .await
        .map_err(|err| failed(describe(err)))?;
    let hash = text.as_string().and_then(|text| crate::hex::decode(&text));
    match hash {
        Some(hash) if hash.len() == 32 => Ok(hash),
        _ => Err(failed("not a hex SHA-256".into())),
    }
}

/// Closes the WebTransport session when the connection is abandoned, however that happens
/// (failure, or the viewer closing mid-await).
struct CloseOnDrop(web_transport_wasm::Session);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close(0, "viewer closed");
    }
}
