//! Timers on the harness's fake clock: the handshake timeout, the close
//! timeout and keepalive. No sleeps: time only moves through `advance`.

use rfc6455::testkit::*;
use rfc6455::{CloseCode, Config, Connection, ReadyState, Role};
use std::time::Duration;

fn keepalive(interval: u64) -> Config {
    plain_config().keepalive_interval(Some(secs(interval)))
}

/// A connected pair where only `role` runs keepalive.
fn keepalive_on(role: Role, interval: u64) -> Pair {
    let (client, server) = match role {
        Role::Client => (keepalive(interval), plain_config()),
        Role::Server => (plain_config(), keepalive(interval)),
    };
    let mut p = Pair::with_configs(client, server);
    p.drive();
    assert_eq!(p.client.take_events(), [Ev::Open]);
    assert_eq!(p.server.take_events(), [Ev::request("/chat"), Ev::Open]);
    p
}

/// The frames `role` queued, taken.
fn sent_frames(p: &mut Pair, role: Role) -> Vec<(u8, Vec<u8>)> {
    p.output_frames(role)
        .into_iter()
        .map(|f| (f.opcode, f.payload))
        .collect()
}

// ---------------------------------------------------------------- handshake

// Config::handshake_timeout counts from time zero; it fires at the deadline,
// not a nanosecond before.
#[test]
fn handshake_timeout_fires_exactly_at_the_deadline_for_both_roles() {
    let mut p = Pair::new();
    p.client.take_output(); // the request is lost on the way
    assert_eq!(p.client.conn.poll_timeout(), Some(secs(10)));
    assert_eq!(p.server.conn.poll_timeout(), Some(secs(10)));
    p.advance(secs(10) - NANO);
    assert_eq!((p.client.take_events(), p.server.take_events()), (vec![], vec![]));
    assert_eq!(p.client.conn.ready_state(), ReadyState::Connecting);
    p.advance(NANO);
    for role in ROLES {
        let events = p.peer_mut(role).take_events();
        assert_eq!(
            assert_fails_with(&events, 1006),
            Fault::Timeout(Timeout::Handshake),
            "{role:?}"
        );
        p.assert_failed_state(role, 1006);
        assert_eq!(p.conn(role).poll_timeout(), None);
    }
}

#[test]
fn handshake_timeout_covers_a_request_awaiting_the_decision() {
    let config = plain_config().handshake_timeout(Some(secs(3)));
    let mut p = Pair::with_config(config);
    p.server.decision = Decision::Manual;
    p.advance(secs(1));
    p.drive();
    assert_eq!(p.server.take_events(), [Ev::request("/chat")]);
    p.advance_to(secs(3) - NANO);
    assert_eq!(p.server.take_events(), []);
    p.advance(NANO);
    assert_eq!(
        assert_fails_with(&p.server.take_events(), 1006),
        Fault::Timeout(Timeout::Handshake)
    );
    assert_eq!(
        assert_fails_with(&p.client.take_events(), 1006),
        Fault::Timeout(Timeout::Handshake)
    );
    assert!(matches!(
        p.server.conn.accept(rfc6455::Accept::new()),
        Err(rfc6455::Error::Misuse(rfc6455::Misuse::NoRequestPending))
    ));
}

// A late first call to handle_timeout still fires the timer counted from zero.
#[test]
fn handshake_timeout_counts_from_time_zero() {
    let mut p = Pair::new();
    p.advance(secs(60));
    assert_eq!(
        assert_fails_with(&p.client.take_events(), 1006),
        Fault::Timeout(Timeout::Handshake)
    );
    assert_eq!(
        assert_fails_with(&p.server.take_events(), 1006),
        Fault::Timeout(Timeout::Handshake)
    );
}

