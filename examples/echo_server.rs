//! An echo server: every text and binary message comes back as it was.
//!
//! ```text
//! cargo run --release --example echo_server -- [ADDR]   # default 127.0.0.1:9001
//! ```
//!
//! One thread per connection; one line per connection on stdout.

use rfc6455::{Accept, Config, Message, WebSocket};
use std::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr)?;
    println!("echo server listening on ws://{}", listener.local_addr()?);
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || serve(stream));
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
    Ok(())
}

fn serve(stream: TcpStream) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let config = Config::default().echo_close_reason(true);
    // Echo back the first subprotocol offered, so clients that insist on one
    // get it.
    let ws = WebSocket::accept_with(stream, config, |request| {
        let accept = Accept::new().header("Server", "rfc6455");
        Ok(match request.protocols().first() {
            Some(protocol) => accept.protocol(protocol.as_str()),
            None => accept,
        })
    });
    let mut ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            println!("{peer}: handshake failed: {e}");
            return;
        }
    };
    // Echoes queue up to 64 KiB while more messages already wait in the
    // read buffer; `read` writes them before it waits on the socket, so a
    // client that pipelines gets one write per burst instead of one per
    // message.
    ws.set_high_water_mark(64 * 1024);
    let (mut messages, mut bytes) = (0u64, 0u64);
    let outcome = loop {
        let sent = match ws.read() {
            Ok(Some(Message::Text(text))) => {
                bytes += text.len() as u64;
                ws.send_text(&text)
            }
            Ok(Some(Message::Binary(data))) => {
                bytes += data.len() as u64;
                ws.send_binary(&data)
            }
            Ok(Some(_)) => continue,
            Ok(None) => {
                break match ws.peer_close() {
                    Some(frame) => format!("closed by peer with {:?} {:?}", frame.code.map(|c| c.0), frame.reason),
                    None => "closed".to_string(),
                };
            }
            Err(e) => break format!("failed: {e}"),
        };
        messages += 1;
        if let Err(e) = sent {
            break format!("failed while sending: {e}");
        }
    };
    println!("{peer}: {messages} messages, {bytes} bytes echoed; {outcome}");
}
