//! The neutral load generator of the loopback echo comparison: raw TCP on
//! tokio's `TcpStream`, none of the WebSocket libraries.
//!
//! ```text
//! loadgen PORT CONNS SIZE [DEPTH] [WARMUP_MS] [DURATION_MS] [SERVER_PID]
//! ```
//!
//! Each connection does its own client handshake (a fixed
//! `Sec-WebSocket-Key`, the 101 and its `Sec-WebSocket-Accept` checked),
//! then keeps `DEPTH` (default 16) masked binary messages of `SIZE` payload
//! bytes in flight: every echo that comes back is checked and pays for the
//! next message. The frames are encoded once, before the clock starts;
//! sending is a `write` of bytes from that buffer. All connections are
//! served by one thread (a current-thread runtime, readiness-driven, so a
//! connection's reads and writes never wait on each other).
//!
//! An echo counts only if it is one unmasked, final binary frame with the
//! minimal header for `SIZE` and the payload sent: every payload up to 64
//! bytes and every 16th larger one is compared whole, the others at their
//! first and last 8 bytes and 32 bytes at a moving offset. Anything else
//! (or a connection that ends) fails the run: exit status 1, no rate.
//!
//! After all handshakes, `WARMUP_MS` (default 500) pass uncounted, then the
//! echoes completed in `DURATION_MS` (default 3000) are counted. Prints one
//! line of `key=value`: `msgs_per_s`, `msgs`, the slowest connection's
//! share of the fair rate (`min_conn_share`), and with `SERVER_PID` the
//! CPU the server and the load generator used and how long their threads
//! waited for a CPU while runnable (both in cores, i.e. seconds per
//! second, from `/proc/*/task/*/schedstat`): a high wait means the rest of
//! the machine took the CPUs. `others_cpu` is the CPU everything else on
//! the machine used meanwhile (`/proc/stat`'s busy time less ours): above
//! a tenth of a core or so, the point was disturbed and is worth a rerun.

use std::io::{self, ErrorKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

/// RFC 6455 §1.3's example key and its accept value.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const READ_ROOM: usize = 64 << 10;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

struct Shared {
    /// Echoes completed, per connection.
    done: Vec<AtomicU64>,
    /// Connections past the handshake.
    open: AtomicU64,
    /// Connections that failed, and the first reason.
    failed: AtomicBool,
    reason: std::sync::Mutex<Option<String>>,
    stop: AtomicBool,
}

impl Shared {
    fn fail(&self, why: String) {
        self.reason.lock().unwrap().get_or_insert(why);
        self.failed.store(true, Relaxed);
    }
}

/// The payload every message carries: no short period, so a server that
/// echoes the wrong slice is caught.
fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i.wrapping_mul(131) ^ (i >> 8)) as u8).collect()
}

/// The minimal header of an unmasked final binary frame (what comes back).
fn echo_header(size: usize) -> Vec<u8> {
    match size {
        0..=125 => vec![0x82, size as u8],
        126..=0xffff => vec![0x82, 126, (size >> 8) as u8, size as u8],
        _ => {
            let mut h = vec![0x82, 127];
            h.extend_from_slice(&(size as u64).to_be_bytes());
            h
        }
    }
}

/// `depth` masked final binary frames, each with its own masking key.
fn encode_frames(data: &[u8], depth: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..depth {
        let mut header = echo_header(data.len());
        header[1] |= 0x80;
        out.extend_from_slice(&header);
        let key = [0x9b ^ i as u8, 0x3d, 0x71u8.wrapping_add(i as u8), 0xc6];
        out.extend_from_slice(&key);
        out.extend(data.iter().enumerate().map(|(j, b)| b ^ key[j % 4]));
    }
    out
}

/// Checks one echoed payload; `seq` picks what a sampled check looks at.
fn payload_ok(got: &[u8], want: &[u8], seq: u64) -> bool {
    let n = want.len();
    if n <= 64 || seq.is_multiple_of(16) {
        return got == want;
    }
    let at = (seq as usize).wrapping_mul(977) % (n - 32);
    got[..8] == want[..8] && got[n - 8..] == want[n - 8..] && got[at..at + 32] == want[at..at + 32]
}

