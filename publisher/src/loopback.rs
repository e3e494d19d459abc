//! The way out of ffmpeg for each rendition beyond the main one: a loopback TCP socket the
//! publisher listens on and ffmpeg connects to as another output (`-f flv tcp://127.0.0.1:PORT`). Unlike an extra pipe
//! or an inherited descriptor this works the same on Linux, macOS and Windows.
//!
//! Latency: the FLV muxer's `-flush_packets 1` hands each tag to the socket as it is written, and
//! `tcp_nodelay=1` keeps Nagle's algorithm (and its wait for the peer's delayed ACK, up to 40 ms)
//! from holding the small ones back.

use std::io::{self, Read};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

/// A listening socket that becomes the stream of the first connection to it, on first read.
pub struct Loopback {
    listener: TcpListener,
    stream: Option<TcpStream>,
}

impl Loopback {
    /// Listen on a free loopback port.
    pub fn bind() -> io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?,
            stream: None,
        })
    }

    /// Ends a wait for ffmpeg to connect (one that died first never will): a connection that
    /// closes at once reads as the end of the stream.
    pub fn waker(&self) -> io::Result<impl FnOnce() + use<>> {
        let addr = self.listener.local_addr()?;
        Ok(move || {
            let _ = TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200));
        })
    }

    /// The URL ffmpeg writes to.
    pub fn url(&self) -> io::Result<String> {
        let port = self.listener.local_addr()?.port();
        Ok(format!("tcp://127.0.0.1:{port}?tcp_nodelay=1"))
    }
}

impl Read for Loopback {
    /// Waits for ffmpeg to connect on the first call (it does so as it starts).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => self.stream.insert(self.listener.accept()?.0),
        };
        stream.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_what_the_first_connection_writes() {
        let mut loopback = Loopback::bind().unwrap();
        let url = loopback.url().unwrap();
        let addr = url
            .strip_prefix("tcp://")
            .and_then(|rest| rest.strip_suffix("?tcp_nodelay=1"))
            .expect(&url)
            .to_string();
        let writer = std::thread::spawn(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(b"FLV").unwrap();
        });
        let mut got = Vec::new();
        loopback.read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        assert_eq!(got, b"FLV");
    }
}
