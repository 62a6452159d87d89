//! A relay over tokio: each client that connects is joined to a new
//! connection to an upstream WebSocket server, and messages flow both ways
//! in parts as they arrive (`Config::stream_messages`), so a message of any
//! size passes through in the memory of one read.
//!
//! ```text
//! cargo run --release --example echo_server &                                    # upstream, 127.0.0.1:9001
//! cargo run --release --features tokio --example relay -- [ADDR] [UPSTREAM]         # default 127.0.0.1:9004 ws://127.0.0.1:9001/
//! ```

use futures_util::{SinkExt, StreamExt};
use rfc6455::tokio::{ReadHalf, WebSocket, WriteHalf};
use rfc6455::{Config, Error};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9004".into());
    let upstream = std::env::args().nth(2).unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let listener = TcpListener::bind(&addr).await?;
    println!(
        "relay listening on ws://{}, forwarding to {upstream}",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let upstream = upstream.clone();
        tokio::spawn(async move {
            if let Err(e) = relay(stream, &upstream).await {
                eprintln!("relay: {e}");
            }
        });
    }
}

/// Parts on, and no limit on a message's size: the relay holds a part at a
/// time, never a message.
fn config() -> Config {
    Config::default().stream_messages(true).max_message_size(usize::MAX)
}

async fn relay(stream: TcpStream, upstream: &str) -> Result<(), Error> {
    let client = WebSocket::accept_with(stream, config(), |_| Ok(Default::default())).await?;
    let server = WebSocket::connect_with(upstream, &[], config()).await?;
    let (client_read, client_write) = client.split();
    let (server_read, server_write) = server.split();
    // Each direction ends when its reader ends; the other then closes.
    tokio::try_join!(forward(client_read, server_write), forward(server_read, client_write))?;
    Ok(())
}

/// Forwards every message (pings and pongs are answered by each
/// connection itself) and parts of messages, in order; the `Sink` waits
/// while the far side's transport is full, so a slow reader slows the
/// sender instead of filling memory.
async fn forward<A, B>(mut from: ReadHalf<A>, mut to: WriteHalf<B>) -> Result<(), Error>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(message) = from.next().await {
        let message = message?;
        if message.is_control() {
            continue;
        }
        SinkExt::send(&mut to, message).await?;
    }
    let close = from.peer_close();
    let code = close.as_ref().and_then(|c| c.code).map_or(1000, |c| c.0);
    let reason = close.as_ref().map(|c| c.reason.clone()).unwrap_or_default();
    match to.close_with(rfc6455::CloseCode(code), &reason).await {
        Ok(()) | Err(Error::Misuse(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
