//! The closing handshake (RFC 6455 §5.5.1, §7) through the two-peer harness.

use rfc6455::error::Misuse;
use rfc6455::testkit::*;
use rfc6455::{CloseCode, Connection, Error, OpCode, ReadyState, Role};

fn close_frames(bytes: &[u8]) -> Vec<Decoded> {
    decode_frames(bytes)
        .into_iter()
        .filter(|f| f.opcode == OP_CLOSE)
        .collect()
}

fn assert_invalid_state(result: Result<(), Error>) {
    assert!(matches!(result, Err(Error::Misuse(_))), "{result:?}");
}

// §5.5.1: "If an endpoint receives a Close frame and did not previously send
// a Close frame, the endpoint MUST send a Close frame in response ...
// typically echoing the status code it received"; §7.1.1: the server closes
// the TCP connection first.
#[test]
fn clean_close_initiated_by_the_client() {
    let mut p = Pair::connected();
    p.client.conn.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(p.client.conn.ready_state(), ReadyState::Closing);
    p.drive();
    assert_eq!(p.server.take_events(), [Ev::close(1000, "done")]);
    assert_eq!(p.client.take_events(), [Ev::close(1000, "")]);

    let sent = close_frames(&p.client.sent);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].masked);
    assert_eq!(sent[0].payload, b"\x03\xe8done");
    let echoed = close_frames(&p.server.sent);
    assert_eq!(echoed.len(), 1);
    assert!(!echoed[0].masked);
    assert_eq!(echoed[0].payload, b"\x03\xe8", "the code is echoed, the reason is not");

    for conn in [&p.client.conn, &p.server.conn] {
        assert_eq!(conn.ready_state(), ReadyState::Closed);
        assert!(conn.is_closed_cleanly());
    }
    assert!(p.server.conn.should_close_transport());
    assert!(
        !p.client.conn.should_close_transport(),
        "the client waits for the server's TCP close"
    );
    assert_eq!(
        p.close_transport(Role::Server),
        [],
        "EOF after the close handshake is no failure"
    );
    assert!(p.client.conn.should_close_transport());
    assert!(p.client.conn.is_closed_cleanly());
}

#[test]
fn clean_close_initiated_by_the_server() {
    let mut p = Pair::connected();
    p.server.conn.close(CloseCode(4001), "bye ✓").unwrap();
    assert!(!p.server.conn.should_close_transport(), "closing, not closed");
    p.drive();
    assert_eq!(p.client.take_events(), [Ev::close(4001, "bye ✓")]);
    assert_eq!(p.server.take_events(), [Ev::close(4001, "")]);
    let echoed = close_frames(&p.client.sent);
    assert_eq!(echoed.len(), 1);
    assert!(echoed[0].masked);
    assert_eq!(echoed[0].payload, 4001u16.to_be_bytes());
    assert!(p.server.conn.should_close_transport());
    assert!(p.server.conn.is_closed_cleanly() && p.client.conn.is_closed_cleanly());
    assert!(!p.client.conn.should_close_transport());
    p.close_transport(Role::Server);
    assert!(p.client.conn.should_close_transport());
}

#[test]
fn echo_close_reason_replies_with_the_reason_too() {
    let mut p = Pair::connected_with(plain_config().echo_close_reason(true));
    p.client.conn.close(CloseCode::GOING_AWAY, "away").unwrap();
    p.drive();
    assert_eq!(p.client.take_events(), [Ev::close(1001, "away")]);
}

// §5.5.1: both sides closing at once; neither answers the other's close.
#[test]
fn simultaneous_close_completes_cleanly() {
    let mut p = Pair::connected();
    p.client.conn.close(CloseCode(3000), "c").unwrap();
    p.server.conn.close(CloseCode(3001), "s").unwrap();
    p.drive();
    assert_eq!(p.server.take_events(), [Ev::close(3000, "c")]);
    assert_eq!(p.client.take_events(), [Ev::close(3001, "s")]);
    assert_eq!(close_frames(&p.client.sent).len(), 1);
    assert_eq!(close_frames(&p.server.sent).len(), 1);
    assert!(p.server.conn.is_closed_cleanly() && p.client.conn.is_closed_cleanly());
}

// §5.5.1: "The Close frame MAY contain a body"; §7.1.5: no code means 1005,
// which is never sent, so the reply is empty too.
#[test]
fn close_without_a_code_is_reported_as_none_and_answered_empty() {
    for role in ROLES {
        let mut p = Pair::connected();
        assert_eq!(
            p.inject(role, &frame(OP_CLOSE, b"").to(role).bytes()),
            [Ev::Close(None, String::new())]
        );
        let reply = p.output_frames(role);
        assert_eq!(reply.len(), 1);
        assert_eq!((reply[0].opcode, reply[0].payload.len()), (OP_CLOSE, 0));
        assert_eq!(reply[0].masked, role == Role::Client);
        assert!(p.conn(role).is_closed_cleanly());
    }
}

