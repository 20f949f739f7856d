//! The IMAP side: connecting (implicit TLS, STARTTLS or plain loopback),
//! logging in, selecting the mailbox and fetching new mail by UID. Every
//! network step has a timeout.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::config::{Config, TlsMode};
use crate::error::{ConnError, ConnResult};

/// How long one IMAP command (or the connect, or the TLS handshake) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long fetching one batch may take: whole messages, attachments
/// included, can be large.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(120);
/// How many messages one poll or one wake-up fetches.
pub const BATCH: usize = 50;

/// The socket under an IMAP session, TLS or not.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}

pub type Session = async_imap::Session<Box<dyn Io>>;

/// The selected mailbox's identity and where new mail will start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    pub uid_validity: u32,
    pub uid_next: Option<u32>,
}

/// One fetched message.
#[derive(Debug)]
pub struct Fetched {
    pub uid: u32,
    pub raw: Option<Vec<u8>>,
    pub received: Option<DateTime<Utc>>,
}

/// Runs one network step under [`COMMAND_TIMEOUT`].
pub async fn timed<T>(
    what: &str,
    fut: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> ConnResult<T> {
    timed_for(what, COMMAND_TIMEOUT, fut).await
}

async fn timed_for<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> ConnResult<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(classify(what, e)),
        Err(_) => Err(ConnError::Transient(format!(
            "IMAP {what}: no answer within {}s",
            limit.as_secs()
        ))),
    }
}

/// A `NO`/`BAD` to a command is the server refusing it (a missing mailbox);
/// a broken or unreadable connection is worth retrying.
fn classify(what: &str, e: async_imap::error::Error) -> ConnError {
    use async_imap::error::Error as E;
    match e {
        E::No(m) | E::Bad(m) => ConnError::Permanent(format!("IMAP {what} refused: {m}")),
        other => ConnError::Transient(format!("IMAP {what}: {other}")),
    }
}

