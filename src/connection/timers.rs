//! The connection's timers, as absolute deadlines on the caller's clock,
//! and the calls that tell the connection the time.

use super::{Connection, State};
use crate::error::{Error, Timeout};
use crate::frame::OpCode;
use core::time::Duration;

/// One of the connection's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The opening handshake must be over by then.
    Handshake,
    /// The peer's close frame (or, for a client after a clean close, the
    /// server's end of the transport) must have come by then.
    Close,
    /// When to send a keepalive ping.
    Ping,
    /// When the peer, silent since our ping, is given up on.
    KeepaliveDead,
}

impl Timer {
    /// The order in which timers due at the same call fire: a failure
    /// stops the timers after it.
    const ALL: [Timer; 4] = [Timer::Handshake, Timer::Close, Timer::KeepaliveDead, Timer::Ping];
}

/// The deadlines, one per [`Timer`], in nanoseconds on the caller's clock
/// (u64: 584 years; later saturates, which is "never" anyway). Half the
/// room of `[Option<Duration>; 4]` in every connection (benches/compare
/// idle.sh).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Timers {
    deadlines: [u64; 4],
    /// Bit `timer as usize` is set while that timer is armed: its deadline
    /// means something, and "is any armed" is one compare (a blocking
    /// driver asks before each write).
    armed: u8,
}

/// `time` in nanoseconds, saturating.
fn nanos(time: Duration) -> u64 {
    u64::try_from(time.as_nanos()).unwrap_or(u64::MAX)
}

impl Timers {
    /// Arms `timer` to fire `after` past `now`; a timeout the configuration
    /// leaves out (`None`) stops it instead.
    pub(super) fn arm(&mut self, timer: Timer, now: Duration, after: Option<Duration>) {
        match after {
            // A timeout near Duration::MAX means "never": saturate, not panic.
            Some(after) => {
                self.deadlines[timer as usize] = nanos(now.saturating_add(after));
                self.armed |= 1 << timer as u8;
            }
            None => self.stop(timer),
        }
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.armed &= !(1 << timer as u8);
    }

    pub(super) fn stop_all(&mut self) {
        *self = Self::default();
    }

    pub(super) fn is_armed(&self, timer: Timer) -> bool {
        self.armed & (1 << timer as u8) != 0
    }

    /// Whether any timer is armed: [`Timers::next_deadline`]`.is_some()`
    /// without comparing the deadlines.
    #[inline]
    pub(super) fn any_armed(&self) -> bool {
        self.armed != 0
    }

    /// The earliest deadline of the armed timers.
    #[inline]
    pub(super) fn next_deadline(&self) -> Option<Duration> {
        // None armed, the common case: no deadline compared (every read
        // of a driver asks; benches/compare callgrind, recv_binary_16_b).
        if !self.any_armed() {
            return None;
        }
        Timer::ALL
            .iter()
            .filter(|&&timer| self.is_armed(timer))
            .map(|&timer| self.deadlines[timer as usize])
            .min()
            .map(Duration::from_nanos)
    }

    /// Whether `timer` was due at `now`; a timer that was is stopped, so it
    /// fires once.
    pub(super) fn expire(&mut self, timer: Timer, now: Duration) -> bool {
        let due = self.is_armed(timer) && self.deadlines[timer as usize] <= nanos(now);
        if due {
            self.stop(timer);
        }
        due
    }
}

