//! Memory a server holds per idle connection, as the operating system
//! counts it (resident set, not only heap): opens `CONNS` connections to an
//! `echo_server`, each doing its handshake and one 20-byte echo, then
//! leaves them idle and reads the server's `VmRSS` from `/proc`.
//!
//! ```text
//! idle PORT CONNS SERVER_PID
//! ```
//!
//! Prints one line of `key=value`: the server's RSS before the first
//! connection and once all are idle (after a second's settling), and the
//! difference per connection in bytes. The connections stay open until
//! the line is printed. Raw TCP on one thread, none of the WebSocket
//! libraries; `idle.sh` runs it for every library.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The server's resident set in bytes (`VmRSS` in `/proc/PID/status`).
fn rss(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, "no VmRSS"))
}

/// Reads the server's 101 and checks it; returns what followed the head.
fn read_head(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..at]).into_owned();
            if !head.starts_with("HTTP/1.1 101") || !head.contains(ACCEPT) {
                return Err(io::Error::new(ErrorKind::InvalidData, format!("bad response {head:?}")));
            }
            return Ok(buf[at + 4..].to_vec());
        }
        if Instant::now() > deadline || buf.len() > 16 << 10 {
            return Err(io::Error::new(ErrorKind::TimedOut, "no 101"));
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk)? {
            0 => return Err(io::Error::new(ErrorKind::UnexpectedEof, "closed in the handshake")),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One connection: the handshake, then one masked binary message of `size`
/// bytes (at most 65,535) and its echo (so a driver that keeps buffers after
/// a message shows it).
fn open(port: u16, size: usize) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut got = read_head(&mut stream)?;
    let payload: Vec<u8> = b"idle connection, 20B".iter().copied().cycle().take(size).collect();
    let key = [0x12, 0x34, 0x56, 0x78];
    // The header as the echo carries it (unmasked), then ours.
    let head = match u16::try_from(size) {
        Ok(len) if len < 126 => vec![0x82, len as u8],
        Ok(len) => [&[0x82, 126][..], &len.to_be_bytes()].concat(),
        Err(_) => {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "a message of at most 65,535 bytes",
            ));
        }
    };
    let mut frame = head.clone();
    frame[1] |= 0x80;
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    stream.write_all(&frame)?;
    let want = head.len() + payload.len();
    while got.len() < want {
        let mut chunk = [0u8; 256];
        match stream.read(&mut chunk)? {
            0 => return Err(io::Error::new(ErrorKind::UnexpectedEof, "closed before the echo")),
            n => got.extend_from_slice(&chunk[..n]),
        }
    }
    if got[..head.len()] != head[..] || got[head.len()..want] != payload[..] {
        return Err(io::Error::new(ErrorKind::InvalidData, "bad echo"));
    }
    Ok(stream)
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: idle PORT CONNS SERVER_PID [SIZE] [WAIT_S]";
    let port: u16 = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let conns: usize = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let pid: u32 = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let size: usize = args.next().map_or(20, |a| a.parse().expect(usage));
    let wait: u64 = args.next().map_or(1, |a| a.parse().expect(usage));
    let before = rss(pid)?;
    let mut open_conns = Vec::with_capacity(conns);
    for i in 0..conns {
        match open(port, size) {
            Ok(stream) => open_conns.push(stream),
            Err(e) => {
                println!("error=connection_{i}:{e}");
                std::process::exit(1);
            }
        }
    }
    std::thread::sleep(Duration::from_secs(wait));
    let after = rss(pid)?;
    println!(
        "conns={conns} rss_before={before} rss_idle={after} rss_per_conn={}",
        after.saturating_sub(before) / conns as u64
    );
    drop(open_conns);
    Ok(())
}
