//! `WebSocketStream`: the WHATWG streams-based WebSocket API, with the
//! backpressure the DOM's `WebSocket` lacks.
//!
//! The shape follows the WebSocketStream text of whatwg/websockets pull
//! request 48 (not yet merged into the standard; Chromium ships it since
//! version 124):
//!
//! | JavaScript                         | here                                           |
//! |------------------------------------|------------------------------------------------|
//! | `new WebSocketStream(url, {protocols, signal})` | [`WebSocketStream::new`] with [`WebSocketStreamOptions`] |
//! | `wss.url`                          | [`WebSocketStream::url`]                       |
//! | `await wss.opened`                 | [`WebSocketStream::opened`] → [`Opened`]       |
//! | `readable` (a `ReadableStream`)    | [`Readable`], a `Stream` of [`Message`]s       |
//! | `writable` (a `WritableStream`)    | [`Writable`], a `Sink` of [`Message`]s         |
//! | `await wss.closed`                 | [`WebSocketStream::closed`] → [`CloseInfo`]    |
//! | `wss.close({closeCode, reason})`   | [`WebSocketStream::close`]                     |
//! | `readable.cancel(e)` / `writable.abort(e)` | [`Readable::cancel`] / [`Writable::abort`] |
//! | `WebSocketError`                   | [`WebSocketError`]                             |
//!
//! **Backpressure.** The network is read only as the readable is pulled
//! (plus a configurable read-ahead, [`WebSocketStreamOptions::read_ahead`]):
//! a consumer that stops reading stops the reads, the peer's sends fill the
//! transport and then wait. A write completes once the message is handed to
//! the transport, and waits while the transport is full.
//!
//! **Who drives.** Rust futures run only when polled: the handshake runs
//! while [`opened`](WebSocketStream::opened) or
//! [`closed`](WebSocketStream::closed) is awaited, and the connection moves
//! while the readable, the writable or `closed` is polled. Pings are
//! answered and the close handshake completes whichever of them runs.
//! Besides the readable, only two things read an open connection: `closed`
//! and a write waiting on a full transport, each into the read-ahead room
//! only (so two peers that both write before they read can be given room
//! enough not to wait on each other), or anything once the readable was
//! dropped or cancelled (what arrives is then discarded). Once the close
//! handshake started, `closed` reads on and, as the standard says of a
//! closing socket, discards messages. So await `closed` after `close()` to
//! see the close through; messages already queued for the readable stay
//! there. Writes are refused once the close handshake started (the
//! standard discards them silently).
//!
//! ```no_run
//! # async fn demo() -> Result<(), rfc6455::tokio::WebSocketError> {
//! use futures_util::{SinkExt, StreamExt};
//! use rfc6455::Message;
//! use rfc6455::tokio::{CloseInfo, WebSocketStream, WebSocketStreamOptions};
//!
//! let wss = WebSocketStream::new("ws://127.0.0.1:9001/", WebSocketStreamOptions::new().protocol("chat"))?;
//! let mut opened = wss.opened().await?;
//! println!("protocol {:?}, extensions {:?}", opened.protocol, opened.extensions);
//! opened.writable.send(Message::text("hello")).await?;
//! if let Some(message) = opened.readable.next().await {
//!     println!("{:?}", message?);
//! }
//! wss.close(Some(CloseInfo::new(1000, "done")))?;
//! let closed = wss.closed().await?;
//! println!("closed with {:?} {:?}", closed.close_code, closed.reason);
//! # Ok(())
//! # }
//! ```

use super::split::lock;
use super::{Inner, MaybeTlsStream, WebSocket};
use crate::config::Config;
use crate::connection::ReadyState;
use crate::dom::driver::{Step, TlsConfig};
use crate::dom::{AsMessage, Event, Message, check_close, dom_request};
use crate::error::Error;
use ::tokio::io::{AsyncRead, AsyncWrite};
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll, Waker, ready};
use std::boxed::Box;
use std::collections::VecDeque;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Wake;
use std::vec::Vec;

// ---------------------------------------------------------------- errors

/// The standard's `WebSocketError`: why a connection failed (the rejection
/// of `opened` and `closed`, the error of the readable and the writable),
/// and what a caller hands to [`Readable::cancel`] or [`Writable::abort`]
/// to close with a code and reason.
///
/// One pointer wide: the readable's items and the writable's results carry
/// it on every call (benches/compare callgrind, send_binary_16_b), and it
/// is cloned to every handle that reports the connection's end.
#[derive(Clone, Debug)]
pub struct WebSocketError(Arc<Details>);

#[derive(Debug)]
struct Details {
    message: String,
    close_code: Option<u16>,
    reason: String,
    cause: Option<Error>,
}

