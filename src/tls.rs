//! `wss://` through rustls: the client configuration and the server name.
//!
//! The default configuration trusts the Mozilla root store (`webpki-roots`)
//! with the `ring` provider, and with feature `rustls-native-roots` the
//! platform's roots as well; pass your own `rustls::ClientConfig` to the
//! drivers' `connect_tls` for private CAs, client certificates or ALPN.

use crate::error::Error;
use crate::handshake::UrlError;
use rustls::pki_types::ServerName;
use std::string::String;
use std::sync::{Arc, OnceLock};

/// The client configuration `wss://` uses unless given another: webpki
/// roots (and, with feature `rustls-native-roots`, the platform's: its
/// store, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set), the `ring`
/// provider's safe default protocol versions. Built once per process.
///
/// # Errors
///
/// [`Error::Io`] carrying rustls's error if the provider supports none of
/// the safe default protocol versions (not the case with `ring`); the
/// same error on every call.
pub fn default_client_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, rustls::Error>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        #[allow(unused_mut)] // only the platform's roots add to it
        let mut roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        #[cfg(feature = "rustls-native-roots")]
        {
            // A store that cannot be read, or certificates rustls cannot
            // parse, leave the webpki roots: failing every `wss://`
            // connection for one unreadable file would help nobody.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
        // ring, as the feature says: it builds with no C toolchain beyond
        // ring's own. rustls 0.23.48 deprecated its provider for lacking
        // post-quantum key exchange; aws-lc-rs has it but needs cmake.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
        Ok(Arc::new(builder.with_root_certificates(roots).with_no_client_auth()))
    });
    config
        .as_ref()
        .map(Arc::clone)
        .map_err(|e| Error::Io(std::io::Error::other(e.clone())))
}

/// What a `wss://` client connects with: `config`, or the default one,
/// and the server name from the request's `Host`.
pub(crate) fn client_setup(
    host: &str,
    config: Option<Arc<rustls::ClientConfig>>,
) -> Result<(Arc<rustls::ClientConfig>, ServerName<'static>), Error> {
    let config = match config {
        Some(config) => config,
        None => default_client_config()?,
    };
    Ok((config, server_name(host)?))
}

/// The TLS server name for a `Host` value (name or IP, maybe with a port,
/// IPv6 in brackets).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(addr, _)| addr),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    ServerName::try_from(String::from(name)).map_err(|_| Error::Url(UrlError::Invalid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_drop_the_port_and_brackets() {
        assert_eq!(
            server_name("example.com:8443").unwrap(),
            ServerName::try_from("example.com").unwrap()
        );
        assert_eq!(
            server_name("example.com").unwrap(),
            ServerName::try_from("example.com").unwrap()
        );
        assert_eq!(server_name("[::1]:9001").unwrap(), ServerName::try_from("::1").unwrap());
        assert_eq!(
            server_name("127.0.0.1:1").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
    }

    #[test]
    fn the_default_config_has_roots() {
        let config = default_client_config().unwrap();
        assert!(Arc::ptr_eq(&config, &default_client_config().unwrap()), "built once");
    }
}
