//! The echo server over tokio: every text and binary message comes back as
//! it was, one task per connection.
//!
//! ```text
//! cargo run --release --features tokio --example tokio_echo_server -- [ADDR]   # default 127.0.0.1:9002
//! ```

use futures_util::{SinkExt, StreamExt};
use rfc6455::tokio::WebSocket;
use rfc6455::{Accept, Config, Message};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("tokio echo server listening on ws://{}", listener.local_addr()?);
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
    let ws = WebSocket::accept_with(stream, config, |request| {
        let accept = Accept::new().header("Server", "rfc6455-tokio");
        Ok(match request.protocols().first() {
            Some(protocol) => accept.protocol(protocol.as_str()),
            None => accept,
        })
    })
    .await;
    let mut ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            println!("{peer}: handshake failed: {e}");
            return;
        }
    };
    // The socket is a Stream and a Sink of messages. `feed` queues the echo
    // without writing while less than the high-water mark is queued; the
    // stream writes the queue before it waits on the socket, so a burst of
    // messages read together is echoed in one write.
    ws.set_high_water_mark(64 * 1024);
    let mut messages = 0u64;
    let outcome = loop {
        let message = match ws.next().await {
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => message,
            Some(Ok(_)) => continue,
            Some(Err(e)) => break format!("failed: {e}"),
            None => {
                break match ws.peer_close() {
                    Some(frame) => format!("closed by peer with {:?} {:?}", frame.code.map(|c| c.0), frame.reason),
                    None => "closed".to_string(),
                };
            }
        };
        messages += 1;
        if let Err(e) = ws.feed(message).await {
            break format!("failed while sending: {e}");
        }
    };
    println!("{peer}: {messages} messages echoed; {outcome}");
}