impl WebSocketError {
    /// The standard's `new WebSocketError(message, {closeCode, reason})`:
    /// `close_code` 1000 or 3000–4999, `reason` at most 123 UTF-8 bytes; a
    /// reason without a code means 1000.
    ///
    /// # Errors
    ///
    /// [`Misuse::DomCloseCode`](crate::Misuse::DomCloseCode) (the
    /// standard's `InvalidAccessError`) or
    /// [`Misuse::ReasonTooLong`](crate::Misuse::ReasonTooLong)
    /// (`SyntaxError`).
    pub fn new(message: impl Into<String>, close_code: Option<u16>, reason: &str) -> Result<Self, Error> {
        let close_code = checked_close(close_code, reason)?;
        Ok(Self(Arc::new(Details {
            message: message.into(),
            close_code,
            reason: reason.into(),
            cause: None,
        })))
    }

    /// A failure: close code 1006, as the DOM reports every failure (none
    /// for a misuse).
    fn failure(cause: Error) -> Self {
        Self(Arc::new(Details {
            message: cause.to_string(),
            // A misuse is the caller's error, not the connection's end.
            close_code: (!matches!(cause, Error::Misuse(_))).then_some(crate::CloseCode::ABNORMAL.0),
            reason: String::new(),
            cause: Some(cause),
        }))
    }

    fn unclean(code: u16, reason: String) -> Self {
        Self(Arc::new(Details {
            message: "the connection closed without a clean close handshake".into(),
            close_code: Some(code),
            reason,
            cause: None,
        }))
    }

    fn aborted() -> Self {
        Self(Arc::new(Details {
            message: "the opening handshake was aborted".into(),
            close_code: None,
            reason: String::new(),
            cause: None,
        }))
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The standard's `closeCode`: the code to close with (an error the
    /// caller made) or that the connection ended with (1006 for a failure);
    /// `None` for an aborted handshake.
    pub fn close_code(&self) -> Option<u16> {
        self.0.close_code
    }

    /// The standard's `reason`.
    pub fn reason(&self) -> &str {
        &self.0.reason
    }

    /// What made the connection fail, when it did.
    pub fn cause(&self) -> Option<&Error> {
        self.0.cause.as_ref()
    }
}

impl core::fmt::Display for WebSocketError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for WebSocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.cause.as_ref().map(|e| e as _)
    }
}

impl From<Error> for WebSocketError {
    fn from(cause: Error) -> Self {
        Self::failure(cause)
    }
}

/// The close arguments of `close()` and `new WebSocketError()`: the DOM's
/// rules ([`check_close`]), and here a reason alone means 1000.
fn checked_close(code: Option<u16>, reason: &str) -> Result<Option<u16>, Error> {
    check_close(code, reason)?;
    Ok(match code {
        None if !reason.is_empty() => Some(1000),
        code => code,
    })
}

// ---------------------------------------------------------------- options

/// The standard's `WebSocketCloseInfo`: what `closed` resolves to, and what
/// [`WebSocketStream::close`] takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code; `None` closes without one (and a close received
    /// without one shows as 1005).
    pub close_code: Option<u16>,
    /// The reason.
    pub reason: String,
}

impl CloseInfo {
    /// A close code and reason.
    pub fn new(close_code: u16, reason: impl Into<String>) -> Self {
        Self {
            close_code: Some(close_code),
            reason: reason.into(),
        }
    }
}

/// The standard's `AbortController`, for the `signal` option: aborting
/// before the connection opens fails the handshake and the connection
/// (a connection timeout, typically). It does nothing once open.
#[derive(Clone, Debug, Default)]
pub struct AbortController {
    signal: AbortSignal,
}

impl AbortController {
    /// A controller whose signal is not aborted.
    pub fn new() -> Self {
        Self::default()
    }

    /// The signal to pass in [`WebSocketStreamOptions::signal`].
    pub fn signal(&self) -> AbortSignal {
        self.signal.clone()
    }

    /// Aborts: a handshake under way fails.
    pub fn abort(&self) {
        self.signal.inner.aborted.store(true, Ordering::Release);
        let waiting = core::mem::take(&mut *lock(&self.signal.inner.wakers));
        for waker in waiting {
            waker.wake();
        }
    }
}

/// The standard's `AbortSignal` (see [`AbortController`]).
#[derive(Clone, Debug, Default)]
pub struct AbortSignal {
    inner: Arc<SignalInner>,
}

#[derive(Debug, Default)]
struct SignalInner {
    aborted: AtomicBool,
    /// One per stream waiting on the signal (each polls with its own
    /// shared waker, so `will_wake` keeps one entry per stream).
    wakers: Mutex<Vec<Waker>>,
}

impl AbortSignal {
    /// Whether the controller aborted.
    pub fn aborted(&self) -> bool {
        self.inner.aborted.load(Ordering::Acquire)
    }

    /// The stream no longer waits on the signal.
    fn forget(&self, waker: &Waker) {
        lock(&self.inner.wakers).retain(|w| !w.will_wake(waker));
    }

    fn poll_aborted(&self, cx: &Context<'_>) -> bool {
        let mut waiting = lock(&self.inner.wakers);
        if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
            waiting.push(cx.waker().clone());
        }
        drop(waiting);
        self.aborted()
    }
}

