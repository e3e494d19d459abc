//! Which transport the viewer dials the relay over: WebTransport where the browser has it and
//! it negotiates moq-lite's version, else MoQ over a WebSocket ([`crate::qmux`]: Safari,
//! WebKit, Firefox before 155); `?transport=wt|ws` on the page forces one.

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

/// What this browser offers to reach a relay with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offered {
    pub webtransport: bool,
    /// Whether its WebTransport negotiates a protocol (the `protocols` option and the
    /// `protocol` attribute), which moq-lite's version is chosen by. Firefox before 155 has
    /// none: agreeing the version in-band instead would take moq-net's IETF code into the
    /// viewer (283 KB more gzipped, for every browser).
    pub webtransport_protocols: bool,
}

/// The transport to use: `forced` is the page's `transport` option (`wt` or `ws`), if any.
pub fn choose(forced: Option<&str>, offered: Offered) -> Result<Transport, String> {
    let webtransport = offered.webtransport && offered.webtransport_protocols;
    match forced {
        None | Some("") => Ok(match webtransport {
            true => Transport::WebTransport,
            false => Transport::WebSocket,
        }),
        Some("wt" | "webtransport") if webtransport => Ok(Transport::WebTransport),
        Some("wt" | "webtransport") if offered.webtransport => Err(
            "transport=wt was asked for, but this browser's WebTransport negotiates no protocol \
             (Firefox before 155), which moq-lite needs: it watches over the WebSocket by \
             default"
                .into(),
        ),
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

    const CHROMIUM: Offered = Offered {
        webtransport: true,
        webtransport_protocols: true,
    };
    const FIREFOX_153: Offered = Offered {
        webtransport: true,
        webtransport_protocols: false,
    };
    const SAFARI: Offered = Offered {
        webtransport: false,
        webtransport_protocols: false,
    };

    #[test]
    fn webtransport_where_it_negotiates_moq_lite_else_a_websocket() {
        assert_eq!(choose(None, CHROMIUM), Ok(Transport::WebTransport));
        assert_eq!(choose(None, FIREFOX_153), Ok(Transport::WebSocket));
        assert_eq!(choose(None, SAFARI), Ok(Transport::WebSocket));
        assert_eq!(choose(Some("ws"), CHROMIUM), Ok(Transport::WebSocket));
        assert_eq!(choose(Some("wt"), CHROMIUM), Ok(Transport::WebTransport));
    }

    #[test]
    fn what_cannot_be_had_says_why() {
        assert!(
            choose(Some("wt"), SAFARI)
                .unwrap_err()
                .contains("no WebTransport")
        );
        let firefox = choose(Some("wt"), FIREFOX_153).unwrap_err();
        assert!(firefox.contains("negotiates no protocol"), "{firefox}");
        assert!(
            choose(Some("carrier-pigeon"), CHROMIUM)
                .unwrap_err()
                .contains("wt")
        );
    }
}
