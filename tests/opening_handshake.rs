//! The opening handshake (RFC 6455 §4) through the two-peer harness.

use rfc6455::testkit::*;
use rfc6455::{Accept, ClientRequest, Misuse, ReadyState, Role};

const REJECT_403: &[u8] = b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const REJECT_426: &[u8] =
    b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const REJECT_431: &[u8] =
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const REJECT_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

const DELIVERIES: [Delivery; 2] = [Delivery::Receive, Delivery::ReadBuffer];

fn request_bytes() -> Vec<u8> {
    Pair::new().client.conn.pending_output().to_vec()
}

/// A pair whose server has accepted and already sent "first": the 101 and
/// the first frame wait in the server's output, together.
fn accepted_with_first_frame() -> Pair {
    let mut p = Pair::new();
    p.server.decision = Decision::Manual;
    p.drive();
    assert_eq!(p.server.take_events(), [Ev::request("/chat")]);
    p.server.conn.accept(Accept::new()).unwrap();
    p.server.conn.send_text("first").unwrap();
    p
}

fn assert_open(p: &Pair) {
    assert_eq!(p.client.conn.ready_state(), ReadyState::Open);
    assert_eq!(p.server.conn.ready_state(), ReadyState::Open);
}

// §4.1, §4.2.1: the request may arrive cut anywhere; the response too.
#[test]
fn handshake_completes_at_every_split_point_of_request_and_response() {
    let request_len = request_bytes().len();
    let response_len = accepted_with_first_frame().server.conn.pending_output().len();
    for delivery in DELIVERIES {
        for cut in 1..request_len.max(response_len) {
            let mut p = Pair::new();
            p.client.chunking = Chunking::At(vec![cut]);
            p.server.chunking = Chunking::At(vec![cut]);
            p.client.delivery = delivery;
            p.server.delivery = delivery;
            p.drive();
            assert_eq!(p.server.take_events(), [Ev::request("/chat"), Ev::Open], "cut {cut}");
            assert_eq!(p.client.take_events(), [Ev::Open], "cut {cut}");
            assert_open(&p);
        }
    }
}

#[test]
fn handshake_completes_byte_by_byte() {
    for delivery in DELIVERIES {
        let mut p = Pair::new();
        p.client.chunking = Chunking::Size(1);
        p.server.chunking = Chunking::Size(1);
        p.client.delivery = delivery;
        p.server.delivery = delivery;
        p.drive();
        assert_eq!(p.server.take_events(), [Ev::request("/chat"), Ev::Open]);
        assert_eq!(p.client.take_events(), [Ev::Open]);
        p.client.conn.send_text("after").unwrap();
        p.drive();
        assert_eq!(p.server.take_events(), [Ev::text("after")]);
    }
}

// RFC 9112 §2.2: a recipient may take a bare LF as a line's end; the parser
// does, so a head whose lines end so is judged when its blank line arrives,
// not left waiting for the size limit or the handshake timeout.
#[test]
fn heads_whose_lines_end_in_a_bare_lf_are_judged_when_whole() {
    for size in [usize::MAX, 1] {
        let mut p = Pair::new();
        p.client.chunking = Chunking::Size(size);
        p.server.chunking = Chunking::Size(size);
        let request = String::from_utf8(p.client.take_output()).unwrap().replace("\r\n", "\n");
        assert_eq!(
            p.inject(Role::Server, request.as_bytes()),
            [Ev::request("/chat"), Ev::Open]
        );
        let response = String::from_utf8(p.output(Role::Server)).unwrap().replace("\r\n", "\n");
        assert_eq!(
            p.inject(Role::Client, response.as_bytes()),
            [Ev::Open],
            "chunks of {size}"
        );
    }
}

// §4.2.1: bytes after the request's header block are frames, kept for after
// the handshake, wherever the request was cut.
#[test]
fn frame_in_the_same_chunk_as_the_request_is_delivered_at_every_split_point() {
    for delivery in DELIVERIES {
        let len = request_bytes().len() + text("early").to(Role::Server).bytes().len();
        for cut in 0..len {
            let mut p = Pair::new();
            let mut stream = p.client.take_output();
            stream.extend(text("early").to(Role::Server).bytes());
            p.server.delivery = delivery;
            p.client.chunking = Chunking::At(vec![cut]);
            let events = p.inject(Role::Server, &stream);
            assert_eq!(events, [Ev::request("/chat"), Ev::Open, Ev::text("early")], "cut {cut}");
            p.drive();
            assert_eq!(p.client.take_events(), [Ev::Open], "cut {cut}");
        }
    }
}

