//! Base framing (RFC 6455 §5), for both roles: a server receiving from a
//! client (masked frames) and a client receiving from a server (unmasked).
//!
//! `p.fails_with(role, bytes, code)` injects hand-made bytes into `role` and
//! checks that it reports `Failed` with `code`, queues exactly one close
//! frame carrying `code` (masked iff `role` is the client), and is closed.

use rfc6455::error::Misuse;
use rfc6455::testkit::*;
use rfc6455::{Config, OpCode, ReadyState, Role};

/// Sets how bytes going to `role` are cut.
fn chunk_towards(p: &mut Pair, role: Role, chunking: Chunking) {
    p.peer_mut(peer_of(role)).chunking = chunking;
}

fn limits(max_frame_size: usize, max_message_size: usize) -> Config {
    plain_config()
        .max_frame_size(max_frame_size)
        .max_message_size(max_message_size)
}

// ---------------------------------------------------------------- §5.2

// §5.2 Opcode: "%x3-7 are reserved for further non-control frames",
// "%xB-F are reserved for further control frames"; §5.2: an unknown
// opcode MUST _Fail the WebSocket Connection_.
#[test]
fn reserved_opcodes_fail_with_1002() {
    for role in ROLES {
        for op in RESERVED_OPCODES {
            let mut p = Pair::connected();
            let error = p.fails_with(role, &frame(op, b"x").to(role).bytes(), 1002);
            assert_eq!(error, Fault::Protocol(ProtocolError::ReservedOpcode(op)), "{role:?}");
        }
    }
}

// §5.2 RSV1-3: "MUST be 0 unless an extension is negotiated that defines
// meanings for non-zero values ... the receiving endpoint MUST _Fail_".
#[test]
fn reserved_bits_fail_with_1002() {
    for role in ROLES {
        for rsv in 1..=7u8 {
            for f in [text("hi"), ping(b"p"), cont(b"c").fin(false)] {
                let mut p = Pair::connected();
                let error = p.fails_with(role, &f.rsv(rsv).to(role).bytes(), 1002);
                assert_eq!(error, Fault::Protocol(ProtocolError::ReservedBits(rsv)), "{role:?}");
            }
        }
    }
}

// A reserved opcode or bit is visible in the first byte: fail on it.
#[test]
fn reserved_opcode_and_bits_fail_on_the_first_byte() {
    for role in ROLES {
        for first in [0x83, 0x8f, 0x0b, 0xc1, 0xa2, 0x99] {
            let mut p = Pair::connected();
            p.fails_with(role, &[first], 1002);
        }
    }
}

// §5.1: "The server MUST close the connection upon receiving a frame that
// is not masked"; "A client MUST close a connection if it detects a masked
// frame". §7.4.1: 1002.
#[test]
fn wrong_masking_direction_fails_with_1002() {
    for role in ROLES {
        let expected = match role {
            Role::Server => Fault::Protocol(ProtocolError::UnmaskedFrame),
            Role::Client => Fault::Protocol(ProtocolError::MaskedFrame),
        };
        for f in [text("hi"), binary(b""), ping(b"p"), close_frame(1000, b"")] {
            let mut p = Pair::connected();
            assert_eq!(p.fails_with(role, &f.wrongly_to(role).bytes(), 1002), expected);
        }
    }
}

// §5.2 Payload length: "the minimal number of bytes MUST be used to encode
// the length".
#[test]
fn non_minimal_16_bit_length_fails_with_1002() {
    for role in ROLES {
        for len in [0, 1, 125] {
            let mut p = Pair::connected();
            let f = binary(&pattern(len)).form(LenForm::Sixteen).to(role);
            assert_eq!(
                p.fails_with(role, &f.bytes(), 1002),
                Fault::Protocol(ProtocolError::NonMinimalLength),
                "{len}"
            );
        }
    }
}

#[test]
fn non_minimal_64_bit_length_fails_with_1002() {
    for role in ROLES {
        for len in [0, 125, 126, 65535] {
            let mut p = Pair::connected();
            let f = binary(&pattern(len)).form(LenForm::SixtyFour).to(role);
            assert_eq!(
                p.fails_with(role, &f.bytes(), 1002),
                Fault::Protocol(ProtocolError::NonMinimalLength),
                "{len}"
            );
        }
    }
}

