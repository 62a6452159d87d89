//! permessage-deflate (RFC 7692) through the two-peer harness, both roles:
//! negotiation, the RSV1 rules, context takeover, and bounded inflation.
#![cfg(feature = "deflate")]

use rfc6455::testkit::{self, counting};

use counting::{peak_of, serial};
use flate2::{Compress, Compression, FlushCompress};
use rfc6455::connection::Event;
use rfc6455::deflate::{ClientWindow, DeflateConfig, DeflateOffer};
use rfc6455::{ClientRequest, Config, Role};
use testkit::*;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

fn deflate_config(deflate: DeflateConfig) -> Config {
    Config::default().deflate(deflate)
}

fn connected(client: DeflateConfig, server: DeflateConfig) -> Pair {
    let mut pair = Pair::with_configs(deflate_config(client), deflate_config(server));
    pair.drive();
    assert_eq!(pair.server.take_events(), [Ev::request("/chat"), Ev::Open]);
    assert_eq!(pair.client.take_events(), [Ev::Open]);
    pair
}

/// Sends `text` from `from` and returns the frames on the wire and what the
/// peer received.
fn send_text(pair: &mut Pair, from: Role, text: &str) -> (Vec<Decoded>, Vec<Ev>) {
    pair.conn(from).send_text(text).unwrap();
    let wire = pair.output(from);
    let frames = decode_frames(&wire);
    let events = pair.inject(peer_of(from), &wire);
    (frames, events)
}

// RFC 7692 §5, §7.1: both ends agree on the default offer and report the
// same `extensions()` string; messages travel compressed (RSV1) both ways.
#[test]
fn negotiated_by_default_and_used_both_ways() {
    let _serial = serial();
    let mut pair = connected(DeflateConfig::default(), DeflateConfig::default());
    assert_eq!(pair.conn(Role::Client).extensions(), "permessage-deflate");
    assert_eq!(pair.conn(Role::Server).extensions(), "permessage-deflate");
    let text = "a compressible message, a compressible message, a compressible message";
    for from in ROLES {
        let (frames, events) = send_text(&mut pair, from, text);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].rsv, 0b100, "RSV1 marks a compressed message ({from:?})");
        assert!(
            frames[0].payload.len() < text.len(),
            "{from:?}: {}",
            frames[0].payload.len()
        );
        assert_eq!(events, [Ev::text(text)], "{from:?}");
    }
}

// RFC 7692 §7.1.2.2 and §7.1.1: the server's choices reach the client.
#[test]
fn server_parameters_reach_the_client() {
    let _serial = serial();
    let server = DeflateConfig::default()
        .server_max_window_bits(10)
        .client_max_window_bits(9)
        .server_no_context_takeover(true)
        .client_no_context_takeover(true);
    let mut pair = connected(DeflateConfig::default(), server);
    let expected = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                    server_max_window_bits=10; client_max_window_bits=9";
    assert_eq!(pair.conn(Role::Client).extensions(), expected);
    assert_eq!(pair.conn(Role::Server).extensions(), expected);
    // Without context takeover, the same message compresses to the same
    // bytes every time.
    for from in ROLES {
        let text = "the same message, the same message, the same message";
        let (first, _) = send_text(&mut pair, from, text);
        let (second, events) = send_text(&mut pair, from, text);
        assert_eq!(first[0].payload, second[0].payload, "{from:?}");
        assert_eq!(events, [Ev::text(text)]);
    }
}

// RFC 7692 §7.2.3.3 (context takeover): a repeated message refers back to
// the previous one and shrinks.
#[test]
fn context_takeover_shrinks_repeats() {
    let _serial = serial();
    let mut pair = connected(DeflateConfig::default(), DeflateConfig::default());
    let text: String = (0..40).map(|i| format!("line {i} of a report; ")).collect();
    for from in ROLES {
        let (first, _) = send_text(&mut pair, from, &text);
        let (second, events) = send_text(&mut pair, from, &text);
        assert!(second[0].payload.len() < first[0].payload.len() / 2, "{from:?}");
        assert_eq!(events, [Ev::text(&text)]);
    }
}

