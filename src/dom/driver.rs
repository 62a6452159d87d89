//! The driver core: everything the blocking and the tokio driver do, written
//! once over an [`Io`] adapter that only reads, writes, flushes, shuts down
//! and tells the time.
//!
//! A driver owns a [`Driver`] and its transport; for each call it wraps the
//! transport (and, for tokio, the task's `Context` and timer) in an [`Io`]
//! and runs one of the `poll_*` methods here. Every rule — when to read,
//! when to write, the idle-read policy, what a timeout or an I/O error
//! means, how the transport is closed — lives in this file, so the two
//! drivers cannot drift apart. A blocking adapter never returns
//! `Poll::Pending` unless the caller asked not to wait (`try_*`), in which
//! case `Pending` means "would block".

use super::{AsEvent, AsMessage, BinaryType, Data, Dom, Event, Form, Message, Next, Whole};
use crate::close::{CloseCode, OwnedCloseFrame};
use crate::connection::{Connection, ReadyState};
use crate::error::Error;
use crate::frame::OpCode;
use crate::handshake::{Accept, Request};
use core::task::{Poll, ready};
use core::time::Duration;
use std::io::{self, ErrorKind};
use std::vec::Vec;

/// Reads shorter than this suggest a quiet peer: the next read waits in a
/// stack buffer, so an idle connection holds no read buffer.
pub(crate) const IDLE_READ: usize = 512;

/// How long a transport keeps its read buffer after a burst whose last
/// read was long (async), or after its last burst of long reads (blocking,
/// with read timeouts): the next burst likely follows soon (a peer sending
/// large messages one at a time), and a connection that stays idle gives
/// the buffer back after this, not never.
const KEEP_READ_BUFFER: Duration = Duration::from_secs(1);

/// How long closing the transport may wait for a failed connection's last
/// output (its close frame) to go out: a blocking transport's writes, an
/// async one's flush and shutdown (a TLS stream's close_notify). An async
/// transport's writes do not wait at all.
const CLOSE_WRITE_WAIT: Duration = Duration::from_millis(10);

/// What a driver can do with its transport and clock. Each method either
/// completes (`Ready`) or, for a transport that must not wait now,
/// returns `Pending` (an async task is then woken when it may retry).
pub(crate) trait Io {
    /// The time on the core's clock (since the driver started).
    fn now(&self) -> Duration;

    /// `Ready` once `deadline` has passed. Until then the adapter makes sure
    /// the next read returns by the deadline (a socket read timeout, a timer
    /// that wakes the task). `None`: no deadline; drop any timer.
    fn poll_deadline(&mut self, deadline: Option<Duration>) -> Poll<()>;

    /// Reads into `buf`. A blocking read cut short by its timeout reports
    /// `WouldBlock` or `TimedOut`.
    fn poll_read(&mut self, buf: &mut [u8]) -> Poll<io::Result<usize>>;

    /// Reads at most [`IDLE_READ`] bytes into a buffer on the stack (an
    /// idle connection holds none of its own) and hands them to `take`
    /// with the time they arrived, which is also returned.
    #[inline(always)]
    fn poll_read_stack(&mut self, take: impl FnOnce(Duration, &[u8])) -> Poll<(Duration, io::Result<usize>)> {
        let mut stack = [0u8; IDLE_READ];
        let result = ready!(self.poll_read(&mut stack));
        let now = self.now();
        if let Ok(n) = result {
            take(now, &stack[..n]);
        }
        Poll::Ready((now, result))
    }

    /// Writes from `buf`.
    fn poll_write(&mut self, buf: &[u8]) -> Poll<io::Result<usize>>;

    /// Writes from `bufs`, in order, as one write where the transport can.
    fn poll_write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>>;

    /// Flushes what the transport buffered.
    fn poll_flush(&mut self) -> Poll<io::Result<()>>;

    /// Closes the transport in both directions.
    fn poll_shutdown(&mut self) -> Poll<io::Result<()>>;

    /// Whether a write may wait (a blocking transport): the deadline must
    /// then be armed before each write, not only once one has waited.
    fn writes_wait(&self) -> bool;

    /// Whether a deadline given earlier is still armed (a socket timeout,
    /// a timer).
    fn has_timer(&self) -> bool;