// The boundaries themselves are minimal and accepted.
#[test]
fn minimal_lengths_at_the_boundaries_are_accepted() {
    for role in ROLES {
        for len in [125, 126, 65535, 65536] {
            let mut p = Pair::connected();
            let payload = pattern(len);
            let events = p.inject(role, &binary(&payload).to(role).bytes());
            assert_eq!(events, [Ev::Binary(payload)], "{role:?} {len}");
        }
    }
}

// §5.2: "the most significant bit MUST be 0" in the 64-bit length.
#[test]
fn length_with_the_most_significant_bit_set_fails_with_1002() {
    for role in ROLES {
        for declared in [1 << 63, u64::MAX, (1 << 63) | 5] {
            let mut p = Pair::connected();
            let header = binary(b"").form(LenForm::SixtyFour).declare(declared).to(role).header();
            assert_eq!(
                p.fails_with(role, &header, 1002),
                Fault::Protocol(ProtocolError::LengthOverflow)
            );
        }
    }
}

// ---------------------------------------------------------------- §5.5

// §5.5: "All control frames MUST have a payload length of 125 bytes or less".
#[test]
fn control_frame_over_125_bytes_fails_with_1002() {
    for role in ROLES {
        for op in [OP_PING, OP_PONG, OP_CLOSE] {
            for len in [126, 65536] {
                let mut p = Pair::connected();
                let error = p.fails_with(role, &frame(op, &pattern(len)).to(role).bytes(), 1002);
                assert_eq!(error, Fault::Protocol(ProtocolError::ControlFrameTooLong(len as u64)));
            }
        }
    }
}

#[test]
fn control_frame_of_125_bytes_is_accepted() {
    for role in ROLES {
        let mut p = Pair::connected();
        let payload = pattern(125);
        assert_eq!(
            p.inject(role, &ping(&payload).to(role).bytes()),
            [Ev::Ping(payload.clone())]
        );
        assert_eq!(p.inject(role, &pong(&payload).to(role).bytes()), [Ev::Pong(payload)]);
    }
}

// §5.5: "Control frames themselves MUST NOT be fragmented".
#[test]
fn fragmented_control_frame_fails_with_1002() {
    for role in ROLES {
        for op in [OP_PING, OP_PONG, OP_CLOSE] {
            let mut p = Pair::connected();
            let error = p.fails_with(role, &frame(op, b"").fin(false).to(role).bytes(), 1002);
            assert_eq!(error, Fault::Protocol(ProtocolError::FragmentedControlFrame));
        }
    }
}

// ---------------------------------------------------------------- §5.4

// §5.4: a fragmented message is "a single frame with the FIN bit clear and
// an opcode other than 0, followed by zero or more frames with the FIN bit
// clear and the opcode set to 0, and terminated by a single frame with the
// FIN bit set and an opcode of 0".
#[test]
fn continuation_without_a_message_fails_with_1002() {
    for role in ROLES {
        for f in [cont(b"x"), cont(b"x").fin(false), cont(b"")] {
            let mut p = Pair::connected();
            assert_eq!(
                p.fails_with(role, &f.to(role).bytes(), 1002),
                Fault::Protocol(ProtocolError::UnexpectedContinuation)
            );
        }
        // Also right after a complete message.
        let mut p = Pair::connected();
        let events = p.inject(role, &wire(role, &[text("done"), cont(b"more")]));
        assert_eq!(events[0], Ev::text("done"));
        assert_eq!(
            assert_fails_with(&events, 1002),
            Fault::Protocol(ProtocolError::UnexpectedContinuation)
        );
        p.assert_failed_state(role, 1002);
    }
}

#[test]
fn new_data_frame_inside_a_fragmented_message_fails_with_1002() {
    for role in ROLES {
        for (first, second) in [
            (text("a").fin(false), text("b")),
            (text("a").fin(false), binary(b"b")),
            (binary(b"a").fin(false), text("b").fin(false)),
        ] {
            let mut p = Pair::connected();
            assert_eq!(p.inject(role, &first.to(role).bytes()), []);
            assert_eq!(
                p.fails_with(role, &second.to(role).bytes(), 1002),
                Fault::Protocol(ProtocolError::ExpectedContinuation)
            );
        }
    }
}

