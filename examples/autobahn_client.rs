//! Runs the Autobahn TestSuite's client cases against this crate.
//!
//! ```text
//! cargo run --release --example autobahn_client -- [BASE_URL]   # default ws://127.0.0.1:9001
//! ```
//!
//! Asks the fuzzing server for its case count, runs every case echoing
//! each message, then asks it to write the reports.

use rfc6455::deflate::{ClientWindow, DeflateOffer};
use rfc6455::{ClientRequest, Config, Error, Message, WebSocket};

const AGENT: &str = "rfc6455";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/');

    let count = case_count(base)?;
    println!("{count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        if let Err(e) = run_case(&url) {
            println!("case {case}: {e}");
        }
    }
    // Some fuzzing servers write the reports and drop the connection right
    // after the handshake, without a close frame: that is success here.
    let mut ws = connect(&format!("{base}/updateReports?agent={AGENT}"))?;
    let _ = ws.close(Some(1000), None);
    loop {
        match ws.read() {
            Ok(Some(_)) => {}
            Ok(None) | Err(Error::UnexpectedEof | Error::Io(_)) => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!("reports updated");
    Ok(())
}

fn connect(url: &str) -> Result<WebSocket, Error> {
    let (request, secure) = ClientRequest::from_url(url).map_err(Error::Url)?;
    let mut config = Config::default().max_message_size(64 << 20).max_frame_size(64 << 20);
    // Offers in order of preference. The first allows every parameter a
    // server may ask of us (RFC 7692 §7.1), which lets every 13.* case run;
    // the second is what browsers send.
    config.deflate.offers = vec![
        DeflateOffer::default()
            .client_no_context_takeover(true)
            .client_max_window_bits(ClientWindow::Any),
        DeflateOffer::default(),
    ];
    WebSocket::connect_request(request, secure, config)
}

fn case_count(base: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let mut ws = connect(&format!("{base}/getCaseCount"))?;
    let mut count = None;
    while let Some(message) = ws.read()? {
        if let Message::Text(text) = message {
            count = Some(text.trim().parse()?);
        }
    }
    count.ok_or_else(|| "no case count received".into())
}

fn run_case(url: &str) -> Result<(), Error> {
    let mut ws = connect(url)?;
    while let Some(message) = ws.read()? {
        match message {
            Message::Text(text) => ws.send_text(&text)?,
            Message::Binary(data) => ws.send_binary(&data)?,
            // Pings and pongs (the core already answered the pings).
            _ => {}
        }
    }
    Ok(())
}
