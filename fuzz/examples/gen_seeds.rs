//! Writes the committed seed corpora under `fuzz/corpus/<target>/`.
//!
//!     cd fuzz && cargo +nightly run --example gen_seeds
//!
//! Byte-stream targets get hand-built valid inputs (requests, 101
//! responses, frames of every opcode, masked and unmasked). The structured
//! engine targets get the smallest inputs, found by a deterministic random
//! search, that reach each interesting outcome (messages received, sent and
//! echoed, clean close, keepalive), since `arbitrary`'s byte format is not
//! meant to be written by hand. Every file starts with `seed-`, which
//! `fuzz/.gitignore` keeps while ignoring what fuzzing runs add.

use arbitrary::{Arbitrary, Unstructured};
use rfc6455::{Connection, Role};
use rfc6455_fuzz::inflate::{InflateInput, run_inflate};
use rfc6455_fuzz::{
    EngineInput, Ev, FrameSpec, LengthEncoding, MaskMode, Opcode, Payload, Rsv, XorShift, fuzz_request, masks,
    request_key, response_for, run_engine, valid_request,
};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn frame(opcode: Opcode, fin: bool, payload: Payload, length: LengthEncoding) -> FrameSpec {
    FrameSpec {
        fin,
        rsv: Rsv::Clear,
        opcode,
        mask: MaskMode::Proper(KEY),
        length,
        payload,
    }
}

fn text(s: &str) -> Payload {
    Payload::Text(s.to_owned())
}

/// Frames as a peer of `receiver` sends them.
fn encode(receiver: Role, frames: &[FrameSpec]) -> Vec<u8> {
    frames.iter().flat_map(|f| f.encode(receiver)).collect()
}

fn single_messages() -> Vec<FrameSpec> {
    use LengthEncoding::Minimal;
    vec![
        frame(Opcode::Text, true, text("Hello"), Minimal),
        frame(Opcode::Binary, true, Payload::Bytes(vec![0, 1, 2, 0xff]), Minimal),
        frame(Opcode::Ping, true, text("ping"), Minimal),
        frame(Opcode::Pong, true, text("pong"), Minimal),
    ]
}

fn fragmented() -> Vec<FrameSpec> {
    use LengthEncoding::Minimal;
    vec![
        frame(Opcode::Text, false, text("frag"), Minimal),
        frame(Opcode::Ping, true, Payload::Bytes(vec![]), Minimal),
        frame(Opcode::Continuation, false, text("men"), Minimal),
        frame(Opcode::Continuation, true, text("ted κόσμε"), Minimal),
    ]
}

fn long_lengths() -> Vec<FrameSpec> {
    vec![
        frame(
            Opcode::Binary,
            true,
            Payload::Fill { byte: 0xab, len: 300 },
            LengthEncoding::Minimal,
        ),
        frame(
            Opcode::Text,
            true,
            Payload::Fill { byte: b'a', len: 1000 },
            LengthEncoding::Minimal,
        ),
    ]
}