// §5.4: "Control frames MAY be injected in the middle of a fragmented
// message"; §5.5.2/§5.5.3: a pong answers with "Application data" of the ping.
#[test]
fn ping_inside_a_fragmented_message_is_delivered_and_the_message_reassembled() {
    for role in ROLES {
        let mut p = Pair::connected();
        let frames = [
            text("Hel").fin(false),
            ping(b"mid"),
            cont(b"").fin(false),
            pong(b"unsolicited"),
            cont(b"lo"),
        ];
        let events = p.inject(role, &wire(role, &frames));
        assert_eq!(
            events,
            [
                Ev::Ping(b"mid".to_vec()),
                Ev::Pong(b"unsolicited".to_vec()),
                Ev::text("Hello")
            ]
        );
        let out = p.output_frames(role);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!((out[0].opcode, out[0].payload.as_slice()), (OP_PONG, &b"mid"[..]));
        assert_eq!(out[0].masked, role == Role::Client);
        assert_eq!(p.conn(role).ready_state(), ReadyState::Open);
    }
}

#[test]
fn binary_message_in_many_fragments_is_reassembled() {
    for role in ROLES {
        let payload = pattern(1000);
        let mut frames = vec![binary(&payload[..100]).fin(false)];
        for i in 1..9 {
            frames.push(cont(&payload[i * 100..(i + 1) * 100]).fin(false));
            frames.push(ping(&[i as u8]));
        }
        frames.push(cont(&payload[900..]));
        for chunking in [Chunking::Whole, Chunking::Size(1), Chunking::Size(77)] {
            let mut p = Pair::connected();
            chunk_towards(&mut p, role, chunking.clone());
            let events = p.inject(role, &wire(role, &frames));
            let mut expected: Vec<Ev> = (1..9u8).map(|i| Ev::Ping(vec![i])).collect();
            expected.push(Ev::Binary(payload.clone()));
            assert_eq!(events, expected, "{role:?} {chunking:?}");
        }
    }
}

// §5.5.2: "A Pong frame sent in response to a Ping frame must have
// identical Application data"; §5.1 masking applies to the pong too.
#[test]
fn auto_pong_carries_the_same_payload() {
    for role in ROLES {
        for payload in [&b""[..], b"are you there?", &pattern(125)] {
            let mut p = Pair::connected();
            p.conn(role).ping(payload).unwrap();
            p.drive();
            let answering = peer_of(role);
            assert_eq!(p.peer_mut(answering).take_events(), [Ev::Ping(payload.to_vec())]);
            assert_eq!(p.peer_mut(role).take_events(), [Ev::Pong(payload.to_vec())]);
            let pongs = decode_frames(&p.peer(answering).sent);
            assert_eq!(pongs.len(), 1);
            assert_eq!((pongs[0].opcode, pongs[0].fin), (OP_PONG, true));
            assert_eq!(pongs[0].payload, payload);
            assert_eq!(pongs[0].masked, answering == Role::Client);
        }
    }
}

#[test]
fn without_auto_pong_a_ping_is_only_reported() {
    for role in ROLES {
        let mut p = Pair::connected_with(plain_config().auto_pong(false));
        assert_eq!(p.inject(role, &ping(b"x").to(role).bytes()), [Ev::Ping(b"x".to_vec())]);
        assert!(p.output(role).is_empty());
        p.conn(role).pong(b"x").unwrap();
        assert_eq!(p.output_frames(role)[0].payload, b"x");
    }
}

// ---------------------------------------------------------------- §8.1 UTF-8

/// (valid text before, the invalid sequence, how many of its bytes it
/// takes to be sure it is invalid)
const INVALID_SEQUENCES: [(&[u8], &[u8], usize); 6] = [
    (b"ab", b"\xff", 1),
    (b"ab", b"\x80", 1),
    (b"ab", b"\xc0\xaf", 1),           // overlong, C0 can never start a sequence
    (b"\xce\xba", b"\xed\xa0\x80", 2), // surrogate U+D800
    (b"x", b"\xf4\x90\x80\x80", 2),    // above U+10FFFF
    (b"\xe2\x82\xac", b"\xe2\x28", 2), // truncated by an ASCII byte
];

