//! The WHATWG WebSockets Standard's steps, each checked once, sans-IO, on
//! a [`DomPair`] (<https://websockets.spec.whatwg.org/>). Every test names
//! the section and step it checks. The driver suites
//! (`tests/whatwg_api.rs`, `tests/blocking_driver.rs`,
//! `tests/tokio_driver.rs`) keep what needs a transport.

use super::testing::DomPair;
use super::{Data, Dom};
use crate::Utf8Bytes;
use crate::connection::{ReadyState, Role};
use crate::error::{Error, HandshakeError, ProtocolError, Timeout};
use crate::testkit::{DomEv, Fault, OP_TEXT, frame};
use bytes::Bytes;
use core::time::Duration;
use std::string::String;
use std::vec::Vec;

/// The DOMException `result` throws.
#[track_caller]
fn exception<T: core::fmt::Debug>(result: Result<T, Error>) -> &'static str {
    let error = result.expect_err("an exception");
    error
        .dom_exception()
        .unwrap_or_else(|| panic!("{error:?} is no DOMException"))
}

/// Asserts `events` are an error event whose failure passes `error`, then
/// the close event of a failed connection (not clean, 1006, no reason).
#[track_caller]
fn assert_failed(events: &[DomEv], error: impl Fn(&Fault) -> bool) {
    match events {
        [DomEv::Error(e), close] if error(e) => assert_eq!(*close, DomEv::close(false, 1006, "")),
        _ => panic!("expected an error event then close 1006, got {events:?}"),
    }
}

fn send(dom: &mut Dom, text: &str) -> Result<bool, Error> {
    dom.send(&Data::from(text))
}

/// §"The WebSocket interface", `readyState`, with §"Feedback from the
/// protocol": CONNECTING from construction; "When the WebSocket
/// connection is established ... change the readyState attribute's value
/// to OPEN"; `close()` step 3 "set this's ready state to CLOSING"; "When
/// the WebSocket connection is closed ... change the readyState
/// attribute's value to CLOSED" (seen from the close event on).
#[test]
fn ready_state_walks_connecting_open_closing_closed() {
    let mut pair = DomPair::new();
    assert_eq!(pair.client.ready_state(), ReadyState::Connecting);
    assert_eq!(pair.server.ready_state(), ReadyState::Connecting);
    pair.run();
    for side in [&mut pair.client, &mut pair.server] {
        assert_eq!(side.states, [ReadyState::Open], "OPEN when the open event fires");
        assert_eq!(side.take_events(), [DomEv::Open]);
    }
    pair.client.dom.close(Some(1000), None).unwrap();
    assert_eq!(pair.client.ready_state(), ReadyState::Closing);
    pair.run();
    for side in [&mut pair.client, &mut pair.server] {
        assert_eq!(side.states, [ReadyState::Closed], "CLOSED when the close event fires");
        assert_eq!(side.ready_state(), ReadyState::Closed);
    }
}

/// §"Feedback from the protocol": "When the WebSocket closing handshake is
/// started, ... change the readyState attribute's value to CLOSING" — on
/// the side that receives the close too.
#[test]
fn ready_state_is_closing_once_the_peer_starts_the_closing_handshake() {
    let mut pair = DomPair::open();
    pair.server.dom.close(Some(1000), None).unwrap();
    pair.run_one(Role::Server);
    assert_eq!(pair.client.ready_state(), ReadyState::Open);
    pair.run_one(Role::Client);
    assert_eq!(pair.client.ready_state(), ReadyState::Closing);
    pair.run();
    assert_eq!(pair.client.ready_state(), ReadyState::Closed);
}

/// `send(data)` step 1: "If this's ready state is CONNECTING, then throw
/// an InvalidStateError DOMException."
#[test]
fn send_while_connecting_is_an_invalid_state_error() {
    let mut pair = DomPair::new();
    assert_eq!(exception(send(&mut pair.client.dom, "early")), "InvalidStateError");
    assert_eq!(pair.client.dom.buffered_amount(), 0, "nothing was queued");
    pair.run();
    assert_eq!(pair.server.take_events(), [DomEv::Open], "nothing was sent");
}

