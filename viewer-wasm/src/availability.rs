//! Whether this page can watch at all. Browsers offer WebCodecs (and WebTransport) only in a
//! secure context (a page opened over `https://`, or from `localhost`), and a browser without
//! WebCodecs cannot decode: say so in one sentence instead of failing on an undefined
//! constructor. A browser without WebTransport watches over a WebSocket
//! ([`crate::transport`]).

/// Why this page cannot watch, or `None` when it can.
pub fn unavailable(secure_context: bool, has_webcodecs: bool) -> Option<&'static str> {
    if !secure_context {
        Some(
            "This page is not a secure context (it was opened over plain http:// from another \
             machine), so the browser offers no WebCodecs to decode with: open it over \
             https://.",
        )
    } else if !has_webcodecs {
        Some(
            "This browser has no WebCodecs (VideoDecoder), which the viewer decodes with: open \
             the page in a recent Chrome, Edge, Firefox (130 or newer) or Safari (16.4 or \
             newer).",
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secure_page_with_webcodecs_can_watch() {
        assert_eq!(unavailable(true, true), None);
    }

    #[test]
    fn an_insecure_page_is_told_to_use_https() {
        // An insecure page has no WebCodecs either: the reason given is the page's.
        for has_webcodecs in [false, true] {
            let why = unavailable(false, has_webcodecs).expect("unavailable");
            assert!(why.contains("not a secure context"), "{why}");
            assert!(why.contains("https://"), "{why}");
        }
    }

    #[test]
    fn a_browser_without_webcodecs_is_named_as_the_cause_with_browsers_that_work() {
        let why = unavailable(true, false).expect("unavailable");
        assert!(why.contains("This browser has no WebCodecs"), "{why}");
        assert!(why.contains("Safari") && why.contains("Firefox"), "{why}");
    }
}
