//! Round trips: whatever one end sends, the other receives, identical and
//! in order, however the byte stream is cut, in both directions, ending
//! with a close handshake whose code and reason arrive intact.
//!
//! Case counts are modest by default so `cargo test` stays fast; set
//! `PROPTEST_CASES` for a longer run.

use proptest::collection::vec;
use proptest::prelude::*;
use rfc6455::connection::Event;
use rfc6455::error::Misuse;
use rfc6455::testkit::{binary, masks, text_bytes};
use rfc6455::{Accept, Bytes, ClientRequest, CloseCode, Config, Connection, Error, OpCode, ReadyState, Role};

/// `PROPTEST_CASES` if set, else `default`.
fn cases(default: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    config
}

// ---------------------------------------------------------------- model

/// A message as the sender sends it.
#[derive(Debug, Clone)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// Sent with `send_frame`: fragment sizes (the rest goes in the last
    /// fragment), and optionally a ping after fragment `n`.
    Fragmented {
        text: bool,
        payload: Vec<u8>,
        sizes: Vec<usize>,
        ping_after: Option<(usize, Vec<u8>)>,
    },
}

/// An event as the receiver reports it, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rx {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

/// How bytes travel: chunk lengths (cycled) and, per chunk (cycled),
/// whether to go through `read_buffer` + `commit_read` or `receive`.
#[derive(Debug, Clone)]
struct Chunking {
    sizes: Vec<usize>,
    zero_copy: Vec<bool>,
}

/// Moves everything `from` has queued into `to`, chunk by chunk, polling
/// `to` until `None` after every chunk; returns the events.
fn transfer(from: &mut Connection, to: &mut Connection, chunking: &Chunking) -> Result<Vec<Rx>, TestCaseError> {
    let data = from.pending_output().to_vec();
    from.advance_output(data.len());
    let mut events = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let n = chunking.sizes[i % chunking.sizes.len()].max(1).min(data.len() - at);
        let piece = &data[at..at + n];
        if chunking.zero_copy[i % chunking.zero_copy.len()] {
            let mut rest = piece;
            while !rest.is_empty() {
                let buf = to.read_buffer();
                prop_assert!(!buf.is_empty());
                let k = buf.len().min(rest.len());
                buf[..k].copy_from_slice(&rest[..k]);
                to.commit_read(k);
                rest = &rest[k..];
            }
        } else {
            to.receive(piece);
        }
        at += n;
        i += 1;
        poll_all(to, &mut events, at)?;
    }
    Ok(events)
}

fn poll_all(conn: &mut Connection, events: &mut Vec<Rx>, bound: usize) -> Result<(), TestCaseError> {
    for _ in 0..=bound {
        let event = match conn.poll_event() {
            None => return Ok(()),
            Some(Event::Text(t)) => Rx::Text(t.to_owned()),
            Some(Event::Binary(b)) => Rx::Binary(b.to_vec()),
            Some(Event::Ping(p)) => Rx::Ping(p.to_vec()),
            Some(Event::Pong(p)) => Rx::Pong(p.to_vec()),
            Some(Event::Close(f)) => Rx::Close(f.code.map(|c| c.0), f.reason.to_owned()),
            Some(other) => return Err(TestCaseError::fail(format!("unexpected event {other:?}"))),
        };
        events.push(event);
    }
    Err(TestCaseError::fail("poll_event did not return None"))
}

/// A client and a server through a real opening handshake.
fn open_pair(config: &Config, seed: u64) -> (Connection, Connection) {
    let request = ClientRequest::new("localhost", "/roundtrip");
    let mut client = Connection::client_with_masks(request, config.clone(), masks(seed));
    let mut server = Connection::server(config.clone());
    server.receive(client.pending_output());
    client.advance_output(usize::MAX);
    assert!(matches!(server.poll_event(), Some(Event::Request(r)) if r.path() == "/roundtrip"));
    server.accept(Accept::new()).unwrap();
    assert!(matches!(server.poll_event(), Some(Event::Open)));
    client.receive(server.pending_output());
    server.advance_output(usize::MAX);
    assert!(matches!(client.poll_event(), Some(Event::Open)));
    assert!(client.poll_event().is_none() && server.poll_event().is_none());
    (client, server)
}

