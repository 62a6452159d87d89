//! Sends a file as one binary message, read and sent in 64 KiB parts, so
//! a file of any size goes out in the memory of one part; prints what the
//! server answers (the echo server sends it back: the reply arrives in
//! parts too, counted, not kept). Each part is one frame of a fragmented
//! message; with `--declared` the message is one frame whose header
//! declares the file's length, its payload sent part by part.
//!
//! ```text
//! cargo run --release --example echo_server &
//! cargo run --release --example send_file -- [--declared] FILE [URL]    # default ws://127.0.0.1:9001/
//! ```

use rfc6455::websocket::{Event, WebSocket};
use rfc6455::{Config, Error, Message};
use std::io::Read;

const PART: usize = 64 << 10;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1).peekable();
    let declared = args.next_if(|a| a == "--declared").is_some();
    let Some(path) = args.next() else {
        eprintln!("usage: send_file [--declared] FILE [URL]");
        std::process::exit(2);
    };
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let mut file = std::fs::File::open(&path)?;
    let config = Config::default().stream_messages(true).max_message_size(usize::MAX);
    let mut ws = WebSocket::connect_with(&url, &[], config)?;
    match ws.next_event() {
        Some(Event::Open) => {}
        other => {
            eprintln!("not opened: {other:?}");
            std::process::exit(1);
        }
    }
    let mut sent = 0;
    if declared {
        let len = file.metadata()?.len();
        ws.begin_message(false, len)?;
        loop {
            let part = read_part(&mut file)?;
            if part.is_empty() {
                break;
            }
            sent += part.len();
            ws.send_payload(&part)?;
        }
        println!("sent {path}: {sent} bytes as one frame, in pieces of {PART}");
        return answer(ws);
    }
    // Read one part ahead, so the last part is known when it is sent.
    let mut part = read_part(&mut file)?;
    loop {
        let next = read_part(&mut file)?;
        let last = next.is_empty();
        sent += part.len();
        // A part that more parts follow, then the rest of the message.
        ws.send_message(match last {
            false => Message::BinaryPart(part.into()),
            true => Message::Binary(part.into()),
        })?;
        if last {
            break;
        }
        part = next;
    }
    println!("sent {path}: {sent} bytes in parts of {PART}");
    answer(ws)
}

/// Counts the server's answer as it arrives, then closes.
fn answer(mut ws: WebSocket<rfc6455::websocket::MaybeTlsStream>) -> Result<(), Error> {
    let mut received = 0;
    while let Some(message) = ws.read()? {
        received += message.len();
        if let Message::Binary(_) = message {
            println!("the server answered {received} bytes");
            break;
        }
    }
    ws.close(Some(1000), None)?;
    while ws.read()?.is_some() {}
    Ok(())
}

/// Up to [`PART`] bytes of the file; empty at its end.
fn read_part(file: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    let mut part = Vec::with_capacity(PART);
    file.by_ref().take(PART as u64).read_to_end(&mut part)?;
    Ok(part)
}
