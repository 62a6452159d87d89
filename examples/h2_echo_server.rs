//! An echo server for WebSockets over HTTP/1.1 and HTTP/2 (RFC 8441) on one
//! port: cleartext (`ws://`, HTTP/1.1 upgrades and h2c with prior
//! knowledge) and TLS (`wss://`, ALPN `h2` or `http/1.1`), told apart by
//! the first byte a client sends. hyper serves the HTTP; every WebSocket
//! request goes through `rfc6455::http::accept`, which answers an HTTP/1.1
//! upgrade with a 101 and an HTTP/2 extended CONNECT with a 200.
//!
//! ```text
//! cargo run --release --features http2,rustls --example h2_echo_server -- [ADDR] [--cert CERT.pem --key KEY.pem]
//! ```
//!
//! ADDR defaults to 127.0.0.1:9003. Without `--cert`/`--key` a self-signed
//! certificate for `localhost` and `127.0.0.1` is made at start.
//!
//! Besides the echo (any path but these):
//! - `GET /`: a page that opens three WebSockets to this origin, echoes a
//!   message on each, and shows (and reports to `POST /report`, which this
//!   server prints) whether they arrived as extended CONNECTs on the HTTP/2
//!   connection that served the page;
//! - `GET /stats`: what arrived, as JSON: each WebSocket's connection,
//!   HTTP version and whether it was an extended CONNECT, and which
//!   connection asks.

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rfc6455::tokio::WebSocket;
use rfc6455::{Accept, Config};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// One accepted WebSocket, for `/stats`.
struct Arrival {
    connection: u64,
    http: &'static str,
    tls: bool,
    extended: bool,
}

#[derive(Default)]
struct Stats {
    next_connection: AtomicU64,
    arrivals: Mutex<Vec<Arrival>>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let addr = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9003".into());
    let tls = TlsAcceptor::from(Arc::new(tls_config(option("--cert"), option("--key"))?));
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("HTTP/1.1 + HTTP/2 echo server listening on ws://{local} and wss://{local} (h2c, ALPN h2, http/1.1)");
    serve(listener, tls).await?;
    Ok(())
}

/// Serves every connection `listener` accepts (`tests/http2.rs` runs this).
pub async fn serve(listener: TcpListener, tls: TlsAcceptor) -> std::io::Result<()> {
    let stats = Arc::new(Stats::default());
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let id = stats.next_connection.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve_connection(tcp, id, tls.clone(), Arc::clone(&stats)));
    }
}

/// A self-signed certificate unless both files are given.
pub fn tls_config(
    cert: Option<String>,
    key: Option<String>,
) -> Result<rustls::ServerConfig, Box<dyn std::error::Error>> {
    let (chain, key) = match (cert, key) {
        (Some(cert), Some(key)) => (
            CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?,
            PrivateKeyDer::from_pem_file(key)?,
        ),
        _ => {
            let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
            (vec![made.cert.der().clone()], key)
        }
    };
    // The crate's provider (ring; rustls 0.23.48 deprecated it for lacking
    // post-quantum key exchange, which aws-lc-rs has at the cost of cmake).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

async fn serve_connection(tcp: TcpStream, id: u64, tls: TlsAcceptor, stats: Arc<Stats>) {
    // A TLS record starts with 0x16 (a handshake); HTTP never does.
    let mut first = [0u8; 1];
    let secure = matches!(tcp.peek(&mut first).await, Ok(1) if first[0] == 0x16);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL.
    builder.http2().enable_connect_protocol();
    let service = hyper::service::service_fn(move |request| handle(request, id, secure, Arc::clone(&stats)));
    let served = if secure {
        match tls.accept(tcp).await {
            Ok(stream) => {
                builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await
            }
            Err(e) => {
                eprintln!("connection {id}: TLS handshake failed: {e}");
                return;
            }
        }
    } else {
        builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).await
    };
    if let Err(e) = served {
        eprintln!("connection {id}: {e}");
    }
}

