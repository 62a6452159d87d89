//! One library's WebSocket echo server on 127.0.0.1, for the loopback echo
//! comparison (`echo.sh`, driven by the neutral `loadgen`).
//!
//! ```text
//! echo_server LIB PORT [WORKERS]
//! ```
//!
//! Every text and binary message comes back as it was. Blocking servers
//! run one thread per connection; tokio servers run on a current-thread
//! runtime (`WORKERS` 0, the default) or a multi-thread one with `WORKERS`
//! workers, the same for every library. Every connection task runs under
//! `tokio::task::unconstrained` (as fastwebsockets' echo example does) and
//! every socket has `TCP_NODELAY`. Prints `listening on ADDR` once bound.
//!
//! A new variant is one entry in [`SERVERS`] and its connection function.

use std::future::Future;
use std::io;
use std::pin::Pin;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How a library serves connections.
enum Model {
    /// One OS thread per connection, blocking I/O.
    Blocking(fn(std::net::TcpStream)),
    /// One tokio task per connection.
    Tokio(fn(tokio::net::TcpStream) -> BoxFuture),
}

/// The servers, by the name `echo.sh` and the table use.
const SERVERS: &[(&str, Model)] = &[
    ("rfc6455", Model::Tokio(|s| Box::pin(rfc6455_core(s)))),
    ("rfc6455-driver", Model::Blocking(rfc6455_driver)),
    ("rfc6455-tokio", Model::Tokio(|s| Box::pin(rfc6455_tokio(s)))),
    ("tungstenite", Model::Blocking(tungstenite_blocking)),
    ("fastwebsockets", Model::Tokio(|s| Box::pin(fastwebsockets_hyper(s)))),
    ("tokio-websockets", Model::Tokio(|s| Box::pin(tokio_websockets(s)))),
];

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: echo_server LIB PORT [WORKERS]";
    let lib = args.next().expect(usage);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect(usage);
    let workers: usize = args.next().map_or(0, |w| w.parse().expect(usage));
    let Some((_, model)) = SERVERS.iter().find(|(name, _)| *name == lib) else {
        let names: Vec<&str> = SERVERS.iter().map(|(n, _)| *n).collect();
        eprintln!("unknown library {lib}; one of {names:?}");
        std::process::exit(2);
    };
    let addr = ("127.0.0.1", port);
    match model {
        Model::Blocking(serve) => {
            let listener = std::net::TcpListener::bind(addr).expect("bind");
            announce(listener.local_addr());
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                let serve = *serve;
                std::thread::spawn(move || serve(stream));
            }
        }
        Model::Tokio(serve) => {
            let runtime = match workers {
                0 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
                n => tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(n)
                    .enable_all()
                    .build(),
            }
            .expect("runtime");
            let serve = *serve;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
                announce(listener.local_addr());
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(tokio::task::unconstrained(serve(stream)));
                }
            });
        }
    }
}

fn announce(addr: io::Result<std::net::SocketAddr>) {
    println!("listening on {}", addr.expect("local address"));
}

// ------------------------------------------------------------ rfc6455

/// The sans-IO core over a tokio `TcpStream`: read into the core's buffer,
/// hand out every event that read produced (queueing the echoes), then
/// write everything queued at once, so a read holding many messages costs
/// one write, not one per message.
async fn rfc6455_core(mut stream: tokio::net::TcpStream) {
    use rfc6455::connection::Event;
    use rfc6455::{Accept, Config, Connection};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut conn = Connection::server(Config::default());
    // Events borrow the connection, so a payload is copied out before it
    // is sent back.
    let (mut echo, mut echo_text) = (Vec::new(), String::new());
    loop {
        let eof = match stream.read(conn.read_buffer()).await {
            Ok(0) => {
                conn.receive_eof();
                true
            }
            Ok(n) => {
                conn.commit_read(n);
                false
            }
            Err(_) => return,
        };
        loop {
            match conn.poll_event() {
                Some(Event::Request(_)) => {
                    if conn.accept(Accept::new()).is_err() {
                        return;
                    }
                }
                Some(Event::Binary(data)) => {
                    echo.clear();
                    echo.extend_from_slice(data);
                    let _ = conn.send_binary(&echo);
                }
                Some(Event::Text(text)) => {
                    echo_text.clear();
                    echo_text.push_str(text);
                    let _ = conn.send_text(&echo_text);
                }
                Some(_) => {}
                None => break,
            }
        }
        while !conn.pending_output().is_empty() {
            match stream.write(conn.pending_output()).await {
                Ok(0) | Err(_) => return,
                Ok(n) => conn.advance_output(n),
            }
        }
        if eof || conn.should_close_transport() || conn.ready_state() == rfc6455::ReadyState::Closed {
            return;
        }
    }
}

