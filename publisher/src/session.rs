//! Staying connected to the relay: dial, publish the origin while the session lasts, and redial
//! with backoff when the relay is unreachable or the session drops — saying so each time.

use std::sync::{Arc, Mutex};

use crate::backoff::Backoff;
use crate::status::State;

/// Keep `origin` published at `url` until the task is dropped. `state` tracks the connection
/// for the status line.
pub async fn stay_connected(
    url: url::Url,
    origin: moq_net::origin::Producer,
    state: Arc<Mutex<State>>,
) -> anyhow::Result<()> {
    let mut connect = moq_tokio::connect::Config::default();
    connect.url = Some(url.clone());
    let client = connect
        .init(moq_tokio::quic::Config::default())?
        .with_publisher(&origin)
        // We pace retries ourselves: forever, and visibly.
        .with_reconnect(false);
    let mut backoff = Backoff::default();
    loop {
        let failure = match client.connect(url.clone()).established().await {
            Ok(connection) => {
                backoff.succeeded();
                set(&state, State::Live);
                eprintln!("publisher: connected to {url}");
                match connection.closed().await {
                    Ok(()) => "the relay closed the session".to_string(),
                    Err(err) => format!("the session ended: {err}"),
                }
            }
            Err(err) => format!("relay unreachable at {url}: {err}"),
        };
        set(&state, State::Reconnecting);
        let (wait, attempt) = backoff.failed();
        eprintln!(
            "publisher: {failure}; retrying in {:.1} s (attempt {attempt})",
            wait.as_secs_f64()
        );
        tokio::time::sleep(wait).await;
    }
}

fn set(state: &Mutex<State>, value: State) {
    *state.lock().unwrap_or_else(|p| p.into_inner()) = value;
}