async fn handle(
    mut request: Request<Incoming>,
    connection: u64,
    tls: bool,
    stats: Arc<Stats>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => return Ok(respond(StatusCode::OK, "text/html; charset=utf-8", PAGE)),
        (&Method::GET, "/stats") => {
            let body = stats_json(&stats, connection);
            return Ok(respond(StatusCode::OK, "application/json", body));
        }
        (&Method::POST, "/report") => {
            let body = request.into_body().collect().await?.to_bytes();
            println!(
                "report from connection {connection}: {}",
                String::from_utf8_lossy(&body)
            );
            return Ok(respond(StatusCode::NO_CONTENT, "text/plain", ""));
        }
        _ => {}
    }
    let http = match request.version() {
        hyper::Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    };
    let mut extended = false;
    let config = Config::default().echo_close_reason(true);
    let accepted = rfc6455::http::accept(&request, config, |head| {
        extended = head.is_extended_connect();
        Ok(match head.protocols().first() {
            Some(protocol) => Accept::new().protocol(protocol.as_str()),
            None => Accept::new(),
        })
    });
    let upgrade = match accepted {
        Ok(upgrade) => upgrade,
        Err(refused) => return Ok(refused.response.map(|()| Full::new(Bytes::new()))),
    };
    stats.arrivals.lock().unwrap().push(Arrival {
        connection,
        http,
        tls,
        extended,
    });
    let on_upgrade = hyper::upgrade::on(&mut request);
    let conn = upgrade.connection;
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let mut ws = WebSocket::from_connection(conn, TokioIo::new(upgraded));
        let mut messages = 0u64;
        while let Some(Ok(message)) = ws.next().await {
            if message.is_text() || message.is_binary() {
                messages += 1;
                if ws.send(message).await.is_err() {
                    break;
                }
            }
        }
        let how = if extended { "extended CONNECT" } else { "upgrade" };
        let scheme = if tls { "wss" } else { "ws" };
        println!("connection {connection}: {scheme} {http} {how}, {messages} messages echoed");
    });
    Ok(upgrade.response.map(|()| Full::new(Bytes::new())))
}

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn stats_json(stats: &Stats, asking: u64) -> String {
    let arrivals = stats.arrivals.lock().unwrap();
    let items: Vec<String> = arrivals
        .iter()
        .map(|a| {
            format!(
                r#"{{"connection":{},"http":"{}","tls":{},"extended":{}}}"#,
                a.connection, a.http, a.tls, a.extended
            )
        })
        .collect();
    format!(r#"{{"asking":{asking},"websockets":[{}]}}"#, items.join(","))
}

/// Opens three WebSockets to this origin at once, echoes a message on each,
/// then asks `/stats` how they arrived.
const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>h2 echo: running</title>
<pre id="log"></pre>
<script>
  'use strict';
  const log = (line) => { document.getElementById('log').textContent += line + '\n'; };
  const report = (line) => fetch('/report', { method: 'POST', body: line }).catch(() => {});
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const echo = (i) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`${scheme}//${location.host}/echo/${i}`, ['chat']);
    const timer = setTimeout(() => reject(new Error(`socket ${i}: no echo within 10 s`)), 10000);
    ws.onopen = () => ws.send(`hello ${i}`);
    ws.onmessage = (e) => { clearTimeout(timer); resolve({ i, data: e.data, extensions: ws.extensions, protocol: ws.protocol }); ws.close(1000); };
    ws.onerror = () => { clearTimeout(timer); reject(new Error(`socket ${i}: error`)); };
  });
  (async () => {
    const results = await Promise.all([0, 1, 2].map(echo));
    const echoed = results.every((r) => r.data === `hello ${r.i}` && r.protocol === 'chat');
    const stats = await (await fetch('/stats')).json();
    const mine = stats.websockets.slice(-3);
    const sameConnection = mine.every((w) => w.connection === stats.asking);
    const allExtended = mine.every((w) => w.extended && w.http === 'HTTP/2');
    const ok = echoed && sameConnection && allExtended;
    const line = `${ok ? 'PASS' : 'FAIL'} h2.browser: 3 WebSockets echoed=${echoed}, ` +
      `arrived as ${JSON.stringify(mine)} (this page on connection ${stats.asking}), extensions ${JSON.stringify(results[0].extensions)}`;
    log(line);
    await report(line);
    document.title = ok ? 'h2 echo: PASS' : 'h2 echo: FAIL';
  })().catch(async (e) => { log(`FAIL h2.browser: ${e}`); await report(`FAIL h2.browser: ${e}`); });
</script>
"#;
