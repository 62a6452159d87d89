//! permessage-deflate (RFC 7692) through the public API.
//!
//! A client and a server `Connection` complete the opening handshake in
//! memory (default `Config`, which negotiates permessage-deflate) once per
//! workload; then:
//!
//! - `deflate_send/*`: the client compresses with `send_text` /
//!   `send_binary` and the output is drained after each message;
//! - `deflate_recv/*`: the server takes compressed, masked client frames
//!   (encoded once, by capturing the client's output) through
//!   `read_buffer` + `commit_read` in reads of at most 64 KiB, polling
//!   events until `None` after each read.
//!
//! `*_plain` is the same workload with deflate disabled on both ends;
//! `text_no_context/1024` negotiates `server_no_context_takeover;
//! client_no_context_takeover`, so every message builds its own compressor
//! and decompressor.
//! Payloads are JSON-like text (English words, ids, names) and binary
//! with LZ-style repetitions (about 2:1 at level 1), 1 KiB, 64 KiB and
//! 1 MiB. Each iteration carries 128 KiB of payload (at least one message),
//! as distinct consecutive messages, so context takeover sees realistic
//! history rather than the same message again. Throughput is uncompressed
//! payload bytes.
//!
//! Before criterion runs, `main` prints the heap one client and one server
//! connection hold with deflate negotiated, measured with a counting global
//! allocator (bytes freed when the connection is dropped), for several
//! deflate settings. The allocator counts during the timed runs too (two
//! relaxed atomic adds per allocation, a few nanoseconds).
//! Plots are off unless `--plotting-backend` is given; a run takes about
//! 1.5 minutes.
//!
//! `cargo bench -p rfc6455-benches --bench deflate`, then `python3 benches/summary.py deflate`

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use rfc6455::connection::Event;
use rfc6455::deflate::DeflateConfig;
use rfc6455::testkit::{XorShift, counting};
use rfc6455::{Accept, ClientRequest, Config, Connection};
use std::hint::black_box;
use std::time::Duration;

// ------------------------------------------------------------ allocator

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

// ------------------------------------------------------------ payloads

const SIZES: [usize; 3] = [1 << 10, 64 << 10, 1 << 20];

/// Payload bytes per iteration (at least one message).
const BATCH_BYTES: usize = 128 << 10;

/// Largest read a "socket" returns.
const MAX_READ: usize = 64 << 10;

fn batch(size: usize) -> usize {
    (BATCH_BYTES / size).max(1)
}

/// The kit's generator, deterministic so every run measures the same
/// bytes, drawing from the high half of each output.
struct Rng(XorShift);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(XorShift::new(seed))
    }

    fn below(&mut self, n: usize) -> usize {
        ((self.0.next_u64() >> 32) as usize) % n
    }

    /// One of the words of `items`, a space-separated list.
    fn pick<'a>(&mut self, items: &'a str) -> &'a str {
        let count = items.split(' ').count();
        items.split(' ').nth(self.below(count)).unwrap_or_default()
    }
}

const WORDS: &str = "the of and to in a is that for it as was with be by on not he this are or his from at \
    which but have an had they you were their one all we can her has there been if more when will would who so no \
    message server client window compression frame today meeting report update please thanks review \
    deploy latency question answer weekend project release build tomorrow morning coffee issue fixed \
    broken again maybe great idea";
const NAMES: &str = "alice bob carol dave erin frank grace heidi ivan judy mallory oscar peggy trent victor walter";
const KINDS: &str = "message edit reaction typing presence read";
const CHANNELS: &str = "#general #random #dev #ops #design #support";