// §7.4.1/§7.4.2: 1004, 1005, 1006, 1015 are reserved, 0-999 unused, 1016-2999
// reserved for the protocol; codes from 5000 are not defined.
#[test]
fn invalid_received_close_codes_fail_with_1002() {
    for role in ROLES {
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let mut p = Pair::connected();
            let error = p.fails_with(role, &close_frame(code, b"").to(role).bytes(), 1002);
            assert_eq!(
                error,
                Fault::Protocol(ProtocolError::InvalidCloseCode(code)),
                "{role:?}"
            );
        }
    }
}

// §5.5.1: a body "MUST start with a two-byte unsigned integer".
#[test]
fn one_byte_close_payload_fails_with_1002() {
    for role in ROLES {
        let mut p = Pair::connected();
        assert_eq!(
            p.fails_with(role, &frame(OP_CLOSE, &[0x03]).to(role).bytes(), 1002),
            Fault::Protocol(ProtocolError::TruncatedClose)
        );
    }
}

// §5.5.1: the reason is UTF-8; §8.1: invalid UTF-8 fails with 1007.
#[test]
fn invalid_utf8_close_reason_fails_with_1007() {
    for role in ROLES {
        for reason in [&b"\xff"[..], b"ok\xe2\x82", b"\xed\xa0\x80"] {
            let mut p = Pair::connected();
            let error = p.fails_with(role, &close_frame(1000, reason).to(role).bytes(), 1007);
            assert_eq!(error, Fault::Protocol(ProtocolError::InvalidUtf8));
        }
    }
}

#[test]
fn valid_close_codes_are_accepted_and_echoed() {
    let codes = [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
    ];
    for role in ROLES {
        for code in codes {
            let mut p = Pair::connected();
            let events = p.inject(role, &close_frame(code, "why ✓".as_bytes()).to(role).bytes());
            assert_eq!(events, [Ev::close(code, "why ✓")], "{role:?}");
            let reply = p.output_frames(role);
            assert_eq!(reply.len(), 1, "{role:?} {code}");
            assert_eq!(reply[0].payload, code.to_be_bytes());
            assert!(p.conn(role).is_closed_cleanly());
        }
    }
}

// A reason of the maximum length (123 bytes) in a 125-byte close frame.
#[test]
fn close_reason_of_123_bytes_round_trips() {
    for role in ROLES {
        let reason = "r".repeat(123);
        let mut p = Pair::connected();
        p.conn(role).close(CloseCode(3333), &reason).unwrap();
        p.drive();
        assert_eq!(p.peer_mut(peer_of(role)).take_events(), [Ev::close(3333, &reason)]);
    }
}

// §5.5.1: "The application MUST NOT send any more data frames after sending
// a Close frame."
#[test]
fn nothing_can_be_sent_after_close() {
    for role in ROLES {
        let mut p = Pair::connected();
        p.conn(role).close(CloseCode::NORMAL, "").unwrap();
        for _ in 0..2 {
            let before = p.peer(role).conn.pending_output().len();
            let conn = p.conn(role);
            assert_invalid_state(conn.send_text("late"));
            assert_invalid_state(conn.send_binary(b"late"));
            assert_invalid_state(conn.send_frame(OpCode::Binary, b"late", false));
            assert_invalid_state(conn.ping(b""));
            assert_invalid_state(conn.pong(b""));
            assert_eq!(conn.pending_output().len(), before, "nothing queued");
            // And the same once the handshake completed.
            p.drive();
        }
        assert_eq!(p.conn(role).ready_state(), ReadyState::Closed);
    }
}

// §5.5.1: after sending a close frame, data may still arrive until the
// peer's close; it is delivered.
#[test]
fn data_sent_before_the_peers_close_is_still_delivered() {
    for role in ROLES {
        let mut p = Pair::connected();
        p.conn(role).close(CloseCode::NORMAL, "").unwrap();
        let other = peer_of(role);
        p.conn(other).send_text("in flight").unwrap();
        p.conn(other).send_binary(b"also").unwrap();
        p.drive();
        assert_eq!(
            p.peer_mut(role).take_events(),
            [Ev::text("in flight"), Ev::Binary(b"also".to_vec()), Ev::close(1000, "")]
        );
        assert_eq!(p.peer_mut(other).take_events(), [Ev::close(1000, "")]);
        assert!(p.conn(role).is_closed_cleanly());
    }
}

