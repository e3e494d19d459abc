//! A minimal HTTP/1.1 client over plain TCP, for the local endpoints the harness talks to:
//! Chromium's DevTools listing, WebKit's WebDriver, the relay's page server and its
//! token-checked routes.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::Context;

/// A response's status and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// `GET path` from `host:port` (every address `host` resolves to is tried in turn).
pub fn get(host: &str, port: u16, path: &str) -> anyhow::Result<Response> {
    request("GET", host, port, path, None, Duration::from_secs(5))
}

/// `method path` on `host:port` with a JSON `body`, if any, waiting up to `timeout` for the
/// answer.
pub fn request(
    method: &str,
    host: &str,
    port: u16,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<Response> {
    let mut stream =
        TcpStream::connect((host, port)).with_context(|| format!("connecting to {host}:{port}"))?;
    stream.set_read_timeout(Some(timeout))?;
    // HTTP/1.1: Chromium's DevTools endpoint answers nothing to HTTP/1.0.
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
    )?;
    match body {
        Some(body) => write!(
            stream,
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?,
        None => write!(stream, "\r\n")?,
    }
    read_response(BufReader::new(stream)).with_context(|| format!("{method} {host}:{port}{path}"))
}

/// A response: the status line, headers, and a body of `Content-Length` bytes (or, without
/// one, everything up to the end of the connection).
fn read_response(mut reader: impl BufRead) -> anyhow::Result<Response> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP status line: {line:?}"))?;
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = Some(value.trim().parse()?);
        }
    }
    let mut body = Vec::new();
    match length {
        Some(length) => {
            body.resize(length, 0);
            reader.read_exact(&mut body)?;
        }
        None => {
            reader.read_to_end(&mut body)?;
        }
    }
    Ok(Response {
        status,
        body: String::from_utf8(body)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_and_a_body_of_the_declared_length() {
        let raw =
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        assert_eq!(
            read_response(raw.as_bytes()).unwrap(),
            Response {
                status: 200,
                body: "hello".into()
            }
        );
    }

    #[test]
    fn without_a_length_the_body_runs_to_the_end() {
        let raw = "HTTP/1.1 401 Unauthorized\r\n\r\nno token";
        assert_eq!(
            read_response(raw.as_bytes()).unwrap(),
            Response {
                status: 401,
                body: "no token".into()
            }
        );
    }

    #[test]
    fn anything_else_is_an_error() {
        assert!(read_response("SSH-2.0-OpenSSH\r\n".as_bytes()).is_err());
        assert!(
            read_response("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort".as_bytes()).is_err()
        );
    }
}