// RFC 7692 §5.1: a server that does not want the extension answers without
// it, and nothing is compressed.
#[test]
fn disabled_on_either_side_means_plain_frames() {
    let _serial = serial();
    let off = DeflateConfig::default().enabled(false);
    for (client, server) in [(off.clone(), DeflateConfig::default()), (DeflateConfig::default(), off)] {
        let mut pair = connected(client, server);
        assert_eq!(pair.conn(Role::Client).extensions(), "");
        let (frames, events) = send_text(&mut pair, Role::Client, "plain plain plain plain plain plain");
        assert_eq!(frames[0].rsv, 0);
        assert_eq!(events, [Ev::text("plain plain plain plain plain plain")]);
    }
}

// RFC 7692 §7.1: a client fails the handshake on parameters it did not
// allow (here: a window limit on us without our offer).
#[test]
fn client_refuses_parameters_it_did_not_offer() {
    let _serial = serial();
    let client = DeflateConfig::default().offers(vec![
        DeflateOffer::default().client_max_window_bits(ClientWindow::NotOffered),
    ]);
    let server = DeflateConfig::default().client_max_window_bits(9);
    // The server only limits windows that were offered, so craft its answer.
    let mut pair = Pair::with_configs(deflate_config(client), deflate_config(server));
    let request = pair.output(Role::Client);
    assert!(String::from_utf8_lossy(&request).contains("Sec-WebSocket-Extensions: permessage-deflate\r\n"));
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=9\r\n\r\n",
        accept_for(&request)
    );
    let events = pair.inject(Role::Client, answer.as_bytes());
    assert_eq!(events.len(), 1);
    assert!(events[0].is_failure(), "{events:?}");
    assert!(format!("{events:?}").contains("BadExtension"), "{events:?}");
}

/// `Sec-WebSocket-Accept` for the key in a request.
fn accept_for(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a key");
    rfc6455::handshake::accept_key(key.trim().as_bytes())
}

// RFC 7692 §6.1: RSV1 is only for a message's first frame and never for a
// control frame, even with the extension; both fail with 1002.
#[test]
fn rsv1_on_control_or_continuation_frames_fails() {
    let _serial = serial();
    for to in ROLES {
        for bad in [ping(b"p").rsv(0b100), close_frame(1000, b"").rsv(0b100)] {
            let mut pair = connected(DeflateConfig::default(), DeflateConfig::default());
            pair.fails_with(to, &bad.to(to).bytes(), 1002);
        }
        let mut pair = connected(DeflateConfig::default(), DeflateConfig::default());
        let mut bytes = text("a").fin(false).to(to).bytes();
        bytes.extend(cont(b"b").rsv(0b100).to(to).bytes());
        pair.fails_with(to, &bytes, 1002);
        // RSV2 and RSV3 stay reserved.
        let mut pair = connected(DeflateConfig::default(), DeflateConfig::default());
        pair.fails_with(to, &text("a").rsv(0b010).to(to).bytes(), 1002);
    }
}

// RFC 7692 §7.2.2: data that does not inflate fails the connection (1007).
#[test]
fn corrupt_compressed_data_fails_with_1007() {
    let _serial = serial();
    for to in ROLES {
        let mut pair = connected(DeflateConfig::default(), DeflateConfig::default());
        pair.fails_with(to, &binary(&[0xff, 0xff, 0xff, 0xff]).rsv(0b100).to(to).bytes(), 1007);
    }
}

// RFC 7692 §7.2.2 with RFC 6455 §8.1: inflated text is validated.
#[test]
fn invalid_utf8_inside_compressed_text_fails_with_1007() {
    let _serial = serial();
    for to in ROLES {
        let mut pair = connected(DeflateConfig::default(), DeflateConfig::default());
        let payload = raw_deflate(b"valid then \xff invalid", 6);
        pair.fails_with(to, &text_bytes(&payload).rsv(0b100).to(to).bytes(), 1007);
    }
}