// The same on a request held for a decision: the early frame waits for accept.
#[test]
fn frame_after_the_request_waits_for_the_decision() {
    let mut p = Pair::new();
    p.server.decision = Decision::Manual;
    let mut stream = p.client.take_output();
    stream.extend(wire(Role::Server, &[text("one"), binary(b"two")]));
    assert_eq!(p.inject(Role::Server, &stream), [Ev::request("/chat")]);
    assert_eq!(p.server.poll(), []);
    p.server.conn.accept(Accept::new()).unwrap();
    assert_eq!(
        p.server.poll(),
        [Ev::Open, Ev::text("one"), Ev::Binary(b"two".to_vec())]
    );
}

// §4.1: bytes after the 101 response's header block are frames.
#[test]
fn frame_in_the_same_chunk_as_the_response_is_delivered_at_every_split_point() {
    let response_len = accepted_with_first_frame().server.conn.pending_output().len();
    for delivery in DELIVERIES {
        for cut in 0..response_len {
            let mut p = accepted_with_first_frame();
            p.client.delivery = delivery;
            p.server.chunking = Chunking::At(vec![cut]);
            p.drive();
            assert_eq!(p.client.take_events(), [Ev::Open, Ev::text("first")], "cut {cut}");
            assert_eq!(p.server.take_events(), [Ev::Open], "cut {cut}");
        }
    }
}

// §4.2.2 step 5.4, §1.3: the response carries base64(SHA-1(key + GUID)).
#[test]
fn response_bytes_are_exact() {
    let mut p = Pair::new();
    let request = p.client.conn.pending_output().to_vec();
    p.drive();
    let expected = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_for(&request)
    );
    assert_eq!(String::from_utf8(p.server.sent.clone()).unwrap(), expected);
    assert!(request.starts_with(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
}

// §4.1 / §4.2.2: subprotocol negotiation.
#[test]
fn subprotocol_chosen_by_the_server_is_agreed_on_both_sides() {
    let request = default_request().protocol("chat").protocol("superchat");
    let mut p = Pair::with_request(request, plain_config(), plain_config());
    p.server.decision = Decision::Accept(Accept::new().protocol("superchat"));
    p.drive();
    let offered = vec!["chat".to_owned(), "superchat".to_owned()];
    let expected_request = Ev::Request {
        target: "/chat".into(),
        protocols: offered,
    };
    assert_eq!(p.server.take_events(), [expected_request, Ev::Open]);
    assert_eq!(p.client.take_events(), [Ev::Open]);
    assert_eq!(p.client.conn.protocol(), Some("superchat"));
    assert_eq!(p.server.conn.protocol(), Some("superchat"));
    let response = String::from_utf8(p.server.sent.clone()).unwrap();
    assert!(
        response.contains("\r\nSec-WebSocket-Protocol: superchat\r\n"),
        "{response}"
    );
    let request = String::from_utf8(p.client.sent.clone()).unwrap();
    assert!(
        request.contains("\r\nSec-WebSocket-Protocol: chat, superchat\r\n"),
        "{request}"
    );
}

#[test]
fn no_subprotocol_chosen_still_opens_without_one() {
    let request = default_request().protocol("chat");
    let mut p = Pair::with_request(request, plain_config(), plain_config());
    p.drive();
    assert_eq!(p.client.take_events(), [Ev::Open]);
    assert_eq!((p.client.conn.protocol(), p.server.conn.protocol()), (None, None));
    assert!(
        !String::from_utf8(p.server.sent.clone())
            .unwrap()
            .contains("Sec-WebSocket-Protocol")
    );
}

#[test]
fn accepting_an_unoffered_subprotocol_is_refused_by_the_api() {
    let request = default_request().protocol("chat");
    let mut p = Pair::with_request(request, plain_config(), plain_config());
    p.server.decision = Decision::Manual;
    p.drive();
    let err = p.server.conn.accept(Accept::new().protocol("other")).unwrap_err();
    assert!(
        matches!(err, rfc6455::Error::Misuse(Misuse::UnofferedProtocol)),
        "{err:?}"
    );
    assert_eq!(p.server.conn.ready_state(), ReadyState::Connecting);
    assert!(p.server.conn.pending_output().is_empty());
    p.server.conn.accept(Accept::new().protocol("chat")).unwrap();
    p.drive();
    assert_eq!(p.client.take_events(), [Ev::Open]);
    assert_eq!(p.client.conn.protocol(), Some("chat"));
}

// §4.1: "If the response includes a |Sec-WebSocket-Protocol| header field
// and this header field indicates the use of a subprotocol that was not
// present in the client's handshake ... the client MUST _Fail_".
#[test]
fn client_fails_on_a_subprotocol_it_did_not_offer() {
    let request = default_request().protocol("chat");
    let mut p = Pair::with_request(request, plain_config(), plain_config());
    let request = p.client.take_output();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: other\r\n\r\n",
        accept_for(&request)
    );
    let events = p.inject(Role::Client, response.as_bytes());
    assert_eq!(
        assert_fails_with(&events, 1006),
        Fault::Handshake(HandshakeError::UnofferedProtocol("other".into()))
    );
    p.assert_failed_state(Role::Client, 1006);
}