async fn handshake(stream: &mut TcpStream, port: u16) -> Result<Vec<u8>, String> {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > 16 << 10 {
            return Err("handshake response too long".into());
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) => return Err("closed during the handshake".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(format!("expected 101, got {status:?}"));
    }
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|(_, value)| value.trim());
    if accept != Some(ACCEPT) {
        return Err(format!("bad Sec-WebSocket-Accept {accept:?}"));
    }
    Ok(buf[end..].to_vec())
}

struct Conn {
    id: usize,
    port: u16,
    size: usize,
    frames: Arc<Vec<u8>>,
    data: Arc<Vec<u8>>,
    shared: Arc<Shared>,
}

impl Conn {
    async fn run(self) {
        if let Err(why) = self.pump().await
            && !self.shared.stop.load(Relaxed)
        {
            self.shared.fail(format!("connection {}: {why}", self.id));
        }
    }

    async fn pump(&self) -> Result<(), String> {
        // A refused connect is tried again a few times (seen, rarely, on
        // the shared machine with the server listening).
        let mut tries = 0;
        let mut stream = loop {
            match TcpStream::connect(("127.0.0.1", self.port)).await {
                Ok(stream) => break stream,
                Err(e) if e.kind() == ErrorKind::ConnectionRefused && tries < 10 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(format!("{e} (after {tries} retries)")),
            }
        };
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let leftover = handshake(&mut stream, self.port).await?;
        self.shared.open.fetch_add(1, Relaxed);

        let header = echo_header(self.size);
        // Echoes come back unmasked; what is sent has a masking key.
        let frame_len = header.len() + self.size;
        let sent_len = frame_len + 4;
        let total = self.frames.len();
        // Bytes of frames owed to the server, written from `tx_at` on,
        // cycling through the pre-encoded frames.
        let (mut owed, mut tx_at) = (total, 0usize);
        let mut rx = vec![0u8; frame_len + READ_ROOM];
        rx[..leftover.len()].copy_from_slice(&leftover);
        let (mut start, mut end) = (0usize, leftover.len());
        let mut seq = 0u64;
        let counter = &self.shared.done[self.id];
        while !self.shared.stop.load(Relaxed) {
            let interest = if owed > 0 {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let ready = stream.ready(interest).await.map_err(|e| e.to_string())?;
            if ready.is_writable() {
                while owed > 0 {
                    let upto = total.min(tx_at + owed);
                    match stream.try_write(&self.frames[tx_at..upto]) {
                        Ok(n) => {
                            owed -= n;
                            tx_at = (tx_at + n) % total;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
            if !ready.is_readable() {
                continue;
            }
            match stream.try_read(&mut rx[end..]) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => end += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.to_string()),
            }
            let mut echoed = 0u64;
            while end - start >= frame_len {
                let frame = &rx[start..start + frame_len];
                if frame[..header.len()] != header[..] {
                    let n = header.len().min(end - start);
                    return Err(format!("bad echo header {:02x?}", &rx[start..start + n]));
                }
                if !payload_ok(&frame[header.len()..], &self.data, seq) {
                    return Err(format!("echo {seq}: payload differs"));
                }
                start += frame_len;
                seq += 1;
                echoed += 1;
            }
            // A frame's start that cannot be right is caught before its end.
            let partial = (end - start).min(header.len());
            if rx[start..start + partial] != header[..partial] {
                return Err(format!("bad echo header {:02x?}", &rx[start..start + partial]));
            }
            if start == end {
                (start, end) = (0, 0);
            } else if rx.len() - end < READ_ROOM / 2 {
                rx.copy_within(start..end, 0);
                (start, end) = (0, end - start);
            }
            if echoed > 0 {
                counter.fetch_add(echoed, Relaxed);
                owed += echoed as usize * sent_len;
            }
        }
        Ok(())
    }
}

/// Seconds a process's threads ran, and waited runnable for a CPU, so
/// far (`/proc/PID/task/*/schedstat`): the wait tells how much the rest of
/// the machine got in the way.
fn sched(pid: &str) -> Option<(f64, f64)> {
    let (mut run, mut wait) = (0u64, 0u64);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(text) = std::fs::read_to_string(task.ok()?.path().join("schedstat")) else {
            continue;
        };
        let mut f = text.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
        run += f.next().unwrap_or(0);
        wait += f.next().unwrap_or(0);
    }
    Some((run as f64 * 1e-9, wait as f64 * 1e-9))
}

/// Seconds all CPUs were busy so far (`/proc/stat`, USER_HZ 100).
fn busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is in user).
    let busy: u64 = ticks.iter().take(8).sum::<u64>() - ticks.get(3)? - ticks.get(4)?;
    Some(busy as f64 / 100.0)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: loadgen PORT CONNS SIZE [DEPTH] [WARMUP_MS] [DURATION_MS] [SERVER_PID]";
    let arg = |i: usize, default: Option<u64>| -> u64 {
        match args.get(i) {
            Some(a) => a.parse().expect(usage),
            None => default.expect(usage),
        }
    };
    let port = arg(0, None) as u16;
    let conns = arg(1, None) as usize;
    let size = arg(2, None) as usize;
    let depth = arg(3, Some(16)).max(1) as usize;
    let warmup = Duration::from_millis(arg(4, Some(500)));
    let duration = Duration::from_millis(arg(5, Some(3000)));
    let server_pid = args.get(6).cloned();
    assert!(conns > 0 && conns <= 4096, "{usage}");

