//! Runs the Autobahn TestSuite's client cases against this crate: the
//! blocking driver (agent `rfc6455`), or with `--tokio` the tokio driver
//! (agent `rfc6455-tokio`, feature `tokio`).
//!
//! ```text
//! cargo run --release --example autobahn_client -- [BASE_URL]   # default ws://127.0.0.1:9001
//! cargo run --release --features tokio --example autobahn_client -- --tokio [BASE_URL]
//! ```
//!
//! Asks the fuzzing server for its case count, runs every case echoing
//! each message, then asks it to write the reports.

use rfc6455::deflate::{ClientWindow, DeflateOffer};
use rfc6455::{ClientRequest, Config, Error, Message, WebSocket};

const AGENT: &str = "rfc6455";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let tokio = args.first().is_some_and(|a| a == "--tokio");
    if tokio {
        args.remove(0);
    }
    let base = args.first().cloned().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/');
    if tokio {
        #[cfg(feature = "tokio")]
        return over_tokio::main(base);
        #[cfg(not(feature = "tokio"))]
        return Err("--tokio needs the tokio feature".into());
    }

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
    WebSocket::connect_request(request, secure, config())
}

/// Limits above the suite's largest messages (16 MiB in 9.*), and the
/// deflate offers.
fn config() -> Config {
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
    config
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

/// The same run over the tokio driver.
#[cfg(feature = "tokio")]
mod over_tokio {
    use super::config;
    use rfc6455::tokio::WebSocket;
    use rfc6455::{ClientRequest, Error, Message};

    const AGENT: &str = "rfc6455-tokio";

    pub(super) fn main(base: &str) -> Result<(), Box<dyn std::error::Error>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(run(base))
    }

    async fn connect(url: &str) -> Result<WebSocket, Error> {
        let (request, secure) = ClientRequest::from_url(url).map_err(Error::Url)?;
        WebSocket::connect_request(request, secure, config()).await
    }

    async fn run(base: &str) -> Result<(), Box<dyn std::error::Error>> {
        let mut ws = connect(&format!("{base}/getCaseCount")).await?;
        let mut count: Option<u32> = None;
        while let Some(message) = ws.read().await? {
            if let Message::Text(text) = message {
                count = Some(text.trim().parse()?);
            }
        }
        let count = count.ok_or("no case count received")?;
        println!("{count} cases");
        for case in 1..=count {
            let url = format!("{base}/runCase?case={case}&agent={AGENT}");
            if let Err(e) = run_case(&url).await {
                println!("case {case}: {e}");
            }
        }
        let mut ws = connect(&format!("{base}/updateReports?agent={AGENT}")).await?;
        let _ = ws.close(Some(1000), None).await;
        loop {
            match ws.read().await {
                Ok(Some(_)) => {}
                Ok(None) | Err(Error::UnexpectedEof | Error::Io(_)) => break,
                Err(e) => return Err(e.into()),
            }
        }
        println!("reports updated");
        Ok(())
    }

    async fn run_case(url: &str) -> Result<(), Error> {
        let mut ws = connect(url).await?;
        while let Some(message) = ws.read().await? {
            match message {
                // The DOM's send rules: discarded once closing.
                Message::Text(text) => ws.send(&text).await?,
                Message::Binary(data) => ws.send(&data).await?,
                // Pings and pongs (the core already answered the pings).
                _ => {}
            }
        }
        Ok(())
    }
}