// RFC 7692 §6 with RFC 6455 §5.4: a compressed message may be fragmented
// (RSV1 on the first frame only), with control frames between fragments;
// fragments inflate as their bytes arrive, in any cut, and text is checked
// as it comes out. Two messages in a row share the sliding window.
#[test]
fn compressed_fragments_inflate_in_any_cut_with_control_frames_between() {
    let _serial = serial();
    let text = "κόσμε, a compressed message in fragments: ".repeat(20);
    let mut c = Compress::new(Compression::new(6), false);
    let mut compressed = Vec::new();
    for _ in 0..2 {
        let mut out = Vec::with_capacity(text.len() + 64);
        c.compress_vec(text.as_bytes(), &mut out, FlushCompress::Sync).unwrap();
        out.truncate(out.len() - 4);
        compressed.push(out);
    }
    for to in ROLES {
        for size in [1, 5, 64, usize::MAX] {
            let mut pair = connected(DeflateConfig::default(), DeflateConfig::default());
            pair.peer_mut(peer_of(to)).chunking = Chunking::Size(size.min(1 << 20));
            let mut wire = Vec::new();
            for payload in &compressed {
                let third = payload.len() / 3;
                wire.extend(text_bytes(&payload[..third]).rsv(0b100).fin(false).to(to).bytes());
                wire.extend(ping(b"between").to(to).bytes());
                wire.extend(cont(&payload[third..2 * third]).fin(false).to(to).bytes());
                wire.extend(cont(&[]).fin(false).to(to).bytes());
                wire.extend(cont(&payload[2 * third..]).to(to).bytes());
            }
            let events = pair.inject(to, &wire);
            let ping_ev = Ev::Ping(b"between".to_vec());
            let text_ev = Ev::text(&text);
            assert_eq!(
                events,
                [ping_ev.clone(), text_ev.clone(), ping_ev, text_ev],
                "{to:?}, reads of {size}"
            );
        }
    }
}

/// A permessage-deflate payload (sync flush, tail stripped) for `data`.
fn raw_deflate(data: &[u8], level: u32) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

// RFC 7692 §7.2.2: an empty compressed payload (a peer that sends an empty
// message as no bytes, not as §7.2.3.6's single 0x00) is an empty message,
// and the message after it inflates from where the stream was. Fed to the
// inflater alone, the tail left it inside a stored block's header: the next
// message came out as the peer's compressed bytes (a stored block, level 0)
// or failed with 1007 (a review finding).
#[test]
fn an_empty_compressed_payload_leaves_the_next_message_whole() {
    let _serial = serial();
    for level in [0, 6] {
        for to in ROLES {
            let mut pair = connected(DeflateConfig::default(), DeflateConfig::default());
            let mut wire = text_bytes(&[]).rsv(0b100).to(to).bytes();
            wire.extend(
                text_bytes(&raw_deflate(b"hello hello", level))
                    .rsv(0b100)
                    .to(to)
                    .bytes(),
            );
            let events = pair.inject(to, &wire);
            assert_eq!(events, [Ev::text(""), Ev::text("hello hello")], "level {level}, {to:?}");
        }
    }
}

// Bomb-proof: a compressed message inflates only up to max_message_size.
// DEFLATE's ratio is at most about 1032:1, so a 1 KiB frame carries at most
// about 1 MiB; a message of 1 024 such frames would inflate to 1 GiB. It is
// refused with 1009 once the output passes the limit, and the heap never
// holds much more than the limit.
#[test]
fn a_one_gib_deflate_bomb_is_refused_with_bounded_memory() {
    let _serial = serial();
    const LIMIT: usize = 4 << 20;
    // One chunk: 1 MiB of zeros, sync-flushed, tail kept so chunks chain.
    let mut c = Compress::new(Compression::new(9), false);
    let mut chunk = Vec::with_capacity(4096);
    c.compress_vec(&vec![0u8; 1 << 20], &mut chunk, FlushCompress::Sync)
        .unwrap();
    assert!(chunk.len() <= 1100, "a ~1 KiB frame: {}", chunk.len());

    for to in ROLES {
        let config = Config::default().max_message_size(LIMIT);
        let mut pair = Pair::with_configs(config.clone(), config);
        pair.drive();
        pair.server.take_events();
        pair.client.take_events();
        let ((events, frames), peak) = peak_of(|| {
            let mut events = pair.inject(to, &binary(&chunk).rsv(0b100).fin(false).to(to).bytes());
            let mut frames = 1;
            while events.is_empty() && frames < 1024 {
                events = pair.inject(to, &cont(&chunk).fin(frames == 1023).to(to).bytes());
                frames += 1;
            }
            (events, frames)
        });
        assert_fails_with(&events, 1009);
        assert!(frames <= LIMIT / (1 << 20) + 1, "refused after {frames} frames");
        assert!(
            peak <= LIMIT + (1 << 20),
            "{to:?}: peak heap {peak} bytes for a {LIMIT}-byte limit"
        );
        println!(
            "{to:?}: 1 GiB bomb refused after {frames} frames of {} bytes, peak heap +{peak} bytes",
            chunk.len()
        );
    }
}

