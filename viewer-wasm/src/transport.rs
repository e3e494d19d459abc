//! Which transport the viewer dials the relay over: WebTransport where the browser has it,
//! else MoQ over a WebSocket ([`crate::qmux`]: Safari, WebKit); `?transport=wt|ws` on the page
//! forces one.

/// How the viewer reaches the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    WebTransport,
    WebSocket,
}

impl Transport {
    /// What `stats().transport` says.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebTransport => "webtransport",
            Self::WebSocket => "websocket",
        }
    }
}

/// The transport to use: `forced` is the page's `transport` option (`wt` or `ws`), if any.
pub fn choose(forced: Option<&str>, has_webtransport: bool) -> Result<Transport, String> {
    match forced {
        None | Some("") => Ok(match has_webtransport {
            true => Transport::WebTransport,
            false => Transport::WebSocket,
        }),
        Some("wt" | "webtransport") if has_webtransport => Ok(Transport::WebTransport),
        Some("wt" | "webtransport") => Err(
            "transport=wt was asked for, but this browser has no WebTransport (transport=ws \
             works everywhere)"
                .into(),
        ),
        Some("ws" | "websocket") => Ok(Transport::WebSocket),
        Some(other) => Err(format!(
            "unknown transport {other:?}: wt (WebTransport) or ws (WebSocket)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webtransport_where_there_is_one_else_a_websocket() {
        assert_eq!(choose(None, true), Ok(Transport::WebTransport));
        assert_eq!(choose(None, false), Ok(Transport::WebSocket));
        assert_eq!(choose(Some("ws"), true), Ok(Transport::WebSocket));
        assert_eq!(choose(Some("wt"), true), Ok(Transport::WebTransport));
    }

    #[test]
    fn what_cannot_be_had_says_why() {
        assert!(
            choose(Some("wt"), false)
                .unwrap_err()
                .contains("no WebTransport")
        );
        assert!(
            choose(Some("carrier-pigeon"), true)
                .unwrap_err()
                .contains("wt")
        );
    }
}
