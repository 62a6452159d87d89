//! Limits and timers, with defaults safe for a server facing the internet.

use core::time::Duration;

/// Settings of a [`Connection`](crate::Connection).
///
/// Every limit bounds memory a peer can make us spend; exceeding one fails
/// the connection (close code 1009, or status 431 during the handshake).
///
/// ```
/// use core::time::Duration;
/// let config = rfc6455::Config {
///     max_message_size: 1 << 20,
///     keepalive_interval: Some(Duration::from_secs(30)),
///     ..rfc6455::Config::default()
/// };
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest frame payload accepted, in bytes. Default 16 MiB.
    pub max_frame_size: usize,
    /// Largest message accepted (all fragments together), in bytes.
    /// Default 64 MiB.
    pub max_message_size: usize,
    /// Largest HTTP header block of the opening handshake, in bytes.
    /// Default 16 KiB.
    pub max_handshake_size: usize,
    /// Most header lines in the opening handshake. Default 64.
    pub max_headers: usize,
    /// Answer pings with pongs automatically (RFC 6455 §5.5.2). Default on.
    pub auto_pong: bool,
    /// Reply to a close frame with its reason as well as its code. Default
    /// off: the reply carries the code only, as RFC 6455 §5.5.1 suggests.
    pub echo_close_reason: bool,
    /// How long the opening handshake may take. Default 10 s.
    pub handshake_timeout: Option<Duration>,
    /// How long to wait for the peer's close frame after sending ours, and
    /// (client) for the server to close the transport afterwards. Default 5 s.
    pub close_timeout: Option<Duration>,
    /// Send a ping after this long without hearing from the peer, and fail
    /// the connection if another interval passes in silence. Default off.
    pub keepalive_interval: Option<Duration>,
    /// How many bytes [`Connection::read_buffer`](crate::Connection::read_buffer)
    /// offers at least. Default 8 KiB; taken within 1 B..=1 MiB.
    pub read_chunk: usize,
    /// permessage-deflate (RFC 7692): on by default, in both roles.
    #[cfg(feature = "deflate")]
    pub deflate: crate::deflate::DeflateConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_handshake_size: 16 << 10,
            max_headers: 64,
            auto_pong: true,
            echo_close_reason: false,
            handshake_timeout: Some(Duration::from_secs(10)),
            close_timeout: Some(Duration::from_secs(5)),
            keepalive_interval: None,
            read_chunk: 8 << 10,
            #[cfg(feature = "deflate")]
            deflate: crate::deflate::DeflateConfig::default(),
        }
    }
}
