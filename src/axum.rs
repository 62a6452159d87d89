//! An axum extractor for WebSocket upgrades, shaped like axum's own
//! `WebSocketUpgrade`: take it as a handler argument, choose protocols and
//! settings, and hand `on_upgrade` the task that runs the socket.
//!
//! The request is judged by the core's rules (RFC 6455 §4.2.1) through
//! [`http::accept_parts`](crate::http::accept_parts): a request that is no
//! valid upgrade is refused while extracting, with the status the core
//! chose (400, 426 …), before the handler runs.
//!
//! With feature `http2`, an HTTP/2 extended CONNECT (RFC 8441) is accepted
//! too (`axum::serve` enables it with axum's `http2` feature) and answered
//! with a 200. It arrives as `CONNECT`, not `GET`: route it with
//! `routing::any` to take both.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use rfc6455::axum::WebSocketUpgrade;
//!
//! async fn ws(upgrade: WebSocketUpgrade) -> axum::response::Response {
//!     upgrade.protocols(["chat.v1"]).on_upgrade(|mut socket| async move {
//!         while let Ok(Some(message)) = socket.read().await {
//!             if message.is_text() || message.is_binary() {
//!                 let _ = socket.send(message).await;
//!             }
//!         }
//!     })
//! }
//!
//! # async fn serve() {
//! let app: Router = Router::new().route("/ws", get(ws));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9003").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

use crate::config::Config;
use crate::error::Error;
use crate::handshake::{Accept, Request};
use crate::tokio::WebSocket;
use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use core::future::Future;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::string::String;
use std::vec::Vec;

/// The socket an upgraded axum request gives: the tokio driver over
/// hyper's upgraded stream.
pub type Socket = WebSocket<TokioIo<Upgraded>>;

/// A WebSocket upgrade request, judged valid; [`on_upgrade`] answers it.
///
/// [`on_upgrade`]: WebSocketUpgrade::on_upgrade
pub struct WebSocketUpgrade {
    method: http::Method,
    version: http::Version,
    uri: http::Uri,
    headers: http::HeaderMap,
    /// The `:protocol` of an HTTP/2 extended CONNECT (RFC 8441).
    connect_protocol: Option<String>,
    on_upgrade: OnUpgrade,
    config: Config,
    protocols: Vec<String>,
    /// The client's subprotocols, as the core read them.
    offered: Vec<String>,
}

impl core::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("uri", &self.uri)
            .field("protocols", &self.protocols)
            .finish_non_exhaustive()
    }
}

/// Why a request could not be upgraded: the response to send (the core's
/// status: 400, 426, 431 …; 500 when the HTTP stack cannot upgrade) and
/// the reason.
#[derive(Debug)]
pub struct UpgradeRejection {
    /// The error response, without a body.
    pub response: http::Response<()>,
    /// What was wrong with the request.
    pub error: Error,
}

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        self.response.map(|()| Body::empty())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Judged now, so a bad request never reaches the handler; the
        // decision with the handler's protocols comes in `on_upgrade`.
        // The handshake limits are the handler's (`config`), applied again
        // in `on_upgrade`: here only hyper's own limits bound the head, so
        // a request the handler's configuration admits is not refused with
        // the defaults' 431 before the handler can raise them.
        let unbounded = Config {
            max_handshake_size: usize::MAX,
            max_headers: usize::MAX,
            ..Config::default()
        };
        let mut offered = Vec::new();
        let judged = crate::http::accept_parts(parts, unbounded, |request| {
            offered = request.protocols().to_vec();
            Ok(Accept::new())
        });
        judged.map_err(|refused| UpgradeRejection {
            response: refused.response,
            error: refused.error,
        })?;
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            let mut response = http::Response::new(());
            *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            let error = std::io::Error::other("the HTTP server offers no upgrade (hyper's with_upgrades)");
            return Err(UpgradeRejection {
                response,
                error: Error::Io(error),
            });
        };
        Ok(Self {
            method: parts.method.clone(),
            version: parts.version,
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
            connect_protocol: crate::http::connect_protocol(&parts.extensions).map(String::from),
            on_upgrade,
            config: Config::default(),
            protocols: Vec::new(),
            offered,
        })
    }
}

impl WebSocketUpgrade {
    /// The subprotocols this server speaks, preferred first: the first the
    /// client also offers is chosen; none when they share none.
    #[must_use]
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Settings of the connection (limits, timers, permessage-deflate).
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The subprotocols the client offered, in its order.
    pub fn offered_protocols(&self) -> &[String] {
        &self.offered
    }

    /// Answers with 101 and runs `callback` on the socket once the HTTP
    /// server hands over the upgraded stream (in a task of its own). If
    /// the upgrade fails after the 101, `callback` is not called.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let protocols = self.protocols;
        let choose = |request: &Request| {
            let offered = request.protocols();
            Ok(match protocols.iter().find(|p| offered.contains(p)) {
                Some(protocol) => Accept::new().protocol(protocol.as_str()),
                None => Accept::new(),
            })
        };
        let upgrade = crate::http::accept_head(
            &self.method,
            self.version,
            self.connect_protocol.as_deref(),
            &self.uri,
            &self.headers,
            self.config,
            choose,
        );
        let upgrade = match upgrade {
            Ok(upgrade) => upgrade,
            Err(refused) => return refused.response.map(|()| Body::empty()),
        };
        let connection = upgrade.connection;
        let on_upgrade = self.on_upgrade;
        ::tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                callback(WebSocket::from_connection(connection, TokioIo::new(upgraded))).await;
            }
        });
        upgrade.response.map(|()| Body::empty())
    }
}
