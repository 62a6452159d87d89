//! A server on `WebSocketStream` (tokio): the echo is the readable
//! forwarded into the writable, and `/flood?n=N` shows backpressure.
//!
//! - any path: every text and binary message comes back as it was; the
//!   client's close code and reason are echoed.
//! - `/flood?n=N` (default 600): N binary messages of 64 KiB, each made only
//!   once the one before was handed to the transport, and stamped with its
//!   index (bytes 0–3, big-endian) and the time it was made (bytes 4–11,
//!   milliseconds since the Unix epoch as a big-endian `f64`); then a close
//!   with 1000 "flood done". A client that stops reading makes the writes
//!   wait: the stamps show how many messages were made meanwhile.
//!
//! ```text
//! cargo run --release --features tokio --example stream_server -- [ADDR]   # default 127.0.0.1:9004
//! ```

use futures_util::{SinkExt, StreamExt};
use rfc6455::tokio::{CloseInfo, WebSocket, WebSocketStream, WebSocketStreamOptions};
use rfc6455::{Accept, Config, Message};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::{TcpListener, TcpStream};

const FLOOD_MESSAGE: usize = 64 * 1024;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9004".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("WebSocketStream server listening on ws://{}", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream));
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

async fn serve(stream: TcpStream) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let config = Config::default().echo_close_reason(true);
    let mut target = String::new();
    let ws = WebSocket::accept_with(stream, config, |request| {
        target = request.target().to_string();
        let accept = Accept::new();
        Ok(match request.protocols().first() {
            Some(protocol) => accept.protocol(protocol.as_str()),
            None => accept,
        })
    })
    .await;
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            println!("{peer}: handshake failed: {e}");
            return;
        }
    };
    let wss = WebSocketStream::from_socket(ws, WebSocketStreamOptions::new());
    let Ok(opened) = wss.opened().await else { return };
    let outcome = match target.strip_prefix("/flood") {
        Some(query) => {
            let n = query.strip_prefix("?n=").and_then(|n| n.parse().ok()).unwrap_or(600u32);
            let mut writable = opened.writable;
            let mut sent = 0;
            // xorshift noise: permessage-deflate cannot shrink the payload
            // below what the transport holds.
            let mut noise = 0x9e37_79b9_7f4a_7c15u64;
            while sent < n {
                let mut payload = vec![0u8; FLOOD_MESSAGE];
                for chunk in payload[12..].chunks_mut(8) {
                    noise ^= noise << 13;
                    noise ^= noise >> 7;
                    noise ^= noise << 17;
                    chunk.copy_from_slice(&noise.to_le_bytes()[..chunk.len()]);
                }
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                payload[..4].copy_from_slice(&sent.to_be_bytes());
                payload[4..12].copy_from_slice(&(now.as_secs_f64() * 1000.0).to_be_bytes());
                if writable.send(Message::binary(payload)).await.is_err() {
                    break;
                }
                sent += 1;
            }
            let _ = wss.close(Some(CloseInfo::new(1000, "flood done")));
            // Nothing reads the readable: what arrives now is discarded.
            drop(opened.readable);
            format!("flooded {sent} of {n} messages; {:?}", wss.closed().await)
        }
        None => {
            let echoed = opened.readable.forward(opened.writable).await;
            format!("echo ended with {echoed:?}; closed: {:?}", wss.closed().await)
        }
    };
    println!("{peer} {target}: {outcome}");
}