/// Queues `msg` on `sender`; records what the receiver must report and
/// what must come back.
fn send(sender: &mut Connection, msg: &Msg, expect: &mut Vec<Rx>, back: &mut Vec<Rx>) -> Result<(), Error> {
    match msg {
        Msg::Text(t) => {
            sender.send_text(t)?;
            expect.push(Rx::Text(t.clone()));
        }
        Msg::Binary(b) => {
            sender.send_binary(b)?;
            expect.push(Rx::Binary(b.clone()));
        }
        Msg::Ping(p) => {
            sender.ping(p)?;
            expect.push(Rx::Ping(p.clone()));
            back.push(Rx::Pong(p.clone()));
        }
        Msg::Pong(p) => {
            sender.pong(p)?;
            expect.push(Rx::Pong(p.clone()));
        }
        Msg::Fragmented {
            text,
            payload,
            sizes,
            ping_after,
        } => {
            let mut pieces = Vec::new();
            let mut rest = payload.as_slice();
            for &size in sizes {
                let (piece, tail) = rest.split_at(size.min(rest.len()));
                pieces.push(piece);
                rest = tail;
            }
            pieces.push(rest);
            let last = pieces.len() - 1;
            for (i, piece) in pieces.iter().enumerate() {
                let opcode = match (i, text) {
                    (0, true) => OpCode::Text,
                    (0, false) => OpCode::Binary,
                    _ => OpCode::Continuation,
                };
                sender.send_frame(opcode, piece, i == last)?;
                if let Some((after, ping)) = ping_after {
                    if *after == i {
                        sender.ping(ping)?;
                        back.push(Rx::Pong(ping.clone()));
                        if i < last {
                            // Between fragments: it arrives before the message.
                            expect.push(Rx::Ping(ping.clone()));
                        }
                    }
                }
            }
            expect.push(if *text {
                Rx::Text(String::from_utf8(payload.clone()).expect("text payload"))
            } else {
                Rx::Binary(payload.clone())
            });
            match ping_after {
                // After the last fragment: it arrives after the message.
                Some((after, ping)) if *after == last => expect.push(Rx::Ping(ping.clone())),
                _ => {}
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct Case {
    client_sends: bool,
    messages: Vec<Msg>,
    /// Transfer after every this many messages.
    batch: usize,
    code: u16,
    reason: String,
    echo_close_reason: bool,
    forward: Chunking,
    backward: Chunking,
    seed: u64,
}

fn run(case: Case) -> Result<(), TestCaseError> {
    let config = Config::default().echo_close_reason(case.echo_close_reason);
    let (mut client, mut server) = open_pair(&config, case.seed);
    let (sender, receiver) = if case.client_sends {
        (&mut client, &mut server)
    } else {
        (&mut server, &mut client)
    };
    let mut expected = Vec::new();
    let mut back = Vec::new();
    let mut received = Vec::new();
    for (i, msg) in case.messages.iter().enumerate() {
        send(sender, msg, &mut expected, &mut back).map_err(|e| TestCaseError::fail(format!("send: {e}")))?;
        if (i + 1) % case.batch == 0 {
            received.extend(transfer(sender, receiver, &case.forward)?);
        }
    }
    sender.close(CloseCode(case.code), &case.reason).unwrap();
    prop_assert_eq!(sender.ready_state(), ReadyState::Closing);
    expected.push(Rx::Close(Some(case.code), case.reason.clone()));
    received.extend(transfer(sender, receiver, &case.forward)?);
    prop_assert_eq!(&received, &expected);
    prop_assert_eq!(receiver.ready_state(), ReadyState::Closed);
    prop_assert!(receiver.is_closed_cleanly());

    // Back: the auto-pongs, in order, then the close reply.
    let echoed = if case.echo_close_reason {
        case.reason.clone()
    } else {
        String::new()
    };
    back.push(Rx::Close(Some(case.code), echoed));
    let returned = transfer(receiver, sender, &case.backward)?;
    prop_assert_eq!(&returned, &back);
    prop_assert_eq!(sender.ready_state(), ReadyState::Closed);
    prop_assert!(sender.is_closed_cleanly());
    prop_assert!(sender.pending_output().is_empty() && receiver.pending_output().is_empty());

    // §7.1.1: the server closes the TCP connection first; the client
    // waits for it.
    prop_assert!(server.should_close_transport());
    prop_assert!(!client.should_close_transport());
    client.receive_eof();
    prop_assert!(client.should_close_transport());
    prop_assert!(client.poll_event().is_none() && server.poll_event().is_none());
    Ok(())
}

// ---------------------------------------------------------------- strategies

fn any_text(max_chars: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..max_chars).prop_map(|chars| chars.into_iter().collect())
}

fn control_payload() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=125)
}

fn message() -> impl Strategy<Value = Msg> {
    let fragmented = (
        prop_oneof![
            any_text(60).prop_map(|t| (true, t.into_bytes())),
            vec(any::<u8>(), 0..300).prop_map(|b| (false, b)),
        ],
        vec(0usize..80, 0..6),
        proptest::option::of((0usize..7, control_payload())),
    )
        .prop_map(|((text, payload), sizes, ping_after)| Msg::Fragmented {
            text,
            payload,
            sizes,
            ping_after,
        });
    prop_oneof![
        3 => any_text(80).prop_map(Msg::Text),
        3 => vec(any::<u8>(), 0..300).prop_map(Msg::Binary),
        1 => control_payload().prop_map(Msg::Ping),
        1 => control_payload().prop_map(Msg::Pong),
        3 => fragmented,
    ]
}

fn close_code() -> impl Strategy<Value = u16> {
    prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999]
}