// §4.1: the client MUST validate Sec-WebSocket-Accept.
#[test]
fn client_fails_on_a_wrong_accept_key() {
    let mut p = Pair::new();
    p.client.take_output();
    let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let events = p.inject(Role::Client, response.as_bytes());
    assert_eq!(
        assert_fails_with(&events, 1006),
        Fault::Handshake(HandshakeError::Accept)
    );
    p.assert_failed_state(Role::Client, 1006);
}

// §4.2.2: the application may refuse with an HTTP status.
#[test]
fn application_reject_sends_exact_bytes_and_closes() {
    let mut p = Pair::new();
    p.server.decision = Decision::Reject(403);
    p.drive();
    assert_eq!(p.server.sent, REJECT_403);
    assert_eq!(p.server.take_events(), [Ev::request("/chat")]);
    assert_eq!(p.server.conn.ready_state(), ReadyState::Closed);
    assert!(p.server.conn.should_close_transport());
    assert!(!p.server.conn.is_closed_cleanly());
    let events = p.client.take_events();
    assert_eq!(
        assert_fails_with(&events, 1006),
        Fault::Handshake(HandshakeError::Status {
            code: 403,
            reason: "Forbidden".into()
        })
    );
    assert_eq!(p.client.conn.ready_state(), ReadyState::Closed);
}

// After reject the connection is closed: it has nothing left to time and
// reports nothing more.
#[test]
fn reject_leaves_no_timer_and_no_later_event() {
    let mut p = Pair::new();
    p.server.decision = Decision::Reject(403);
    p.drive();
    assert_eq!(p.server.take_events(), [Ev::request("/chat")]);
    let deadline = p.server.conn.poll_timeout();
    p.advance(secs(3600));
    let later = p.server.take_events();
    assert_eq!(
        (deadline, later),
        (None, vec![]),
        "a rejected connection has no deadline and reports nothing more"
    );
    assert!(p.server.conn.pending_output().is_empty());
}

#[test]
fn reject_and_accept_need_a_pending_request() {
    let mut p = Pair::new();
    assert!(matches!(
        p.server.conn.reject(403),
        Err(rfc6455::Error::Misuse(Misuse::NoRequestPending))
    ));
    assert!(matches!(
        p.server.conn.accept(Accept::new()),
        Err(rfc6455::Error::Misuse(Misuse::NoRequestPending))
    ));
    p.drive();
    assert!(matches!(
        p.server.conn.reject(403),
        Err(rfc6455::Error::Misuse(Misuse::NoRequestPending))
    ));
    assert!(p.server.conn.pending_output().is_empty());
}

// §4.2.2: "If this version does not match a version understood by the
// server, the server MUST abort ... and instead send an appropriate HTTP
// error code (such as 426 Upgrade Required) and a |Sec-WebSocket-Version|
// header field indicating the version(s) the server is capable of".
#[test]
fn bad_version_is_answered_with_426() {
    for replacement in ["Sec-WebSocket-Version: 8", "Sec-WebSocket-Version: 14", "X-Version: 13"] {
        let mut p = Pair::new();
        let request = String::from_utf8(p.client.take_output()).unwrap();
        let bad = request.replace("Sec-WebSocket-Version: 13", replacement);
        let events = p.inject(Role::Server, bad.as_bytes());
        assert_eq!(
            assert_fails_with(&events, 1006),
            Fault::Handshake(HandshakeError::Version),
            "{replacement}"
        );
        assert_eq!(p.output(Role::Server), REJECT_426, "{replacement}");
        p.assert_failed_state(Role::Server, 1006);
    }
}