// RFC 7692 §8.1: the size limit is on the message. An incompressible
// message at the limit takes more bytes compressed (deflate's block
// headers) than the limit: it is accepted, whole and in fragments, and one
// byte more is refused with 1009 as it inflates. The smallest case: "q"
// under a 1-byte limit is 3 bytes on the wire.
#[test]
fn the_size_limit_is_on_the_inflated_message_not_the_wire() {
    for limit in [1usize, 64 << 10] {
        let config = Config::default().max_message_size(limit);
        let mut pair = Pair::with_configs(config.clone(), config);
        pair.drive();
        pair.server.take_events();
        pair.client.take_events();
        let mut rng = XorShift::new(42);
        let at_limit = rng.bytes(limit);
        let frame = raw_deflate(&at_limit, 6);
        assert!(frame.len() > limit, "incompressible: {} bytes for {limit}", frame.len());
        let events = pair.inject(Role::Server, &binary(&frame).rsv(0b100).to(Role::Server).bytes());
        assert!(
            matches!(events.as_slice(), [Ev::Binary(b)] if *b == at_limit),
            "limit {limit}: {events:?}"
        );
        let (first, rest) = frame.split_at(frame.len() / 2);
        let mut events = pair.inject(
            Role::Server,
            &binary(first).rsv(0b100).fin(false).to(Role::Server).bytes(),
        );
        events.extend(pair.inject(Role::Server, &cont(rest).to(Role::Server).bytes()));
        assert!(
            matches!(events.as_slice(), [Ev::Binary(b)] if *b == at_limit),
            "limit {limit}, in two frames"
        );
        let over = raw_deflate(&rng.bytes(limit + 1), 6);
        let events = pair.inject(Role::Server, &binary(&over).rsv(0b100).to(Role::Server).bytes());
        assert_fails_with(&events, 1009);
    }
}

// RFC 7692 §8 (client offers in order of preference): several offers are
// sent in order and the server takes the first it accepts.
#[test]
fn several_offers_in_order() {
    let _serial = serial();
    let client = DeflateConfig::default().offers(vec![
        DeflateOffer::default().server_max_window_bits(Some(10)),
        DeflateOffer::default(),
    ]);
    let request = ClientRequest::new("example.com", "/chat");
    let mut pair = Pair::with_request(
        request,
        deflate_config(client),
        deflate_config(DeflateConfig::default()),
    );
    let bytes = pair.output(Role::Client);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(
        text.contains(
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; client_max_window_bits, \
             permessage-deflate; client_max_window_bits\r\n"
        ),
        "{text}"
    );
    // The harness's server accepts every request.
    pair.inject(Role::Server, &bytes);
    assert_eq!(
        pair.conn(Role::Server).extensions(),
        "permessage-deflate; server_max_window_bits=10"
    );
}