/// Any reason of at most 123 bytes, often exactly at the limit.
fn close_reason() -> impl Strategy<Value = String> {
    prop_oneof![
        any_text(124).prop_map(|s| {
            let mut end = s.len().min(123);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_owned()
        }),
        "[a-zA-Z0-9 ]{123}",
        Just(String::new()),
    ]
}

fn chunking() -> impl Strategy<Value = Chunking> {
    (
        prop_oneof![
            Just(vec![1usize]),
            vec(1usize..16, 1..6),
            vec(1usize..3000, 1..6),
            Just(vec![usize::MAX]),
        ],
        vec(any::<bool>(), 1..4),
    )
        .prop_map(|(sizes, zero_copy)| Chunking { sizes, zero_copy })
}

fn case(messages: impl Strategy<Value = Vec<Msg>>) -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        messages,
        1usize..5,
        close_code(),
        close_reason(),
        any::<bool>(),
        chunking(),
        chunking(),
        any::<u64>(),
    )
        .prop_map(
            |(client_sends, messages, batch, code, reason, echo_close_reason, forward, backward, seed)| Case {
                client_sends,
                messages,
                batch,
                code,
                reason,
                echo_close_reason,
                forward,
                backward,
                seed,
            },
        )
}

proptest! {
    #![proptest_config(cases(128))]

    /// Any messages, either direction, any chunking.
    #[test]
    fn messages_arrive_identical_and_in_order(case in case(vec(message(), 0..12))) {
        run(case)?;
    }
}

/// Payloads at the 125/126 and 65535/65536 length-encoding boundaries.
fn large_message() -> impl Strategy<Value = Msg> {
    let len = prop_oneof![124usize..=127, 65534usize..=65537, 0usize..200_000];
    (len, any::<bool>(), any::<u8>()).prop_map(|(len, text, fill)| {
        if text {
            // Multibyte code points across every chunk boundary.
            let unit = "aé€𝄞";
            let mut s = unit.repeat(len / unit.len());
            s.push_str(&"z".repeat(len - s.len()));
            Msg::Text(s)
        } else {
            Msg::Binary((0..len).map(|i| (i as u8).wrapping_mul(31) ^ fill).collect())
        }
    })
}