#[test]
fn client_reports_the_426() {
    let mut p = Pair::new();
    p.client.take_output();
    let events = p.inject(Role::Client, REJECT_426);
    assert_eq!(
        assert_fails_with(&events, 1006),
        Fault::Handshake(HandshakeError::Status {
            code: 426,
            reason: "Upgrade Required".into()
        })
    );
}

// §4.2.1: other malformed requests get 400.
#[test]
fn malformed_requests_are_answered_with_400() {
    let cases = [
        (
            "GET /chat",
            "POST /chat",
            Fault::Handshake(HandshakeError::Method("POST".into())),
        ),
        (
            "Upgrade: websocket",
            "Upgrade: h2c",
            Fault::Handshake(HandshakeError::Upgrade),
        ),
        (
            "Connection: Upgrade",
            "Connection: keep-alive",
            Fault::Handshake(HandshakeError::Connection),
        ),
        (
            "Host: example.com",
            "X-Host: example.com",
            Fault::Handshake(HandshakeError::MissingHost),
        ),
        ("HTTP/1.1", "HTTP/1.0", Fault::Handshake(HandshakeError::HttpVersion)),
    ];
    for (from, to, error) in cases {
        let mut p = Pair::new();
        let request = String::from_utf8(p.client.take_output()).unwrap();
        let events = p.inject(Role::Server, request.replacen(from, to, 1).as_bytes());
        assert_eq!(assert_fails_with(&events, 1006), error);
        assert_eq!(p.output(Role::Server), REJECT_400, "{to}");
        p.assert_failed_state(Role::Server, 1006);
    }
}

// Config::max_handshake_size: a header block over the limit gets 431.
#[test]
fn oversized_request_is_answered_with_431() {
    let request = default_request().header("X-Filler", "a".repeat(20_000));
    let mut p = Pair::with_request(request, plain_config(), plain_config());
    p.client.chunking = Chunking::Size(1000);
    p.drive();
    let events = p.server.take_events();
    assert_eq!(
        assert_fails_with(&events, 1006),
        Fault::Handshake(HandshakeError::TooLarge)
    );
    assert_eq!(p.server.sent, REJECT_431);
    assert_eq!(p.server.conn.ready_state(), ReadyState::Closed);
    assert!(p.server.conn.should_close_transport());
    let events = p.client.take_events();
    assert_eq!(
        assert_fails_with(&events, 1006),
        Fault::Handshake(HandshakeError::Status {
            code: 431,
            reason: "Request Header Fields Too Large".into()
        })
    );
}

// A header block that never ends is refused as soon as it reaches the
// limit, not buffered forever.
#[test]
fn unterminated_header_block_is_refused_at_the_limit() {
    let config = plain_config().max_handshake_size(1024);
    let mut head = b"GET / HTTP/1.1\r\nHost: example.com\r\n".to_vec();
    while head.len() < 1024 {
        head.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaa\r\n");
    }
    let mut p = Pair::with_config(config);
    p.client.take_output();
    p.client.chunking = Chunking::Size(7);
    assert_eq!(p.inject(Role::Server, &head[..1023]), []);
    let events = p.inject(Role::Server, &head[1023..1024]);
    assert_eq!(
        assert_fails_with(&events, 1006),
        Fault::Handshake(HandshakeError::TooLarge)
    );
    assert_eq!(p.output(Role::Server), REJECT_431);
}

// Config::max_headers: too many header lines get 431.
#[test]
fn too_many_headers_are_answered_with_431() {
    let config = plain_config().max_headers(8);
    let mut request = default_request();
    for i in 0..8 {
        request = request.header(format!("X-H{i}"), "v");
    }
    let mut p = Pair::with_request(request, plain_config(), config);
    p.drive();
    let events = p.server.take_events();
    assert_eq!(
        assert_fails_with(&events, 1006),
        Fault::Handshake(HandshakeError::TooLarge)
    );
    assert_eq!(p.server.sent, REJECT_431);
}

