//! Interoperability checks for the DOM-style client against another
//! implementation's echo server (run by `scripts/interop.sh`).
//!
//! ```text
//! cargo run --release --example interop_client -- [--server-close] URL [PROTOCOLS...]
//! ```
//!
//! Offers PROTOCOLS (default `chat.v2 chat.v1`) and expects the server to
//! pick the first; sends text and binary messages of sizes around the frame
//! length boundaries up to 1 MiB and expects each echoed intact; closes with
//! 4000 "bye ✓" and expects the server's close to echo code and reason, with
//! a clean close. With `--server-close`, a second connection sends
//! "please close" and expects the server to close with 4001 "server bye ✓".
//!
//! Prints one `PASS check` / `FAIL check: detail` line per check; exits 1 if
//! any failed (2 on a usage error or when it gives up waiting).

use rfc6455::websocket::{Event, MessageData};
use rfc6455::{CloseEvent, WebSocket};
use std::time::Duration;

const SIZES: [usize; 9] = [0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20];
const MULTIBYTE: &str = "κόσμε 🎉 \u{10ffff}";
/// The unit `text(n)` repeats (the same recipe as scripts/interop/checks.js).
const UNIT: &str = "κόσμε 🎉 \u{10ffff} ";
const CLIENT_CLOSE: (u16, &str) = (4000, "bye ✓");
const SERVER_CLOSE_REQUEST: &str = "please close";
const SERVER_CLOSE: (u16, &str) = (4001, "server bye ✓");
/// The whole run gives up after this long.
const DEADLINE: Duration = Duration::from_secs(120);

/// Exactly `n` UTF-8 bytes, mostly multibyte characters, padded with ASCII.
fn text(n: usize) -> String {
    let mut s = UNIT.repeat(n / UNIT.len());
    s.push_str(&"x".repeat(n - s.len()));
    s
}

/// `n` bytes: byte i = (i * 31 + (i >> 8) + 7) mod 256.
fn binary(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i.wrapping_mul(31) + (i >> 8) + 7) as u8).collect()
}

fn describe_text(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{} UTF-8 bytes", s.len())
    } else {
        format!("{s:?}")
    }
}

fn describe(event: &Event) -> String {
    match event {
        Event::Open => "open".into(),
        Event::Message(m) => match &m.data {
            MessageData::Text(t) => format!("text {}", describe_text(t)),
            data => format!("binary {} bytes", data.as_binary().map_or(0, <[u8]>::len)),
        },
        Event::Error(e) => format!("error ({})", e.error),
        Event::Close(c) => describe_close(c),
    }
}

fn describe_close(c: &CloseEvent) -> String {
    format!("close {} {:?} wasClean={}", c.code, c.reason, c.was_clean)
}

