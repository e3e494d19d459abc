//! Whether this page can dial a relay at all. Browsers offer WebTransport only in a secure
//! context (a page opened over `https://`, or from `localhost`), so a page opened over plain
//! `http://` from another machine has none: say so in one sentence instead of failing on an
//! undefined constructor.

/// Why WebTransport cannot be used here, or `None` when it can.
pub fn webtransport_unavailable(
    secure_context: bool,
    has_webtransport: bool,
) -> Option<&'static str> {
    if !secure_context {
        Some(
            "This page is not a secure context (it was opened over plain http:// from another \
             machine), so the browser offers no WebTransport: open it over https://.",
        )
    } else if !has_webtransport {
        Some(
            "This browser has no WebTransport: open the page in a recent Chrome, Edge or \
             Firefox.",
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secure_page_with_webtransport_can_dial() {
        assert_eq!(webtransport_unavailable(true, true), None);
    }

    #[test]
    fn an_insecure_page_is_told_to_use_https() {
        // An insecure page has no WebTransport either: the reason given is the page's.
        for has_webtransport in [false, true] {
            let why = webtransport_unavailable(false, has_webtransport).expect("unavailable");
            assert!(why.contains("not a secure context"), "{why}");
            assert!(why.contains("https://"), "{why}");
        }
    }

    #[test]
    fn a_browser_without_webtransport_is_named_as_the_cause() {
        let why = webtransport_unavailable(true, false).expect("unavailable");
        assert!(why.contains("This browser has no WebTransport"), "{why}");
    }
}