/// `send(data)`: while OPEN the data is sent and counts in
/// `bufferedAmount` until written.
#[test]
fn send_while_open_transmits_and_counts_until_written() {
    let mut pair = DomPair::open();
    assert!(send(&mut pair.client.dom, "hello").unwrap(), "queued");
    pair.client.dom.send(&Data::from(&[1u8, 2, 3])).unwrap();
    assert_eq!(pair.client.dom.buffered_amount(), 8);
    pair.run();
    assert_eq!(pair.client.dom.buffered_amount(), 0);
    assert_eq!(
        pair.server.take_events(),
        [
            DomEv::Text(String::from("hello")),
            DomEv::ArrayBuffer(Vec::from([1, 2, 3]))
        ]
    );
}

/// `bufferedAmount` counts application data only: the pings and pongs held
/// behind a declared frame, which its last byte releases, are not.
#[test]
fn control_frames_held_behind_a_declared_frame_are_not_buffered_data() {
    let conn = crate::Connection::established(Role::Server, Default::default(), &[]);
    let mut dom = Dom::new(conn, String::new());
    dom.begin_message(false, 3).unwrap();
    dom.conn.ping(b"pingpingpi").unwrap();
    dom.send_payload(b"ab").unwrap();
    assert_eq!(dom.buffered_amount(), 2);
    dom.send_payload(b"c").unwrap();
    assert_eq!(dom.conn.pending_output(), b"\x82\x03abc\x89\x0apingpingpi");
    assert_eq!(dom.buffered_amount(), 3);
    dom.wrote(4);
    assert_eq!(dom.buffered_amount(), 1, "one payload byte left");
    dom.wrote(1);
    assert_eq!(dom.buffered_amount(), 0, "all application data is written");
    dom.send(&Data::from(&[1u8, 2][..])).unwrap();
    assert_eq!(dom.buffered_amount(), 2, "a later message counts alone");
    dom.wrote(12);
    assert_eq!(dom.buffered_amount(), 2, "the ping written, the message not");
    dom.wrote(4);
    assert_eq!(dom.buffered_amount(), 0);
}

/// `close(code, reason)` step 1: "If code is present, but is neither an
/// integer equal to 1000 nor an integer in the range 3000 to 4999,
/// inclusive, throw an InvalidAccessError DOMException" — checked before
/// the state, so also while CONNECTING, and nothing changes.
#[test]
fn close_with_an_invalid_code_is_an_invalid_access_error() {
    for code in [0, 999, 1001, 1005, 1006, 2999, 5000, u16::MAX] {
        for mut pair in [DomPair::new(), DomPair::open()] {
            let before = pair.client.ready_state();
            assert_eq!(
                exception(pair.client.dom.close(Some(code), None)),
                "InvalidAccessError",
                "{code}"
            );
            assert_eq!(pair.client.ready_state(), before, "{code} changed nothing");
        }
    }
    for code in [1000, 3000, 4999] {
        let mut pair = DomPair::open();
        pair.client.dom.close(Some(code), None).unwrap();
        pair.run();
        assert_eq!(pair.server.take_events(), [DomEv::close(true, code, "")]);
    }
}

/// `close(code, reason)` step 2: "If reasonBytes is longer than 123
/// bytes, then throw a SyntaxError DOMException" — UTF-8 bytes, not
/// characters.
#[test]
fn close_with_a_reason_over_123_utf8_bytes_is_a_syntax_error() {
    let mut pair = DomPair::open();
    for reason in ["x".repeat(124), "€".repeat(42)] {
        assert_eq!(
            exception(pair.client.dom.close(Some(1000), Some(&reason))),
            "SyntaxError"
        );
        assert_eq!(pair.client.ready_state(), ReadyState::Open);
    }
    let longest = "€".repeat(41);
    pair.client.dom.close(Some(1000), Some(&longest)).unwrap();
    pair.run();
    assert_eq!(pair.server.take_events(), [DomEv::close(true, 1000, &longest)]);
}