/// `len` bytes of ASCII chat events as JSON lines.
fn text(len: usize) -> String {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut out = String::with_capacity(len + 512);
    let mut ts: u64 = 1_718_000_000_000;
    while out.len() < len {
        ts += rng.below(5000) as u64;
        let words = 4 + rng.below(22);
        let mut sentence = String::new();
        for i in 0..words {
            if i > 0 {
                sentence.push(' ');
            }
            sentence.push_str(rng.pick(WORDS));
        }
        out.push_str(&format!(
            "{{\"id\":{},\"type\":\"{}\",\"user\":{{\"name\":\"{}_{}\",\"online\":{}}},\"ts\":{},\
             \"channel\":\"{}\",\"text\":\"{}.\"}}\n",
            rng.below(10_000_000),
            rng.pick(KINDS),
            rng.pick(NAMES),
            rng.below(100),
            rng.below(2) == 0,
            ts,
            rng.pick(CHANNELS),
            sentence,
        ));
    }
    out.truncate(len);
    out
}

/// `len` bytes of binary: runs of skewed random bytes mixed with copies
/// of earlier data (LZ-style), about 2:1 under deflate level 1.
fn binary(len: usize) -> Vec<u8> {
    let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        if out.len() > 256 && rng.below(100) < 40 {
            let dist = 1 + rng.below(out.len().min(16 << 10));
            for _ in 0..4 + rng.below(40) {
                out.push(out[out.len() - dist]);
            }
        } else {
            for _ in 0..1 + rng.below(24) {
                // Two random bytes ANDed: skewed towards few set bits.
                let x = rng.0.next_u64();
                out.push((x >> 24) as u8 & (x >> 40) as u8 | (x >> 56) as u8 & 0x11);
            }
        }
    }
    out.truncate(len);
    out
}

/// The messages one iteration sends: `batch(size)` consecutive pieces of
/// one stream of `kind`.
enum Messages {
    Text(Vec<String>),
    Binary(Vec<Vec<u8>>),
}

impl Messages {
    fn new(is_text: bool, size: usize) -> Self {
        let n = batch(size);
        if is_text {
            let all = text(size * n);
            Self::Text((0..n).map(|i| all[i * size..(i + 1) * size].to_owned()).collect())
        } else {
            let all = binary(size * n);
            Self::Binary(all.chunks(size).map(<[u8]>::to_vec).collect())
        }
    }

    fn payload(&self) -> usize {
        match self {
            Self::Text(m) => m.iter().map(String::len).sum(),
            Self::Binary(m) => m.iter().map(Vec::len).sum(),
        }
    }

    /// Sends every message, draining the output after each.
    #[inline]
    fn send(&self, conn: &mut Connection) {
        match self {
            Self::Text(m) => m.iter().for_each(|t| {
                conn.send_text(t).unwrap();
                drain(conn);
            }),
            Self::Binary(m) => m.iter().for_each(|b| {
                conn.send_binary(b).unwrap();
                drain(conn);
            }),
        }
    }

    /// Sends every message into one buffer: the frames as they go out.
    fn wire(&self, conn: &mut Connection) -> Vec<u8> {
        match self {
            Self::Text(m) => m.iter().for_each(|t| conn.send_text(t).unwrap()),
            Self::Binary(m) => m.iter().for_each(|b| conn.send_binary(b).unwrap()),
        }
        let wire = conn.pending_output().to_vec();
        drain(conn);
        wire
    }

    /// Whether `received` holds exactly these messages.
    fn matches(&self, received: &[Vec<u8>]) -> bool {
        match self {
            Self::Text(m) => m.iter().map(String::as_bytes).eq(received.iter().map(Vec::as_slice)),
            Self::Binary(m) => m.iter().map(Vec::as_slice).eq(received.iter().map(Vec::as_slice)),
        }
    }
}

// ------------------------------------------------------------ connections

fn config(deflate: DeflateConfig) -> Config {
    Config::default().deflate(deflate)
}

fn plain() -> DeflateConfig {
    DeflateConfig::default().enabled(false)
}

/// Writes everything pending to the "socket".
#[inline]
fn drain(conn: &mut Connection) {
    let n = black_box(conn.pending_output()).len();
    conn.advance_output(n);
}

/// Moves everything `from` has queued into `to`.
fn pump(from: &mut Connection, to: &mut Connection) {
    to.receive(from.pending_output());
    drain(from);
}