// §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds
// that the byte stream is not, in fact, a valid UTF-8 stream, that
// endpoint MUST _Fail the WebSocket Connection_" (1007, §7.4.1). Checked
// as the bytes arrive, before the frame completes.
#[test]
fn invalid_utf8_fails_fast_in_the_middle_of_a_frame() {
    for role in ROLES {
        for (valid, bad, needed) in INVALID_SEQUENCES {
            let payload = [valid, bad, b" and the rest of the frame"].concat();
            let bytes = text_bytes(&payload).to(role).bytes();
            let header_len = bytes.len() - payload.len();
            let decisive = header_len + valid.len() + needed;
            let mut p = Pair::connected();
            chunk_towards(&mut p, role, Chunking::Size(1));
            assert_eq!(p.inject(role, &bytes[..decisive - 1]), [], "{role:?} {bad:x?}");
            let error = p.fails_with(role, &bytes[decisive - 1..decisive], 1007);
            assert_eq!(error, Fault::Protocol(ProtocolError::InvalidUtf8));
            assert_eq!(p.inject(role, &bytes[decisive..]), [], "the rest is ignored");
        }
    }
}

#[test]
fn invalid_utf8_fails_in_the_middle_of_a_fragmented_message() {
    for role in ROLES {
        let mut p = Pair::connected();
        assert_eq!(p.inject(role, &text("hello ").fin(false).to(role).bytes()), []);
        assert_eq!(p.inject(role, &cont(b"wor").fin(false).to(role).bytes()), []);
        let error = p.fails_with(role, &cont(b"\xc3\x28").fin(false).to(role).bytes(), 1007);
        assert_eq!(error, Fault::Protocol(ProtocolError::InvalidUtf8));
        assert_eq!(p.inject(role, &cont(b"ld").to(role).bytes()), []);

        // An invalid sequence that straddles two fragments.
        let mut p = Pair::connected();
        assert_eq!(p.inject(role, &text_bytes(b"a\xe2").fin(false).to(role).bytes()), []);
        p.fails_with(role, &cont(b"\x28b").fin(false).to(role).bytes(), 1007);
    }
}

// §8.1 at the end of a message: an unfinished code point is invalid.
#[test]
fn message_ending_inside_a_code_point_fails_with_1007() {
    for role in ROLES {
        let mut p = Pair::connected();
        p.fails_with(role, &text_bytes(b"a\xe2\x82").to(role).bytes(), 1007);

        let mut p = Pair::connected();
        assert_eq!(p.inject(role, &text("a").fin(false).to(role).bytes()), []);
        p.fails_with(role, &cont(b"\xf0\x9f\x98").to(role).bytes(), 1007);
    }
}

// §5.6/§8.1: only the whole message must be valid UTF-8; a code point may
// be cut by fragments and by reads.
#[test]
fn code_point_split_across_fragments_and_reads_is_valid() {
    let frames = [
        text_bytes(b"a\xe2").fin(false),
        cont(b"\x82").fin(false),
        ping(b"p"),
        cont(b"\xacb\xf0\x9f").fin(false),
        cont(b"\x98").fin(false),
        cont(b"\x80"),
    ];
    for role in ROLES {
        for delivery in [Delivery::Receive, Delivery::ReadBuffer] {
            for chunking in [Chunking::Whole, Chunking::Size(1), Chunking::Size(2), Chunking::Size(5)] {
                let mut p = Pair::connected();
                p.peer_mut(role).delivery = delivery;
                chunk_towards(&mut p, role, chunking.clone());
                let events = p.inject(role, &wire(role, &frames));
                assert_eq!(
                    events,
                    [Ev::Ping(b"p".to_vec()), Ev::text("a€b😀")],
                    "{role:?} {delivery:?} {chunking:?}"
                );
            }
        }
    }
}

