//! [`WebSocket::split`](super::WebSocket::split): a read half and a write
//! half over one connection, for separate tasks.
//!
//! Both halves lock the same driver state for the length of one poll (never
//! across an `.await`). The transport keeps one waker per direction, and
//! either half may write (the read half writes pongs and the close reply)
//! or wait on a timer, so the halves poll it with a shared waker that wakes
//! both tasks: a wakeup meant for one is never lost to the other.

use super::{Inner, Message, Outgoing, Wait};
use crate::close::{CloseCode, OwnedCloseFrame};
use crate::connection::ReadyState;
use crate::dom::Event;
use crate::error::Error;
use ::tokio::io::{AsyncRead, AsyncWrite};
use core::future::poll_fn;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Wake;

/// The tasks waiting on either half.
#[derive(Default)]
struct Wakers {
    read: Mutex<Option<Waker>>,
    write: Mutex<Option<Waker>>,
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        for slot in [&self.read, &self.write] {
            if let Some(waker) = lock(slot).take() {
                waker.wake();
            }
        }
    }
}

struct Shared<S> {
    inner: Mutex<Inner<S>>,
    wakers: Arc<Wakers>,
}

/// A poisoned lock means a panic elsewhere mid-poll; the state itself is
/// still consistent between polls, so carry on with it (here and in
/// `WebSocketStream`'s shared state).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<S> Shared<S> {
    /// Runs `f` on the state with a waker that wakes both halves, after
    /// recording this task's waker in `slot`.
    fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        reader: bool,
        f: impl FnOnce(&mut Inner<S>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let slot = if reader { &self.wakers.read } else { &self.wakers.write };
        *lock(slot) = Some(cx.waker().clone());
        let waker = Waker::from(Arc::clone(&self.wakers));
        let mut shared_cx = Context::from_waker(&waker);
        let mut inner = lock(&self.inner);
        let before = (inner.driver.ready_state(), inner.driver.transport_open());
        let polled = f(&mut inner, &mut shared_cx);
        let after = (inner.driver.ready_state(), inner.driver.transport_open());
        drop(inner);
        // The connection moved on (closing, failed, transport closed): the
        // other half may wait on the transport for something that will not
        // come now; let it look again.
        if before != after {
            let other = if reader { &self.wakers.write } else { &self.wakers.read };
            if let Some(waker) = lock(other).take() {
                waker.wake();
            }
        }
        polled
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Shared<S> {
    /// Output a send left queued (below the high-water mark) is written by
    /// whichever half runs next: a read half waiting in a read is woken,
    /// and its poll writes the output before reading on.
    fn hand_output_to_reader(&self) {
        if lock(&self.inner).driver.has_output() {
            self.wake_reader();
        }
    }

    /// A deadline the write half armed or brought forward (a close's
    /// timeout) is watched by the read half's poll, which may wait in a
    /// read with the old one (or none): it is woken to look again. A read
    /// half had waited for good on a peer that never answered the close.
    fn hand_deadline_to_reader(&self, before: Option<Duration>) {
        let after = lock(&self.inner).driver.poll_timeout();
        if after.is_some_and(|after| before.is_none_or(|before| after < before)) {
            self.wake_reader();
        }
    }

    fn wake_reader(&self) {
        if let Some(waker) = lock(&self.wakers.read).take() {
            waker.wake();
        }
    }
}

pub(super) fn split<S>(inner: Inner<S>) -> (ReadHalf<S>, WriteHalf<S>) {
    let shared = Arc::new(Shared {
        inner: Mutex::new(inner),
        wakers: Arc::new(Wakers::default()),
    });
    (
        ReadHalf {
            shared: Arc::clone(&shared),
        },
        WriteHalf { shared },
    )
}

/// The receiving half: events and messages, in a `Stream`.
pub struct ReadHalf<S> {
    shared: Arc<Shared<S>>,
}

/// The sending half: `send`, `close`, and a `Sink` with backpressure.
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S> core::fmt::Debug for ReadHalf<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl<S> core::fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    /// The next event; `None` after the close event. Cancellation-safe.
    pub async fn next_event(&mut self) -> Option<Event> {
        poll_fn(|cx| {
            self.shared
                .poll(cx, true, |inner, cx| inner.drive(cx, |d, io| d.poll_event(io)))
        })
        .await
    }

    /// The next message (see [`WebSocket::read`](super::WebSocket::read)).
    ///
    /// # Errors
    ///
    /// As [`WebSocket::read`](super::WebSocket::read).
    pub async fn read(&mut self) -> Result<Option<Message>, Error> {
        poll_fn(|cx| {
            self.shared
                .poll(cx, true, |inner, cx| inner.drive(cx, |d, io| d.poll_message(io)))
        })
        .await
        .transpose()
    }

    /// The DOM's `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        lock(&self.shared.inner).driver.ready_state()
    }

    /// The peer's close frame (code and reason), once received: why the
    /// stream of messages ended.
    pub fn peer_close(&self) -> Option<OwnedCloseFrame> {
        lock(&self.shared.inner).driver.peer_close().cloned()
    }

    /// Puts the two halves of one [`split`](super::WebSocket::split) back
    /// together; halves of different sockets are handed back unchanged.
    ///
    /// # Errors
    ///
    /// The two halves, unchanged, when they come from different sockets.
    pub fn reunite(self, write: WriteHalf<S>) -> Result<super::WebSocket<S>, (ReadHalf<S>, WriteHalf<S>)> {
        if !Arc::ptr_eq(&self.shared, &write.shared) {
            return Err((self, write));
        }
        drop(write);
        match Arc::try_unwrap(self.shared) {
            Ok(shared) => Ok(super::WebSocket {
                inner: shared
                    .inner
                    .into_inner()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            }),
            // Only the two halves hold the state, so this does not happen;
            // if it did, both halves come back whole.
            Err(shared) => Err((
                ReadHalf {
                    shared: Arc::clone(&shared),
                },
                WriteHalf { shared },
            )),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for ReadHalf<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.shared
            .poll(cx, true, |inner, cx| inner.drive(cx, |d, io| d.poll_message(io)))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    /// As [`WebSocket::send`](super::WebSocket::send).
    ///
    /// # Errors
    ///
    /// As [`WebSocket::send`](super::WebSocket::send).
    pub fn send<'a>(
        &mut self,
        data: impl Into<Outgoing<'a>>,
    ) -> impl core::future::Future<Output = Result<(), Error>> + '_ {
        let queued = super::queue(&mut lock(&self.shared.inner).driver, data.into());
        async move { self.wait_sent(queued?).await }
    }

    async fn wait_sent(&mut self, wait: Wait) -> Result<(), Error> {
        let ready = match wait {
            Wait::Nothing => return Ok(()),
            Wait::Drain => {
                poll_fn(|cx| self.shared.poll(cx, false, |inner, cx| inner.poll_ready(cx))).await;
                Ok(())
            }
            Wait::SinkReady => poll_fn(|cx| self.shared.poll(cx, false, |inner, cx| inner.poll_sink_ready(cx))).await,
        };
        self.shared.hand_output_to_reader();
        ready
    }

    /// As [`WebSocket::close`](super::WebSocket::close).
    ///
    /// # Errors
    ///
    /// As [`WebSocket::close`](super::WebSocket::close).
    pub async fn close(&mut self, code: Option<u16>, reason: Option<&str>) -> Result<(), Error> {
        let before = {
            let mut inner = lock(&self.shared.inner);
            let before = inner.driver.poll_timeout();
            let now = inner.now();
            inner.driver.close(now, code, reason)?;
            before
        };
        self.shared.hand_deadline_to_reader(before);
        poll_fn(|cx| {
            self.shared
                .poll(cx, false, |inner, cx| inner.drive(cx, |d, io| d.poll_settle(io)))
        })
        .await
    }

    /// As [`WebSocket::close_with`](super::WebSocket::close_with).
    ///
    /// # Errors
    ///
    /// As [`WebSocket::close_with`](super::WebSocket::close_with).
    pub async fn close_with(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let before = {
            let mut inner = lock(&self.shared.inner);
            let before = inner.driver.poll_timeout();
            let now = inner.now();
            inner.driver.close_with(now, code, reason)?;
            before
        };
        self.shared.hand_deadline_to_reader(before);
        poll_fn(|cx| {
            self.shared
                .poll(cx, false, |inner, cx| inner.drive(cx, |d, io| d.poll_settle(io)))
        })
        .await
    }

    /// Sends a ping and writes it (as [`WebSocket::ping`](super::WebSocket::ping)).
    ///
    /// # Errors
    ///
    /// As [`WebSocket::ping`](super::WebSocket::ping).
    pub async fn ping(&mut self, data: &[u8]) -> Result<(), Error> {
        lock(&self.shared.inner).driver.ping(data)?;
        let written = poll_fn(|cx| {
            self.shared.poll(cx, false, |inner, cx| {
                inner.drive(cx, |d, io| d.poll_write_down_to(io, 0))
            })
        })
        .await;
        self.shared.hand_output_to_reader();
        written
    }

    /// The DOM's `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        lock(&self.shared.inner).driver.ready_state()
    }

    /// The DOM's `bufferedAmount`.
    pub fn buffered_amount(&self) -> u64 {
        lock(&self.shared.inner).driver.buffered_amount()
    }

    /// Sets the high-water mark (see
    /// [`WebSocket::set_high_water_mark`](super::WebSocket::set_high_water_mark)).
    pub fn set_high_water_mark(&mut self, bytes: usize) {
        lock(&self.shared.inner).driver.high_water_mark = bytes;
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WriteHalf<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.poll(cx, false, |inner, cx| inner.poll_sink_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        lock(&self.shared.inner).driver.start_send(message)?;
        self.shared.hand_output_to_reader();
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared
            .poll(cx, false, |inner, cx| inner.drive(cx, |d, io| d.poll_sink_flush(io)))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let before = lock(&self.shared.inner).driver.poll_timeout();
        let closed = self
            .shared
            .poll(cx, false, |inner, cx| inner.drive(cx, |d, io| d.poll_sink_close(io)));
        self.shared.hand_deadline_to_reader(before);
        closed
    }
}