    /// Whether a read that waits returns by the deadline given to
    /// [`Io::poll_deadline`] (a socket with a read timeout; a transport
    /// that returns `Pending` never waits).
    fn reads_time_out(&self) -> bool;
}

/// The TLS settings a `wss://` connection uses.
#[cfg(feature = "rustls")]
pub(crate) type TlsConfig = std::sync::Arc<rustls::ClientConfig>;
/// No TLS in this build: nothing to configure.
#[cfg(not(feature = "rustls"))]
pub(crate) type TlsConfig = core::convert::Infallible;

/// One thing the DOM layer produced, before the driver's API filters it.
/// `M` is a message in the form the caller returns.
pub(crate) enum Step<M> {
    Message(M),
    /// Open, error or close.
    Dom(Event),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A server handshake awaits a decision (see [`Driver::poll_handshake`]).
    Decide,
}

/// The state both drivers share: the DOM layer (which owns the protocol
/// core) and the driver's own settings.
pub(crate) struct Driver {
    dom: Dom,
    /// How binary messages are handed to event consumers.
    pub(crate) binary_type: BinaryType,
    /// Output that may stay queued when a send returns.
    pub(crate) high_water_mark: usize,
    /// Bytes the last read returned, to tell a quiet peer from a stream.
    last_read: usize,
    /// When the transport gives back the read buffer it kept through a
    /// quiet moment (see [`KEEP_READ_BUFFER`]): an async one through a
    /// `Pending` read, a blocking one whose reads time out through a short
    /// read.
    release_at: Option<Duration>,
    /// The last read was long and moved `release_at`, the only deadline,
    /// from a clock reading taken after it (see `poll_read_once`).
    release_moved: bool,
    /// When closing the transport stops waiting for its last writes, fixed
    /// at the first attempt (see `poll_close_transport`).
    close_by: Option<Duration>,
}

impl core::fmt::Debug for Driver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.dom.fmt(f)
    }
}

impl Driver {
    pub(crate) fn new(conn: Connection, url: std::string::String) -> Self {
        Self {
            dom: Dom::new(conn, url),
            binary_type: BinaryType::default(),
            high_water_mark: 0,
            last_read: 0,
            release_at: None,
            release_moved: false,
            close_by: None,
        }
    }

    // ------------------------------------------------------------ attributes

    pub(crate) fn url(&self) -> &str {
        &self.dom.url
    }

    pub(crate) fn ready_state(&self) -> ReadyState {
        self.dom.ready_state()
    }

    pub(crate) fn protocol(&self) -> &str {
        self.dom.conn.protocol().unwrap_or("")
    }

    pub(crate) fn extensions(&self) -> &str {
        self.dom.conn.extensions()
    }

    pub(crate) fn buffered_amount(&self) -> u64 {
        self.dom.buffered_amount()
    }

    pub(crate) fn peer_close(&self) -> Option<&OwnedCloseFrame> {
        self.dom.peer_close()
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.dom.conn
    }

    /// When the driver next needs the clock: the core's next deadline, or
    /// the kept read buffer's release if sooner.
    pub(crate) fn poll_timeout(&self) -> Option<Duration> {
        // A closed transport reads no more: a release still armed then
        // would be a deadline in the past for good (`next_deadline`).
        let release = self.release_at.filter(|_| self.dom.transport_open());
        match (self.dom.conn.poll_timeout(), release) {
            (Some(core), Some(release)) => Some(core.min(release)),
            (core, release) => core.or(release),
        }
    }

    /// Whether an open socket has more than the high-water mark queued (a
    /// non-blocking send refuses then).
    pub(crate) fn over_high_water_mark(&self) -> bool {
        self.ready_state() == ReadyState::Open && self.dom.conn.pending_output_len() > self.high_water_mark
    }

    /// Whether the connection failed (in the core, or with its error
    /// event waiting in the DOM layer): its events come out of the next
    /// poll without a read.
    #[cfg(feature = "tokio")]
    pub(crate) fn failure_pending(&self) -> bool {
        self.gave_up() || self.dom.failure_pending()
    }

    /// Whether a message may be sent now ([`Dom::sendable`]).
    #[cfg(feature = "tokio")]
    pub(crate) fn sendable(&self) -> Result<(), Error> {
        self.dom.sendable()
    }