#[test]
fn multibyte_text_frame_cut_at_every_byte_is_valid() {
    let message = "κόσμε € 😀 ✓";
    for role in ROLES {
        let bytes = text(message).to(role).bytes();
        for cut in 1..bytes.len() {
            let mut p = Pair::connected();
            chunk_towards(&mut p, role, Chunking::At(vec![cut]));
            assert_eq!(p.inject(role, &bytes), [Ev::text(message)], "{role:?} cut {cut}");
        }
    }
}

// ---------------------------------------------------------------- limits

// Config::max_frame_size: "larger frames fail with 1009 before their
// payload arrives" (§7.4.1: 1009, a message too big to process).
#[test]
fn frame_over_max_frame_size_fails_with_1009_before_its_payload() {
    for role in ROLES {
        let mut p = Pair::connected_with(limits(1000, 1 << 20));
        let header = binary(&pattern(1001)).to(role).header();
        let error = p.fails_with(role, &header, 1009);
        assert_eq!(error, Fault::Limit(Limit::FrameSize, 1001, 1000));

        // Also for one fragment of a message.
        let mut p = Pair::connected_with(limits(1000, 1 << 20));
        assert_eq!(p.inject(role, &text("ok").fin(false).to(role).bytes()), []);
        let header = cont(&pattern(1001)).to(role).header();
        p.fails_with(role, &header, 1009);

        // The limit itself is accepted.
        let mut p = Pair::connected_with(limits(1000, 1 << 20));
        let payload = pattern(1000);
        assert_eq!(
            p.inject(role, &binary(&payload).to(role).bytes()),
            [Ev::Binary(payload)]
        );
    }
}

// Config::max_message_size counts all fragments; the fragment that would
// pass the limit fails at its header.
#[test]
fn message_over_max_message_size_across_fragments_fails_with_1009() {
    for role in ROLES {
        let mut p = Pair::connected_with(limits(1000, 1000));
        assert_eq!(p.inject(role, &text(&"a".repeat(600)).fin(false).to(role).bytes()), []);
        assert_eq!(p.inject(role, &ping(b"").to(role).bytes()), [Ev::Ping(vec![])]);
        p.output(role);
        assert_eq!(p.inject(role, &cont(&[b'b'; 300]).fin(false).to(role).bytes()), []);
        let header = cont(&[b'c'; 101]).to(role).header();
        let error = p.fails_with(role, &header, 1009);
        assert_eq!(error, Fault::Limit(Limit::MessageSize, 1001, 1000));

        // Exactly the limit is fine, and the count restarts per message.
        let mut p = Pair::connected_with(limits(1000, 1000));
        for _ in 0..3 {
            let frames = [binary(&[1; 600]).fin(false), cont(&[2; 400])];
            let events = p.inject(role, &wire(role, &frames));
            assert_eq!(events, [Ev::Binary([vec![1; 600], vec![2; 400]].concat())]);
        }

        // A single frame within max_frame_size but over max_message_size.
        let mut p = Pair::connected_with(limits(5000, 1000));
        let error = p.fails_with(role, &binary(&pattern(1001)).to(role).header(), 1009);
        assert_eq!(error, Fault::Limit(Limit::MessageSize, 1001, 1000));
    }
}

// A declared length of 2^62 bytes: refused from the header alone.
#[test]
fn frame_declaring_2_pow_62_bytes_fails_with_1009() {
    for role in ROLES {
        let mut p = Pair::connected();
        let header = binary(b"").declare(1 << 62).to(role).header();
        let error = p.fails_with(role, &header, 1009);
        assert_eq!(error, Fault::Limit(Limit::FrameSize, 1 << 62, 16 << 20));
    }
}

// README: "nothing is allocated from a length the peer merely declared".
// With the limits lifted, a 2^62-byte frame is accepted, and the read
// buffer still only grows with bytes that arrived.
#[test]
fn a_huge_declared_length_does_not_grow_the_read_buffer() {
    for role in ROLES {
        let mut p = Pair::connected_with(limits(usize::MAX, usize::MAX));
        let header = binary(b"").declare(1 << 62).to(role).header();
        assert_eq!(p.inject(role, &header), []);
        assert_eq!(p.inject(role, &pattern(1000)), []);
        let room = p.conn(role).read_buffer().len();
        assert!(room <= 128 << 10, "{role:?}: read buffer of {room} bytes");
        assert_eq!(p.conn(role).ready_state(), ReadyState::Open);
    }
}

