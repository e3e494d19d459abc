//! What the publisher says about its connection to the relay, and why a session ended.
//!
//! Pure: [`Outcome`] classifies how an attempt ended from moq-tokio's error, and [`Log`] turns
//! outcomes into the lines to print — every one with the token hidden. A relay that refuses the
//! publisher (no token, or a token it does not accept) is said so once, plainly, and then retried
//! quietly until something changes: the operator may fix the token or the relay's rules.

use std::time::Duration;

use crate::status::State;
use crate::token::Relay;

/// How the relay refused the session: moq-tokio's auth classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No acceptable credentials (HTTP 401, or the MoQ session closed with UNAUTHORIZED,
    /// which is how moq-relay refuses both a missing grant and a bad token).
    Unauthorized,
    /// Credentials that do not grant this (HTTP 403).
    Forbidden,
}

/// How one attempt to stay published ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The dial failed: no relay there, a network problem, a bad certificate…
    Unreachable(String),
    /// The relay does not let this publisher publish.
    Refused(Refusal),
    /// The session failed after it was established.
    Ended(String),
    /// The relay closed the session cleanly.
    Closed,
}

impl Outcome {
    /// A failed dial.
    pub fn of_dial(err: &moq_tokio::Error) -> Self {
        refusal(err).map_or_else(|| Self::Unreachable(err.to_string()), Self::Refused)
    }

    /// How an established session ended.
    pub fn of_session(result: Result<(), moq_tokio::Error>) -> Self {
        match result {
            Ok(()) => Self::Closed,
            Err(err) => refusal(&err).map_or_else(|| Self::Ended(err.to_string()), Self::Refused),
        }
    }

    /// What the status line shows until the next attempt.
    pub fn state(&self) -> State {
        match self {
            Self::Refused(_) => State::Refused,
            _ => State::Reconnecting,
        }
    }
}

fn refusal(err: &moq_tokio::Error) -> Option<Refusal> {
    match err.connect_error()? {
        moq_tokio::ConnectError::Forbidden => Some(Refusal::Forbidden),
        _ => Some(Refusal::Unauthorized),
    }
}

/// The lines to print about the connection, for one relay.
#[derive(Debug)]
pub struct Log {
    relay: Relay,
    /// The refusal last reported, while the relay keeps refusing.
    refused: Option<Refusal>,
}

impl Log {
    pub fn new(relay: Relay) -> Self {
        Self {
            relay,
            refused: None,
        }
    }

    /// A session was accepted.
    pub fn accepted(&mut self) -> String {
        self.refused = None;
        format!("connected to {}", self.relay.shown())
    }

    /// An attempt ended with `outcome`; the next is attempt `attempt`, after `wait`. The line to
    /// print, if any: every failure is reported except a refusal repeating the one before.
    pub fn failed(&mut self, outcome: &Outcome, wait: Duration, attempt: u32) -> Option<String> {
        let retry = format!(
            "retrying in {:.1} s (attempt {attempt})",
            wait.as_secs_f64()
        );
        let line = match outcome {
            Outcome::Refused(refusal) => {
                if self.refused == Some(*refusal) {
                    return None;
                }
                self.refused = Some(*refusal);
                format!(
                    "{}; retrying quietly meanwhile",
                    self.refused_line(*refusal)
                )
            }
            Outcome::Unreachable(err) => {
                format!(
                    "relay unreachable at {}: {err}; {retry}",
                    self.relay.shown()
                )
            }
            Outcome::Ended(err) => format!("the session ended: {err}; {retry}"),
            Outcome::Closed => format!("the relay closed the session; {retry}"),
        };
        if !matches!(outcome, Outcome::Refused(_)) {
            self.refused = None;
        }
        Some(self.relay.redact(&line))
    }