    /// Whether the transport is still open.
    #[cfg(feature = "tokio")]
    pub(crate) fn transport_open(&self) -> bool {
        self.dom.transport_open()
    }

    /// Whether output waits to be written.
    pub(crate) fn has_output(&self) -> bool {
        !self.dom.conn.pending_output().is_empty()
    }

    /// The transport could not be opened: the connection fails as the DOM
    /// says (error, then close with 1006).
    pub(crate) fn fail(&mut self, error: Error) {
        self.dom.fail(error);
    }

    // ------------------------------------------------------------ methods

    /// Tells the core the time: timers it arms next (a close) count from
    /// now, not from the last read.
    pub(crate) fn tick(&mut self, now: Duration) {
        self.dom.conn.handle_timeout(now);
    }

    /// The DOM's `send(data)` (see [`Dom::send`]).
    pub(crate) fn send(&mut self, data: &Data<'_>) -> Result<bool, Error> {
        self.dom.send(data)
    }

    /// The `Sink`'s `start_send` (and the blocking `send_message`): text,
    /// binary, parts, pings and pongs; an error once the connection is
    /// closing or its transport failed ([`Dom::sendable`]). A text or
    /// binary message while a message of its kind is sent in parts is
    /// that message's last part.
    /// A message as one frame of declared length (`Connection::begin_message`),
    /// with `start_send`'s errors.
    pub(crate) fn begin_message(&mut self, text: bool, len: u64) -> Result<(), Error> {
        self.dom.sendable()?;
        self.dom.begin_message(text, len).map(drop)
    }

    /// The next bytes of that frame (`Connection::send_payload`), also
    /// after the peer's close; write them with `poll_drain`.
    pub(crate) fn send_payload(&mut self, data: &[u8]) -> Result<(), Error> {
        self.dom.send_payload(data).map(drop)
    }

    pub(crate) fn start_send(&mut self, message: Message) -> Result<(), Error> {
        self.dom.sendable()?;
        let in_parts = self.dom.conn.message_in_parts();
        match message {
            Message::Text(text) if in_parts == Some(OpCode::Text) => {
                self.dom.send_part(&Data::from(&*text), true).map(drop)
            }
            Message::Binary(bytes) if in_parts == Some(OpCode::Binary) => {
                self.dom.send_part(&Data::from(&*bytes), true).map(drop)
            }
            Message::Text(text) => self.dom.send_owned(Whole::Text(text)).map(drop),
            Message::Binary(bytes) => self.dom.send_owned(Whole::Binary(bytes)).map(drop),
            Message::TextPart(text) => self.dom.send_part(&Data::from(&*text), false).map(drop),
            Message::BinaryPart(data) => self.dom.send_part(&Data::from(&*data), false).map(drop),
            Message::Ping(data) => self.dom.conn.ping(&data),
            Message::Pong(data) => self.dom.conn.pong(&data),
        }
    }

    /// Queues a ping.
    pub(crate) fn ping(&mut self, data: &[u8]) -> Result<(), Error> {
        self.dom.conn.ping(data)
    }

    /// The DOM's `close(code, reason)`, at time `now`.
    pub(crate) fn close(&mut self, now: Duration, code: Option<u16>, reason: Option<&str>) -> Result<(), Error> {
        self.tick(now);
        self.dom.close(code, reason)
    }

    /// A close with any sendable code, at time `now`.
    pub(crate) fn close_with(&mut self, now: Duration, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.tick(now);
        self.dom.close_with(code, reason)
    }

    /// WHATWG WebSockets §"Garbage collection": "If a WebSocket object is
    /// garbage collected while its connection is still open, the user
    /// agent must start the WebSocket closing handshake, with no status
    /// code for the Close message." Dropping the socket is that moment.
    /// `true` if there is a close frame to write.
    pub(crate) fn close_on_drop(&mut self, now: Duration) -> bool {
        self.tick(now);
        if self.ready_state() != ReadyState::Open {
            return false;
        }
        self.dom.conn.close_without_code();
        true
    }

    // ------------------------------------------------------------ the loop