// §5.5.1: the close frame is the last thing the endpoint reads.
#[test]
fn data_after_a_received_close_is_ignored() {
    for role in ROLES {
        let mut p = Pair::connected();
        let bytes = wire(role, &[close_frame(1000, b""), text("after"), ping(b"x")]);
        assert_eq!(p.inject(role, &bytes), [Ev::close(1000, "")]);
        assert_eq!(p.inject(role, &wire(role, &[text("later"), frame(0x3, b"")])), []);
        let out = p.output_frames(role);
        assert_eq!(out.len(), 1, "only the close reply: {out:?}");
        assert_eq!(out[0].opcode, OP_CLOSE);
        assert!(p.conn(role).is_closed_cleanly());
    }
}

// §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
// in response, unless it already received a Close frame" — having *sent*
// one is no exemption (§5.5.1 only forbids further *data* frames), and
// `Event::Ping` documents that with auto_pong "the pong is already queued".
#[test]
fn ping_while_closing_is_still_answered() {
    for role in ROLES {
        let mut p = Pair::connected();
        p.conn(role).close(CloseCode::NORMAL, "").unwrap();
        p.output(role);
        assert_eq!(p.inject(role, &ping(b"p").to(role).bytes()), [Ev::Ping(b"p".to_vec())]);
        let answer: Vec<(u8, Vec<u8>)> = p
            .output_frames(role)
            .into_iter()
            .map(|f| (f.opcode, f.payload))
            .collect();
        assert_eq!(
            answer,
            [(OP_PONG, b"p".to_vec())],
            "{role:?}: pong after our close frame"
        );
    }
}

// §7.1.1: "the server SHOULD close the underlying TCP connection first";
// the client waits for it, up to the close timeout.
#[test]
fn should_close_transport_follows_the_roles() {
    let mut p = Pair::connected();
    assert!(!p.client.conn.should_close_transport() && !p.server.conn.should_close_transport());
    p.client.conn.close(CloseCode::NORMAL, "").unwrap();
    p.send_one_way(Role::Client);
    assert!(!p.client.conn.should_close_transport(), "client: closing");
    assert!(
        p.server.conn.should_close_transport(),
        "server: handshake done on its side"
    );
    p.send_one_way(Role::Server);
    assert!(p.client.conn.is_closed_cleanly());
    assert!(
        !p.client.conn.should_close_transport(),
        "client: waits for the server's TCP close"
    );
    p.advance(secs(5) - NANO);
    assert!(!p.client.conn.should_close_transport());
    p.advance(NANO);
    assert!(p.client.conn.should_close_transport(), "client: gives up waiting");
    assert_eq!(
        p.client.take_events(),
        [Ev::close(1000, "")],
        "giving up is not a failure"
    );
    assert!(p.client.conn.is_closed_cleanly());
}

// §5.5.1: the peer's close is answered; §5.4: a frame under way is not cut
// short, so the answer waits behind it. With no close timeout there is no
// deadline to give up at: the transport stays until the frame is done.
#[test]
fn without_a_close_timeout_a_held_close_answer_waits_for_its_frame() {
    for role in ROLES {
        let config = plain_config().close_timeout(None);
        let mut conn = Connection::established_with_masks(role, config, &[], masks(1));
        conn.begin_message(OpCode::Binary, 6).unwrap();
        conn.send_payload(b"abc").unwrap();
        conn.receive(&wire(role, &[close_frame(1000, b"")]));
        assert_eq!(own(conn.poll_event().unwrap()), Ev::close(1000, ""), "{role:?}");
        assert!(
            !conn.should_close_transport(),
            "{role:?}: the frame is half sent and the answer not at all"
        );
        conn.send_payload(b"def").unwrap();
        let frames = decode_frames(conn.pending_output());
        let sent: Vec<_> = frames.iter().map(|f| (f.opcode, f.payload.clone())).collect();
        assert_eq!(
            sent,
            [(OP_BINARY, b"abcdef".to_vec()), (OP_CLOSE, vec![0x03, 0xe8])],
            "{role:?}"
        );
        let n = conn.pending_output().len();
        conn.advance_output(n);
        assert!(
            conn.should_close_transport(),
            "{role:?}: done once the answer is out (with no close timeout a client does not wait for the server)"
        );
    }
}

// §7.1.5: end of stream without a close frame is 1006; no frame is sent.
#[test]
fn eof_without_a_close_frame_fails_with_1006() {
    for role in ROLES {
        let mut p = Pair::connected();
        let events = p.close_transport(peer_of(role));
        assert_eq!(assert_fails_with(&events, 1006), Fault::UnexpectedEof);
        p.assert_failed_state(role, 1006);
    }
}