/// A client and a server after the opening handshake, done in memory.
fn pair(client: DeflateConfig, server: DeflateConfig) -> (Connection, Connection) {
    let enabled = client.enabled && server.enabled;
    let mut client = Connection::client(ClientRequest::new("localhost", "/chat"), config(client));
    let mut server = Connection::server(config(server));
    pump(&mut client, &mut server);
    assert!(matches!(server.poll_event(), Some(Event::Request(_))));
    server.accept(Accept::new()).unwrap();
    assert!(matches!(server.poll_event(), Some(Event::Open)));
    assert!(server.poll_event().is_none());
    pump(&mut server, &mut client);
    assert!(matches!(client.poll_event(), Some(Event::Open)));
    assert!(client.poll_event().is_none());
    assert_eq!(client.extensions().starts_with("permessage-deflate"), enabled);
    assert_eq!(client.extensions(), server.extensions());
    (client, server)
}

/// Feeds `wire` to `conn` as a socket would (reads of at most
/// [`MAX_READ`] bytes into `read_buffer`), polling events after each
/// read; `seen` gets each message's payload. Returns messages and bytes.
#[inline]
fn receive(conn: &mut Connection, wire: &[u8], mut seen: impl FnMut(&[u8])) -> (usize, usize) {
    let (mut messages, mut bytes, mut off) = (0, 0, 0);
    while off < wire.len() {
        let buf = conn.read_buffer();
        let n = buf.len().min(MAX_READ).min(wire.len() - off);
        buf[..n].copy_from_slice(&wire[off..off + n]);
        conn.commit_read(n);
        off += n;
        while let Some(event) = conn.poll_event() {
            let payload = match event {
                Event::Text(t) => t.as_bytes(),
                Event::Binary(b) => b,
                other => panic!("unexpected {other:?}"),
            };
            messages += 1;
            bytes += payload.len();
            seen(payload);
        }
    }
    (messages, bytes)
}

// ------------------------------------------------------------ benches

const KINDS_MEASURED: [(&str, bool); 2] = [("text", true), ("binary", false)];

fn group_settings(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, size: usize) {
    group.sample_size(30);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.sampling_mode(if size >= 1 << 20 {
        SamplingMode::Flat
    } else {
        SamplingMode::Auto
    });
}

/// No context takeover in either direction: each message has a compressor
/// and a decompressor of its own.
fn no_context() -> DeflateConfig {
    DeflateConfig::default()
        .server_no_context_takeover(true)
        .client_no_context_takeover(true)
}

/// The settings each workload runs under: (name suffix, client, server).
/// Small text also runs without context takeover, where the compressor and
/// decompressor are rebuilt for every message.
fn variants(is_text: bool, size: usize) -> Vec<(&'static str, DeflateConfig, DeflateConfig)> {
    let mut v = vec![
        ("", DeflateConfig::default(), DeflateConfig::default()),
        ("_plain", plain(), plain()),
    ];
    if is_text && size == 1 << 10 {
        v.push(("_no_context", DeflateConfig::default(), no_context()));
    }
    v
}

fn send(c: &mut Criterion) {
    let mut group = c.benchmark_group("deflate_send");
    for size in SIZES {
        group_settings(&mut group, size);
        for (kind, is_text) in KINDS_MEASURED {
            let messages = Messages::new(is_text, size);
            group.throughput(Throughput::Bytes(messages.payload() as u64));
            for (suffix, client_deflate, server_deflate) in variants(is_text, size) {
                let (mut client, _server) = pair(client_deflate, server_deflate);
                group.bench_function(BenchmarkId::new(format!("{kind}{suffix}"), size), |b| {
                    b.iter(|| messages.send(&mut client));
                });
            }
        }
    }
    group.finish();
}