/// What a message read ahead costs in the queue besides its payload: its
/// entry.
const QUEUED_ENTRY: usize = core::mem::size_of::<Message>();

/// The standard's `WebSocketStreamOptions`, and the settings a Rust caller
/// needs besides.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct WebSocketStreamOptions {
    protocols: Vec<String>,
    signal: Option<AbortSignal>,
    config: Config,
    read_ahead: usize,
    write_high_water_mark: usize,
    #[cfg(feature = "rustls")]
    tls: Option<TlsConfig>,
}

impl WebSocketStreamOptions {
    /// No subprotocols, no signal, the default [`Config`], no read-ahead.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers a subprotocol (`protocols`); call once per protocol.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// The `signal`: aborting it before open fails the connection.
    pub fn signal(mut self, signal: AbortSignal) -> Self {
        self.signal = Some(signal);
        self
    }

    /// The protocol settings (limits, timeouts, permessage-deflate).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The readable's high-water mark, in bytes: how much may be read
    /// ahead of the consumer, into a queue, while another handle (a write
    /// waiting on a full transport, `closed`) drives the connection; each
    /// message counts its payload and its place in the queue (a few dozen
    /// bytes), so empty messages fill it too. Default 0: the network is
    /// read only as the readable is pulled. The queue holds at most this
    /// plus one message.
    pub fn read_ahead(mut self, bytes: usize) -> Self {
        self.read_ahead = bytes;
        self
    }

    /// The writable's high-water mark, in bytes of output: a write
    /// completes once at most this much stays queued. Default 0: once the
    /// transport took all of it.
    pub fn write_high_water_mark(mut self, bytes: usize) -> Self {
        self.write_high_water_mark = bytes;
        self
    }

    /// The TLS settings for `wss://` (default: webpki roots).
    #[cfg(feature = "rustls")]
    pub fn tls(mut self, tls: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }
}

// ---------------------------------------------------------------- state

type Connecting<S> = Pin<Box<dyn Future<Output = Result<WebSocket<S>, Error>> + Send>>;

/// Where the connection is.
// Open is where a connection spends its life; boxing it would cost an
// indirection on every poll to save 880 bytes during the handshake.
#[allow(clippy::large_enum_variant)]
enum Phase<S> {
    /// The opening handshake, run by whoever awaits `opened` or `closed`.
    Connecting(Connecting<S>),
    Open(Inner<S>),
    /// It never opened (failed, aborted, closed before open).
    Failed,
}

struct State<S> {
    phase: Phase<S>,
    signal: Option<AbortSignal>,
    /// The streams, until `opened` hands them out.
    streams_taken: bool,
    /// Messages read ahead of the readable's consumer, and their payload
    /// bytes.
    ahead: VecDeque<Message>,
    ahead_bytes: usize,
    /// What the queue holds against `read_ahead`: the payload bytes and
    /// each message's entry ([`QUEUED_ENTRY`]), so that empty messages
    /// fill it too (a review queued 10 MiB of them for a 64 KiB mark).
    ahead_cost: usize,
    read_ahead: usize,
    write_high_water_mark: usize,
    /// The readable was cancelled or dropped: messages are discarded.
    readable_gone: bool,
    /// The readable has handed out its error (it ends after it).
    readable_errored: bool,
    /// How it ended, once it did: `closed`'s value.
    outcome: Option<Result<CloseInfo, WebSocketError>>,
}

/// Every handle waiting on this connection, one slot each (the readable,
/// the writable, each `closed` future, an `opened` under way): a pending poll
/// replaces its handle's waker, a dropped handle frees its slot, so the
/// list never outgrows the handles alive. Any readiness of the transport,
/// the timer or the signal wakes them all: each handle's poll decides
/// whether it can move.
///
/// A handle registers only when its poll returns `Pending` (the
/// `SinkExt::send` of a small message otherwise registered twice,
/// benches/compare callgrind send_binary_16_b); `woken` counts wakes so a
/// wake that came between the poll and the registration is not lost.
#[derive(Default)]
struct Wakers {
    slots: Mutex<Slots>,
    woken: AtomicUsize,
}

#[derive(Default)]
struct Slots {
    wakers: Vec<Option<Waker>>,
    used: Vec<bool>,
}

impl Wakers {
    fn claim(&self) -> usize {
        let mut slots = lock(&self.slots);
        if let Some(free) = slots.used.iter().position(|used| !used) {
            slots.used[free] = true;
            return free;
        }
        slots.used.push(true);
        slots.wakers.push(None);
        slots.used.len() - 1
    }

    fn release(&self, slot: usize) {
        let mut slots = lock(&self.slots);
        if let Some(waker) = slots.wakers.get_mut(slot) {
            *waker = None;
            slots.used[slot] = false;
        }
    }