proptest! {
    #![proptest_config(cases(16))]

    #[test]
    fn large_messages_arrive_identical(case in case(vec(large_message(), 1..4))) {
        let case = Case {
            // 1-byte chunks over 200 KB are slow in debug builds; every
            // chunking is covered by the small messages above.
            forward: Chunking { sizes: case.forward.sizes.iter().map(|&n| n.max(997)).collect(), ..case.forward },
            ..case
        };
        run(case)?;
    }
}

/// Every sendable code arrives intact in both directions; every other
/// code is refused before anything is queued.
#[test]
fn every_close_code_is_sent_or_refused() {
    for code in 0..=u16::MAX {
        let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
        if !sendable {
            let mut conn = Connection::established_with_masks(Role::Server, Config::default(), &[], masks(1));
            match conn.close(CloseCode(code), "") {
                Err(Error::Misuse(Misuse::CloseCodeNotSendable(c))) => assert_eq!(c, code),
                other => panic!("code {code}: {other:?}"),
            }
            assert_eq!(conn.ready_state(), ReadyState::Open);
            assert!(conn.pending_output().is_empty());
            continue;
        }
        for client_sends in [true, false] {
            let (role_a, role_b) = if client_sends {
                (Role::Client, Role::Server)
            } else {
                (Role::Server, Role::Client)
            };
            let mut a = Connection::established_with_masks(role_a, Config::default(), &[], masks(u64::from(code)));
            let mut b = Connection::established_with_masks(role_b, Config::default(), &[], masks(7));
            a.close(CloseCode(code), "r").unwrap();
            b.receive(a.pending_output());
            match b.poll_event() {
                Some(Event::Close(f)) => {
                    assert_eq!(f.code, Some(CloseCode(code)));
                    assert_eq!(f.reason, "r");
                }
                other => panic!("code {code}: {other:?}"),
            }
        }
    }
}

/// A reason over 123 bytes is refused, and nothing is queued.
#[test]
fn over_long_reason_is_refused() {
    let mut conn = Connection::established_with_masks(Role::Client, Config::default(), &[], masks(2));
    let reason = "é".repeat(62); // 124 bytes
    assert!(matches!(
        conn.close(CloseCode::NORMAL, &reason),
        Err(Error::Misuse(Misuse::ReasonTooLong(124)))
    ));
    assert!(conn.pending_output().is_empty());
    assert_eq!(conn.ready_state(), ReadyState::Open);
    conn.close(CloseCode::NORMAL, &reason[..122]).unwrap();
    assert_eq!(conn.ready_state(), ReadyState::Closing);
}

// ---------------------------------------------------------------- owned

// Owned messages without a copy: a message of 16 KiB or more read in one
// frame is handed out as the read buffer's own bytes
// (`Connection::take_message`), and the read buffer goes on around it.
// Whatever the sizes, the read sizes, the mix of text and binary, and
// which messages the application keeps or drops, every message taken is
// the one sent, and stays so while the connection reads on; a server
// that forwards them as `Bytes` (`send_binary_bytes`) sends the same
// bytes as one that copies them.

/// One message: its payload, whether it is text, and whether the
/// application keeps it to the end.
#[derive(Debug, Clone)]
struct Owned {
    payload: Vec<u8>,
    text: bool,
    keep: bool,
}

/// Sizes around the sharing threshold (16 KiB) and the in-place limit
/// (64 KiB), and small ones between them.
fn owned_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..200,
        (16usize << 10) - 2..(16 << 10) + 2,
        20_000usize..40_000,
        (64usize << 10) - 20..(64 << 10) + 20,
        70_000usize..140_000,
    ]
}