    /// One event, message, ping or pong, or `None` after the close event:
    /// the DOM layer decides, `io` does it. `message` makes a received
    /// message into the form the caller returns.
    #[inline]
    pub(crate) fn poll_step<F: Form>(&mut self, io: &mut impl Io, form: F) -> Poll<Option<Step<F::Out>>> {
        loop {
            match self.dom.next(&form) {
                Next::Event(event) => return Poll::Ready(Some(Step::Dom(event))),
                Next::Message(m) => return Poll::Ready(Some(Step::Message(m))),
                Next::Ping(data) => {
                    // Send the pong before handing the ping over, as far as
                    // the transport takes it now.
                    if let Poll::Ready(Err(e)) = self.poll_write_down_to(io, 0) {
                        self.dom.write_failed(e);
                    }
                    return Poll::Ready(Some(Step::Ping(data)));
                }
                Next::Pong(data) => return Poll::Ready(Some(Step::Pong(data))),
                Next::Decide => return Poll::Ready(Some(Step::Decide)),
                Next::Done => return Poll::Ready(None),
                Next::CloseTransport => ready!(self.poll_close_transport(io)),
                Next::Write => match self.poll_write_down_to(io, 0) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => self.dom.write_failed(e),
                    // The peer may be waiting for us to read before it reads
                    // what we write (two pipelining peers): read on.
                    Poll::Pending if self.dom.may_read_while_write_blocked() => ready!(self.poll_read_once(io)),
                    Poll::Pending => return Poll::Pending,
                },
                Next::Read => ready!(self.poll_read_once(io)),
            }
        }
    }

    /// The next event (`next_event`); `None` after the close event.
    #[inline]
    pub(crate) fn poll_event(&mut self, io: &mut impl Io) -> Poll<Option<Event>> {
        let binary_type = self.binary_type;
        loop {
            match ready!(self.poll_step(io, AsEvent(binary_type))) {
                Some(Step::Message(event) | Step::Dom(event)) => return Poll::Ready(Some(event)),
                Some(Step::Ping(_) | Step::Pong(_) | Step::Decide) => {}
                None => return Poll::Ready(None),
            }
        }
    }

    /// The next message (`read`, the `Stream`): pings and pongs included,
    /// open and close skipped; a failure is one `Err`, then `None`.
    #[inline]
    pub(crate) fn poll_message(&mut self, io: &mut impl Io) -> Poll<Option<Result<Message, Error>>> {
        loop {
            // The message is copied once, from the core's buffer into the
            // `Message`; no event is built for it.
            match ready!(self.poll_step(io, AsMessage)) {
                Some(Step::Message(message)) => return Poll::Ready(Some(Ok(message))),
                Some(Step::Ping(data)) => return Poll::Ready(Some(Ok(Message::Ping(data.into())))),
                Some(Step::Pong(data)) => return Poll::Ready(Some(Ok(Message::Pong(data.into())))),
                Some(Step::Dom(Event::Error(e))) => return Poll::Ready(Some(Err(e.error))),
                Some(Step::Dom(_) | Step::Decide) => {}
                None => return Poll::Ready(None),
            }
        }
    }

    /// Drives the opening handshake to the open event, keeping that event
    /// for the application; a failure is the `Err`.
    pub(crate) fn poll_handshake(
        &mut self,
        io: &mut impl Io,
        decide: &mut Option<impl FnOnce(&Request) -> Result<Accept, u16>>,
    ) -> Poll<Result<(), Error>> {
        let binary_type = self.binary_type;
        loop {
            match ready!(self.poll_step(io, AsEvent(binary_type))) {
                Some(Step::Dom(Event::Open)) => {
                    self.dom.unread(Event::Open);
                    return Poll::Ready(Ok(()));
                }
                Some(Step::Dom(Event::Error(e))) => return Poll::Ready(Err(e.error)),
                Some(Step::Decide) => self.dom.decide(decide)?,
                Some(_) => {}
                None => return Poll::Ready(Err(Error::Io(io::Error::from(ErrorKind::UnexpectedEof)))),
            }
        }
    }

    /// Backpressure: ready once at most `limit` bytes are queued. A
    /// transport failure is not the caller's error (as in the DOM): it
    /// becomes error and close events.
    #[inline]
    pub(crate) fn poll_drain(&mut self, io: &mut impl Io, limit: usize) -> Poll<()> {
        if !self.dom.transport_open() {
            return Poll::Ready(());
        }
        if let Err(e) = ready!(self.poll_write_down_to(io, limit)) {
            self.dom.write_failed(e);
        }
        Poll::Ready(())
    }

    /// After a close: write the close frame, or close the transport of a
    /// connection that failed.
    pub(crate) fn poll_settle(&mut self, io: &mut impl Io) -> Poll<Result<(), Error>> {
        if self.dom.transport_to_close() {
            ready!(self.poll_close_transport(io));
        }
        if self.dom.transport_open() && self.has_output() {
            return self.poll_write_down_to(io, 0);
        }
        Poll::Ready(Ok(()))
    }

    /// The `Sink`'s `poll_ready` (`limit`: the high-water mark) and
    /// `poll_flush` (0): write down to `limit`, then report whether the
    /// connection can still take a message, so a task that only writes
    /// learns of a failed transport.
    pub(crate) fn poll_sink_drain(&mut self, io: &mut impl Io, limit: usize) -> Poll<Result<(), Error>> {
        self.dom.sendable()?;
        ready!(self.poll_drain(io, limit));
        Poll::Ready(self.dom.sendable())
    }

    #[cfg(feature = "tokio")]
    /// The `Sink`'s `poll_flush`: write everything; the transport's error
    /// if it failed (a close already written is not an error here).
    pub(crate) fn poll_sink_flush(&mut self, io: &mut impl Io) -> Poll<Result<(), Error>> {
        ready!(self.poll_drain(io, 0));
        match self.dom.sendable() {
            Err(Error::Io(e)) => Poll::Ready(Err(Error::Io(e))),
            _ => Poll::Ready(Ok(())),
        }
    }

    #[cfg(feature = "tokio")]
    /// The `Sink`'s `poll_close`: start the close handshake with 1000 if
    /// open, and write it. The peer's answer arrives on the read side.
    pub(crate) fn poll_sink_close(&mut self, io: &mut impl Io) -> Poll<Result<(), Error>> {
        if self.ready_state() == ReadyState::Open {
            self.close(io.now(), Some(1000), None)?;
        }
        self.poll_settle(io)
    }

    // ------------------------------------------------------------ transport

    /// Writes until at most `limit` bytes stay queued (and flushes when
    /// `limit` is 0). The core's deadlines hold while the write waits: once
    /// one ends the connection, this returns `Ok` with output still queued,
    /// and the failure comes out of the next poll of the DOM layer.
    // Always inlined: it is the whole of a send's write (benches/compare
    // callgrind, send_binary_16_b, tokio driver).
    #[inline(always)]
    pub(crate) fn poll_write_down_to(&mut self, io: &mut impl Io, limit: usize) -> Poll<Result<(), Error>> {
        if !self.dom.transport_open() {
            return Poll::Ready(Err(Error::Io(io::Error::from(ErrorKind::NotConnected))));
        }
        // A blocking write must start bounded by the next deadline; with
        // no deadline and no timeout left on the transport there is
        // nothing to arm (the common case: no clock read, no call).
        if io.writes_wait()
            && self.dom.conn.pending_output_len() > limit
            && (self.dom.conn.has_timeout() || io.has_timer() || self.gave_up())
            && self.expired(io)
        {
            return Poll::Ready(Ok(()));
        }
        loop {
            let len = self.dom.conn.pending_output_len();
            if len <= limit {
                break;
            }
            match write_pending(&self.dom.conn, len, io) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::Error::from(ErrorKind::WriteZero).into())),
                Poll::Ready(Ok(n)) => {
                    self.dom.wrote(n);
                    // A short write: the transport is full, and a blocking
                    // one may have waited out its timeout.
                    if n < len && self.expired(io) {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                // A blocking write cut short by its timeout (the deadline
                // the adapter was given): the timer decides.
                Poll::Ready(Err(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if let Some(done) = self.cut_short(io, e) {
                        return Poll::Ready(done);
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending if self.expired(io) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        // A TLS stream writes its records to the socket here, so its flush
        // waits as a write does.
        if limit == 0 {
            // A write that waited out the transport's timeout may still
            // report success (rustls takes the bytes and ignores the failed
            // socket write): the flush must start bounded by what is left
            // of the deadline, not by a timeout set for one that passed.
            if io.writes_wait() && (self.dom.conn.has_timeout() || io.has_timer()) && self.expired(io) {
                return Poll::Ready(Ok(()));
            }
            loop {
                // A flush that waits (a TLS stream over a full socket)
                // watches the timers as a write that waits does: a close
                // to a peer that stopped reading waited for it for good.
                let flushed = match io.poll_flush() {
                    Poll::Ready(flushed) => flushed,
                    Poll::Pending if self.expired(io) => return Poll::Ready(Ok(())),
                    Poll::Pending => return Poll::Pending,
                };
                match flushed {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        if let Some(done) = self.cut_short(io, e) {
                            return Poll::Ready(done);
                        }
                    }
                    Err(e) => return Poll::Ready(Err(e.into())),
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// A blocking write or flush cut short by its timeout: the timer
    /// decides. `Some` ends the write: `Ok` once a timer ended the
    /// connection, the error if no deadline of ours was armed (the timeout
    /// is the caller's own). `None`: a deadline of ours passed and was
    /// handled (a keepalive ping, the read buffer's release), and the
    /// write goes on.
    #[cold]
    fn cut_short(&mut self, io: &mut impl Io, e: io::Error) -> Option<Result<(), Error>> {
        let ours = self.poll_timeout().is_some();
        if self.expired(io) {
            return Some(Ok(()));
        }
        (!ours).then(|| Err(e.into()))
    }

    /// Gives the core the time if a deadline passed (re-arming the adapter
    /// for the next one otherwise): `true` once a timer ended the
    /// connection, so waiting on the transport is pointless.
    #[inline]
    fn expired(&mut self, io: &mut impl Io) -> bool {
        // Each pass handles every due timer; a keepalive ping arms the next
        // one strictly later, so a few passes always suffice.
        for _ in 0..4 {
            if io.poll_deadline(self.poll_timeout()).is_pending() {
                break;
            }
            self.deadline_passed(io.now());
        }
        self.gave_up()
    }

    /// A deadline passed: the core's timers, or the read buffer's release,
    /// after which the next read waits in the stack buffer.
    fn deadline_passed(&mut self, now: Duration) {
        if self.release_at.is_some_and(|at| at <= now) {
            self.release_at = None;
            self.last_read = 0;
            self.dom.conn.release_buffers();
            self.dom.small.stop();
        }
        self.tick(now);
    }

    /// Whether the connection failed (a timer, or a failure not yet handed
    /// out as events).
    #[inline]
    fn gave_up(&self) -> bool {
        let conn = &self.dom.conn;
        conn.ready_state() == ReadyState::Closed && !conn.is_closed_cleanly()
    }

    /// Reads once into the core, or lets the core's deadline pass; ready
    /// once something happened.
    fn poll_read_once(&mut self, io: &mut impl Io) -> Poll<()> {
        // After a long read that moved the read buffer's release a second
        // ahead, with no deadline of the core's armed, the clock is not
        // asked again before the next read: the transport's timeout, set
        // when the release was armed, bounds that read, so the release is
        // at most that late (benches/compare callgrind, recv_binary_64_kib:
        // a clock reading before each of the two reads per message was 170
        // of the blocking driver's instructions).
        let moved = core::mem::take(&mut self.release_moved) && self.dom.conn.poll_timeout().is_none();
        if !moved && io.poll_deadline(self.poll_timeout()).is_ready() {
            self.deadline_passed(io.now());
            return Poll::Ready(());
        }
        if !self.dom.transport_open() {
            self.dom
                .read_failed(Error::Io(io::Error::from(ErrorKind::NotConnected)));
            return Poll::Ready(());
        }
        // A quiet connection holds no heap buffer: it waits in a stack
        // buffer, and a streaming peer is read straight into the core.
        // A short read with nothing left to parse suggests quiet, but the
        // buffer in hand is kept a while (`KEEP_READ_BUFFER`) where a
        // timer can give it back: a peer that sends one large message at
        // a time would otherwise cost each message a new, zeroed buffer
        // (benches/compare callgrind, recv_binary_64_kib: 926 of the
        // blocking driver's 14,759 instructions went to zeroing it). A
        // transport that returns `Pending` says exactly when the peer is
        // quiet: see the `Pending` arm. One that waits cannot say in
        // advance, so it keeps the buffer only if its reads time out, and
        // the interval runs from its last long read.
        // The core hears the time before the bytes, so the timers the
        // bytes re-arm (keepalive) count from now; one clock reading per
        // read serves that and the timers' check (benches/compare
        // callgrind, recv_binary_16_b_one_per_read: a second reading and
        // pass over the timers cost every read about 100 instructions).
        let waits = io.writes_wait();
        let quiet = self.last_read < IDLE_READ && !self.dom.conn.has_buffered_input();
        if quiet && waits && self.dom.conn.holds_read_buffer() {
            if !io.reads_time_out() {
                self.dom.conn.release_buffers();
            } else if self.release_at.is_none() {
                self.release_at = Some(io.now().saturating_add(KEEP_READ_BUFFER));
                // Bounds the read below; the deadline is a second away.
                let _ = io.poll_deadline(self.poll_timeout());
            }
        }
        let conn = &mut self.dom.conn;
        let result = if quiet && !conn.holds_read_buffer() {
            conn.release_buffers();
            // Small messages share blocks only while the peer streams (see
            // `small`).
            self.dom.small.stop();
            ready!(io.poll_read_stack(|now, bytes| {
                conn.handle_timeout(now);
                conn.receive(bytes);
            }))
        } else {
            match io.poll_read(conn.read_buffer()) {
                Poll::Ready(result) => {
                    let now = io.now();
                    (
                        now,
                        result.inspect(|&n| {
                            conn.handle_timeout(now);
                            conn.commit_read(n);
                        }),
                    )
                }
                // After a burst that ended short the buffer goes back at
                // once; after one that ended long it stays for
                // `KEEP_READ_BUFFER` (kept for good it held 12 KiB per
                // idle connection after a 2,000-byte message,
                // benches/compare idle.sh). Nothing is kept while a frame
                // is unfinished: the buffer holds its bytes, and a timer
                // for it would fire for nothing every interval. The block
                // goes back at once: a burst that needs one makes it again.
                Poll::Pending => {
                    if quiet && !waits {
                        conn.release_buffers();
                    } else if !waits && self.release_at.is_none() && !conn.has_buffered_input() {
                        self.release_at = Some(io.now().saturating_add(KEEP_READ_BUFFER));
                        // Ready only if the clock jumped past it.
                        let _ = io.poll_deadline(self.poll_timeout());
                    }
                    self.dom.small.stop();
                    return Poll::Pending;
                }
            }
        };
        let (now, result) = result;
        match result {
            Ok(0) => conn.receive_eof(),
            Ok(n) => {
                self.last_read = n;
                if !waits {
                    self.release_at = None;
                } else if n >= IDLE_READ && self.release_at.is_some() {
                    // Moved, not cleared: the transport's timeout, set
                    // for about this long already, needs no new call.
                    self.release_at = Some(now.saturating_add(KEEP_READ_BUFFER));
                    self.release_moved = true;
                }
                self.dom.small.read(n);
            }
            // A blocking read that timed out: the clock decides what that
            // means.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                self.tick(now)
            }
            Err(e) => {
                self.dom.read_failed(e.into());
                self.tick(now);
            }
        }
        Poll::Ready(())
    }

    /// Writes what the transport takes at once, consulting no timer (a
    /// destructor may run where there is none).
    #[cfg(feature = "tokio")]
    pub(crate) fn write_what_fits(&mut self, io: &mut impl Io) {
        while self.dom.transport_open() && self.has_output() {
            match write_pending(&self.dom.conn, self.dom.conn.pending_output_len(), io) {
                Poll::Ready(Ok(n)) if n > 0 => self.dom.wrote(n),
                Poll::Ready(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                _ => break,
            }
        }
    }

    /// Writes what the transport takes (the close frame a failure queued,
    /// or an HTTP refusal), then shuts it down.
    pub(crate) fn poll_close_transport(&mut self, io: &mut impl Io) -> Poll<()> {
        if !self.dom.transport_to_close() {
            return Poll::Ready(());
        }
        let flush = self.dom.flush_before_close();
        // "Without waiting", as far as the transport allows: a blocking
        // one's writes wait at most this long, and an async one's flush and
        // shutdown (a TLS stream's close_notify) are given up on after it.
        // Fixed at the first attempt: set anew at each, it never passed,
        // and a failed connection over a full socket never closed.
        let by = *self
            .close_by
            .get_or_insert_with(|| io.now().saturating_add(CLOSE_WRITE_WAIT));
        let waited = io.poll_deadline(Some(by)).is_ready();
        while flush && self.has_output() {
            match write_pending(&self.dom.conn, self.dom.conn.pending_output_len(), io) {
                Poll::Ready(Ok(n)) if n > 0 => self.dom.wrote(n),
                Poll::Ready(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        // A flush or shutdown error changes nothing: the connection is
        // over.
        if flush && io.poll_flush().is_pending() && !waited {
            return Poll::Pending;
        }
        if io.poll_shutdown().is_pending() && !waited {
            return Poll::Pending;
        }
        let _ = io.poll_deadline(None);
        self.dom.transport_closed();
        Poll::Ready(())
    }
}

/// Writes pending output (`len` bytes in all): the one piece as it is, or
/// the pieces of payloads queued by reference
/// (`Connection::send_binary_bytes`) with their headers in one vectored
/// write.
#[inline(always)]
fn write_pending(conn: &Connection, len: usize, io: &mut impl Io) -> Poll<io::Result<usize>> {
    let pending = conn.pending_output();
    if pending.len() == len {
        io.poll_write(pending)
    } else {
        write_pieces(conn, io)
    }
}

#[inline(never)]
fn write_pieces(conn: &Connection, io: &mut impl Io) -> Poll<io::Result<usize>> {
    let mut pieces: [&[u8]; 8] = [&[]; 8];
    let n = conn.pending_output_pieces(&mut pieces);
    let slices = pieces.map(io::IoSlice::new);
    io.poll_write_vectored(&slices[..n])
}

/// The attributes and settings both drivers show, written once: expands to
/// public methods reading the [`Driver`] at `self.$field`.
macro_rules! dom_attributes {
    ($($field:ident).+) => {
        /// The DOM's `url`: the URL as resolved (`ws`/`wss`, host with a
        /// non-default port, path and query); empty for a connection
        /// accepted or established elsewhere.
        pub fn url(&self) -> &str {
            self.$($field).+.url()
        }

        /// The DOM's `readyState`. `as u16` gives the numeric value (0–3).
        ///
        /// Closing lasts from the start of the close handshake (either side)
        /// until the transport is closed; Closed is final.
        pub fn ready_state(&self) -> $crate::connection::ReadyState {
            self.$($field).+.ready_state()
        }

        /// The DOM's `protocol`: the subprotocol the server chose, empty until
        /// open or when none.
        pub fn protocol(&self) -> &str {
            self.$($field).+.protocol()
        }

        /// The DOM's `extensions`: the negotiated extensions, empty until open.
        pub fn extensions(&self) -> &str {
            self.$($field).+.extensions()
        }

        /// The DOM's `binaryType`: how binary messages are handed over in
        /// message events.
        pub fn binary_type(&self) -> $crate::dom::BinaryType {
            self.$($field).+.binary_type
        }

        /// Sets how binary messages dispatched from now on are handed over.
        pub fn set_binary_type(&mut self, binary_type: $crate::dom::BinaryType) {
            self.$($field).+.binary_type = binary_type;
        }

        /// The DOM's `bufferedAmount`: payload bytes passed to `send` and not
        /// yet handed to the transport (framing excluded), plus bytes sent
        /// while closing or closed, which are discarded but still counted.
        /// It never resets when the socket closes.
        pub fn buffered_amount(&self) -> u64 {
            self.$($field).+.buffered_amount()
        }

        /// Bytes of output that may stay queued when `send` returns (and
        /// above which a non-blocking send refuses or the `Sink` waits).
        /// Default 0: a send completes once everything is written.
        pub fn high_water_mark(&self) -> usize {
            self.$($field).+.high_water_mark
        }

        /// Sets the high-water mark; output queued below it is written by
        /// `flush`, before the next read, or by a later send.
        pub fn set_high_water_mark(&mut self, bytes: usize) {
            self.$($field).+.high_water_mark = bytes;
        }

        /// The peer's close frame, once received.
        pub fn peer_close(&self) -> Option<&$crate::close::OwnedCloseFrame> {
            self.$($field).+.peer_close()
        }

        /// The sans-IO core.
        pub fn connection(&self) -> &$crate::connection::Connection {
            self.$($field).+.connection()
        }
    };
}
pub(crate) use dom_attributes;

#[cfg(test)]
mod tests;