// ---------------------------------------------------------------- sending

// §5.2: our encoder picks the minimal length form at each boundary, and
// the peer decodes the frame intact; §5.1/§5.3: client frames are masked,
// server frames are not.
#[test]
fn encoder_boundaries_decode_intact_on_the_peer() {
    for role in ROLES {
        for (size, form_byte, header_len) in [
            (0, 0, 2),
            (125, 125, 2),
            (126, 126, 4),
            (65535, 126, 4),
            (65536, 127, 10),
        ] {
            let mut p = Pair::connected();
            p.peer_mut(role).chunking = Chunking::Size(4096);
            let payload = pattern(size);
            p.conn(role).send_binary(&payload).unwrap();
            let text_payload = "é".repeat(size / 2) + &"x".repeat(size % 2);
            p.conn(role).send_text(&text_payload).unwrap();
            let bytes = p.peer(role).conn.pending_output().to_vec();
            let frames = decode_frames(&bytes);
            assert_eq!(frames.len(), 2);
            let masked = role == Role::Client;
            let mask_len = if masked { 4 } else { 0 };
            for (frame, opcode) in frames.iter().zip([OP_BINARY, OP_TEXT]) {
                assert_eq!((frame.fin, frame.rsv, frame.opcode), (true, 0, opcode));
                assert_eq!(frame.masked, masked, "{role:?} {size}");
                assert_eq!(frame.header_len, header_len + mask_len, "{role:?} {size}");
            }
            assert_eq!(bytes[1] & 0x7f, form_byte);
            assert_eq!(bytes[1] & 0x80 != 0, masked);
            assert_eq!(frames[0].payload, payload);
            assert_eq!(frames[1].payload, text_payload.as_bytes());
            p.drive();
            let received = p.peer_mut(peer_of(role)).take_events();
            assert_eq!(
                received,
                [Ev::Binary(payload), Ev::Text(text_payload)],
                "{role:?} {size}"
            );
        }
    }
}

