//! A mailbox source's settings as an admin gives them, checked once so a
//! running connector never meets a bad host, port or address.

use std::net::IpAddr;

use earshot_core::error::{Error, Result};
use serde::Deserialize;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

use crate::{SourceSettings, parse_settings};

/// How both connections are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAP 993, SMTP submission 465).
    #[default]
    Tls,
    /// Plain connect, then upgraded with STARTTLS (IMAP 143, SMTP 587).
    Starttls,
    /// No encryption at all: the password would travel in clear, so only
    /// for a server on this machine (tests, a local relay).
    None,
}

pub use crate::secret::Secret;

fn inbox() -> String {
    "INBOX".to_string()
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub imap_host: String,
    /// Defaults to 993 with `tls`, 143 otherwise.
    #[serde(default)]
    pub imap_port: Option<u16>,
    pub smtp_host: String,
    /// Defaults to 465 with `tls`, 587 with `starttls`, 25 with `none`.
    #[serde(default)]
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    /// The login for IMAP and SMTP (often the address itself).
    pub username: String,
    /// The brand's address: the From of every reply, and how the brand's
    /// own mail is recognised (loop safety).
    pub address: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default = "inbox")]
    pub mailbox: String,
    /// Use IMAP IDLE for push when the server offers it.
    #[serde(default = "yes")]
    pub idle: bool,
    /// PEM certificates trusted besides the Mozilla roots: a self-hosted
    /// mail server signed by a private CA.
    #[serde(default)]
    pub ca_certificate: Option<String>,
    pub password: Secret,
}

impl Config {
    pub fn from_settings(settings: &SourceSettings) -> Result<Config> {
        let config: Config = parse_settings(settings)?;
        config.check()?;
        Ok(config)
    }

    pub fn imap_port(&self) -> u16 {
        self.imap_port.unwrap_or(match self.tls {
            TlsMode::Tls => 993,
            TlsMode::Starttls | TlsMode::None => 143,
        })
    }

    pub fn smtp_port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.tls {
            TlsMode::Tls => 465,
            TlsMode::Starttls => 587,
            TlsMode::None => 25,
        })
    }

    /// The part of `address` after the `@`: the domain of our Message-IDs.
    pub fn domain(&self) -> &str {
        self.address.rsplit('@').next().unwrap_or("localhost")
    }

    /// The extra trust anchors from `ca_certificate`.
    pub fn extra_roots(&self) -> Result<Vec<CertificateDer<'static>>> {
        let Some(pem) = &self.ca_certificate else {
            return Ok(Vec::new());
        };
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::invalid_field("config.ca_certificate", format!("is not PEM: {e}"))
            })?;
        if certs.is_empty() {
            return Err(Error::invalid_field(
                "config.ca_certificate",
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            ));
        }
        Ok(certs)
    }

    fn check(&self) -> Result<()> {
        self.extra_roots()?;
        check_host("config.imap_host", &self.imap_host)?;
        check_host("config.smtp_host", &self.smtp_host)?;
        for (field, port) in [
            ("config.imap_port", self.imap_port),
            ("config.smtp_port", self.smtp_port),
        ] {
            if port == Some(0) {
                return Err(Error::invalid_field(
                    field,
                    "must be a port from 1 to 65535",
                ));
            }
        }
        if self.username.trim().is_empty() {
            return Err(Error::invalid_field("config.username", "must not be empty"));
        }
        if self.password.expose().is_empty() {
            return Err(Error::invalid_field("config.password", "must not be empty"));
        }
        if self.address.parse::<lettre::Address>().is_err() {
            return Err(Error::invalid_field(
                "config.address",
                format!("`{}` is not an email address", self.address),
            ));
        }
        if let Some(name) = &self.display_name
            && name.contains(['\r', '\n'])
        {
            return Err(Error::invalid_field(
                "config.display_name",
                "must be one line",
            ));
        }
        if self.mailbox.trim().is_empty() || self.mailbox.contains(['\r', '\n', '"']) {
            return Err(Error::invalid_field(
                "config.mailbox",
                "must be a mailbox name such as INBOX (no quotes or line breaks)",
            ));
        }
        if self.tls == TlsMode::None {
            for host in [&self.imap_host, &self.smtp_host] {
                if !is_loopback(host) {
                    return Err(Error::invalid_field(
                        "config.tls",
                        format!(
                            "`none` sends the password unencrypted, so it is allowed only for \
                             loopback hosts (localhost, 127.0.0.1, ::1), not `{host}`: use \
                             `tls` or `starttls`"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_host(field: &str, host: &str) -> Result<()> {
    let ok = !host.is_empty()
        && !host.contains("://")
        && !host.contains(['/', '@', ' ', '\t', '\r', '\n'])
        && (host.parse::<IpAddr>().is_ok() || !host.contains(':'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_field(
            field,
            format!(
                "`{host}` is not a host name or IP address (no scheme, no port: those have their own fields)"
            ),
        ))
    }
}

/// Whether `host` names this machine.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
