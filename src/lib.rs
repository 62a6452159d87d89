//! A strictly conformant WebSocket (RFC 6455) protocol engine.
//!
//! The core, [`Connection`], is sans-IO: bytes and time go in, events and
//! bytes come out, and it never touches a socket, a thread or a clock. It
//! builds on `core` and `alloc` only. The blocking driver, [`WebSocket`],
//! runs it over any `Read + Write` transport.
//!
//! ```no_run
//! # #[cfg(feature = "std")]
//! # fn main() -> Result<(), rfc6455::Error> {
//! use rfc6455::websocket::{Event, WebSocket};
//!
//! // The browser's API: construct, then react to events.
//! let mut ws = WebSocket::connect("ws://127.0.0.1:9001/", &[])?;
//! while let Some(event) = ws.next_event() {
//!     match event {
//!         Event::Open => ws.send("Hello Server!")?,
//!         Event::Message(message) => {
//!             println!("{:?}", message.data);
//!             ws.close(Some(1000), Some("done"))?;
//!         }
//!         Event::Error(error) => eprintln!("{}", error.error),
//!         Event::Close(close) => println!("closed with {}", close.code),
//!     }
//! }
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
//!
//! # Which API do I use?
//!
//! | you are writing | use | feature |
//! |---|---|---|
//! | your own event loop, an embedded target, another protocol crate | [`Connection`]: the sans-IO core (bytes and time in, events and bytes out; `no_std` + `alloc`) | none |
//! | a program with threads and blocking sockets | [`websocket::WebSocket`]: the browser's API over any `Read + Write` | `std` (default) |
//! | a tokio program (client or server) | `tokio::WebSocket`: the same API, plus `Stream`/`Sink` of [`Message`]s and `split()` | `tokio` |
//! | an axum server | `axum::WebSocketUpgrade`, an extractor shaped like axum's own | `axum` |
//! | a hyper server | `http::accept` on the parsed request, then `tokio::WebSocket::from_connection` on the upgraded stream | `http`, `tokio` |
//! | a `wss://` client | any driver's `connect` with a `wss://` URL | `rustls` |
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `std` | on | the blocking driver, `TcpStream` support, URL parsing, the default CSPRNG for masks |
//! | `deflate` | on | permessage-deflate (RFC 7692) |
//! | `tokio` | off | the driver over tokio's `AsyncRead + AsyncWrite` |
//! | `http` | off | the opening handshake in `http` crate types |
//! | `rustls` | off | `wss://` for both drivers (webpki roots) |
//! | `rustls-native-roots` | off | `rustls`, and the platform's roots trusted too |
//! | `axum` | off | an axum extractor (`axum::WebSocketUpgrade`) |
//!
//! Without default features the core builds `#![no_std]` with `alloc`.
//!
//! Modules are named after the protocol concepts they implement:
//! [`frame`] (§5.2), [`mask`] (§5.3), `utf8` (§8.1), [`close`] (§7.4),
//! [`handshake`] (§4, one private submodule per part: header-field syntax,
//! parsing within limits, the client's request and its check of the
//! response, the server's reading of the request and its answer) and
//! [`connection`] (the state machine, one private submodule per part of its
//! state: opening handshake, read buffer, frame reader, output queue,
//! timers).

#![no_std]
// docs.rs builds with `--cfg docsrs`: items show the feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![deny(unsafe_code)]
// Fallible public functions say when they fail; builders are not dropped
// unused (CI's `-D warnings` makes these errors).
#![warn(clippy::missing_errors_doc, clippy::return_self_not_must_use)]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(feature = "axum")]
pub mod axum;
pub mod close;
pub mod config;
pub mod connection;
mod copy;
#[cfg(feature = "deflate")]
pub mod deflate;
#[cfg(feature = "std")]
mod dom;
pub mod error;
mod extension;
pub mod frame;
#[cfg(feature = "http2")]
pub mod h2;
pub mod handshake;
#[cfg(feature = "http")]
pub mod http;
pub mod mask;
pub mod payload;
#[cfg(any(feature = "testkit", test))]
#[doc(hidden)]
pub mod testkit;
#[cfg(feature = "rustls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
mod utf8;
#[cfg(feature = "std")]
pub mod websocket;

/// The `bytes` crate, whose [`Bytes`] holds binary payloads.
pub use bytes;
pub use bytes::Bytes;
pub use close::{CloseCode, CloseFrame, OwnedCloseFrame};
pub use config::Config;
pub use connection::{Connection, ReadyState, Role};
pub use error::{Error, HandshakeError, Misuse, ProtocolError};
pub use frame::OpCode;
pub use handshake::{Accept, ClientRequest, Request};
pub use mask::MaskSource;
pub use payload::Utf8Bytes;
#[cfg(feature = "std")]
pub use websocket::{BinaryType, CloseEvent, Message, MessageData, MessageEvent, Plain, Transport, WebSocket};

/// The README's examples, compiled as doctests so they stay true.
#[cfg(all(doctest, feature = "std"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