/// `close(code, reason)` step 3, "If this's ready state is CLOSING or
/// CLOSED: Do nothing."
#[test]
fn close_while_closing_or_closed_does_nothing() {
    let mut pair = DomPair::open();
    pair.client.dom.close(Some(3001), Some("first")).unwrap();
    pair.client.dom.close(Some(3002), Some("second")).unwrap();
    pair.run();
    pair.client.dom.close(Some(3003), Some("third")).unwrap();
    pair.run();
    assert_eq!(pair.server.take_events(), [DomEv::close(true, 3001, "first")]);
    assert_eq!(pair.client.take_events(), [DomEv::close(true, 3001, "")], "the echo");
}

/// `close(code, reason)` step 3, "If the WebSocket connection is not yet
/// established: Fail the WebSocket connection and set this's ready state
/// to CLOSING": no open event, then error and close (1006).
#[test]
fn close_before_open_fails_the_connection() {
    let mut pair = DomPair::new();
    pair.client.dom.close(Some(1000), None).unwrap();
    assert_eq!(pair.client.ready_state(), ReadyState::Closing);
    pair.run();
    let events = pair.client.take_events();
    assert!(!events.contains(&DomEv::Open), "{events:?}");
    assert_failed(&events, |e| *e == Fault::ClosedBeforeOpen);
}

/// `close()` with neither code nor reason: "the WebSocket Close message
/// must not have a body", so the peer's close event shows 1005 (RFC 6455
/// §7.1.5: no status code received).
#[test]
fn close_without_code_is_seen_as_1005() {
    let mut pair = DomPair::open();
    pair.client.dom.close(None, Some("ignored without a code")).unwrap();
    pair.run();
    assert_eq!(pair.server.take_events(), [DomEv::close(true, 1005, "")]);
    assert_eq!(pair.client.take_events(), [DomEv::close(true, 1005, "")]);
}

/// `bufferedAmount`: "If the connection is closed, this attribute's value
/// will only increase with each call to the send() method (the number
/// does not reset to zero once the connection closes)"; `send()` while
/// CLOSING or CLOSED discards the data without an exception.
#[test]
fn send_while_closing_or_closed_grows_buffered_amount() {
    let mut pair = DomPair::open();
    pair.client.dom.close(Some(1000), None).unwrap();
    assert!(!send(&mut pair.client.dom, "late").unwrap(), "discarded");
    assert_eq!(pair.client.dom.buffered_amount(), 4);
    pair.run();
    assert_eq!(pair.client.ready_state(), ReadyState::Closed);
    assert_eq!(pair.client.dom.buffered_amount(), 4, "no reset once closed");
    pair.client.dom.send(&Data::from(&[0u8; 10])).unwrap();
    assert_eq!(pair.client.dom.buffered_amount(), 14);
    assert_eq!(
        pair.server.take_events(),
        [DomEv::close(true, 1000, "")],
        "nothing sent after close"
    );
}

/// §"Feedback from the protocol", "When the WebSocket connection is
/// closed" step 3: the close event's `wasClean` is true after the closing
/// handshake; `code` and `reason` are "the WebSocket connection close
/// code/reason", those of the close frame *received* (RFC 6455 §7.1.5,
/// §7.1.6): the peer's reason for the side that received the first close,
/// the echo (same code, no reason) for the side that started.
#[test]
fn clean_close_reports_was_clean_code_and_reason() {
    for starter in [Role::Client, Role::Server] {
        let mut pair = DomPair::open();
        pair.side(starter).dom.close(Some(4000), Some("bye 👋")).unwrap();
        pair.run();
        let receiver = crate::testkit::peer_of(starter);
        assert_eq!(
            pair.side(receiver).take_events(),
            [DomEv::close(true, 4000, "bye 👋")],
            "{starter:?} started"
        );
        assert_eq!(
            pair.side(starter).take_events(),
            [DomEv::close(true, 4000, "")],
            "{starter:?} started"
        );
    }
}