/// The blocking DOM-style driver, as in the crate's `echo_server` example:
/// `read()` owned messages, `send_*` each back under a 64 KiB high-water
/// mark (written when `read` has nothing buffered left, or past 64 KiB).
fn rfc6455_driver(stream: std::net::TcpStream) {
    use rfc6455::{Message, WebSocket};
    let Ok(mut ws) = WebSocket::accept(stream) else { return };
    ws.set_high_water_mark(64 * 1024);
    loop {
        let sent = match ws.read() {
            Ok(Some(Message::Binary(data))) => ws.send_binary(&data),
            Ok(Some(Message::Text(text))) => ws.send_text(&text),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return,
        };
        if sent.is_err() {
            return;
        }
    }
}

/// The tokio DOM-style driver, as the crate's `tokio_echo_server` example:
/// the socket as a `Stream` and `Sink` of messages, echoes fed under a
/// 64 KiB high-water mark so a burst read together goes out in one write.
async fn rfc6455_tokio(stream: tokio::net::TcpStream) {
    use futures_util::{SinkExt, StreamExt};
    use rfc6455::Message;
    let Ok(mut ws) = rfc6455::tokio::WebSocket::accept(stream).await else {
        return;
    };
    ws.set_high_water_mark(64 * 1024);
    while let Some(Ok(message)) = ws.next().await {
        if matches!(message, Message::Text(_) | Message::Binary(_)) && ws.feed(message).await.is_err() {
            return;
        }
    }
}

// ------------------------------------------------------------ peers

/// tungstenite, blocking, as its `server.rs` example: `read`, then `send`
/// (write + flush) each data message.
fn tungstenite_blocking(stream: std::net::TcpStream) {
    let Ok(mut ws) = tungstenite::accept(stream) else {
        return;
    };
    loop {
        match ws.read() {
            Ok(msg) if msg.is_binary() || msg.is_text() => {
                if ws.send(msg).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// fastwebsockets as its `echo_server` example: hyper's HTTP/1 upgrade,
/// then `FragmentCollector::read_frame` / `write_frame` on the upgraded
/// stream, in a task of its own.
async fn fastwebsockets_hyper(stream: tokio::net::TcpStream) {
    use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
    use http_body_util::Empty;
    use hyper::body::{Bytes, Incoming};
    use hyper::{Request, Response};

    async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
        let mut ws = FragmentCollector::new(fut.await?);
        loop {
            let frame = ws.read_frame().await?;
            match frame.opcode {
                OpCode::Close => return Ok(()),
                OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
                _ => {}
            }
        }
    }

    async fn upgrade(mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
        let (response, fut) = upgrade::upgrade(&mut req)?;
        tokio::spawn(tokio::task::unconstrained(async move {
            let _ = echo(fut).await;
        }));
        Ok(response)
    }

    let io = hyper_util::rt::TokioIo::new(stream);
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, hyper::service::service_fn(upgrade))
        .with_upgrades()
        .await;
}

/// tokio-websockets' server: `ServerBuilder::accept`, then `next()` and
/// `send()` (feed + flush) each data message.
async fn tokio_websockets(stream: tokio::net::TcpStream) {
    use futures_util::{SinkExt, StreamExt};
    let Ok((_request, mut ws)) = tokio_websockets::ServerBuilder::new().accept(stream).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_binary() || msg.is_text()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}
