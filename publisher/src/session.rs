//! Staying connected to the relay: dial, publish the origin while the session lasts, and redial
//! with backoff (see [`crate::backoff`]) when the relay is unreachable, refuses the publisher or
//! the session drops — saying so (see [`crate::relay_log`]), with the token never shown.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::relay_log::{Log, Outcome};
use crate::status::State;
use crate::token::Relay;

/// How long a session must last to count as accepted. moq-relay refuses a publisher by closing
/// the session it has just established, moments after the handshake; until then the publisher
/// says nothing about being connected. (The backoff starts over only after a longer time up.)
const SETTLE: Duration = Duration::from_secs(2);

/// Keep `origin` published at `relay` until the task is dropped. `state` tracks the connection
/// for the status line.
pub async fn stay_connected(
    relay: Relay,
    origin: moq_net::origin::Producer,
    state: Arc<Mutex<State>>,
) -> anyhow::Result<()> {
    let mut connect = moq_tokio::connect::Config::default();
    connect.url = Some(relay.url.clone());
    let client = connect
        .init(moq_tokio::quic::Config::default())?
        .with_publisher(&origin)
        // We pace retries ourselves: forever, and visibly.
        .with_reconnect(false);
    let url = relay.url.clone();
    let mut log = Log::new(relay);
    let mut backoff = Backoff::default();
    loop {
        let (outcome, up) = match client.connect(url.clone()).established().await {
            Ok(connection) => {
                let established = Instant::now();
                let closed = match tokio::time::timeout(SETTLE, connection.closed()).await {
                    Ok(early) => early,
                    Err(_settled) => {
                        set(&state, State::Live);
                        eprintln!("publisher: {}", log.accepted());
                        connection.closed().await
                    }
                };
                (Outcome::of_session(closed), established.elapsed())
            }
            Err(err) => (Outcome::of_dial(&err), Duration::ZERO),
        };
        // A refused session was never really up, however long the relay took to say so.
        let up = if matches!(outcome, Outcome::Refused(_)) {
            Duration::ZERO
        } else {
            up
        };
        set(&state, outcome.state());
        let (wait, attempt) = backoff.ended(up);
        if let Some(line) = log.failed(&outcome, wait, attempt) {
            eprintln!("publisher: {line}");
        }
        tokio::time::sleep(wait).await;
    }
}

fn set(state: &Mutex<State>, value: State) {
    *state.lock().unwrap_or_else(|p| p.into_inner()) = value;
}
