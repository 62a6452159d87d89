//! A chat server: every message a client sends goes to every client.
//!
//! ```text
//! cargo run --release --example chat_server -- [ADDR]   # default 127.0.0.1:9002
//! ```
//!
//! One thread, non-blocking sockets: the event loop the DOM API lacks a
//! name for. Each socket is polled with `try_next_event`, and broadcasts use
//! `try_send`, so a client that stops reading cannot make the server buffer
//! without bound: once more than its high-water mark is queued for it, it
//! is closed with 1008 (policy violation).

use rfc6455::websocket::{Event, WebSocket};
use rfc6455::{CloseCode, Config, Error};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Output a slow client may have queued before it is dropped.
const HIGH_WATER_MARK: usize = 1 << 20;

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = TcpListener::bind(&addr)?;
    listener.set_nonblocking(true)?;
    println!("chat server listening on ws://{}", listener.local_addr()?);

    let mut clients: Vec<(u64, WebSocket<TcpStream>)> = Vec::new();
    let mut next_id = 0;
    loop {
        let mut busy = false;
        while let Ok((stream, peer)) = listener.accept() {
            busy = true;
            match handshake(stream) {
                Ok(ws) => {
                    next_id += 1;
                    println!("client {next_id} joined from {peer}");
                    clients.push((next_id, ws));
                }
                Err(e) => println!("{peer}: handshake failed: {e}"),
            }
        }

        let mut said = Vec::new();
        for (id, ws) in &mut clients {
            while let Some(event) = ws.try_next_event() {
                busy = true;
                match event {
                    Event::Message(message) => {
                        if let Some(text) = message.data.as_text() {
                            said.push(format!("{id}: {text}"));
                        }
                    }
                    Event::Close(close) => println!("client {id} left ({} {:?})", close.code, close.reason),
                    Event::Error(error) => println!("client {id} failed: {}", error.error),
                    Event::Open => {}
                }
            }
        }
        for line in &said {
            for (id, ws) in &mut clients {
                match ws.try_send(line.as_str()) {
                    Ok(()) => {}
                    Err(Error::WouldBlock) => {
                        println!("client {id} is not reading; dropping it");
                        let _ = ws.close_with(CloseCode::POLICY_VIOLATION, "too slow");
                    }
                    Err(e) => println!("client {id}: {e}"),
                }
            }
        }
        for (_, ws) in &mut clients {
            if ws.try_flush().is_err() {
                busy = true;
            }
        }
        clients.retain(|(_, ws)| ws.ready_state() != rfc6455::ReadyState::Closed);
        if !busy && said.is_empty() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The opening handshake, blocking but bounded, then the socket goes
/// non-blocking for the event loop.
fn handshake(stream: TcpStream) -> Result<WebSocket<TcpStream>, Error> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_nodelay(true)?;
    let config = Config::default().max_message_size(64 << 10);
    let mut ws = WebSocket::accept_with(stream, config, |_| Ok(rfc6455::Accept::new()))?;
    ws.set_high_water_mark(HIGH_WATER_MARK);
    if let Some(stream) = ws.get_ref() {
        stream.set_nonblocking(true)?;
    }
    Ok(ws)
}