fn close(code: u16, reason: &str) -> FrameSpec {
    frame(
        Opcode::Close,
        true,
        Payload::Close {
            code,
            reason: reason.to_owned(),
        },
        LengthEncoding::Minimal,
    )
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

struct Writer {
    root: PathBuf,
}

impl Writer {
    fn write(&self, target: &str, name: &str, bytes: &[u8]) {
        assert!(bytes.len() < 4096, "{target}/{name}: {} bytes", bytes.len());
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        println!("{target}/seed-{name}: {} bytes", bytes.len());
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let w = Writer { root };

    // frames: [config, chunk seed, stream]; config 0x8f = 64 KiB limits,
    // auto-pong, 8 KiB reads. The stream is read by both roles: one role
    // accepts it, the other fails on the first frame's mask bit.
    for (role, tag) in [(Role::Server, "masked"), (Role::Client, "unmasked")] {
        let messages = encode(role, &single_messages());
        let closing = encode(role, &[close(1000, "bye")]);
        w.write(
            "frames",
            &format!("{tag}-messages-close"),
            &cat(&[&[0x8f, 0x07], &messages, &closing]),
        );
        w.write(
            "frames",
            &format!("{tag}-fragmented"),
            &cat(&[&[0x8f, 0x02], &encode(role, &fragmented())]),
        );
        w.write(
            "frames",
            &format!("{tag}-lengths"),
            &cat(&[&[0x8f, 0x00], &encode(role, &long_lengths())]),
        );
    }

    // server_handshake: [flags, chunk seed, stream]; flags 0x4f = 64 KiB
    // limits, accept with the first offered subprotocol; bit 7: EOF.
    let masked = encode(Role::Server, &single_messages());
    let masked_close = encode(Role::Server, &[close(1001, "going")]);
    let mut p = Pair::new(1, Some("chat"));
    let traffic = p.client_traffic();
    let client_stream = cat(&[&p.request, &traffic]);
    w.write(
        "server_handshake",
        "request",
        &cat(&[&[0x0f, 0x00], &valid_request(false)]),
    );
    w.write(
        "server_handshake",
        "request-protocols-frames",
        &cat(&[&[0x4f, 0x05], &valid_request(true), &masked, &masked_close]),
    );
    w.write(
        "server_handshake",
        "request-eof",
        &cat(&[&[0xcf, 0x01], &valid_request(true)]),
    );
    w.write(
        "server_handshake",
        "client-default-config",
        &cat(&[&[0x4f, 0x03], &client_stream]),
    );

    // client_handshake: [flags, chunk seed, stream]; flags bits 0-2 pick
    // the request, 0x78 = 64 KiB limits, bit 7: EOF.
    let unmasked = encode(Role::Client, &single_messages());
    let unmasked_close = encode(Role::Client, &[close(1000, "")]);
    let mut p0 = Pair::new(0, None);
    w.write(
        "client_handshake",
        "server-default-config-eof",
        &cat(&[&[0xf8, 0x03], &p0.response]),
    );
    let traffic = p.server_traffic();
    let server_stream = cat(&[&p.response, &traffic]);
    w.write(
        "client_handshake",
        "server-default-config-frames",
        &cat(&[&[0x79, 0x05], &server_stream]),
    );
    let plain_response = response_for(&request_key(&p0.request), None);
    w.write(
        "client_handshake",
        "plain-response-frames",
        &cat(&[&[0x78, 0x00], &plain_response, &unmasked, &unmasked_close]),
    );
    let _ = p0.client_traffic();
    // The targets' clients must accept these: same request, same key.
    for (variant, stream) in [(1, &server_stream), (0, &cat(&[&plain_response, &unmasked]))] {
        let mut conn =
            Connection::client_with_masks(fuzz_request(variant), rfc6455_fuzz::config_from_byte(0x0f), masks());
        conn.receive(stream);
        let mut events = Vec::new();
        while let Some(ev) = conn.poll_event() {
            events.push(rfc6455_fuzz::own(ev));
        }
        assert!(events.len() > 3 && events[0] == Ev::Open, "{events:?}");
        assert!(events.iter().all(|e| !matches!(e, Ev::Failed(_))), "{events:?}");
    }

    // driver: [mode, io flags, chunk seed, stream]; io flags 0xc0 = 64 KiB
    // messages, whole writes, EOF at the end.
    let frag_masked = encode(Role::Server, &fragmented());
    w.write(
        "driver",
        "server-handshake-echo",
        &cat(&[&[0x04, 0xc0, 0x03], &client_stream]),
    );
    w.write(
        "driver",
        "established-server-dom",
        &cat(&[&[0x09, 0xc0, 0x00], &frag_masked, &masked_close]),
    );
    w.write(
        "driver",
        "established-client",
        &cat(&[&[0x02, 0xe3, 0x09], &unmasked, &unmasked_close]),
    );
    w.write(
        "driver",
        "client-handshake-dom",
        &cat(&[&[0x0b, 0xc0, 0x05], &server_stream]),
    );

    // Engine targets: search.
    for (target, role) in [("server_engine", Role::Server), ("client_engine", Role::Client)] {
        for (i, (fact, bytes)) in search(role).into_iter().enumerate() {
            w.write(target, &format!("{i}-{fact}"), &bytes);
        }
    }
    for (i, (fact, bytes)) in search_inflate().into_iter().enumerate() {
        w.write("inflate", &format!("{i}-{fact}"), &bytes);
    }
}

/// A client and a server with default settings (so whatever the crate
/// negotiates by default, e.g. permessage-deflate), after the handshake.
/// The client is the one the targets build: `fuzz_request(variant)` masked
/// with `masks()`, so its key matches.
struct Pair {
    client: Connection,
    server: Connection,
    request: Vec<u8>,
    response: Vec<u8>,
}

fn take(conn: &mut Connection) -> Vec<u8> {
    let out = conn.pending_output().to_vec();
    conn.advance_output(out.len());
    out
}

impl Pair {
    fn new(variant: u8, protocol: Option<&str>) -> Self {
        let mut client = Connection::client_with_masks(fuzz_request(variant), Default::default(), masks());
        let mut server = Connection::server(Default::default());
        let request = take(&mut client);
        server.receive(&request);
        assert!(matches!(
            server.poll_event(),
            Some(rfc6455::connection::Event::Request(_))
        ));
        let accept = protocol.map_or_else(rfc6455::Accept::new, |p| rfc6455::Accept::new().protocol(p));
        server.accept(accept).unwrap();
        assert!(matches!(server.poll_event(), Some(rfc6455::connection::Event::Open)));
        let response = take(&mut server);
        client.receive(&response);
        assert!(matches!(client.poll_event(), Some(rfc6455::connection::Event::Open)));
        println!("negotiated: {:?} {:?}", client.protocol(), client.extensions());
        Self {
            client,
            server,
            request,
            response,
        }
    }

    fn traffic(conn: &mut Connection) -> Vec<u8> {
        let long = "hello, compressible world! ".repeat(12);
        conn.send_text("Hello").unwrap();
        conn.send_text(&long).unwrap();
        conn.send_binary(long.as_bytes()).unwrap();
        conn.send_text(&long).unwrap();
        conn.ping(b"ping").unwrap();
        conn.send_frame(rfc6455::OpCode::Text, "frag".as_bytes(), false)
            .unwrap();
        conn.send_frame(rfc6455::OpCode::Continuation, "mented".as_bytes(), true)
            .unwrap();
        conn.close(rfc6455::CloseCode::NORMAL, "bye").unwrap();
        take(conn)
    }

    fn client_traffic(&mut self) -> Vec<u8> {
        Self::traffic(&mut self.client)
    }

    fn server_traffic(&mut self) -> Vec<u8> {
        Self::traffic(&mut self.server)
    }
}

/// What an engine run reached, as short names.
fn facts(role: Role, input: &EngineInput) -> Vec<&'static str> {
    let report = run_engine(role, input);
    let mut out = Vec::new();
    let handshake = matches!(input.start, rfc6455_fuzz::Start::Handshake { .. });
    for ev in &report.events {
        out.push(match (ev, handshake) {
            (Ev::Text(_), false) => "text",
            (Ev::Text(_), true) => "handshake-text",
            (Ev::Binary(_), _) => "binary",
            (Ev::Ping(_), _) => "ping",
            (Ev::Pong(_), _) => "pong",
            (Ev::Close(Some(_), _), _) => "close",
            _ => continue,
        });
    }
    let peer_text = report
        .peer_events
        .iter()
        .any(|e| matches!(e, Ev::Text(t) if !t.is_empty()));
    let peer_ping = report.peer_events.iter().filter(|e| matches!(e, Ev::Ping(_))).count();
    let peer_close = report.peer_events.iter().any(|e| matches!(e, Ev::Close(..)));
    if peer_text {
        out.push("sent-text");
    }
    if peer_ping > 0 {
        out.push("sent-ping");
    }
    if peer_close && report.events.iter().any(|e| matches!(e, Ev::Close(..))) {
        out.push("close-handshake");
    }
    out
}

/// What an inflate run reached, as short names.
fn inflate_facts(input: &InflateInput) -> Vec<&'static str> {
    let report = run_inflate(input);
    let mut out = Vec::new();
    let delivered = |text: bool| {
        report.events.iter().any(|e| {
            if text {
                matches!(e, Ev::Text(t) if !t.is_empty())
            } else {
                matches!(e, Ev::Binary(b) if !b.is_empty())
            }
        })
    };
    if report.deflated > 0 && delivered(true) {
        out.push("deflated-text");
    }
    if report.deflated > 0 && delivered(false) {
        out.push("deflated-binary");
    }
    if report.raw > 0 {
        out.push("raw-inflated");
    }
    if report.deflated > 0 && report.fragmented > 0 {
        out.push("fragmented");
    }
    if report.shared_context > 0 {
        out.push("shared-context");
    }
    if report.events.iter().any(|e| matches!(e, Ev::Ping(_))) && report.deflated > 0 {
        out.push("ping-between");
    }
    if report.events.iter().any(|e| matches!(e, Ev::Close(..))) && report.deflated > 0 {
        out.push("close");
    }
    match report.failure {
        Some(1009) if report.bomb_refused => out.push("bomb-1009"),
        Some(1007) => out.push("invalid-1007"),
        Some(1002) => out.push("rsv-1002"),
        _ => {}
    }
    out
}

/// The smallest random input reaching each fact, from a fixed-seed search.
fn search(role: Role) -> Vec<(&'static str, Vec<u8>)> {
    smallest(0x6455 + role as u64, |input: &EngineInput| facts(role, input))
}

/// The smallest random inputs reaching each inflate fact.
fn search_inflate() -> Vec<(&'static str, Vec<u8>)> {
    smallest(0x7692, inflate_facts)
}

/// The smallest of 400,000 random inputs (from `seed`) reaching each fact.
fn smallest<T: for<'a> Arbitrary<'a>>(
    seed: u64,
    facts: impl Fn(&T) -> Vec<&'static str>,
) -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = XorShift::new(seed);
    let mut best: BTreeMap<&'static str, Vec<u8>> = BTreeMap::new();
    for _ in 0..400_000 {
        let len = 16 + rng.below(240);
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next_u64() >> 56) as u8).collect();
        let Ok(input) = T::arbitrary_take_rest(Unstructured::new(&bytes)) else {
            continue;
        };
        for fact in facts(&input) {
            let entry = best.entry(fact).or_insert_with(|| bytes.clone());
            if bytes.len() < entry.len() {
                *entry = bytes.clone();
            }
        }
    }
    best.into_iter().collect()
}