impl Connection {
    /// Tells the connection the time on the caller's monotonic clock (any
    /// epoch; the connection's timers count from zero on it, or from
    /// [`started_at`](Connection::started_at)). Fires expired
    /// timers; a resulting failure is reported by the next `poll_event`.
    ///
    /// Call it after every wait (blocking read, `poll_timeout` expiry);
    /// timers that other calls start count from the last time given here.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.now = self.now.max(now);
        // None armed, the common case while open: drivers tell the time on
        // every read (benches/compare callgrind, recv_binary_16_b).
        if !self.timers.any_armed() {
            return;
        }
        // One at a time: a failure stops the timers after it.
        for timer in Timer::ALL {
            // A keepalive ping goes out only while open; otherwise it stays due.
            if timer == Timer::Ping && !matches!(self.state, State::Open) {
                continue;
            }
            if !self.timers.expire(timer, now) {
                continue;
            }
            match timer {
                Timer::Handshake => self.fail_later(Error::Timeout(Timeout::Handshake)),
                Timer::Close => {
                    if !matches!(self.state, State::Closed { .. }) {
                        self.fail_later(Error::Timeout(Timeout::Close));
                    }
                }
                Timer::KeepaliveDead => self.fail_later(Error::Timeout(Timeout::Keepalive)),
                Timer::Ping => {
                    // A ping now would be held behind a declared frame and
                    // not reach the peer: keepalive rests until the frame
                    // is done (`resume_keepalive`). Re-armed an interval on,
                    // it could be due again at once (a zero interval, or a
                    // deadline saturated at the clock's end) and fire in a
                    // loop.
                    if self.tx.holds_frames() {
                        continue;
                    }
                    self.tx.push_frame(OpCode::Ping, true, b"");
                    self.timers
                        .arm(Timer::KeepaliveDead, now, self.settings.keepalive_interval);
                }
            }
        }
    }

    /// The next time [`Connection::handle_timeout`] must be called, if any.
    #[inline]
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.timers.next_deadline()
    }

    /// Whether [`Connection::poll_timeout`] is `Some`, answered without
    /// finding the earliest deadline: a blocking driver asks before each
    /// write (benches/compare callgrind, send_binary_16_b, blocking driver).
    #[cfg(feature = "std")]
    #[inline]
    pub(crate) fn has_timeout(&self) -> bool {
        self.timers.any_armed()
    }

    /// Received bytes prove the peer alive: the keepalive starts over.
    pub(super) fn heard_from_peer(&mut self) {
        if self.timers.is_armed(Timer::KeepaliveDead) || self.timers.is_armed(Timer::Ping) {
            self.timers.stop(Timer::KeepaliveDead);
            self.arm_keepalive();
        }
    }

    pub(super) fn arm_keepalive(&mut self) {
        self.timers.arm(Timer::Ping, self.now, self.settings.keepalive_interval);
    }

    /// A declared frame is done: keepalive, resting while it was under way
    /// (see `handle_timeout`), counts again from now.
    pub(super) fn resume_keepalive(&mut self) {
        let resting = !self.timers.is_armed(Timer::Ping) && !self.timers.is_armed(Timer::KeepaliveDead);
        if resting && matches!(self.state, State::Open) {
            self.arm_keepalive();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn next_deadline_is_the_earliest_armed_timer() {
        let mut timers = Timers::default();
        assert_eq!(timers.next_deadline(), None);
        timers.arm(Timer::Close, secs(10), Some(secs(5)));
        timers.arm(Timer::Ping, secs(10), Some(secs(2)));
        timers.arm(Timer::Handshake, secs(0), None);
        assert_eq!(timers.next_deadline(), Some(secs(12)));
        timers.stop(Timer::Ping);
        assert_eq!(timers.next_deadline(), Some(secs(15)));
        timers.stop_all();
        assert_eq!(timers.next_deadline(), None);
    }

    // The armed bits follow every way a timer starts and stops.
    #[test]
    fn any_armed_follows_the_deadlines() {
        let mut timers = Timers::default();
        assert!(!timers.any_armed());
        timers.arm(Timer::Close, secs(1), Some(secs(5)));
        timers.arm(Timer::Ping, secs(1), Some(secs(2)));
        assert!(timers.any_armed());
        timers.stop(Timer::Ping);
        assert!(timers.any_armed(), "the close timer is still armed");
        timers.arm(Timer::Close, secs(1), None);
        assert!(!timers.any_armed());
        timers.arm(Timer::KeepaliveDead, secs(1), Some(secs(1)));
        assert!(timers.expire(Timer::KeepaliveDead, secs(2)));
        assert!(!timers.any_armed());
        assert_eq!(timers.next_deadline(), None);
        timers.arm(Timer::Handshake, secs(0), Some(secs(1)));
        timers.stop_all();
        assert!(!timers.any_armed());
    }

    #[test]
    fn a_timer_expires_once_and_not_before_its_deadline() {
        let mut timers = Timers::default();
        timers.arm(Timer::KeepaliveDead, secs(1), Some(secs(1)));
        assert!(!timers.expire(Timer::KeepaliveDead, secs(1)));
        assert!(!timers.expire(Timer::Ping, secs(3)), "another timer");
        assert!(timers.is_armed(Timer::KeepaliveDead));
        assert!(timers.expire(Timer::KeepaliveDead, secs(2)), "due at its deadline");
        assert!(!timers.is_armed(Timer::KeepaliveDead));
        assert!(!timers.expire(Timer::KeepaliveDead, secs(3)), "fired twice");
    }

    #[test]
    fn arming_without_a_configured_timeout_stops_the_timer() {
        let mut timers = Timers::default();
        timers.arm(Timer::Handshake, secs(0), Some(secs(30)));
        timers.arm(Timer::Handshake, secs(1), None);
        assert!(!timers.is_armed(Timer::Handshake));
    }

    // Deadlines are kept in nanoseconds: exact below 584 years, and one
    // past that saturates (fires only once the clock passes 584 years).
    #[test]
    fn deadlines_keep_nanoseconds_and_saturate_far_out() {
        let mut timers = Timers::default();
        let odd = Duration::new(1, 500_000_001);
        timers.arm(Timer::Close, secs(3), Some(odd));
        timers.arm(Timer::Ping, secs(3), Some(secs(10)));
        assert_eq!(timers.next_deadline(), Some(secs(3) + odd));
        assert!(!timers.expire(Timer::Close, secs(3) + odd - Duration::from_nanos(1)));
        assert!(timers.expire(Timer::Close, secs(3) + odd));
        assert_eq!(timers.next_deadline(), Some(secs(13)));
        timers.stop(Timer::Ping);
        assert_eq!(timers.next_deadline(), None);

        let year = secs(365 * 24 * 3600);
        timers.arm(Timer::Handshake, secs(0), Some(year * 1000));
        assert!(!timers.expire(Timer::Handshake, year * 500));
        assert!(timers.is_armed(Timer::Handshake));
        assert!(timers.expire(Timer::Handshake, year * 1000));
    }

    // Timeouts near Duration::MAX mean "never": arming one, and telling
    // the time up to Duration::MAX, must not overflow.
    #[test]
    fn extreme_timeouts_and_times_saturate() {
        let config = crate::config::Config {
            close_timeout: Some(Duration::MAX),
            keepalive_interval: Some(Duration::MAX - secs(1)),
            handshake_timeout: Some(Duration::MAX),
            ..crate::config::Config::default()
        };
        let mut conn = Connection::established(crate::connection::Role::Client, config.clone(), &[]);
        conn.handle_timeout(secs(5));
        conn.handle_timeout(Duration::MAX);
        conn.handle_timeout(Duration::MAX);
        let _ = conn.poll_timeout();
        conn.close(crate::close::CloseCode::NORMAL, "").unwrap();
        conn.handle_timeout(Duration::MAX);
        assert!(conn.poll_event().is_some());

        let mut server = Connection::server(config);
        server.handle_timeout(Duration::MAX);
        assert!(server.poll_event().is_some(), "the handshake timed out");
    }
}
