//! A hyper 1.x server that upgrades `GET /ws` to a WebSocket and echoes.
//!
//! ```text
//! cargo run --release --features tokio,http --example hyper_upgrade -- [ADDR]   # default 127.0.0.1:9003
//! ```
//!
//! hyper parses the request and performs the upgrade; `rfc6455::http::accept`
//! judges the request with the core's rules and writes the 101 response;
//! the upgraded stream then runs under `rfc6455::tokio::WebSocket`.

use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rfc6455::tokio::WebSocket;
use rfc6455::{Accept, Config, Message};
use std::convert::Infallible;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9003".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("hyper server listening on http://{}/ws", listener.local_addr()?);
    serve(listener).await
}

/// Serves HTTP/1.1 on `listener`, one task per connection.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .with_upgrades();
            if let Err(e) = connection.await {
                eprintln!("http connection failed: {e}");
            }
        });
    }
}

async fn handle(mut request: Request<Incoming>) -> Result<Response<Empty<Bytes>>, Infallible> {
    if request.uri().path() != "/ws" {
        let mut response = Response::new(Empty::new());
        *response.status_mut() = StatusCode::NOT_FOUND;
        return Ok(response);
    }
    let upgrade = match rfc6455::http::accept(&request, Config::default(), |r| {
        let accept = Accept::new();
        Ok(match r.protocols().first() {
            Some(protocol) => accept.protocol(protocol.as_str()),
            None => accept,
        })
    }) {
        Ok(upgrade) => upgrade,
        // 400, 426 or the application's refusal, as the core decided.
        Err(refused) => return Ok(refused.response.map(|()| Empty::new())),
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let connection = upgrade.connection;
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => echo(WebSocket::from_connection(connection, TokioIo::new(upgraded))).await,
            Err(e) => eprintln!("upgrade failed: {e}"),
        }
    });
    Ok(upgrade.response.map(|()| Empty::new()))
}

async fn echo<S>(mut ws: WebSocket<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(message) = ws.next().await {
        let echoed = match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => ws.feed(message).await,
            Ok(_) => Ok(()),
            Err(_) => break,
        };
        if echoed.is_err() {
            break;
        }
    }
}