/// "When the WebSocket connection is closed" step 2: "If the user agent
/// was required to fail the WebSocket connection ... fire an event named
/// error", then step 3's close event, not clean, 1006 (RFC 6455 §7.1.5);
/// readyState is CLOSED from the error event on.
#[test]
fn failure_fires_error_then_close_1006() {
    let mut pair = DomPair::open();
    // A reserved opcode (RFC 6455 §5.2) from the server.
    pair.client.inbox.extend(frame(0x3, b"").bytes());
    pair.run();
    assert_eq!(pair.client.states, [ReadyState::Closed, ReadyState::Closed]);
    assert_failed(&pair.client.take_events(), |e| {
        *e == Fault::Protocol(ProtocolError::ReservedOpcode(3))
    });
}

/// "When the WebSocket connection is closed" step 2, for a connection
/// closed without a closing handshake (the peer just went away): error,
/// then close 1006.
#[test]
fn transport_closed_without_closing_handshake_fires_error_then_close_1006() {
    let mut pair = DomPair::open();
    pair.server.dom.fail(Error::UnexpectedEof);
    pair.run();
    assert_failed(&pair.client.take_events(), |e| *e == Fault::UnexpectedEof);
}

/// §"The WebSocket interface", the constructor: if "establish a WebSocket
/// connection" fails (here a refusal), the connection fails: error then
/// close 1006, and never open.
#[test]
fn refused_handshake_fires_error_then_close_without_open() {
    let mut pair = DomPair::refused(403);
    pair.run();
    assert_failed(&pair.client.take_events(), |e| {
        matches!(e, Fault::Handshake(HandshakeError::Status { code: 403, .. }))
    });
    assert_eq!(pair.client.ready_state(), ReadyState::Closed);
}

/// "When a WebSocket message has been received" step 1: "If readyState's
/// value is not OPEN (1), then return."
#[test]
fn message_received_while_closing_is_not_dispatched() {
    let mut pair = DomPair::open();
    send(&mut pair.server.dom, "in flight").unwrap();
    pair.run_one(Role::Server);
    pair.client.dom.close(Some(1000), None).unwrap();
    pair.run();
    assert_eq!(pair.client.take_events(), [DomEv::close(true, 1000, "")]);
    assert_eq!(pair.server.take_events(), [DomEv::close(true, 1000, "")]);
}

/// The close event is the last: after it nothing fires, whatever arrives.
#[test]
fn nothing_follows_the_close_event() {
    let mut pair = DomPair::open();
    pair.client.dom.close(Some(1000), None).unwrap();
    pair.run();
    assert_eq!(pair.client.take_events(), [DomEv::close(true, 1000, "")]);
    pair.client.inbox.extend(frame(OP_TEXT, b"ghost").bytes());
    pair.run();
    pair.client.dom.fail(Error::UnexpectedEof);
    pair.run();
    assert_eq!(pair.client.take_events(), []);
}

/// "When the WebSocket connection is closed" steps 2–3 for a closing
/// handshake that never completes (RFC 6455 §7.1.1: the peer neither
/// answers nor closes): once the close timeout passes on the fake clock,
/// the connection fails: error, then close 1006, not clean.
#[test]
fn unanswered_close_fails_after_the_close_timeout() {
    let mut pair = DomPair::open();
    pair.client.dom.close(Some(1000), None).unwrap();
    pair.run_one(Role::Client);
    let timeout = crate::Config::default()
        .close_timeout
        .expect("a close timeout by default");
    pair.advance_one(Role::Client, timeout - Duration::from_millis(1));
    assert_eq!(pair.client.take_events(), [], "still waiting");
    assert_eq!(pair.client.ready_state(), ReadyState::Closing);
    pair.advance_one(Role::Client, Duration::from_millis(1));
    assert_failed(&pair.client.take_events(), |e| *e == Fault::Timeout(Timeout::Close));
}