fn owned() -> impl Strategy<Value = Owned> {
    (owned_size(), any::<bool>(), any::<bool>(), any::<u8>()).prop_map(|(len, text, keep, seed)| Owned {
        // ASCII, so any length is valid text.
        payload: (0..len).map(|i| b'a' + ((i + seed as usize) % 26) as u8).collect(),
        text,
        keep,
    })
}

/// Feeds `wire` in reads of at most the next size in `reads` (cycled)
/// into `conn`, through `read_buffer`, taking each message; returns the
/// messages kept (`None` for those dropped at once), checking each as it
/// is taken and the kept ones after every read.
fn receive_owned(
    conn: &mut Connection,
    wire: &[u8],
    sent: &[Owned],
    reads: &[usize],
) -> Result<Vec<Option<Bytes>>, TestCaseError> {
    let mut taken: Vec<Option<Bytes>> = Vec::new();
    let mut offset = 0;
    for &cap in reads.iter().cycle() {
        if offset == wire.len() {
            break;
        }
        let room = conn.read_buffer();
        let n = room.len().min(cap).min(wire.len() - offset);
        room[..n].copy_from_slice(&wire[offset..offset + n]);
        conn.commit_read(n);
        offset += n;
        while let Some(event) = conn.poll_event() {
            let i = taken.len();
            prop_assert!(i < sent.len(), "more messages than sent");
            match event {
                Event::Text(_) => prop_assert!(sent[i].text, "message {i} arrived as text"),
                Event::Binary(_) => prop_assert!(!sent[i].text, "message {i} arrived as binary"),
                other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
            }
            let message = conn.take_message().expect("a message to take");
            prop_assert!(message == sent[i].payload, "message {i} taken intact");
            taken.push(sent[i].keep.then_some(message));
        }
        for (i, kept) in taken.iter().enumerate() {
            if let Some(message) = kept {
                prop_assert!(*message == sent[i].payload, "message {i} changed while held");
            }
        }
    }
    prop_assert_eq!(taken.len(), sent.len());
    Ok(taken)
}

proptest! {
    #![proptest_config(cases(24))]

    #[test]
    fn taken_messages_are_the_ones_sent_and_stay_so(
        sent in vec(owned(), 1..24),
        reads in vec(prop_oneof![1usize..100, 1000usize..20_000, Just(usize::MAX)], 1..6),
        read_chunk in prop_oneof![Just(8usize << 10), 512usize..70_000],
    ) {
        let mut wire = Vec::new();
        for m in &sent {
            let frame = if m.text { text_bytes(&m.payload) } else { binary(&m.payload) };
            wire.extend(frame.mask([1, 2, 3, 4]).bytes());
        }
        let config = Config::default().read_chunk(read_chunk);
        let mut server = Connection::established(Role::Server, config, &[]);
        let taken = receive_owned(&mut server, &wire, &sent, &reads)?;

        // Forwarded as `Bytes` by a server, the same wire bytes as copies.
        let mut shared = Connection::established(Role::Server, Config::default(), &[]);
        let mut copied = Connection::established(Role::Server, Config::default(), &[]);
        for (m, kept) in sent.iter().zip(&taken) {
            let bytes = kept.clone().unwrap_or_else(|| Bytes::from(m.payload.clone()));
            shared.send_binary_bytes(bytes).unwrap();
            copied.send_binary(&m.payload).unwrap();
        }
        let mut out = Vec::new();
        while !shared.pending_output().is_empty() {
            let mut pieces = [&[][..]; 5];
            let n = shared.pending_output_pieces(&mut pieces);
            let written: usize = pieces[..n].iter().map(|p| p.len()).sum();
            for piece in &pieces[..n] {
                out.extend_from_slice(piece);
            }
            shared.advance_output(written);
        }
        prop_assert!(out == copied.pending_output(), "forwarded bytes differ from copies");
    }
}