fn first_diff(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

struct Report {
    failed: bool,
}

impl Report {
    fn check(&mut self, name: &str, ok: bool, detail: impl AsRef<str>) {
        self.failed |= !ok;
        let detail = detail.as_ref();
        let sep = if detail.is_empty() { "" } else { ": " };
        println!("{} {name}{sep}{detail}", if ok { "PASS" } else { "FAIL" });
    }
}

/// Connects and waits for the open event; `Err` describes what came instead.
fn open(url: &str, protocols: &[&str]) -> Result<WebSocket, String> {
    let mut ws = WebSocket::connect(url, protocols).map_err(|e| format!("connect: {e}"))?;
    let mut error = String::new();
    loop {
        match ws.next_event() {
            Some(Event::Open) => return Ok(ws),
            Some(Event::Error(e)) => error = format!(" after error ({})", e.error),
            Some(other) => return Err(format!("expected open, got {}{error}", describe(&other))),
            None => return Err(format!("no open event{error}")),
        }
    }
}

/// Waits for the close event; checks its code, reason and cleanliness.
fn expect_close(ws: &mut WebSocket, want: (u16, &str)) -> (bool, String) {
    let wanted = format!("want close {} {:?} wasClean=true", want.0, want.1);
    let mut error = String::new();
    loop {
        match ws.next_event() {
            Some(Event::Close(c)) => {
                let ok = c.code == want.0 && c.reason == want.1 && c.was_clean;
                return (ok, format!("got {}{error}, {wanted}", describe_close(&c)));
            }
            Some(Event::Error(e)) => error = format!(" after error ({})", e.error),
            Some(other) => return (false, format!("expected close, got {}, {wanted}", describe(&other))),
            None => return (false, format!("no close event{error}, {wanted}")),
        }
    }
}

fn echo_checks(report: &mut Report, url: &str, protocols: &[&str]) {
    let mut ws = match open(url, protocols) {
        Ok(ws) => ws,
        Err(e) => return report.check("connect", false, e),
    };
    let want = protocols.first().copied().unwrap_or("");
    report.check(
        "subprotocol",
        ws.protocol() == want,
        format!("got {:?}, want {want:?}", ws.protocol()),
    );
    // RFC 7692: every message below then travels compressed both ways.
    report.check(
        "deflate",
        ws.extensions().starts_with("permessage-deflate"),
        format!("extensions {:?}", ws.extensions()),
    );

    let mut cases: Vec<(String, MessageData)> = Vec::new();
    cases.extend(SIZES.iter().map(|&n| (format!("text.{n}"), MessageData::Text(text(n)))));
    cases.extend(
        SIZES
            .iter()
            .map(|&n| (format!("binary.{n}"), MessageData::ArrayBuffer(binary(n)))),
    );
    cases.push(("text.multibyte".into(), MessageData::Text(MULTIBYTE.into())));

    for (name, payload) in &cases {
        let sent = match payload {
            MessageData::Text(t) => ws.send(t.as_str()),
            data => ws.send(data.as_binary().unwrap_or_default()),
        };
        if let Err(e) = sent {
            report.check(name, false, format!("send failed: {e}"));
            return report.check("close.client", false, "connection already gone");
        }
        let event = ws.next_event();
        let (ok, detail) = compare(payload, event.as_ref());
        report.check(name, ok, detail);
        if !matches!(event, Some(Event::Message(_))) {
            return report.check("close.client", false, "connection already gone");
        }
    }

    if let Err(e) = ws.close(Some(CLIENT_CLOSE.0), Some(CLIENT_CLOSE.1)) {
        return report.check("close.client", false, format!("close() failed: {e}"));
    }
    let (ok, detail) = expect_close(&mut ws, CLIENT_CLOSE);
    report.check("close.client", ok, detail);
}

/// Whether `event` is the echo of `sent`, and a description.
fn compare(sent: &MessageData, event: Option<&Event>) -> (bool, String) {
    let data = match event {
        Some(Event::Message(m)) => &m.data,
        other => {
            let got = other.map_or_else(|| "nothing (events ended)".into(), describe);
            let sent = match sent {
                MessageData::Text(t) => format!("text {}", describe_text(t)),
                data => format!("binary {} bytes", data.as_binary().map_or(0, <[u8]>::len)),
            };
            return (false, format!("sent {sent}, got {got}"));
        }
    };
    match (sent, data) {
        (MessageData::Text(want), MessageData::Text(got)) if want == got => (true, describe_text(want)),
        (MessageData::Text(want), MessageData::Text(got)) => {
            let at = first_diff(want.as_bytes(), got.as_bytes());
            let (want, got) = (describe_text(want), describe_text(got));
            (false, format!("sent {want}, got {got}, first difference at byte {at}"))
        }
        (MessageData::Text(want), got) => {
            let len = got.as_binary().map_or(0, <[u8]>::len);
            (
                false,
                format!("sent text {}, got binary {len} bytes", describe_text(want)),
            )
        }
        (want, MessageData::Text(got)) => {
            let len = want.as_binary().map_or(0, <[u8]>::len);
            (
                false,
                format!("sent binary {len} bytes, got text {}", describe_text(got)),
            )
        }
        (want, got) => {
            let (want, got) = (
                want.as_binary().unwrap_or_default(),
                got.as_binary().unwrap_or_default(),
            );
            if want == got {
                (true, format!("{} bytes", want.len()))
            } else {
                let at = first_diff(want, got);
                (
                    false,
                    format!(
                        "sent {} bytes, got {} bytes, first difference at {at}",
                        want.len(),
                        got.len()
                    ),
                )
            }
        }
    }
}

fn server_close_check(report: &mut Report, url: &str, protocols: &[&str]) {
    let mut ws = match open(url, protocols) {
        Ok(ws) => ws,
        Err(e) => return report.check("close.server", false, e),
    };
    if let Err(e) = ws.send(SERVER_CLOSE_REQUEST) {
        return report.check("close.server", false, format!("send failed: {e}"));
    }
    let (ok, detail) = expect_close(&mut ws, SERVER_CLOSE);
    report.check("close.server", ok, detail);
}

fn main() {
    let mut server_close = false;
    let mut positional = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--server-close" => server_close = true,
            _ => positional.push(arg),
        }
    }
    let Some((url, protocols)) = positional.split_first() else {
        eprintln!("usage: interop_client [--server-close] URL [PROTOCOLS...]");
        std::process::exit(2);
    };
    let mut protocols: Vec<&str> = protocols.iter().map(String::as_str).collect();
    if protocols.is_empty() {
        protocols = vec!["chat.v2", "chat.v1"];
    }

    std::thread::spawn(|| {
        std::thread::sleep(DEADLINE);
        println!("FAIL deadline: gave up after {}s", DEADLINE.as_secs());
        std::process::exit(2);
    });

    println!(
        "INFO versions: rfc6455 {} client, url {url}, offering {protocols:?}",
        env!("CARGO_PKG_VERSION")
    );
    let mut report = Report { failed: false };
    echo_checks(&mut report, url, &protocols);
    if server_close {
        server_close_check(&mut report, url, &protocols);
    }
    std::process::exit(i32::from(report.failed));
}