fn recv(c: &mut Criterion) {
    let mut group = c.benchmark_group("deflate_recv");
    for size in SIZES {
        group_settings(&mut group, size);
        for (kind, is_text) in KINDS_MEASURED {
            let messages = Messages::new(is_text, size);
            let payload = messages.payload();
            group.throughput(Throughput::Bytes(payload as u64));
            for (suffix, client_deflate, server_deflate) in variants(is_text, size) {
                let (mut client, mut server) = pair(client_deflate, server_deflate);
                let wire = messages.wire(&mut client);
                // The first message came from a fresh compressor, so each
                // replay of the whole batch inflates as it was deflated.
                for _ in 0..2 {
                    let mut received = Vec::new();
                    let seen = receive(&mut server, &wire, |p| received.push(p.to_vec()));
                    assert_eq!(seen, (batch(size), payload));
                    assert!(messages.matches(&received), "{kind}{suffix}/{size}");
                }
                if suffix != "_plain" {
                    eprintln!(
                        "deflate_recv/{kind}{suffix}/{size}: {payload} B of payload in {} B on the wire ({:.2}:1)",
                        wire.len(),
                        payload as f64 / wire.len() as f64
                    );
                }
                group.bench_function(BenchmarkId::new(format!("{kind}{suffix}"), size), |b| {
                    b.iter(|| receive(&mut server, &wire, |p| _ = black_box(p)));
                });
            }
        }
    }
    group.finish();
}

// ------------------------------------------------------------ memory

/// Heap bytes and blocks `value` holds: what dropping it frees.
fn held<T>(value: T) -> (usize, usize) {
    let (bytes, blocks) = (counting::live(), counting::blocks());
    drop(value);
    (bytes - counting::live(), blocks - counting::blocks())
}

fn memory() {
    let size = 64 << 10;
    let message = text(size);
    let settings: [(&str, DeflateConfig, DeflateConfig); 5] = [
        ("deflate off (baseline)", plain(), plain()),
        (
            "(a) defaults: context takeover, 15 bits",
            DeflateConfig::default(),
            DeflateConfig::default(),
        ),
        (
            "(b) server_max_window_bits=10, client_max_window_bits=10",
            DeflateConfig::default(),
            DeflateConfig::default()
                .server_max_window_bits(10)
                .client_max_window_bits(10),
        ),
        (
            "(c') server_no_context_takeover only (splits compressor / decompressor)",
            DeflateConfig::default(),
            DeflateConfig::default().server_no_context_takeover(true),
        ),
        (
            "(c) server_ and client_no_context_takeover",
            DeflateConfig::default(),
            no_context(),
        ),
    ];
    println!("Heap held per connection (bytes requested from the allocator and still live, freed on drop;");
    println!("malloc's per-block overhead not included; {size} B JSON-like text message, level 1)\n");
    println!(
        "| settings | negotiated | client after handshake | server after handshake | \
         client after 64 KiB each way | server after 64 KiB each way |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    for (what, client_deflate, server_deflate) in settings {
        let (client, server) = pair(client_deflate.clone(), server_deflate.clone());
        let negotiated = client.extensions().to_owned();
        let idle = (held(client), held(server));

        let (mut client, mut server) = pair(client_deflate, server_deflate);
        client.send_text(&message).unwrap();
        let wire = client.pending_output().to_vec();
        drain(&mut client);
        assert_eq!(receive(&mut server, &wire, |_| {}), (1, size));
        server.send_text(&message).unwrap();
        let wire = server.pending_output().to_vec();
        drain(&mut server);
        assert_eq!(receive(&mut client, &wire, |_| {}), (1, size));
        let busy = (held(client), held(server));

        let cell = |(bytes, blocks): (usize, usize)| format!("{bytes} ({blocks} blocks)");
        println!(
            "| {what} | `{negotiated}` | {} | {} | {} | {} |",
            cell(idle.0),
            cell(idle.1),
            cell(busy.0),
            cell(busy.1),
        );
    }
    println!();
}

fn main() {
    memory();
    // Plots cost seconds per benchmark on a loaded machine; `--plotting-backend` brings them back.
    let mut c = Criterion::default().without_plots().configure_from_args();
    send(&mut c);
    recv(&mut c);
    c.final_summary();
}
