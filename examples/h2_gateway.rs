//! A gateway that carries HTTP/1.1 WebSocket clients to an HTTP/2 server
//! (RFC 8441): each client's upgrade becomes an extended CONNECT stream of
//! one shared HTTP/2 connection, and the frames pass through untouched
//! both ways. The subprotocol and extension offers go to the backend, whose
//! choices come back in the 101, so the two ends negotiate as if directly.
//!
//! ```text
//! cargo run --release --features http2 --example h2_gateway -- [LISTEN] [BACKEND]
//! ```
//!
//! LISTEN defaults to 127.0.0.1:9005, BACKEND (h2c, prior knowledge) to
//! 127.0.0.1:9003 (`examples/h2_echo_server.rs`). CI runs the Autobahn
//! server cases through it: kosoku speaks HTTP/1.1 only, so this is how
//! they reach a WebSocket carried by HTTP/2.

use bytes::Bytes;
use rfc6455::h2::H2Stream;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The largest request head read from a client.
const MAX_HEAD: usize = 16 * 1024;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:9005".into());
    let backend = args.next().unwrap_or_else(|| "127.0.0.1:9003".into());
    let tcp = TcpStream::connect(&backend).await?;
    // Small frames (pongs, echoes) go out at once, not after the last ACK.
    tcp.set_nodelay(true)?;
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(rfc6455::h2::STREAM_WINDOW)
        .initial_connection_window_size(rfc6455::h2::CONNECTION_WINDOW)
        .handshake(tcp)
        .await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("backend connection ended: {e}");
            std::process::exit(1);
        }
    });
    let listener = TcpListener::bind(&listen).await?;
    println!(
        "gateway listening on ws://{}, to ws over HTTP/2 at {backend}",
        listener.local_addr()?
    );
    loop {
        let (client, _) = listener.accept().await?;
        let _ = client.set_nodelay(true);
        let send = send.clone();
        let authority = backend.clone();
        tokio::spawn(async move {
            if let Err(e) = carry(client, send, &authority).await {
                eprintln!("client: {e}");
            }
        });
    }
}

/// One client: its upgrade as an extended CONNECT, then the bytes both ways.
async fn carry(
    mut client: TcpStream,
    send: h2::client::SendRequest<Bytes>,
    authority: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (head, rest) = read_head(&mut client).await?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    request.parse(&head)?;
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let Some(key) = header("sec-websocket-key") else {
        client
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let mut connect = http::Request::builder()
        .method(http::Method::CONNECT)
        .version(http::Version::HTTP_2)
        .uri(format!("http://{authority}{}", request.path.unwrap_or("/")))
        .extension(h2::ext::Protocol::from_static("websocket"));
    for name in [
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "origin",
    ] {
        if let Some(value) = header(name) {
            connect = connect.header(name, value);
        }
    }
    let mut send = send.ready().await?;
    if !send.is_extended_connect_protocol_enabled() {
        client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    }
    let (response, stream) = send.send_request(connect.body(())?, false)?;
    let response = response.await?;
    if response.status() != http::StatusCode::OK {
        let refusal = format!(
            "HTTP/1.1 {} Refused\r\ncontent-length: 0\r\n\r\n",
            response.status().as_u16()
        );
        client.write_all(refusal.as_bytes()).await?;
        return Ok(());
    }
    let mut answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        rfc6455::handshake::accept_key(key)
    );
    for name in ["sec-websocket-protocol", "sec-websocket-extensions"] {
        if let Some(value) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
            answer.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    answer.push_str("\r\n");
    client.write_all(answer.as_bytes()).await?;
    let mut backend = H2Stream::new(stream, response.into_body());
    // Frames the client sent right behind its request.
    backend.write_all(&rest).await?;
    // Each direction on its own, each side's end (a TCP FIN, END_STREAM)
    // passed to the other. Not copy_bidirectional: it gives up both
    // directions on the first error, and a server that failed the
    // connection refuses the client's next frames while its close frame is
    // still on the way back, so that would lose the close frame.
    let (mut client_in, mut client_out) = client.split();
    let (mut backend_in, mut backend_out) = tokio::io::split(backend);
    let upstream = async {
        let _ = tokio::io::copy(&mut client_in, &mut backend_out).await;
        let _ = backend_out.shutdown().await;
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut backend_in, &mut client_out).await;
        let _ = client_out.shutdown().await;
    };
    tokio::join!(upstream, downstream);
    Ok(())
}

/// The request head, and what came after it.
async fn read_head(client: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too large"));
        }
        let n = tokio::time::timeout(Duration::from_secs(10), client.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