    fn refused_line(&self, refusal: Refusal) -> String {
        let why = match refusal {
            Refusal::Unauthorized => "unauthorized",
            Refusal::Forbidden => "forbidden",
        };
        match &self.relay.token {
            None => format!(
                "relay refused this publisher ({why}): it needs a publish token — pass \
                 --token-file FILE or set {}",
                crate::token::ENV
            ),
            Some(token) => format!(
                "relay refused this publisher's token from {} ({why}): it is invalid or expired, or \
                 grants no publishing at {} (a watch token does not; a relay that takes anonymous \
                 publishers refuses every token)",
                token.source,
                self.relay.url.path()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{Source, Token};

    fn relay(url: &str, secret: Option<&str>) -> Relay {
        let token = secret.map(|secret| Token {
            secret: secret.into(),
            source: Source::Env,
        });
        Relay::new(url.parse().unwrap(), token).0
    }

    fn unauthorized() -> moq_tokio::Error {
        moq_tokio::Error::MoqNet(moq_net::Error::Session(moq_net::SessionError::Unauthorized))
    }

    const WAIT: Duration = Duration::from_millis(500);

    #[test]
    fn a_session_closed_as_unauthorized_or_an_auth_status_is_a_refusal() {
        // What moq-relay's refusal looks like to the client: the session it had just
        // established closes with the UNAUTHORIZED code.
        assert_eq!(
            Outcome::of_session(Err(unauthorized())),
            Outcome::Refused(Refusal::Unauthorized)
        );
        assert_eq!(
            Outcome::of_session(Err(moq_tokio::Error::MoqNet(moq_net::Error::Unauthorized))),
            Outcome::Refused(Refusal::Unauthorized)
        );
        // An HTTP 401/403 answer to the WebTransport CONNECT.
        assert_eq!(
            Outcome::of_dial(&moq_tokio::Error::Connect(
                moq_tokio::ConnectError::Forbidden
            )),
            Outcome::Refused(Refusal::Forbidden)
        );
        assert_eq!(
            Outcome::of_dial(&moq_tokio::Error::Connect(
                moq_tokio::ConnectError::Unauthorized
            )),
            Outcome::Refused(Refusal::Unauthorized)
        );
        assert_eq!(Outcome::of_session(Ok(())), Outcome::Closed);
        assert_eq!(
            Outcome::of_dial(&moq_tokio::Error::ConnectFailed),
            Outcome::Unreachable("failed to connect to server".into())
        );
        let dropped =
            moq_tokio::Error::MoqNet(moq_net::Error::Session(moq_net::SessionError::Internal));
        assert!(matches!(
            Outcome::of_session(Err(dropped)),
            Outcome::Ended(_)
        ));
        assert_eq!(
            Outcome::Refused(Refusal::Unauthorized).state(),
            State::Refused
        );
        assert_eq!(Outcome::Closed.state(), State::Reconnecting);
    }

    #[test]
    fn a_refusal_without_a_token_says_how_to_give_one_once_until_the_status_changes() {
        let mut log = Log::new(relay("https://relay.example.com/anon", None));
        let refused = Outcome::Refused(Refusal::Unauthorized);
        let line = log.failed(&refused, WAIT, 2).expect("reported");
        assert_eq!(
            line,
            "relay refused this publisher (unauthorized): it needs a publish token — pass \
             --token-file FILE or set PUBLISHER_TOKEN; retrying quietly meanwhile"
        );
        assert_eq!(log.failed(&refused, WAIT, 3), None, "not every retry");
        assert_eq!(log.failed(&refused, WAIT, 4), None);

        let unreachable = Outcome::Unreachable("timed out".into());
        assert!(log.failed(&unreachable, WAIT, 5).is_some());
        assert!(
            log.failed(&refused, WAIT, 6).is_some(),
            "refused again after a change"
        );
        assert_eq!(
            log.accepted(),
            "connected to https://relay.example.com/anon"
        );
        assert!(log.failed(&refused, WAIT, 2).is_some());
    }

    #[test]
    fn a_refused_token_is_named_by_its_source_and_never_shown() {
        let mut log = Log::new(relay("https://relay.example.com/anon", Some("s3cret")));
        let line = log
            .failed(&Outcome::Refused(Refusal::Forbidden), WAIT, 2)
            .expect("reported");
        assert!(
            line.starts_with(
                "relay refused this publisher's token from PUBLISHER_TOKEN (forbidden): it is \
                 invalid or expired, or grants no publishing at /anon"
            ),
            "{line}"
        );
        assert!(!line.contains("s3cret"), "{line}");
    }

    #[test]
    fn every_line_hides_the_token_even_in_errors_that_carry_the_url() {
        let mut log = Log::new(relay("http://desk.lan:4443/anon", Some("s3cret")));
        let err = "handshake to http://desk.lan:4443/anon?jwt=s3cret failed, token s3cret";
        let unreachable = log
            .failed(&Outcome::Unreachable(err.into()), WAIT, 2)
            .unwrap();
        assert_eq!(
            unreachable,
            "relay unreachable at http://desk.lan:4443/anon?jwt=…: handshake to \
             http://desk.lan:4443/anon?jwt=… failed, token …; retrying in 0.5 s (attempt 2)"
        );
        let ended = log.failed(&Outcome::Ended(err.into()), WAIT, 3).unwrap();
        assert!(!ended.contains("s3cret"), "{ended}");
        assert_eq!(
            log.accepted(),
            "connected to http://desk.lan:4443/anon?jwt=…"
        );
    }
}
