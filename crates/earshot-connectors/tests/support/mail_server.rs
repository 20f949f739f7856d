//! The test SMTP + IMAP server (`scripts/mail-server.sh start` prints the
//! environment this reads): under `CI` a missing server fails the test;
//! elsewhere the test is skipped with a notice.

pub struct MailServer {
    pub smtp: (String, u16),
    pub imap: (String, u16),
    pub password: String,
}

pub fn host_port(var: &str, value: &str) -> (String, u16) {
    let (host, port) = value
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{var}={value}: expected host:port"));
    (
        host.to_string(),
        port.parse()
            .unwrap_or_else(|e| panic!("{var}={value}: {e}")),
    )
}

/// The test mail server, or `None` (skip) outside CI when it is not running.
pub fn mail_server() -> Option<MailServer> {
    let smtp = std::env::var("EARSHOT_TEST_SMTP").ok();
    let imap = std::env::var("EARSHOT_TEST_IMAP").ok();
    match (smtp, imap) {
        (Some(smtp), Some(imap)) => Some(MailServer {
            smtp: host_port("EARSHOT_TEST_SMTP", &smtp),
            imap: host_port("EARSHOT_TEST_IMAP", &imap),
            password: std::env::var("EARSHOT_TEST_MAIL_PASSWORD").unwrap_or("secret".into()),
        }),
        _ if std::env::var_os("CI").is_some() => panic!(
            "EARSHOT_TEST_SMTP / EARSHOT_TEST_IMAP are not set: start the test mail server \
             with `eval \"$(scripts/mail-server.sh start)\"` (CI runs it from .ci/run)"
        ),
        _ => {
            eprintln!(
                "skipped: no test mail server (run `eval \"$(scripts/mail-server.sh start)\"` \
                 to run the email tests)"
            );
            None
        }
    }
}

/// A fresh address, so tests sharing the server never read each other's mail.
pub fn unique(prefix: &str, domain: &str) -> String {
    format!("{prefix}-{}@{domain}", uuid::Uuid::now_v7().simple())
}