    /// How many wakes there have been: read before a poll, then given to
    /// [`Wakers::register`] if the poll is pending.
    fn wakes(&self) -> usize {
        self.woken.load(Ordering::SeqCst)
    }

    /// Keeps `waker` for the handle in `slot`, whose poll (begun when
    /// [`Wakers::wakes`] said `wakes`) returned `Pending`. A wake since
    /// then found no waker here to take: it is passed on at once.
    fn register(&self, slot: usize, waker: &Waker, wakes: usize) {
        if let Some(kept) = lock(&self.slots).wakers.get_mut(slot) {
            match kept {
                Some(kept) if kept.will_wake(waker) => {}
                _ => *kept = Some(waker.clone()),
            }
        }
        // After the lock: a wake that takes the wakers after this
        // registration finds it; one that took them before has already
        // counted itself (it counts before it locks).
        if self.wakes() != wakes {
            waker.wake_by_ref();
        }
    }
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.fetch_add(1, Ordering::SeqCst);
        let woken: Vec<Waker> = lock(&self.slots).wakers.iter_mut().filter_map(Option::take).collect();
        for waker in woken {
            waker.wake();
        }
    }
}

struct Shared<S> {
    state: Mutex<State<S>>,
    wakers: Arc<Wakers>,
    /// `wakers` as the one waker the transport and timer see, made once.
    waker: Waker,
}

// An application may keep one abort signal for many connections: a
// stream that goes away before it opened (dropped, or closed while
// connecting) must not leave its waker in the signal's list for good.
impl<S> Drop for Shared<S> {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(signal) = &state.signal {
            signal.forget(&self.waker);
        }
    }
}

impl<S> Shared<S> {
    /// Runs `f` on the state for the handle in `slot`, with a waker that
    /// wakes every waiting handle. A poll that moved the connection on (it
    /// opened, started closing, ended) wakes the other handles: one may be
    /// waiting for just that, with nothing else to wake it.
    fn poll<T>(
        &self,
        slot: usize,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut State<S>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let wakes = self.wakers.wakes();
        let mut shared_cx = Context::from_waker(&self.waker);
        let (result, moved) = {
            let mut state = lock(&self.state);
            let before = state.stage();
            let result = f(&mut state, &mut shared_cx);
            (result, state.stage() != before)
        };
        if moved {
            self.wake_all();
        }
        if result.is_pending() {
            self.wakers.register(slot, cx.waker(), wakes);
        }
        result
    }

    fn wake_all(&self) {
        Arc::clone(&self.wakers).wake_by_ref();
    }
}

/// Who is driving: the readable takes messages; any other handle reads
/// only into the read-ahead room, or to see a close through.
#[derive(Clone, Copy, PartialEq)]
enum Who {
    Reader,
    Other,
}

impl<S> State<S> {
    /// Where the connection stands, as the handles waiting on it care:
    /// connecting, open, closing, ended.
    fn stage(&self) -> (u8, bool) {
        let phase = match &self.phase {
            Phase::Connecting(_) => 0,
            Phase::Open(inner) => 1 + inner.driver.ready_state() as u8,
            Phase::Failed => 9,
        };
        (phase, self.outcome.is_some())
    }

