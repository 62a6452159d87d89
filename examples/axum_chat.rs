//! A chat room over axum: every text a client sends goes to every client.
//!
//! Each socket is split: the read half forwards what its client says to a
//! broadcast channel, the write half sends the room's messages to its
//! client. Backpressure: the write half's `send` waits while the socket is
//! above its high-water mark, and a client too slow to keep up falls
//! behind the channel's bound and is told so, instead of growing memory.
//!
//! `cargo run --example axum_chat --features axum -- [ADDR]` (default
//! 127.0.0.1:9004), then connect to `ws://ADDR/chat`.

use axum::{Router, extract::State, routing::get};
use futures_util::StreamExt;
use rfc6455::axum::{Socket, WebSocketUpgrade};
use tokio::sync::broadcast;

/// Messages the room keeps for a slow client before it skips ahead.
const ROOM_BACKLOG: usize = 256;
/// Bytes a socket may hold unsent before `send` waits.
const HIGH_WATER_MARK: usize = 256 * 1024;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9004".into());
    let (room, _) = broadcast::channel::<String>(ROOM_BACKLOG);
    let app = Router::new().route("/chat", get(join)).with_state(room);
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("chat on ws://{}/chat", listener.local_addr()?);
    axum::serve(listener, app).await
}

async fn join(upgrade: WebSocketUpgrade, State(room): State<broadcast::Sender<String>>) -> axum::response::Response {
    upgrade.on_upgrade(move |socket| chat(socket, room))
}

async fn chat(mut socket: Socket, room: broadcast::Sender<String>) {
    socket.set_high_water_mark(HIGH_WATER_MARK);
    let (mut read, mut write) = socket.split();
    let mut heard = room.subscribe();
    let mut speaker = tokio::spawn(async move {
        while let Some(Ok(message)) = read.next().await {
            if let Some(text) = message.as_text() {
                // No receivers is not an error for a room.
                let _ = room.send(text.to_owned());
            }
        }
    });
    loop {
        // The client gone (its read half ended) ends this loop too: in a
        // quiet room no send would fail to tell it.
        let heard = tokio::select! {
            heard = heard.recv() => heard,
            _ = &mut speaker => break,
        };
        let text = match heard {
            Ok(text) => text,
            Err(broadcast::error::RecvError::Lagged(missed)) => format!("(you missed {missed} messages)"),
            Err(broadcast::error::RecvError::Closed) => break,
        };
        // Waits while this client's socket is full; fails once it is gone.
        if write.send(rfc6455::Message::Text(text.into())).await.is_err() {
            break;
        }
    }
    speaker.abort();
}
