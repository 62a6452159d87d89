//! Limits and timers, with defaults safe for a server facing the internet.

use core::time::Duration;

/// Settings of a [`Connection`](crate::Connection).
///
/// Every limit bounds memory a peer can make us spend; exceeding one fails
/// the connection (close code 1009, or status 431 during the handshake).
///
/// ```
/// use core::time::Duration;
/// let config = rfc6455::Config::default()
///     .max_message_size(1 << 20)
///     .keepalive_interval(Some(Duration::from_secs(30)));
/// assert_eq!(config.max_message_size, 1 << 20);
/// ```
///
/// # Compatibility
///
/// Fields may be added in any minor release, so a `Config` cannot be
/// written as a struct literal outside this crate: build it from
/// [`Config::default()`] with the builder methods (one per field, named
/// after it) or by assigning fields (`config.auto_pong = false`).
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// Hand out data messages in parts as they arrive
    /// ([`Event::TextPart`](crate::connection::Event::TextPart),
    /// [`Event::BinaryPart`](crate::connection::Event::BinaryPart)) instead
    /// of whole, so a message of any size passes through in the memory of
    /// one read: text parts end at character boundaries and are validated
    /// as they arrive, and `max_message_size` still bounds the message.
    /// The drivers' `read` returns them as
    /// [`Message::TextPart`](crate::Message::TextPart) /
    /// [`Message::BinaryPart`](crate::Message::BinaryPart) ending with a
    /// `Text` / `Binary`; their DOM-style events stay whole messages.
    /// Default off.
    pub stream_messages: bool,
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
            stream_messages: false,
            #[cfg(feature = "deflate")]
            deflate: crate::deflate::DeflateConfig::default(),
        }
    }
}

/// Builder methods for a configuration struct's public fields, one per
/// field and named after it: each takes `self`, sets the field and returns
/// the struct (attributes such as the one-line doc are passed through).
macro_rules! setters {
    ($($(#[$attr:meta])* $field:ident: $ty:ty,)*) => {
        $(
            $(#[$attr])*
            #[must_use]
            pub fn $field(mut self, $field: $ty) -> Self {
                self.$field = $field;
                self
            }
        )*
    };
}
// For `deflate`'s types.
#[cfg(feature = "deflate")]
pub(crate) use setters;

impl Config {
    setters! {
        /// Sets `max_frame_size`, the largest frame payload accepted in bytes (default 16 MiB).
        max_frame_size: usize,
        /// Sets `max_message_size`, the largest whole message accepted in bytes (default 64 MiB).
        max_message_size: usize,
        /// Sets `max_handshake_size`, the largest handshake header block in bytes (default 16 KiB).
        max_handshake_size: usize,
        /// Sets `max_headers`, the most header lines in the handshake (default 64).
        max_headers: usize,
        /// Sets `auto_pong`, whether pings are answered automatically (default on).
        auto_pong: bool,
        /// Sets `echo_close_reason`, whether the close reply repeats the peer's reason (default off).
        echo_close_reason: bool,
        /// Sets `handshake_timeout`, how long the opening handshake may take (default 10 s).
        handshake_timeout: Option<Duration>,
        /// Sets `close_timeout`, how long the closing handshake may take (default 5 s).
        close_timeout: Option<Duration>,
        /// Sets `keepalive_interval`, the silence after which we ping (default `None`: off).
        keepalive_interval: Option<Duration>,
        /// Sets `read_chunk`, the least room the read buffer offers in bytes (default 8 KiB).
        read_chunk: usize,
        /// Sets `stream_messages`, whether messages are handed out in parts as they arrive (default off).
        stream_messages: bool,
        /// Sets `deflate`, the permessage-deflate settings (default: on, see [`DeflateConfig`](crate::deflate::DeflateConfig)).
        #[cfg(feature = "deflate")]
        deflate: crate::deflate::DeflateConfig,
    }
}