/// `Message`'s constructors, conversions and accessors agree with its
/// variants (issue #15, item 6).
#[test]
fn message_helpers_match_the_variants() {
    use super::Message;
    use std::vec;
    let text = Message::from("héllo");
    assert_eq!(text, Message::text(String::from("héllo")));
    assert!(text.is_text() && !text.is_binary() && !text.is_control());
    assert_eq!(text.as_text(), Some("héllo"));
    assert_eq!(text.len(), 6, "bytes, not chars");
    assert_eq!(text.clone().into_data(), "héllo".as_bytes());
    assert_eq!(text.into_text(), Ok(Utf8Bytes::from("héllo")));

    let binary = Message::from(&[1u8, 2, 3][..]);
    assert_eq!(binary, Message::binary(vec![1, 2, 3]));
    assert_eq!(binary, Message::from(vec![1u8, 2, 3]));
    assert!(binary.is_binary() && binary.as_text().is_none());
    assert_eq!(binary.as_bytes(), [1, 2, 3]);
    assert_eq!(binary.clone().into_text(), Err(binary));

    let ping = Message::Ping(Bytes::new());
    assert!(ping.is_control() && ping.is_empty());
    assert!(Message::Pong(Bytes::from(vec![9])).is_control());
}

/// Not the standard's: an open connection with no event waiting holds no
/// room for events. Only open, error and close events wait in the queue
/// (messages go out as they are read): the drivers' handshakes put the
/// open event back there (`unread`), and a connection established
/// elsewhere starts with it, after which the room would sit unused for
/// the connection's life (`benches/compare` idle.sh).
#[test]
fn the_event_queue_gives_its_room_back_once_drained() {
    use super::{AsEvent, Event, Next};
    use crate::Connection;
    use crate::websocket::BinaryType;
    let form = AsEvent(BinaryType::ArrayBuffer);
    let mut established = Dom::new(
        Connection::established(Role::Server, Default::default(), &[]),
        String::new(),
    );
    let mut unread = Dom::new(
        Connection::established(Role::Server, Default::default(), &[]),
        String::new(),
    );
    assert!(matches!(unread.next(&form), Next::Event(Event::Open)));
    unread.unread(Event::Open);
    for dom in [&mut established, &mut unread] {
        assert!(dom.pending.capacity() > 0);
        assert!(matches!(dom.next(&form), Next::Event(Event::Open)));
        assert_eq!(dom.pending.capacity(), 0);
        assert!(matches!(dom.next(&form), Next::Read));
    }
}

/// Not the standard's: the frames counted in `bufferedAmount` keep their
/// order whatever the interleaving of sends and writes, and one message in
/// flight at a time never allocates (the oldest is kept inline).
#[test]
fn unwritten_frames_keep_their_order_and_one_in_flight_allocates_nothing() {
    use super::{Queued, Unwritten};
    use std::collections::VecDeque;
    let frame = |end: u64| Queued {
        end,
        payload: end % 7,
        wire: end % 5,
    };
    let mut queue = Unwritten::default();
    let mut model: VecDeque<u64> = VecDeque::new();
    let (mut end, mut written, mut seed) = (0u64, 0u64, 0x9e37_79b9_7f4a_7c15u64);
    for _ in 0..10_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        if seed % 3 != 0 {
            end += 1 + seed % 50;
            queue.push(frame(end));
            model.push_back(end);
        } else {
            written = (written + seed % 120).min(end);
            queue.written(written);
            while model.front().is_some_and(|&e| e <= written) {
                model.pop_front();
            }
        }
        let ends: Vec<u64> = queue.iter().map(|f| f.end).collect();
        assert_eq!(ends, Vec::from(model.clone()));
        assert_eq!(queue.newest().map(|f| f.end), model.back().copied());
    }

    let mut queue = Unwritten::default();
    for end in 1..=1_000 {
        queue.push(frame(end));
        queue.written(end);
        assert!(queue.iter().next().is_none());
    }
    assert_eq!(queue.rest.capacity(), 0);
}