// §4.2.2: the server decides; nothing is open until it accepts.
#[test]
fn server_does_not_open_before_accept() {
    let mut p = Pair::new();
    p.server.decision = Decision::Manual;
    p.drive();
    assert_eq!(p.server.take_events(), [Ev::request("/chat")]);
    for _ in 0..3 {
        assert_eq!(p.server.poll(), []);
    }
    assert_eq!(p.server.conn.ready_state(), ReadyState::Connecting);
    assert_eq!(
        p.server.conn.request().map(|r| r.target().to_owned()),
        Some("/chat".into())
    );
    assert!(matches!(
        p.server.conn.send_text("too soon"),
        Err(rfc6455::Error::Misuse(Misuse::NotOpen))
    ));
    assert!(p.server.sent.is_empty() && p.server.conn.pending_output().is_empty());
    assert_eq!(p.client.take_events(), []);
    assert_eq!(p.client.conn.ready_state(), ReadyState::Connecting);

    p.server.conn.accept(Accept::new()).unwrap();
    assert_eq!(p.server.conn.ready_state(), ReadyState::Open);
    p.drive();
    assert_eq!(p.server.take_events(), [Ev::Open]);
    assert_eq!(p.client.take_events(), [Ev::Open]);
}

#[test]
fn client_cannot_send_before_open() {
    let mut p = Pair::new();
    assert!(matches!(
        p.client.conn.send_text("x"),
        Err(rfc6455::Error::Misuse(Misuse::NotOpen))
    ));
    assert!(matches!(
        p.client.conn.ping(b""),
        Err(rfc6455::Error::Misuse(Misuse::NotOpen))
    ));
    let request = p.client.take_output();
    assert!(request.ends_with(b"\r\n\r\n"), "only the request is queued");
}

// §4.1: a status other than 101 fails the client.
#[test]
fn client_fails_on_a_non_101_status() {
    let mut p = Pair::new();
    p.client.take_output();
    let events = p.inject(Role::Client, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        assert_fails_with(&events, 1006),
        Fault::Handshake(HandshakeError::Status {
            code: 200,
            reason: "OK".into()
        })
    );
}

#[test]
fn eof_during_the_handshake_fails_both_roles() {
    let mut p = Pair::new();
    let request = p.client.take_output();
    assert_eq!(p.inject(Role::Server, &request[..10]), []);
    let events = p.close_transport(Role::Client);
    assert_eq!(assert_fails_with(&events, 1006), Fault::Handshake(HandshakeError::Eof));

    let mut p = Pair::new();
    p.client.take_output();
    let events = p.close_transport(Role::Server);
    assert_eq!(assert_fails_with(&events, 1006), Fault::Handshake(HandshakeError::Eof));
    p.assert_failed_state(Role::Client, 1006);
}

// The harness's mask source makes client bytes reproducible.
#[test]
fn client_bytes_are_deterministic() {
    let run = || {
        let mut p = Pair::connected();
        p.client.conn.send_text("same").unwrap();
        p.output(Role::Client)
    };
    assert_eq!(run(), run());
    assert_eq!(request_bytes(), request_bytes());
    let other = ClientRequest::new("example.com", "/chat");
    assert_eq!(
        Pair::with_request(other, plain_config(), plain_config())
            .client
            .conn
            .pending_output(),
        request_bytes()
    );
}

// §1.2/§1.3: the RFC's example request gets the RFC's example answer.
#[test]
fn rfc_example_request_gets_the_rfc_example_response() {
    let request = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let mut p = Pair::new();
    p.client.take_output();
    p.server.decision = Decision::Accept(Accept::new().protocol("chat"));
    let events = p.inject(Role::Server, request);
    let offered = vec!["chat".to_owned(), "superchat".to_owned()];
    assert_eq!(
        events,
        [
            Ev::Request {
                target: "/chat".into(),
                protocols: offered
            },
            Ev::Open
        ]
    );
    assert_eq!(
        p.output(Role::Server),
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
}

// Bytes a client sends before the server decides wait in the read buffer;
// more than one frame's worth (the limit plus a header) is refused with 431
// rather than buffered without bound.
#[test]
fn data_piled_up_before_the_decision_is_refused() {
    let config = plain_config().max_frame_size(1024);
    let mut server = rfc6455::Connection::server(config);
    let client = rfc6455::Connection::client_with_masks(default_request(), plain_config(), masks(SEED));
    server.receive(client.pending_output());
    assert!(matches!(
        server.poll_event(),
        Some(rfc6455::connection::Event::Request(_))
    ));
    server.receive(&[0u8; 1024]);
    assert!(server.poll_event().is_none(), "one frame's worth may wait");
    server.receive(&[0u8; 64]);
    match server.poll_event() {
        Some(rfc6455::connection::Event::Failed(rfc6455::Error::Handshake(rfc6455::HandshakeError::TooLarge))) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(
        server
            .pending_output()
            .starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    );
    assert!(server.should_close_transport());
}
