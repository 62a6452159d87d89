//! MDN's WebSocket example, in Rust: on open send "Hello Server!", then
//! print each message from the server.
//!
//! ```text
//! cargo run --release --example echo_server &
//! cargo run --release --example client -- [URL]   # default ws://127.0.0.1:9001
//! ```
//!
//! The JavaScript it mirrors:
//!
//! ```js
//! const socket = new WebSocket("ws://localhost:8080");
//! socket.addEventListener("open", (event) => { socket.send("Hello Server!"); });
//! socket.addEventListener("message", (event) => { console.log("Message from server ", event.data); });
//! ```
//!
//! Against the echo server the one reply is the greeting itself, after which
//! this client closes politely so the example ends.

use rfc6455::websocket::{Event, EventType, MessageData, WebSocket};

fn main() -> Result<(), rfc6455::Error> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let mut socket = WebSocket::connect(&url, &[])?;

    socket.add_event_listener(EventType::Open, |socket, _| {
        if let Err(e) = socket.send("Hello Server!") {
            eprintln!("send failed: {e}");
        }
    });
    socket.add_event_listener(EventType::Message, |socket, event| {
        if let Event::Message(message) = event {
            match &message.data {
                MessageData::Text(text) => println!("Message from server  {text}"),
                other => println!("Message from server  {other:?}"),
            }
            // Not in MDN's example: end the demo once the greeting is back.
            let _ = socket.close(Some(1000), Some("thanks"));
        }
    });
    socket.on_error(|_, error| eprintln!("error: {}", error.error));
    socket.on_close(|_, close| {
        println!(
            "closed: code {} reason {:?} clean {}",
            close.code, close.reason, close.was_clean
        )
    });

    socket.run();
    Ok(())
}