// §5.7: "A single-frame unmasked text message 0x81 0x05 0x48 0x65 0x6c 0x6c
// 0x6f (contains "Hello")".
#[test]
fn server_frames_are_unmasked_and_client_frames_masked() {
    let mut p = Pair::connected();
    p.server.conn.send_text("Hello").unwrap();
    assert_eq!(p.output(Role::Server), [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);

    p.client.conn.send_text("Hello").unwrap();
    p.client.conn.send_text("Hello").unwrap();
    let bytes = p.output(Role::Client);
    assert_eq!(bytes.len(), 2 * 11);
    assert_eq!(&bytes[..2], [0x81, 0x85]);
    let frames = decode_frames(&bytes);
    assert!(frames.iter().all(|f| f.masked && f.payload == b"Hello"));
    assert_ne!(&bytes[6..11], b"Hello", "the payload travels masked");
    // §5.3: "The masking key ... MUST pick a fresh masking key for each frame".
    assert_ne!(frames[0].mask, frames[1].mask);
}

// §5.4: fragments we send are reassembled by the peer.
#[test]
fn fragments_sent_with_send_frame_are_reassembled() {
    for role in ROLES {
        let mut p = Pair::connected();
        let conn = p.conn(role);
        conn.send_frame(OpCode::Text, "Hel".as_bytes(), false).unwrap();
        conn.ping(b"between").unwrap();
        conn.send_frame(OpCode::Continuation, b"", false).unwrap();
        conn.send_frame(OpCode::Continuation, "lo €".as_bytes(), true).unwrap();
        let bytes = p.peer(role).conn.pending_output().to_vec();
        let heads: Vec<(bool, u8)> = decode_frames(&bytes).iter().map(|f| (f.fin, f.opcode)).collect();
        assert_eq!(
            heads,
            [(false, OP_TEXT), (true, OP_PING), (false, OP_CONT), (true, OP_CONT)]
        );
        p.drive();
        let received = p.peer_mut(peer_of(role)).take_events();
        assert_eq!(received, [Ev::Ping(b"between".to_vec()), Ev::text("Hello €")]);
    }
}

#[test]
fn sending_rejects_control_opcodes_and_long_control_payloads() {
    for role in ROLES {
        let mut p = Pair::connected();
        let conn = p.conn(role);
        for op in [OpCode::Ping, OpCode::Pong, OpCode::Close] {
            assert!(matches!(
                conn.send_frame(op, b"", true),
                Err(rfc6455::Error::Misuse(rfc6455::Misuse::ControlOpcode))
            ));
        }
        assert!(matches!(
            conn.ping(&pattern(126)),
            Err(rfc6455::Error::Misuse(Misuse::ControlPayloadTooLong(126)))
        ));
        assert!(matches!(
            conn.pong(&pattern(126)),
            Err(rfc6455::Error::Misuse(Misuse::ControlPayloadTooLong(126)))
        ));
        assert!(conn.pending_output().is_empty());
        assert_eq!(conn.ready_state(), ReadyState::Open);
    }
}

// ---------------------------------------------------------------- misc

#[test]
fn several_frames_in_one_read_come_out_in_order() {
    for role in ROLES {
        let mut p = Pair::connected();
        let frames = [text(""), binary(b""), text("a"), pong(b""), binary(&[0, 255])];
        let events = p.inject(role, &wire(role, &frames));
        assert_eq!(
            events,
            [
                Ev::text(""),
                Ev::Binary(vec![]),
                Ev::text("a"),
                Ev::Pong(vec![]),
                Ev::Binary(vec![0, 255])
            ]
        );
        assert!(p.output(role).is_empty(), "an unsolicited pong is not answered");
    }
}

// §7.1.7: after failing, "the endpoint MUST NOT continue to attempt to
// process data (including a responding Close frame) from the remote
// endpoint".
#[test]
fn nothing_is_read_after_a_failure() {
    for role in ROLES {
        let mut p = Pair::connected();
        p.fails_with(role, &frame(0x3, b"").to(role).bytes(), 1002);
        let later = wire(role, &[text("late"), ping(b"x"), close_frame(1000, b"")]);
        assert_eq!(p.inject(role, &later), []);
        assert!(p.output(role).is_empty());
        assert!(matches!(
            p.conn(role).send_text("x"),
            Err(rfc6455::Error::Misuse(rfc6455::Misuse::Closing))
        ));
    }
}

// The same rules hold on a connection made with established_with_masks.
#[test]
fn established_connections_enforce_the_same_rules() {
    for role in ROLES {
        let mut p = Pair::established();
        assert_eq!(p.inject(role, &text("hi").to(role).bytes()), [Ev::text("hi")]);
        p.fails_with(role, &text("hi").wrongly_to(role).bytes(), 1002);
    }
    let first = text("already read").to(Role::Server).bytes();
    let mut conn = rfc6455::Connection::established_with_masks(Role::Server, plain_config(), &first, masks(1));
    assert!(matches!(
        conn.poll_event(),
        Some(rfc6455::connection::Event::Text("already read"))
    ));
}

// take_output copies out exactly what pending_output shows, in any piece size.
#[test]
fn take_output_in_small_pieces_matches_pending_output() {
    for role in ROLES {
        let mut p = Pair::connected();
        p.conn(role).send_binary(&pattern(300)).unwrap();
        p.conn(role).ping(b"x").unwrap();
        let expected = p.peer(role).conn.pending_output().to_vec();
        let mut taken = Vec::new();
        let mut piece = [0u8; 7];
        loop {
            let n = p.conn(role).take_output(&mut piece);
            if n == 0 {
                break;
            }
            taken.extend_from_slice(&piece[..n]);
        }
        assert_eq!(taken, expected);
        assert!(p.peer(role).conn.pending_output().is_empty());
        let events = p.inject(peer_of(role), &taken);
        assert_eq!(events, [Ev::Binary(pattern(300)), Ev::Ping(b"x".to_vec())]);
    }
}