#[test]
fn a_completed_handshake_disarms_the_timer() {
    let mut p = Pair::new();
    p.advance(secs(10) - NANO);
    p.drive();
    assert_eq!(p.client.take_events(), [Ev::Open]);
    assert_eq!(p.server.take_events(), [Ev::request("/chat"), Ev::Open]);
    assert_eq!(p.client.conn.poll_timeout(), None);
    assert_eq!(p.server.conn.poll_timeout(), None);
    p.advance(secs(3600));
    assert_eq!((p.client.take_events(), p.server.take_events()), (vec![], vec![]));
    assert_eq!(p.client.conn.ready_state(), ReadyState::Open);
}

#[test]
fn no_handshake_timeout_when_disabled() {
    let mut p = Pair::with_config(plain_config().handshake_timeout(None));
    assert_eq!(
        (p.client.conn.poll_timeout(), p.server.conn.poll_timeout()),
        (None, None)
    );
    p.advance(secs(86_400));
    assert_eq!((p.client.take_events(), p.server.take_events()), (vec![], vec![]));
    p.drive();
    assert_eq!(p.client.take_events(), [Ev::Open]);
}

// ---------------------------------------------------------------- close

// Config::close_timeout: "How long to wait for the peer's close frame after
// sending ours" (§7.1.1 leaves the wait to the implementation).
#[test]
fn close_timeout_drops_a_peer_that_never_answers() {
    for role in ROLES {
        let mut p = Pair::connected();
        p.advance(secs(2));
        p.conn(role).close(CloseCode::NORMAL, "").unwrap();
        p.output(role); // never reaches the peer
        assert_eq!(p.conn(role).poll_timeout(), Some(secs(7)));
        p.advance_to(secs(7) - NANO);
        assert_eq!(p.peer_mut(role).take_events(), []);
        assert!(!p.conn(role).should_close_transport());
        p.advance(NANO);
        let events = p.peer_mut(role).take_events();
        assert_eq!(
            assert_fails_with(&events, 1006),
            Fault::Timeout(Timeout::Close),
            "{role:?}"
        );
        p.assert_failed_state(role, 1006);
        assert_eq!(p.conn(role).poll_timeout(), None);
    }
}

#[test]
fn an_answered_close_does_not_time_out() {
    for role in ROLES {
        let mut p = Pair::connected();
        p.conn(role).close(CloseCode::NORMAL, "").unwrap();
        p.advance(secs(5) - NANO);
        p.drive();
        p.advance(secs(60));
        assert_eq!(p.peer_mut(role).take_events(), [Ev::close(1000, "")], "{role:?}");
        assert!(p.conn(role).is_closed_cleanly());
        assert!(p.conn(role).should_close_transport());
    }
}

// ---------------------------------------------------------------- keepalive

// Config::keepalive_interval: "Send a ping after this long without hearing
// from the peer, and fail the connection if another interval passes in
// silence."
#[test]
fn keepalive_pings_after_silence_then_fails_after_a_second_silent_interval() {
    for role in ROLES {
        let mut p = keepalive_on(role, 10);
        assert_eq!(p.conn(role).poll_timeout(), Some(secs(10)));
        assert_eq!(p.conn(peer_of(role)).poll_timeout(), None);
        p.advance(secs(10) - NANO);
        assert!(p.output(role).is_empty(), "{role:?}: no ping before the interval");
        p.advance(NANO);
        let ping = p.output_frames(role);
        assert_eq!(ping.len(), 1, "{role:?}");
        assert_eq!((ping[0].opcode, ping[0].payload.len()), (OP_PING, 0));
        assert_eq!(ping[0].masked, role == Role::Client);
        // The ping is lost: the peer stays silent.
        assert_eq!(p.conn(role).poll_timeout(), Some(secs(20)));
        p.advance_to(secs(20) - NANO);
        assert_eq!(p.peer_mut(role).take_events(), []);
        p.advance(NANO);
        let events = p.peer_mut(role).take_events();
        assert_eq!(
            assert_fails_with(&events, 1006),
            Fault::Timeout(Timeout::Keepalive),
            "{role:?}"
        );
        p.assert_failed_state(role, 1006);
    }
}

