//! Errors as a person reads them: the browser's exceptions reach the viewer wrapped by the
//! transport crates as `JsValue(SomeError: message\n    at …stack…)`; [`plain`] keeps the
//! message and drops the wrapping and the stack.

/// `text` with every `JsValue(…)` replaced by the exception's first line, minus its type name,
/// and without the "unknown error: " that wraps it.
pub fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("JsValue(") {
        out.push_str(rest[..start].trim_end_matches("unknown error: "));
        let inner = &rest[start + "JsValue(".len()..];
        let end = matching_paren(inner).unwrap_or(inner.len());
        let first_line = inner[..end].lines().next().unwrap_or("").trim();
        out.push_str(without_type_name(first_line));
        rest = inner.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// The index of the `)` closing a parenthesis opened just before `text`.
fn matching_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some(index),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// "WebTransportError: Connection lost." → "Connection lost."
fn without_type_name(line: &str) -> &str {
    match line.split_once(": ") {
        Some((name, message))
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            message
        }
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_exception_reads_as_its_message() {
        let raw = "connection to the relay lost: transport: unknown error: \
                   JsValue(WebTransportError: Connection lost.\n\
                   WebTransportError: Connection lost.\n    at https://x/pkg/viewer.js:1:2)";
        assert_eq!(
            plain(raw),
            "connection to the relay lost: transport: Connection lost."
        );
    }

    #[test]
    fn text_without_wrapping_is_unchanged_and_odd_input_does_not_panic() {
        assert_eq!(plain("cannot connect: refused"), "cannot connect: refused");
        assert_eq!(plain("JsValue(unterminated"), "unterminated");
        assert_eq!(plain("a JsValue(f(x) failed) b"), "a f(x) failed b");
        assert_eq!(plain("JsValue()"), "");
    }
}