    let data = Arc::new(payload(size));
    let frames = Arc::new(encode_frames(&data, depth));
    let shared = Arc::new(Shared {
        done: (0..conns).map(|_| AtomicU64::new(0)).collect(),
        open: AtomicU64::new(0),
        failed: AtomicBool::new(false),
        reason: std::sync::Mutex::new(None),
        stop: AtomicBool::new(false),
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let tasks: Vec<Conn> = (0..conns)
        .map(|id| Conn {
            id,
            port,
            size,
            frames: frames.clone(),
            data: data.clone(),
            shared: shared.clone(),
        })
        .collect();
    // The runtime runs on its own thread; this one keeps the time. The
    // process exits when the count is taken, so no connection outlives it.
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let handles: Vec<_> = tasks.into_iter().map(|c| tokio::spawn(c.run())).collect();
            for h in handles {
                let _ = h.await;
            }
        })
    });

    let fail = |shared: &Shared| -> ! {
        let why = shared.reason.lock().unwrap().clone().unwrap_or_default();
        println!("error={why:?}");
        std::process::exit(1);
    };
    let began = Instant::now();
    while shared.open.load(Relaxed) < conns as u64 {
        if shared.failed.load(Relaxed) {
            fail(&shared);
        }
        if began.elapsed() > HANDSHAKE_TIMEOUT {
            shared.fail(format!(
                "{} of {conns} handshakes done in time",
                shared.open.load(Relaxed)
            ));
            fail(&shared);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(warmup);
    let count = |shared: &Shared| -> Vec<u64> { shared.done.iter().map(|c| c.load(Relaxed)).collect() };
    let me = std::process::id().to_string();
    let (before, t0) = (count(&shared), Instant::now());
    let sched0 = (server_pid.as_deref().and_then(sched), sched(&me), busy_seconds());
    std::thread::sleep(duration);
    let (after, elapsed) = (count(&shared), t0.elapsed().as_secs_f64());
    let sched1 = (server_pid.as_deref().and_then(sched), sched(&me), busy_seconds());
    shared.stop.store(true, Relaxed);
    if shared.failed.load(Relaxed) {
        fail(&shared);
    }
    let per_conn: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let msgs: u64 = per_conn.iter().sum();
    if msgs == 0 {
        shared.fail("no echo in the measured window".into());
        fail(&shared);
    }
    let min_share = *per_conn.iter().min().unwrap() as f64 * conns as f64 / msgs as f64;
    let mut line = format!(
        "msgs_per_s={:.0} msgs={msgs} secs={elapsed:.3} min_conn_share={min_share:.2}",
        msgs as f64 / elapsed
    );
    let mut ours = 0.0;
    for (name, a, b) in [("server", sched0.0, sched1.0), ("loadgen", sched0.1, sched1.1)] {
        if let (Some(a), Some(b)) = (a, b) {
            ours += (b.0 - a.0) / elapsed;
            line += &format!(
                " {name}_cpu={:.3} {name}_wait={:.3}",
                (b.0 - a.0) / elapsed,
                (b.1 - a.1) / elapsed
            );
        }
    }
    if let (Some(a), Some(b), Some(_)) = (sched0.2, sched1.2, sched0.0) {
        // What the rest of the machine used meanwhile.
        line += &format!(" others_cpu={:.3}", ((b - a) / elapsed - ours).max(0.0));
    }
    println!("{line}");
    std::process::exit(0);
}