// close() checks its arguments first, whatever the state.
#[test]
fn close_arguments_are_validated_before_the_state() {
    let states: [fn() -> (Pair, Role); 5] = [
        || (Pair::new(), Role::Client),
        || (Pair::connected(), Role::Client),
        || (Pair::connected(), Role::Server),
        || {
            let mut p = Pair::connected();
            p.server.conn.close(CloseCode::NORMAL, "").unwrap();
            (p, Role::Server)
        },
        || {
            let mut p = Pair::connected();
            p.client.conn.close(CloseCode::NORMAL, "").unwrap();
            p.drive();
            (p, Role::Client)
        },
    ];
    for make in states {
        for code in [1005, 1006, 999, 0, 1004, 1015, 5000] {
            let (mut p, role) = make();
            let state = p.conn(role).ready_state();
            let pending = p.peer(role).conn.pending_output().len();
            let result = p.conn(role).close(CloseCode(code), "");
            assert!(
                matches!(result, Err(Error::Misuse(Misuse::CloseCodeNotSendable(c))) if c == code),
                "{code} in {state:?}: {result:?}"
            );
            assert_eq!(p.conn(role).ready_state(), state, "state unchanged");
            assert_eq!(p.peer(role).conn.pending_output().len(), pending, "nothing queued");
        }
        let (mut p, role) = make();
        let state = p.conn(role).ready_state();
        let result = p.conn(role).close(CloseCode::NORMAL, &"x".repeat(124));
        assert!(
            matches!(result, Err(Error::Misuse(Misuse::ReasonTooLong(124)))),
            "{state:?}: {result:?}"
        );
        assert_eq!(p.conn(role).ready_state(), state);
        let result = p.conn(role).close(CloseCode::NORMAL, "é".repeat(62).as_str());
        assert!(
            matches!(result, Err(Error::Misuse(Misuse::ReasonTooLong(124)))),
            "bytes, not chars: {result:?}"
        );
    }
}

#[test]
fn repeated_close_is_a_no_op() {
    for role in ROLES {
        let mut p = Pair::connected();
        p.conn(role).close(CloseCode::NORMAL, "first").unwrap();
        let queued = p.peer(role).conn.pending_output().to_vec();
        p.conn(role).close(CloseCode(3000), "second").unwrap();
        assert_eq!(p.peer(role).conn.pending_output(), queued);
        assert_eq!(p.conn(role).ready_state(), ReadyState::Closing);
        p.drive();
        p.conn(role).close(CloseCode(3000), "third").unwrap();
        assert!(p.peer(role).conn.pending_output().is_empty());
        assert_eq!(close_frames(&p.peer(role).sent).len(), 1);
        assert_eq!(p.peer_mut(peer_of(role)).take_events(), [Ev::close(1000, "first")]);
    }
}

// close() while connecting abandons the connection without a close frame.
#[test]
fn close_while_connecting_abandons_without_a_frame() {
    let mut p = Pair::new();
    let request = p.client.take_output();
    p.client.conn.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(p.client.conn.ready_state(), ReadyState::Closed);
    assert!(p.client.conn.pending_output().is_empty());
    assert!(p.client.conn.should_close_transport());
    assert_eq!(p.client.conn.poll_timeout(), None);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_for(&request)
    );
    assert_eq!(
        p.inject(Role::Client, response.as_bytes()),
        [],
        "nothing is read after abandoning"
    );

    let mut p = Pair::new();
    p.server.decision = Decision::Manual;
    p.drive();
    p.server.conn.close(CloseCode::GOING_AWAY, "").unwrap();
    assert_eq!(p.server.conn.ready_state(), ReadyState::Closed);
    assert!(p.server.conn.pending_output().is_empty());
    assert!(matches!(
        p.server.conn.accept(rfc6455::Accept::new()),
        Err(Error::Misuse(_))
    ));
}

// A failure while closing (our close already sent) queues no second close.
#[test]
fn failure_while_closing_sends_no_second_close_frame() {
    for role in ROLES {
        let mut p = Pair::connected();
        p.conn(role).close(CloseCode::NORMAL, "").unwrap();
        p.output(role);
        let events = p.inject(role, &close_frame(1005, b"").to(role).bytes());
        assert_eq!(
            assert_fails_with(&events, 1002),
            Fault::Protocol(ProtocolError::InvalidCloseCode(1005))
        );
        assert!(p.output(role).is_empty());
        assert!(p.conn(role).should_close_transport());
        assert!(!p.conn(role).is_closed_cleanly());
    }
}