#[test]
fn keepalive_ping_answered_by_a_pong_rearms_the_timer() {
    for role in ROLES {
        let mut p = keepalive_on(role, 10);
        for round in 1..=3u64 {
            p.advance_to(secs(10 * round));
            p.drive();
            assert_eq!(
                p.peer_mut(peer_of(role)).take_events(),
                [Ev::Ping(vec![])],
                "round {round}"
            );
            assert_eq!(p.peer_mut(role).take_events(), [Ev::Pong(vec![])], "round {round}");
            assert_eq!(p.conn(role).poll_timeout(), Some(secs(10 * (round + 1))));
        }
        assert_eq!(p.conn(role).ready_state(), ReadyState::Open);
    }
}

// Any received data counts as hearing from the peer, before and after the
// ping.
#[test]
fn received_data_resets_keepalive() {
    for role in ROLES {
        let mut p = keepalive_on(role, 10);
        let other = peer_of(role);
        p.advance(secs(9));
        p.conn(other).send_text("still here").unwrap();
        p.drive();
        assert_eq!(p.conn(role).poll_timeout(), Some(secs(19)));
        p.advance_to(secs(10));
        assert!(p.output(role).is_empty(), "{role:?}: no ping: the peer spoke at 9 s");
        p.advance_to(secs(19));
        assert_eq!(sent_frames(&mut p, role), [(OP_PING, vec![])]);
        // After the ping, any data (not only a pong) proves the peer alive.
        p.advance_to(secs(25));
        p.conn(other).send_binary(b"data").unwrap();
        p.drive();
        assert_eq!(p.conn(role).poll_timeout(), Some(secs(35)));
        p.advance_to(secs(29));
        p.advance_to(secs(35) - NANO);
        assert!(p.output(role).is_empty());
        let events = p.peer_mut(role).take_events();
        assert_eq!(
            events,
            [Ev::text("still here"), Ev::Binary(b"data".to_vec())],
            "{role:?}"
        );
    }
}

// Even a partial frame is hearing from the peer.
#[test]
fn a_partial_frame_resets_keepalive() {
    for role in ROLES {
        let mut p = keepalive_on(role, 10);
        p.advance(secs(8));
        let bytes = text("slow").to(role).bytes();
        assert_eq!(p.inject(role, &bytes[..3]), []);
        assert_eq!(p.conn(role).poll_timeout(), Some(secs(18)));
    }
}

#[test]
fn a_long_jump_sends_one_ping_and_counts_from_now() {
    for role in ROLES {
        let mut p = keepalive_on(role, 10);
        p.advance(secs(25));
        assert_eq!(sent_frames(&mut p, role), [(OP_PING, vec![])]);
        assert_eq!(p.conn(role).poll_timeout(), Some(secs(35)));
        assert_eq!(p.peer_mut(role).take_events(), []);
    }
}

#[test]
fn keepalive_stops_once_closing() {
    for role in ROLES {
        let mut p = keepalive_on(role, 10);
        p.advance(secs(4));
        p.conn(role).close(CloseCode::NORMAL, "").unwrap();
        p.output(role);
        assert_eq!(
            p.conn(role).poll_timeout(),
            Some(secs(9)),
            "the close timeout, not the ping"
        );
        p.advance_to(secs(9) - NANO);
        assert!(p.output(role).is_empty());
    }
}

#[test]
fn established_connections_run_keepalive_from_creation() {
    for role in ROLES {
        let mut p = Pair::established_with(keepalive(7));
        assert_eq!(p.conn(role).poll_timeout(), Some(secs(7)));
        p.advance(secs(7));
        assert_eq!(sent_frames(&mut p, role), [(OP_PING, vec![])]);
    }
}

