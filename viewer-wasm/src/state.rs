//! The viewer's lifecycle as the page shows it: connecting → waiting for broadcast → live →
//! offline (and back), plus error. Driven by events from the connection and playback tasks.

/// What the viewer is doing, as `stats().state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Dialling the relay (first time or after a failure).
    Connecting,
    /// Connected; the broadcast has not been announced yet.
    WaitingForBroadcast,
    /// Subscribed to a decodable rendition of the broadcast.
    Live,
    /// The broadcast was here and has gone (waiting for it to return), or the viewer was closed.
    Offline,
    /// Something failed; [`Status::error`] says what.
    Error,
}

impl State {
    /// The spelling the JS API promises.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::WaitingForBroadcast => "waiting for broadcast",
            State::Live => "live",
            State::Offline => "offline",
            State::Error => "error",
        }
    }
}

/// Something that happened to the connection or the broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A connection attempt starts.
    Dialling,
    /// The MoQ session is up.
    Connected,
    /// A rendition was chosen and its track subscribed.
    Playing,
    /// The broadcast was unannounced or its tracks ended.
    Gone,
    /// A failure worth showing: connection lost, catalog undecodable, …
    Failed(String),
    /// The viewer was closed: nothing is watched any more.
    Closed,
}

/// The current state and the last error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    state: State,
    error: Option<String>,
}

impl Default for Status {
    fn default() -> Self {
        Self {
            state: State::Connecting,
            error: None,
        }
    }
}

impl Status {
    pub fn state(&self) -> State {
        self.state
    }

    /// The last failure, kept while reconnecting so the page can say why; cleared by success.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    pub fn on(&mut self, event: Event) {
        self.state = match (self.state, event) {
            (_, Event::Closed) => {
                self.error = None;
                State::Offline
            }
            (_, Event::Dialling) => State::Connecting,
            (_, Event::Failed(message)) => {
                self.error = Some(message);
                State::Error
            }
            // Events of a session that is already gone change nothing.
            (State::Connecting, Event::Playing | Event::Gone) => State::Connecting,
            (_, Event::Connected) => {
                self.error = None;
                State::WaitingForBroadcast
            }
            (_, Event::Playing) => {
                self.error = None;
                State::Live
            }
            // Nothing had arrived yet, so nothing went away.
            (State::WaitingForBroadcast, Event::Gone) => State::WaitingForBroadcast,
            (_, Event::Gone) => {
                self.error = None;
                State::Offline
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(events: impl IntoIterator<Item = Event>) -> Status {
        let mut status = Status::default();
        for event in events {
            status.on(event);
        }
        status
    }

    #[test]
    fn a_normal_session() {
        let mut status = Status::default();
        assert_eq!(status.state().as_str(), "connecting");
        status.on(Event::Connected);
        assert_eq!(status.state().as_str(), "waiting for broadcast");
        status.on(Event::Playing);
        assert_eq!(status.state().as_str(), "live");
        status.on(Event::Gone);
        assert_eq!(status.state().as_str(), "offline");
        status.on(Event::Playing);
        assert_eq!(status.state(), State::Live);
        assert_eq!(status.error(), None);
    }

    #[test]
    fn a_failed_connection_keeps_its_reason_while_redialling() {
        let status = after([
            Event::Failed("connection failed: refused".into()),
            Event::Dialling,
        ]);
        assert_eq!(status.state(), State::Connecting);
        assert_eq!(status.error(), Some("connection failed: refused"));

        let status = after([
            Event::Failed("connection failed: refused".into()),
            Event::Dialling,
            Event::Connected,
        ]);
        assert_eq!(status.state(), State::WaitingForBroadcast);
        assert_eq!(status.error(), None);
    }

    #[test]
    fn an_undecodable_catalog_is_an_error_until_the_broadcast_changes() {
        let status = after([
            Event::Connected,
            Event::Failed("undecodable catalog: hevc".into()),
        ]);
        assert_eq!(status.state().as_str(), "error");
        assert_eq!(status.error(), Some("undecodable catalog: hevc"));

        let status = after([
            Event::Connected,
            Event::Failed("undecodable catalog: hevc".into()),
            Event::Gone,
        ]);
        assert_eq!(status.state(), State::Offline);
        assert_eq!(status.error(), None);
    }

    #[test]
    fn a_closed_viewer_is_offline_whatever_it_was_doing() {
        assert_eq!(after([Event::Closed]).state(), State::Offline);
        let status = after([
            Event::Connected,
            Event::Failed("boom".into()),
            Event::Closed,
        ]);
        assert_eq!((status.state(), status.error()), (State::Offline, None));
    }

    #[test]
    fn stale_events_do_not_skip_states() {
        assert_eq!(after([Event::Gone]).state(), State::Connecting);
        assert_eq!(after([Event::Playing]).state(), State::Connecting);
        assert_eq!(
            after([Event::Connected, Event::Gone]).state(),
            State::WaitingForBroadcast
        );
    }
}
