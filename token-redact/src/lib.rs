//! Keeping relay tokens out of what people see. A relay reads its token from the URL's `jwt`
//! query parameter, so any text that may hold a relay URL — status lines, connection errors,
//! the viewer's messages — goes through [`redact`] before it is shown. The publisher and the
//! viewer share this one definition.

/// `text` with every `jwt=` value shown as `jwt=…`, and every other occurrence of `secret`
/// (the token itself, wherever an error may have copied it) as `…`.
pub fn redact(text: &str, secret: Option<&str>) -> String {
    const KEY: &str = "jwt=";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_ignoring_ascii_case(rest, KEY) {
        let value_start = at + KEY.len();
        out.push_str(&rest[..value_start]);
        let value = &rest[value_start..];
        let end = value
            .find(|c: char| !is_token_char(c))
            .unwrap_or(value.len());
        if end > 0 {
            out.push('…');
        }
        rest = &value[end..];
    }
    out.push_str(rest);
    match secret.filter(|secret| !secret.is_empty()) {
        Some(secret) => out.replace(secret, "…"),
        None => out,
    }
}

/// What a token (base64url JWT segments, or any URL-encoded value) is made of.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.~%+/=".contains(c)
}

fn find_ignoring_ascii_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jwt_parameter_of_a_url_is_hidden_and_the_rest_kept() {
        assert_eq!(
            redact(
                "https://relay.example.com/anon?jwt=eyJhbGc.eyJzdWI.sig",
                None
            ),
            "https://relay.example.com/anon?jwt=…"
        );
        assert_eq!(
            redact("http://h:4443/anon?a=1&JWT=abc%2Fdef&b=2#frag", None),
            "http://h:4443/anon?a=1&JWT=…&b=2#frag"
        );
        assert_eq!(
            redact(
                "relay unreachable at http://h/x?jwt=t1: timed out; again jwt=t2",
                None
            ),
            "relay unreachable at http://h/x?jwt=…: timed out; again jwt=…"
        );
    }

    #[test]
    fn the_token_itself_is_hidden_wherever_it_appears() {
        assert_eq!(
            redact("bad token \"s3cr3t.t0ken\" for /anon", Some("s3cr3t.t0ken")),
            "bad token \"…\" for /anon"
        );
    }

    #[test]
    fn text_without_a_token_is_unchanged() {
        for text in [
            "http://localhost:4443/anon",
            "an empty jwt= stays empty",
            "",
            "ünïcode jwt",
        ] {
            assert_eq!(redact(text, None), text);
            assert_eq!(redact(text, Some("")), text);
        }
    }

    #[test]
    fn percent_encoded_tokens_and_fragments() {
        assert_eq!(
            redact(
                r#"bad relay URL "https://x/?a=1&jwt=t%2Bk&b=2#f": oops"#,
                None
            ),
            r#"bad relay URL "https://x/?a=1&jwt=…&b=2#f": oops"#
        );
        assert_eq!(redact("empty jwt=&x", None), "empty jwt=&x");
        assert_eq!(redact("ends with jwt=", None), "ends with jwt=");
    }
}
