//! The connection lifecycle, on the page and in the audio worker alike: dial the relay over
//! WebTransport (trusting a self-signed certificate by its published fingerprint), run the
//! moq-lite session (its version chosen by the WebTransport or WebSocket subprotocol) and
//! follow what it announces; when anything ends it, say why (without the
//! subscribe token) and redial with backoff.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;

use futures::FutureExt;
use futures::future::{Either, select};
use moq_net::{bandwidth, kio, origin, time};
use url::Url;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;
use web_transport_wasm::ClientBuilder;

use super::broadcast;
use super::describe;
use super::shared::Shared;
use super::websocket;
use crate::reconnect::Redial;
use crate::relay_url::{self, Dial};
use crate::state::Event;
use crate::transport::Transport;

/// What happens to a kept connection, for its owner to show.
pub enum Link {
    Dialling,
    Connected,
    /// The relay's estimate of what it can send this session, b/s (its congestion
    /// controller's, reported over moq-lite's PROBE stream), or `None` once it has none.
    Bandwidth(Option<u64>),
    /// The connection ended, and why (never naming the subscribe token).
    Lost(String),
}

/// Keep a viewer connected to `relay` (pinning its certificate with the hash served at
/// `fingerprint`, when given), running `follow` on each session's announcements, forever;
/// `on` hears how it goes. `now_ms` is the monotonic clock the redial backoff runs on.
pub async fn run<F, Following>(
    relay: String,
    fingerprint: Option<String>,
    transport: Transport,
    now_ms: impl Fn() -> f64,
    mut on: impl FnMut(Link),
    mut follow: F,
) where
    F: FnMut(origin::Consumer) -> Following,
    Following: Future<Output = Result<Infallible, String>>,
{
    let mut redial = Redial::default();
    loop {
        on(Link::Dialling);
        let mut heard = |link| {
            if let Link::Connected = link {
                redial.connected(now_ms());
            }
            on(link);
        };
        let Err(message) = session(
            &relay,
            fingerprint.as_deref(),
            transport,
            &mut follow,
            &mut heard,
        )
        .await;
        // The messages may name the session URL: never show its subscribe token.
        on(Link::Lost(token_redact::redact(
            &crate::error_text::plain(&message),
            None,
        )));
        // Without an entropy source every wait is half its base: still growing, just unspread.
        let random = getrandom::u64().unwrap_or_default();
        super::timer::sleep(redial.ended(now_ms(), random)).await;
    }
}

/// Keep the page's viewer connected and following its broadcast.
pub async fn run_viewer(shared: Rc<Shared>) {
    let relay = shared.source.relay.clone();
    let fingerprint = shared.source.fingerprint.clone();
    let transport = shared.source.transport;
    let name = shared.source.name.clone();
    let on = |link| match link {
        Link::Dialling => shared.on(Event::Dialling),
        Link::Connected => shared.on(Event::Connected),
        Link::Bandwidth(bps) => shared.video(|player, _| player.bandwidth(bps)),
        Link::Lost(why) => {
            shared.video(|player, _| player.bandwidth(None));
            shared.stop_video();
            shared.on(Event::Failed(why));
        }
    };
    let follow = |announcements| broadcast::follow(shared.clone(), announcements, name.clone());
    run(
        relay,
        fingerprint,
        transport,
        || shared.now_ms(),
        on,
        follow,
    )
    .await;
}

/// One connection, from dialling to the reason it ended.
async fn session<F, Following>(
    relay: &str,
    fingerprint: Option<&str>,
    transport: Transport,
    follow: &mut F,
    on: &mut impl FnMut(Link),
) -> Result<Infallible, String>
where
    F: FnMut(origin::Consumer) -> Following,
    Following: Future<Output = Result<Infallible, String>>,
{
    let dial = relay_url::dial(relay, fingerprint)?;
    match transport {
        Transport::WebTransport => {
            let session = connect(&dial).await?;
            let _close = CloseOnDrop(session.clone());
            speak(session, &dial.session, follow, on).await
        }
        Transport::WebSocket => {
            let url = relay_url::websocket(&dial);
            let (session, _socket) = websocket::connect(&url).await?;
            speak(session, &url, follow, on).await
        }
    }
}

/// Run moq-lite over `transport`, connected to `url`, following what it announces.
async fn speak<S, F, Following>(
    transport: S,
    url: &Url,
    follow: &mut F,
    on: &mut impl FnMut(Link),
) -> Result<Infallible, String>
where
    S: moq_net::transport::poll::Boxable + Clone + 'static,
    F: FnMut(origin::Consumer) -> Following,
    Following: Future<Output = Result<Infallible, String>>,
{
    let (origin, origin_driver) = origin::Producer::new(origin::Config::default());
    let announcements = origin.consume();
    let client = moq_net::Client::new().with_subscriber(origin);
    let now = time::Instant::now();
    let handshake = client.connect_lite(now, transport).await;
    let (session, driver) =
        handshake.map_err(|err| format!("MoQ handshake with {url} failed: {err}"))?;
    on(Link::Connected);

    let session_driver = pin!(time::run(driver));
    let origin_driver = pin!(time::run(origin_driver));
    let drivers = select(session_driver, origin_driver);
    let following = pin!(follow(announcements));
    let reporting = pin!(report_bandwidth(session.recv_bandwidth(), on));
    let following = select(following, reporting).map(|either| either.factor_first().0);
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

/// Tell `on` each change of the relay's bandwidth estimate, for as long as the session lasts
/// (a relay that sends none leaves it waiting).
async fn report_bandwidth(
    estimate: Option<bandwidth::Consumer>,
    on: &mut impl FnMut(Link),
) -> Result<Infallible, String> {
    if let Some(mut estimate) = estimate {
        while let Ok(rate) = kio::wait(|waiter| estimate.poll_changed(waiter)).await {
            on(Link::Bandwidth(rate.map(bandwidth::Rate::as_bps)));
        }
    }
    std::future::pending().await
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

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`: the page's or a worker's.
    #[wasm_bindgen(js_name = fetch)]
    fn fetch(url: &str) -> js_sys::Promise;
}

/// Fetch a self-signed relay certificate's fingerprint (hex SHA-256).
async fn fingerprint(url: &Url) -> Result<Vec<u8>, String> {
    let failed =
        |why: String| format!("cannot fetch the relay certificate fingerprint from {url}: {why}");
    let response = JsFuture::from(fetch(url.as_str()))
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
