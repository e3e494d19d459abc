//! What a user sees when something is wrong: no ffmpeg, no relay, a relay URL that can never
//! work, a source that doesn't exist, no screen to capture.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn publisher() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_publisher"));
    command.stdin(Stdio::null());
    command
}

#[test]
fn missing_ffmpeg_says_how_to_get_it() {
    let out = publisher()
        .args([
            "--source",
            "test",
            "--ffmpeg",
            "/nonexistent/ffmpeg",
            "--url",
            "http://localhost:9/anon",
        ])
        .output()
        .expect("run publisher");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ffmpeg not found"), "{stderr}");
    assert!(
        stderr.contains("apt install ffmpeg") && stderr.contains("--ffmpeg PATH"),
        "{stderr}"
    );
}

#[test]
fn a_missing_audio_device_is_an_error_naming_it_with_the_reason_and_the_devices() {
    // Passes with a PulseAudio/PipeWire server (the device is not there) and without one (nothing
    // can be opened, nor listed).
    let out = publisher()
        .args([
            "--source",
            "test",
            "--audio-device",
            "does-not-exist",
            "--url",
            "http://127.0.0.1:9/anon",
        ])
        .output()
        .expect("run publisher");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let error = stderr
        .split("publisher: error: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        error.contains("cannot open the audio device \"does-not-exist\""),
        "{error}"
    );
    assert!(error.contains("ffmpeg stopped"), "ffmpeg's reason: {error}");
    assert!(
        error.contains("audio devices ffmpeg can see")
            || error.contains("audio devices could not be listed"),
        "the listing or why not: {error}"
    );
    assert!(error.contains("--no-audio"), "{error}");
}

#[test]
fn unknown_source_is_a_usage_error() {
    let out = publisher()
        .args(["--source", "webcam"])
        .output()
        .expect("run publisher");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid value 'webcam'"), "{stderr}");
    assert!(
        stderr.contains("test") && stderr.contains("screen"),
        "lists the choices: {stderr}"
    );
}

#[test]
fn a_relay_url_that_can_never_work_is_a_usage_error_at_once() {
    let started = Instant::now();
    let out = publisher()
        .args(["--source", "test", "--url", "ftp://nope"])
        .output()
        .expect("run publisher");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid value 'ftp://nope' for '--url")
            && stderr.contains("must be https://")
            && stderr.contains("not ftp://"),
        "{stderr}"
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30), "not retried");
}

#[test]
fn no_screen_to_capture_says_so_and_names_the_test_source() {
    // The default source is the screen; here there is no X11 session to capture.
    let out = publisher()
        .args(["--name", "desk", "--url", "http://127.0.0.1:9/anon"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run publisher");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let error: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("publisher: error: "))
        .collect();
    assert_eq!(error.len(), 1, "one error line: {stderr}");
    assert!(
        error[0].contains("no screen to capture") && error[0].contains("--source test"),
        "{stderr}"
    );
}

#[test]
fn unreachable_relay_is_retried_with_growing_backoff_and_reported() {
    // Nothing listens on this port: reserve it, then let it go.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/anon");
    let mut child = publisher()
        .args(["--url", &url, "--name", "nowhere", "--source", "test"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run publisher");
    let stderr = child.stderr.take().expect("stderr piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });

    let mut retries = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while retries.len() < 3 && Instant::now() < deadline {
        if let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(200))
            && line.contains("relay unreachable")
        {
            retries.push(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        retries.len(),
        3,
        "expected three reported retries, got {retries:?}"
    );
    // Each wait lies in the upper half of a base that doubles from 0.5 s (equal jitter; the
    // line rounds to 0.1 s).
    for (line, (base, attempt)) in retries.iter().zip([(0.5, 2), (1.0, 3), (2.0, 4)]) {
        let wait: f64 = line
            .split("retrying in ")
            .nth(1)
            .and_then(|rest| rest.split(" s (attempt ").next())
            .and_then(|wait| wait.parse().ok())
            .unwrap_or_else(|| panic!("no wait in {line:?}"));
        assert!(
            (base / 2.0 - 0.05..=base + 0.05).contains(&wait),
            "{line:?}: not within [{}, {base}] s",
            base / 2.0
        );
        assert!(line.contains(&format!("(attempt {attempt})")), "{line:?}");
    }
}