// `started_at` moves every timer an established connection armed at
// creation, keepalive included (`handle_timeout`: "the connection's timers
// count from zero on it, or from started_at").
#[test]
fn established_keepalive_counts_from_started_at() {
    let start = secs(3600);
    for role in ROLES {
        let conn = Connection::established_with_masks(role, keepalive(30), &[], masks(1));
        let mut conn = conn.started_at(start);
        assert_eq!(conn.poll_timeout(), Some(start + secs(30)), "{role:?}");
        conn.handle_timeout(start + secs(30) - NANO);
        assert!(
            conn.pending_output().is_empty(),
            "{role:?}: a ping before the interval passed"
        );
        conn.handle_timeout(start + secs(30));
        assert_eq!(decode_frames(conn.pending_output())[0].opcode, OP_PING, "{role:?}");
    }
}

// A keepalive ping due while a declared frame is under way would wait
// behind it (§5.4), unseen by the peer, so keepalive rests until the frame
// is done: a peer that only listens to a slow stream is never failed for
// not answering it.
#[test]
fn a_keepalive_ping_that_would_wait_behind_a_frame_is_put_off() {
    let mut conn = Connection::established_with_masks(Role::Server, keepalive(10), &[], masks(1));
    conn.begin_message(rfc6455::OpCode::Binary, 260).unwrap();
    let mut wire = Vec::new();
    for t in 1..=25u64 {
        conn.send_payload(&[7; 10]).unwrap();
        conn.handle_timeout(secs(t));
        assert!(conn.poll_event().is_none(), "no failure at {t} s");
        wire.extend_from_slice(conn.pending_output());
        let n = conn.pending_output().len();
        conn.advance_output(n);
    }
    conn.send_payload(&[7; 10]).unwrap();
    wire.extend_from_slice(conn.pending_output());
    let n = conn.pending_output().len();
    conn.advance_output(n);
    let sent: Vec<u8> = decode_frames(&wire).iter().map(|f| f.opcode).collect();
    assert_eq!(sent, [OP_BINARY], "no ping while the frame was under way");
    assert_eq!(conn.ready_state(), ReadyState::Open);
    // Once the frame is done, keepalive runs as before.
    let next = conn.poll_timeout().expect("keepalive still armed");
    conn.handle_timeout(next);
    assert_eq!(decode_frames(conn.pending_output())[0].opcode, OP_PING);
}

// A keepalive that rests behind a declared frame is not re-armed to fire
// again at once: with a zero interval (or a deadline saturated at the
// clock's end) `poll_timeout` kept reporting a due deadline that
// `handle_timeout` never cleared, and the tokio driver polled in a loop.
#[test]
fn a_resting_keepalive_is_not_due_again_at_once() {
    for interval in [Duration::ZERO, Duration::MAX] {
        let config = plain_config().keepalive_interval(Some(interval));
        let mut conn = Connection::established_with_masks(Role::Server, config, &[], masks(1));
        conn.begin_message(rfc6455::OpCode::Binary, 10).unwrap();
        let now = conn.poll_timeout().expect("keepalive armed");
        conn.handle_timeout(now);
        assert!(conn.poll_event().is_none());
        assert_eq!(
            conn.poll_timeout(),
            None,
            "{interval:?}: resting until the frame is done"
        );
        conn.send_payload(&[0; 10]).unwrap();
        assert!(conn.poll_timeout().is_some(), "{interval:?}: armed again once it is");
    }
}

// ---------------------------------------------------------------- poll_timeout

/// Advances to `role`'s next deadline, checking that nothing happens a
/// nanosecond before it and that something does at it.
fn step_to_deadline(p: &mut Pair, role: Role) -> Duration {
    let deadline = p.conn(role).poll_timeout().expect("a deadline");
    assert!(
        deadline > p.now,
        "deadline {deadline:?} not in the future of {:?}",
        p.now
    );
    p.advance_to(deadline - NANO);
    assert!(
        p.peer(role).conn.pending_output().is_empty(),
        "output before the deadline"
    );
    assert_eq!(p.peer_mut(role).take_events(), [], "event before the deadline");
    let state = p.conn(role).ready_state();
    p.advance_to(deadline);
    let acted = !p.peer(role).conn.pending_output().is_empty()
        || !p.peer(role).events.is_empty()
        || p.conn(role).ready_state() != state
        || p.conn(role).should_close_transport();
    assert!(acted, "nothing happened at the deadline {deadline:?}");
    deadline
}

