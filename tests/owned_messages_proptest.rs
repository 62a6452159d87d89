//! Owned messages without a copy: a message of 16 KiB or more read in one
//! frame is handed out as the read buffer's own bytes
//! (`Connection::take_message`), and the read buffer goes on around it.
//! Whatever the sizes, the read sizes, the mix of text and binary, and
//! which messages the application keeps or drops, every message taken is
//! the one sent, and stays so while the connection reads on; a server
//! that forwards them as `Bytes` (`send_binary_bytes`) sends the same
//! bytes as one that copies them.
//!
//! Case counts are modest by default so `cargo test` stays fast; set
//! `PROPTEST_CASES` for a longer run.

use proptest::collection::vec;
use proptest::prelude::*;
use rfc6455::connection::Event;
use rfc6455::testkit::{binary, text_bytes};
use rfc6455::{Bytes, Config, Connection, Role};

/// `PROPTEST_CASES` if set, else `default`.
fn cases(default: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    config
}

/// One message: its payload, whether it is text, and whether the
/// application keeps it to the end.
#[derive(Debug, Clone)]
struct Sent {
    payload: Vec<u8>,
    text: bool,
    keep: bool,
}

/// Sizes around the sharing threshold (16 KiB) and the in-place limit
/// (64 KiB), and small ones between them.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..200,
        (16usize << 10) - 2..(16 << 10) + 2,
        20_000usize..40_000,
        (64usize << 10) - 20..(64 << 10) + 20,
        70_000usize..140_000,
    ]
}

fn sent() -> impl Strategy<Value = Sent> {
    (size(), any::<bool>(), any::<bool>(), any::<u8>()).prop_map(|(len, text, keep, seed)| Sent {
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
fn receive(
    conn: &mut Connection,
    wire: &[u8],
    sent: &[Sent],
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
        sent in vec(sent(), 1..24),
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
        let taken = receive(&mut server, &wire, &sent, &reads)?;

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