    /// The error the connection ended with, if it failed.
    fn error(&self) -> Option<WebSocketError> {
        match &self.outcome {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> State<S> {
    /// Runs the opening handshake; ready once it ended either way.
    fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Phase::Connecting(connecting) = &mut self.phase else {
            return Poll::Ready(());
        };
        // The standard's signal: "abort the handshake" fails it.
        if self.signal.as_ref().is_some_and(|s| s.poll_aborted(cx)) {
            self.phase = Phase::Failed;
            self.outcome = Some(Err(WebSocketError::aborted()));
            return Poll::Ready(());
        }
        let done = ready!(connecting.as_mut().poll(cx));
        if let Some(signal) = &self.signal {
            signal.forget(cx.waker());
        }
        match done {
            Ok(ws) => {
                let mut inner = ws.inner;
                inner.driver.high_water_mark = self.write_high_water_mark;
                self.phase = Phase::Open(inner);
            }
            Err(e) => {
                self.phase = Phase::Failed;
                self.outcome = Some(Err(WebSocketError::failure(e)));
            }
        }
        Poll::Ready(())
    }

    /// Moves the connection on. The reader gets the next message (`None`
    /// once it ended); another driver reads only where it may, and is
    /// ready (`None`) once the connection ended.
    fn pump(&mut self, cx: &mut Context<'_>, who: Who) -> Poll<Option<Message>> {
        ready!(self.poll_open(cx));
        loop {
            if who == Who::Reader {
                if let Some(message) = self.ahead.pop_front() {
                    self.ahead_bytes -= message.len();
                    self.ahead_cost -= message.len() + QUEUED_ENTRY;
                    return Poll::Ready(Some(message));
                }
            }
            if self.outcome.is_some() {
                return Poll::Ready(None);
            }
            let Phase::Open(inner) = &mut self.phase else {
                return Poll::Ready(None);
            };
            // Backpressure: only the consumer's pull reads an open
            // connection, besides the read-ahead room.
            let may_read = who == Who::Reader
                || self.readable_gone
                || self.ahead_cost < self.read_ahead
                || inner.driver.ready_state() != ReadyState::Open;
            if !may_read {
                // Still write what is queued (a pong, a close).
                if inner.driver.has_output() {
                    let _ = ready!(inner.drive(cx, |d, io| d.poll_settle(io)));
                }
                return Poll::Pending;
            }
            match ready!(inner.drive(cx, |d, io| d.poll_step(io, AsMessage))) {
                Some(Step::Message(message)) => {
                    if self.readable_gone {
                        continue;
                    }
                    if who == Who::Reader {
                        return Poll::Ready(Some(message));
                    }
                    self.ahead_bytes += message.len();
                    self.ahead_cost += message.len() + QUEUED_ENTRY;
                    self.ahead.push_back(message);
                }
                Some(Step::Dom(Event::Error(e))) => {
                    self.outcome = Some(Err(WebSocketError::failure(e.error)));
                }
                Some(Step::Dom(Event::Close(close))) => {
                    self.outcome = Some(if close.was_clean {
                        Ok(CloseInfo {
                            close_code: Some(close.code),
                            reason: close.reason,
                        })
                    } else {
                        Err(WebSocketError::unclean(close.code, close.reason))
                    });
                }
                // Pings are answered by the core; open was the handshake's.
                Some(_) => {}
                None => {
                    // The DOM layer ends only after its close event.
                    self.outcome
                        .get_or_insert_with(|| Err(WebSocketError::unclean(1006, String::new())));
                }
            }
        }
    }

    /// The standard's "close using a WebSocketError" and `close()`: a code
    /// and reason, or none (a close frame without a body). Before open it
    /// fails the handshake.
    fn close(&mut self, code: Option<u16>, reason: &str) {
        match &mut self.phase {
            Phase::Connecting(_) => {
                self.phase = Phase::Failed;
                self.outcome = Some(Err(WebSocketError::failure(Error::ClosedBeforeOpen)));
            }
            Phase::Open(inner) => {
                let now = inner.now();
                // A code the DOM may not send (an error handed back from
                // `closed`, 1006) closes without a code.
                let reason = (!reason.is_empty()).then_some(reason);
                if inner.driver.close(now, code, reason).is_err() {
                    let _ = inner.driver.close(now, None, None);
                }
                // Write the close frame now as far as the transport takes
                // it, so it goes out even if nothing polls for a while.
                let mut cx = Context::from_waker(Waker::noop());
                let _ = inner.drive(&mut cx, |d, io| {
                    d.write_what_fits(io);
                    Poll::Ready(())
                });
            }
            Phase::Failed => {}
        }
    }
}

// ---------------------------------------------------------------- the API

/// The standard's `WebSocketStream` over a tokio transport.
pub struct WebSocketStream<S = MaybeTlsStream> {
    url: String,
    shared: Arc<Shared<S>>,
}

impl<S> core::fmt::Debug for WebSocketStream<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebSocketStream")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The standard's `WebSocketOpenInfo`: what `opened` resolves to.
#[derive(Debug)]
pub struct Opened<S = MaybeTlsStream> {
    /// The messages received.
    pub readable: Readable<S>,
    /// Where messages are sent.
    pub writable: Writable<S>,
    /// The subprotocol the server chose; empty when none.
    pub protocol: String,
    /// The negotiated extensions; empty when none.
    pub extensions: String,
}

impl WebSocketStream<MaybeTlsStream> {
    /// The standard's constructor: checks the URL and the protocols now
    /// (the constructor's exceptions), and connects when
    /// [`opened`](Self::opened) or [`closed`](Self::closed) is first
    /// awaited (futures are lazy).
    ///
    /// # Errors
    ///
    /// As [`WebSocket::connect`](super::WebSocket::connect) for the
    /// arguments: [`Error::Url`], or [`Error::Misuse`] with
    /// `InvalidProtocol`.
    pub fn new(url: &str, options: WebSocketStreamOptions) -> Result<Self, WebSocketError> {
        let protocols: Vec<&str> = options.protocols.iter().map(String::as_str).collect();
        let (request, secure, shown) = dom_request(url, &protocols)?;
        #[cfg(feature = "rustls")]
        let tls = options.tls.clone();
        #[cfg(not(feature = "rustls"))]
        let tls: Option<TlsConfig> = None;
        let connecting: Connecting<MaybeTlsStream> = Box::pin(WebSocket::open_request(
            request,
            secure,
            shown.clone(),
            options.config.clone(),
            tls,
        ));
        Ok(Self::with_phase(shown, Phase::Connecting(connecting), options))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// A stream over a socket already open (a server's accepted socket,
    /// a connection made with other settings): `opened` is ready at once.
    /// Only the options' read-ahead and write high-water mark apply.
    pub fn from_socket(ws: WebSocket<S>, options: WebSocketStreamOptions) -> Self {
        let url = ws.url().into();
        let mut inner = ws.inner;
        inner.driver.high_water_mark = options.write_high_water_mark;
        Self::with_phase(url, Phase::Open(inner), options)
    }

    /// Accepts a client on `stream` (see
    /// [`WebSocket::accept`](super::WebSocket::accept)) as a stream.
    ///
    /// # Errors
    ///
    /// The handshake's failure.
    pub async fn accept(stream: S, options: WebSocketStreamOptions) -> Result<Self, WebSocketError> {
        let ws = WebSocket::accept_with(stream, options.config.clone(), |_| Ok(crate::Accept::new())).await?;
        Ok(Self::from_socket(ws, options))
    }

    fn with_phase(url: String, phase: Phase<S>, options: WebSocketStreamOptions) -> Self {
        let state = State {
            phase,
            signal: options.signal,
            streams_taken: false,
            ahead: VecDeque::new(),
            ahead_bytes: 0,
            ahead_cost: 0,
            read_ahead: options.read_ahead,
            write_high_water_mark: options.write_high_water_mark,
            readable_gone: false,
            readable_errored: false,
            outcome: None,
        };
        Self {
            url,
            shared: Arc::new({
                let wakers = Arc::<Wakers>::default();
                Shared {
                    state: Mutex::new(state),
                    waker: Waker::from(Arc::clone(&wakers)),
                    wakers,
                }
            }),
        }
    }

    /// The standard's `url`; empty for an accepted socket.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The standard's `opened`: runs the handshake, then hands out the
    /// readable, the writable, the protocol and the extensions. They are
    /// handed out once; later calls fail.
    ///
    /// # Errors
    ///
    /// The connection failed before opening (or was aborted, or closed),
    /// or the streams were already handed out.
    pub async fn opened(&self) -> Result<Opened<S>, WebSocketError> {
        let slot = SlotGuard::claim(&self.shared);
        poll_fn(|cx| self.shared.poll(slot.0, cx, |state, cx| state.poll_open(cx))).await;
        drop(slot);
        let mut state = lock(&self.shared.state);
        let Phase::Open(inner) = &state.phase else {
            return Err(state
                .error()
                .unwrap_or_else(|| WebSocketError::failure(Error::ClosedBeforeOpen)));
        };
        if state.streams_taken {
            return Err(WebSocketError(Arc::new(Details {
                message: "the readable and the writable were already handed out".into(),
                close_code: None,
                reason: String::new(),
                cause: None,
            })));
        }
        let protocol = inner.driver.protocol().into();
        let extensions = inner.driver.extensions().into();
        state.streams_taken = true;
        Ok(Opened {
            readable: Readable {
                slot: self.shared.wakers.claim(),
                shared: Arc::clone(&self.shared),
                done: false,
            },
            writable: Writable {
                slot: self.shared.wakers.claim(),
                shared: Arc::clone(&self.shared),
            },
            protocol,
            extensions,
        })
    }

    /// The standard's `closed`: a future of the close code and reason of a
    /// clean close, or the error of one that was not. Clone it freely;
    /// awaiting it drives the connection (see the module's "Who drives").
    pub fn closed(&self) -> Closed<S> {
        Closed {
            slot: self.shared.wakers.claim(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// The standard's `close(closeInfo)`: starts the close handshake with
    /// the code and reason (none: a close frame without a body), or fails
    /// the handshake before open. Await [`closed`](Self::closed) for the
    /// outcome.
    ///
    /// # Errors
    ///
    /// As [`WebSocketError::new`] for the arguments.
    pub fn close(&self, info: Option<CloseInfo>) -> Result<(), Error> {
        let info = info.unwrap_or_default();
        let code = checked_close(info.close_code, &info.reason)?;
        lock(&self.shared.state).close(code, &info.reason);
        self.shared.wake_all();
        Ok(())
    }
}

/// The readable side: a `Stream` of text and binary [`Message`]s that
/// reads the network as it is pulled. It ends after a clean close; after
/// a failure it yields the [`WebSocketError`] once, then ends.
pub struct Readable<S = MaybeTlsStream> {
    shared: Arc<Shared<S>>,
    slot: usize,
    done: bool,
}

impl<S> core::fmt::Debug for Readable<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Readable").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Readable<S> {
    /// The standard's `readable.cancel(reason)`: closes the connection
    /// with the error's code and reason, or without a code; what arrives
    /// from now on is discarded.
    pub fn cancel(mut self, reason: Option<WebSocketError>) {
        self.give_up(reason);
    }

    fn give_up(&mut self, reason: Option<WebSocketError>) {
        self.done = true;
        let mut state = lock(&self.shared.state);
        state.readable_gone = true;
        state.ahead.clear();
        state.ahead_bytes = 0;
        state.ahead_cost = 0;
        if state.outcome.is_none() {
            let (code, reason) = reason.map_or((None, String::new()), |e| (e.close_code(), e.reason().into()));
            state.close(code, &reason);
        }
        drop(state);
        self.shared.wake_all();
    }
}

impl<S> Readable<S> {
    /// Payload bytes read ahead and queued for this readable (see
    /// [`WebSocketStreamOptions::read_ahead`]).
    pub fn queued_bytes(&self) -> usize {
        lock(&self.shared.state).ahead_bytes
    }
}

impl<S> Drop for Readable<S> {
    /// Nothing will read what arrives: it is discarded from now on, so
    /// the writable and `closed` keep the connection moving.
    fn drop(&mut self) {
        self.shared.wakers.release(self.slot);
        if !self.done {
            let mut state = lock(&self.shared.state);
            state.readable_gone = true;
            state.ahead.clear();
            state.ahead_bytes = 0;
            state.ahead_cost = 0;
            drop(state);
            self.shared.wake_all();
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for Readable<S> {
    type Item = Result<Message, WebSocketError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut freed_room = false;
        let next = this.shared.poll(this.slot, cx, |state, cx| {
            let was_full = state.read_ahead > 0 && state.ahead_cost >= state.read_ahead;
            let message = ready!(state.pump(cx, Who::Reader));
            freed_room = was_full && state.ahead_cost < state.read_ahead;
            Poll::Ready(match message {
                Some(message) => Some(Ok(message)),
                None if !state.readable_errored => {
                    state.readable_errored = true;
                    state.error().map(Err)
                }
                None => None,
            })
        });
        if let Poll::Ready(None) = next {
            this.done = true;
        }
        if freed_room {
            // A handle that stopped at the read-ahead mark may read on.
            this.shared.wake_all();
        }
        next
    }
}

/// The writable side: a `Sink` of [`Message`]s. A message is written
/// before `poll_ready` lets the next one in (down to the write high-water
/// mark), so a full transport makes the sender wait.
pub struct Writable<S = MaybeTlsStream> {
    shared: Arc<Shared<S>>,
    slot: usize,
}

impl<S> Drop for Writable<S> {
    fn drop(&mut self) {
        self.shared.wakers.release(self.slot);
    }
}

/// A slot held for the length of a future (`opened`).
struct SlotGuard<'a, S>(usize, &'a Shared<S>);

impl<'a, S> SlotGuard<'a, S> {
    fn claim(shared: &'a Shared<S>) -> Self {
        Self(shared.wakers.claim(), shared)
    }
}

impl<S> Drop for SlotGuard<'_, S> {
    fn drop(&mut self) {
        self.1.wakers.release(self.0);
    }
}

impl<S> core::fmt::Debug for Writable<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Writable").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Writable<S> {
    /// The standard's `writable.abort(reason)`: closes the connection with
    /// the error's code and reason, or without a code.
    pub fn abort(self, reason: Option<WebSocketError>) {
        let mut state = lock(&self.shared.state);
        if state.outcome.is_none() {
            let (code, reason) = reason.map_or((None, String::new()), |e| (e.close_code(), e.reason().into()));
            state.close(code, &reason);
        }
        drop(state);
        self.shared.wake_all();
    }
}

/// Runs `f` on the open connection: the stream's error once it ended, and
/// `f`'s error as the stream's.
fn with_open<S: AsyncRead + AsyncWrite + Unpin>(
    state: &mut State<S>,
    f: impl FnOnce(&mut Inner<S>) -> Poll<Result<(), Error>>,
) -> Poll<Result<(), WebSocketError>> {
    if let Some(e) = state.error() {
        return Poll::Ready(Err(e));
    }
    let result = match &mut state.phase {
        Phase::Open(inner) => ready!(f(inner)),
        _ => Err(Error::Misuse(crate::Misuse::NotOpen)),
    };
    Poll::Ready(as_stream_error(state, result))
}

/// `f`'s error as the stream's: the error the connection ended with, if
/// it did.
fn as_stream_error<S>(state: &State<S>, result: Result<(), Error>) -> Result<(), WebSocketError> {
    result.map_err(|e| state.error().unwrap_or_else(|| WebSocketError::failure(e)))
}

/// A refusal (a misuse: the connection is closing) from a connection that
/// failed while no handle was reading (a timer, during a write): takes
/// the failure's events, which wait without a read, so the refusal is the
/// connection's error, as `closed`'s will be.
#[cold]
#[inline(never)]
fn failure_over_refusal<S: AsyncRead + AsyncWrite + Unpin>(
    state: &mut State<S>,
    cx: &mut Context<'_>,
    result: Result<(), WebSocketError>,
) -> Result<(), WebSocketError> {
    // Asked only of a refusal: every successful `Sink` call passes here.
    let refused = matches!(&result, Err(e) if matches!(e.cause(), Some(Error::Misuse(_))));
    if refused
        && state.outcome.is_none()
        && matches!(&state.phase, Phase::Open(inner) if inner.driver.failure_pending())
    {
        let _ = state.pump(cx, Who::Other);
        if let Some(e) = state.error() {
            return Err(e);
        }
    }
    result
}

/// While a write waits on a full transport, reads on into the readable's
/// read-ahead room (or discards, once the readable is gone), so two peers
/// that both write before they read wait on each other only beyond it. If
/// the connection ended meanwhile: its error, or the refusal to send.
fn read_while_blocked<S: AsyncRead + AsyncWrite + Unpin>(
    state: &mut State<S>,
    cx: &mut Context<'_>,
    write: Poll<Result<(), WebSocketError>>,
) -> Poll<Result<(), WebSocketError>> {
    if write.is_pending()
        && (state.readable_gone || state.ahead_cost < state.read_ahead)
        && state.pump(cx, Who::Other).is_ready()
    {
        return with_open(state, |inner| Poll::Ready(inner.driver.sendable()));
    }
    match write {
        Poll::Ready(Err(refused)) => Poll::Ready(failure_over_refusal(state, cx, Err(refused))),
        write => write,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for Writable<S> {
    type Error = WebSocketError;

    /// Ready once at most the write high-water mark is queued.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WebSocketError>> {
        self.shared.poll(self.slot, cx, |state, cx| {
            let write = with_open(state, |inner| {
                let limit = inner.driver.high_water_mark;
                inner.drive(cx, |d, io| d.poll_sink_drain(io, limit))
            });
            read_while_blocked(state, cx, write)
        })
    }

    /// Refused once the close handshake started (the standard discards
    /// such a write and reports success; a Rust sender is told).
    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), WebSocketError> {
        let mut state = lock(&self.shared.state);
        if let Some(e) = state.error() {
            return Err(e);
        }
        let sent = match &mut state.phase {
            Phase::Open(inner) => inner.driver.start_send(message),
            _ => Err(Error::Misuse(crate::Misuse::NotOpen)),
        };
        let refused = as_stream_error(&state, sent);
        if refused.is_ok() {
            return refused;
        }
        // The shared waker, as every poll of the transport uses.
        let mut cx = Context::from_waker(&self.shared.waker);
        let before = state.stage();
        let result = failure_over_refusal(&mut state, &mut cx, refused);
        let moved = state.stage() != before;
        drop(state);
        if moved {
            self.shared.wake_all();
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WebSocketError>> {
        self.shared.poll(self.slot, cx, |state, cx| {
            let write = with_open(state, |inner| inner.drive(cx, |d, io| d.poll_sink_flush(io)));
            read_while_blocked(state, cx, write)
        })
    }

    /// The standard's writable close: the close handshake, without a code;
    /// ready once the close frame is written.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WebSocketError>> {
        self.shared.poll(self.slot, cx, |state, cx| {
            with_open(state, |inner| {
                if inner.driver.ready_state() == ReadyState::Open {
                    let now = inner.now();
                    inner.driver.close(now, None, None)?;
                }
                inner.drive(cx, |d, io| d.poll_settle(io))
            })
        })
    }
}

/// The standard's `closed` (see [`WebSocketStream::closed`]).
pub struct Closed<S = MaybeTlsStream> {
    shared: Arc<Shared<S>>,
    slot: usize,
}

impl<S> Clone for Closed<S> {
    fn clone(&self) -> Self {
        Self {
            slot: self.shared.wakers.claim(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S> Drop for Closed<S> {
    fn drop(&mut self) {
        self.shared.wakers.release(self.slot);
    }
}

impl<S> core::fmt::Debug for Closed<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Closed").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Future for Closed<S> {
    type Output = Result<CloseInfo, WebSocketError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.shared.poll(self.slot, cx, |state, cx| {
            ready!(state.pump(cx, Who::Other));
            Poll::Ready(
                state
                    .outcome
                    .clone()
                    .unwrap_or_else(|| Err(WebSocketError::failure(Error::ClosedBeforeOpen))),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A stream dropped while its handshake waits leaves no waker with the
    // signal (a review found one kept per stream until the next abort).
    #[tokio::test]
    async fn a_stream_gone_before_open_leaves_nothing_with_its_signal() {
        let listener = ::tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = std::format!("ws://{}/", listener.local_addr().unwrap());
        let controller = AbortController::new();
        let signal = controller.signal();
        let waiting = || lock(&signal.inner.wakers).len();
        for _ in 0..3 {
            let options = WebSocketStreamOptions::new().signal(controller.signal());
            let wss = WebSocketStream::new(&url, options).unwrap();
            // The server accepts and never answers: the handshake waits.
            let opened = ::tokio::time::timeout(core::time::Duration::from_millis(50), wss.opened()).await;
            assert!(opened.is_err(), "the handshake was not left waiting");
            assert_eq!(waiting(), 1);
            drop(wss);
            assert_eq!(waiting(), 0, "the signal kept the dropped stream's waker");
        }
    }
}