// poll_timeout reports the earliest deadline through the whole lifecycle.
#[test]
fn poll_timeout_reports_the_next_deadline() {
    let config = plain_config()
        .handshake_timeout(Some(secs(10)))
        .close_timeout(Some(secs(4)))
        .keepalive_interval(Some(secs(3)));
    let mut p = Pair::with_config(config);
    assert_eq!(
        p.client.conn.poll_timeout(),
        Some(secs(10)),
        "connecting: the handshake"
    );
    p.advance(secs(1));
    p.drive();
    assert_eq!(p.client.take_events(), [Ev::Open]);
    assert_eq!(p.client.conn.poll_timeout(), Some(secs(4)), "open: the keepalive ping");
    assert_eq!(p.server.conn.poll_timeout(), Some(secs(4)));
    assert_eq!(step_to_deadline(&mut p, Role::Client), secs(4));
    p.output(Role::Client);
    p.output(Role::Server);
    assert_eq!(
        p.client.conn.poll_timeout(),
        Some(secs(7)),
        "after the ping: the dead peer"
    );
    p.advance(secs(1));
    p.client.conn.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        p.client.conn.poll_timeout(),
        Some(secs(9)),
        "closing: the close timeout"
    );
    p.drive();
    assert_eq!(p.client.take_events(), [Ev::close(1000, "")]);
    assert_eq!(p.server.conn.poll_timeout(), None, "server: closed");
    assert_eq!(
        p.client.conn.poll_timeout(),
        Some(secs(9)),
        "client: waiting for the TCP close"
    );
    assert_eq!(step_to_deadline(&mut p, Role::Client), secs(9));
    assert!(p.client.conn.should_close_transport());
    assert_eq!(p.client.conn.poll_timeout(), None);
}

#[test]
fn every_reported_deadline_is_honest() {
    for role in ROLES {
        let mut p = keepalive_on(role, 5);
        p.advance(secs(1));
        assert_eq!(step_to_deadline(&mut p, role), secs(5), "the ping");
        p.output(role);
        assert_eq!(step_to_deadline(&mut p, role), secs(10), "the dead peer");
        assert_eq!(p.conn(role).poll_timeout(), None, "{role:?}: failed, no more deadlines");
    }
}

#[test]
fn no_deadline_when_every_timer_is_off() {
    let config = plain_config()
        .handshake_timeout(None)
        .close_timeout(None)
        .keepalive_interval(None);
    let mut p = Pair::connected_with(config);
    assert_eq!(
        (p.client.conn.poll_timeout(), p.server.conn.poll_timeout()),
        (None, None)
    );
    p.client.conn.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(p.client.conn.poll_timeout(), None);
    p.drive();
    assert!(
        p.client.conn.should_close_transport(),
        "no close timeout: nothing to wait for"
    );
}

// A caller with a shared clock (one epoch for many connections) tells a
// new connection the time with `started_at`: the handshake timeout then
// counts from there, not from the clock's zero.
#[test]
fn handshake_timeout_counts_from_started_at() {
    let start = secs(3600);
    let timeout = Config::default()
        .handshake_timeout
        .expect("a default handshake timeout");
    let mut late = Connection::server(Config::default()).started_at(start);
    late.handle_timeout(start + timeout - NANO);
    assert!(late.poll_event().is_none(), "still within the handshake timeout");
    late.handle_timeout(start + timeout);
    let events: Vec<Ev> = core::iter::from_fn(|| late.poll_event().map(own)).collect();
    assert_eq!(assert_fails_with(&events, 1006), Fault::Timeout(Timeout::Handshake));

    // Without it, the same clock reading is an hour past the deadline.
    let mut unaware = Connection::server(Config::default());
    unaware.handle_timeout(start);
    let events: Vec<Ev> = core::iter::from_fn(|| unaware.poll_event().map(own)).collect();
    assert_eq!(assert_fails_with(&events, 1006), Fault::Timeout(Timeout::Handshake));
}