// With `stream_messages`, a compressed message goes out in parts as it is
// inflated, each at most 64 KiB whatever the ratio (one 1 KiB frame here
// inflates to 1 MiB), and only the inflater's window (32 KiB) of what went
// out is kept: memory follows the part, not the message, which has no
// limit but the configured one. The parts are polled one at a time and
// dropped, as a relay would.
#[test]
fn a_compressed_message_in_parts_holds_only_a_window() {
    let _serial = serial();
    let mut c = Compress::new(Compression::new(9), false);
    let mut chunk = Vec::with_capacity(4096);
    c.compress_vec(&vec![0u8; 1 << 20], &mut chunk, FlushCompress::Sync)
        .unwrap();
    for to in ROLES {
        let mut peaks = Vec::new();
        for frames in [8, 64] {
            let config = Config::default().stream_messages(true).max_message_size(usize::MAX);
            let mut pair = Pair::with_configs(config.clone(), config);
            pair.drive();
            pair.server.take_events();
            pair.client.take_events();
            let ((received, largest), peak) = peak_of(|| {
                let (mut received, mut largest, mut lasts) = (0usize, 0usize, 0);
                for i in 0..frames {
                    let frame = match i {
                        0 => binary(&chunk).rsv(0b100),
                        _ => cont(&chunk),
                    };
                    let peer = pair.peer_mut(to);
                    peer.deliver(&frame.fin(i + 1 == frames).to(to).bytes());
                    while let Some(event) = peer.conn.poll_event() {
                        match event {
                            Event::BinaryPart { data, last } => {
                                assert!(data.iter().all(|b| *b == 0), "{to:?}: inflated bytes");
                                received += data.len();
                                largest = largest.max(data.len());
                                lasts += usize::from(last);
                            }
                            other => panic!("{to:?}: {other:?}"),
                        }
                    }
                }
                assert_eq!(lasts, 1, "{to:?}: one last part");
                (received, largest)
            });
            assert_eq!(received, frames << 20, "{to:?}");
            assert!(largest <= 64 << 10, "{to:?}: a part of {largest} bytes");
            println!(
                "{to:?}: {frames} MiB compressed message in parts of at most {largest} bytes, peak heap +{peak} bytes"
            );
            peaks.push(peak);
        }
        assert!(
            peaks[1] <= peaks[0] + (64 << 10) && peaks[1] <= 512 << 10,
            "{to:?}: peak heap {peaks:?} for 8 and 64 MiB messages"
        );
    }
}

// The same cap for text, where each step's output is cut at a character
// boundary: 1.5 MiB of multibyte text compressed into three fragments, each
// delivered at once, comes out in parts of at most 64 KiB that join to the
// text; the text part left over by a cap is never lost.
#[test]
fn compressed_text_in_capped_parts_joins_to_the_message() {
    let _serial = serial();
    let text = "κόσμε 🎉 aé€𝄞 ".repeat(60_000);
    let deflated = raw_deflate(text.as_bytes(), 6);
    let third = deflated.len() / 3;
    let pieces = [&deflated[..third], &deflated[third..2 * third], &deflated[2 * third..]];
    for to in ROLES {
        let config = Config::default().stream_messages(true).max_message_size(usize::MAX);
        let mut pair = Pair::with_configs(config.clone(), config);
        pair.drive();
        let mut joined = String::new();
        let mut parts = 0;
        let mut lasts = 0;
        for (i, piece) in pieces.iter().enumerate() {
            let frame = match i {
                0 => text_bytes(piece).rsv(0b100),
                _ => cont(piece),
            };
            let peer = pair.peer_mut(to);
            peer.deliver(&frame.fin(i == 2).to(to).bytes());
            while let Some(event) = peer.conn.poll_event() {
                match event {
                    Event::TextPart { text, last } => {
                        // 64 KiB of output, and up to 3 bytes of a character
                        // the step before cut.
                        assert!(text.len() <= (64 << 10) + 3, "{to:?}: a part of {} bytes", text.len());
                        joined.push_str(text);
                        parts += 1;
                        lasts += usize::from(last);
                    }
                    other => panic!("{to:?}: {other:?}"),
                }
            }
        }
        assert_eq!(lasts, 1, "{to:?}");
        assert!(parts > 20, "{to:?}: {parts} parts");
        assert!(joined == text, "{to:?}: the joined parts differ from the text");
    }
}