fn tls_connector(config: &Config) -> ConnResult<TlsConnector> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let extra = config
        .extra_roots()
        .map_err(|e| ConnError::Permanent(e.to_string()))?;
    for cert in extra {
        roots
            .add(cert)
            .map_err(|e| ConnError::Permanent(format!("config.ca_certificate: {e}")))?;
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnError::Permanent(format!("IMAP TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn wrap_tls(config: &Config, tcp: TcpStream) -> ConnResult<Box<dyn Io>> {
    let host = config.imap_host.as_str();
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| ConnError::Permanent(format!("IMAP host `{host}`: {e}")))?;
    let tls = tokio::time::timeout(COMMAND_TIMEOUT, tls_connector(config)?.connect(name, tcp))
        .await
        .map_err(|_| ConnError::Transient("IMAP TLS handshake timed out".into()))?
        .map_err(|e| ConnError::Transient(format!("IMAP TLS handshake: {e}")))?;
    Ok(Box::new(tls))
}

/// Connects and logs in. A refused login is [`ConnError::Auth`].
pub async fn login(config: &Config) -> ConnResult<(Session, bool)> {
    let host = config.imap_host.as_str();
    let tcp = tokio::time::timeout(
        COMMAND_TIMEOUT,
        TcpStream::connect((host, config.imap_port())),
    )
    .await
    .map_err(|_| ConnError::Transient(format!("IMAP connect to {host}: timed out")))?
    .map_err(|e| ConnError::Transient(format!("IMAP connect to {host}: {e}")))?;
    let stream: Box<dyn Io> = match config.tls {
        TlsMode::Tls => wrap_tls(config, tcp).await?,
        TlsMode::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            read_greeting(&mut client).await?;
            timed(
                "STARTTLS",
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            wrap_tls(config, client.into_inner()).await?
        }
        TlsMode::None => Box::new(tcp),
    };
    let mut client = async_imap::Client::new(stream);
    if config.tls != TlsMode::Starttls {
        read_greeting(&mut client).await?;
    }
    let password = config.password.expose();
    let login = tokio::time::timeout(COMMAND_TIMEOUT, client.login(&config.username, password));
    let mut session = match login.await {
        Err(_) => return Err(ConnError::Transient("IMAP LOGIN: no answer".into())),
        Ok(Err((async_imap::error::Error::No(m), _))) => {
            return Err(ConnError::Auth(format!("IMAP LOGIN refused: {m}")));
        }
        Ok(Err((e, _))) => return Err(classify("LOGIN", e)),
        Ok(Ok(session)) => session,
    };
    let caps = timed("CAPABILITY", session.capabilities()).await?;
    Ok((session, caps.has_str("IDLE")))
}

async fn read_greeting<T: Io>(client: &mut async_imap::Client<T>) -> ConnResult<()> {
    match tokio::time::timeout(COMMAND_TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(ConnError::Transient(
            "IMAP server closed the connection before its greeting".into(),
        )),
        Ok(Err(e)) => Err(ConnError::Transient(format!("IMAP greeting: {e}"))),
        Err(_) => Err(ConnError::Transient("IMAP greeting: timed out".into())),
    }
}

/// SELECTs the mailbox (read-write, so `\Recent` is the server's business;
/// we only ever fetch with `BODY.PEEK[]`, which leaves mail unread).
pub async fn select(session: &mut Session, mailbox: &str) -> ConnResult<Selected> {
    let mb = timed(&format!("SELECT of `{mailbox}`"), session.select(mailbox)).await?;
    let uid_validity = mb.uid_validity.ok_or_else(|| {
        ConnError::Permanent(format!("IMAP server sent no UIDVALIDITY for `{mailbox}`"))
    })?;
    Ok(Selected {
        uid_validity,
        uid_next: mb.uid_next,
    })
}

/// The UIDs from `from` on, ascending. (`UID SEARCH UID n:*` answers with
/// the highest UID even when it is below `n`, so those are dropped.)
pub async fn uids_from(session: &mut Session, from: u32) -> ConnResult<Vec<u32>> {
    let found = timed("UID SEARCH", session.uid_search(format!("UID {from}:*"))).await?;
    let mut uids: Vec<u32> = found.into_iter().filter(|u| *u >= from).collect();
    uids.sort_unstable();
    Ok(uids)
}

/// The lowest UID of mail that arrived on or after `since` (a day), to
/// bound a rescan after the mailbox's UIDVALIDITY changed.
pub async fn first_uid_since(
    session: &mut Session,
    since: chrono::NaiveDate,
) -> ConnResult<Option<u32>> {
    let query = format!("SINCE {}", since.format("%-d-%b-%Y"));
    let found = timed("UID SEARCH", session.uid_search(query)).await?;
    Ok(found.into_iter().min())
}

/// Fetches the messages with exactly these UIDs, ascending. `BODY.PEEK[]`
/// leaves them unread for the people who read the mailbox too.
pub async fn fetch(session: &mut Session, uids: &[u32]) -> ConnResult<Vec<Fetched>> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let fetched: Vec<async_imap::types::Fetch> = timed_for("UID FETCH", FETCH_TIMEOUT, async {
        session
            .uid_fetch(&set, "(UID INTERNALDATE BODY.PEEK[])")
            .await?
            .try_collect()
            .await
    })
    .await?;
    let mut out: Vec<Fetched> = fetched
        .iter()
        .filter_map(|f| {
            Some(Fetched {
                uid: f.uid?,
                raw: f.body().map(<[u8]>::to_vec),
                received: f.internal_date().map(|d| d.with_timezone(&Utc)),
            })
        })
        .filter(|f| uids.binary_search(&f.uid).is_ok())
        .collect();
    out.sort_by_key(|f| f.uid);
    out.dedup_by_key(|f| f.uid);
    Ok(out)
}

/// Logs out, ignoring a server that already hung up.
pub async fn logout(mut session: Session) {
    let _ = tokio::time::timeout(COMMAND_TIMEOUT, session.logout()).await;
}
