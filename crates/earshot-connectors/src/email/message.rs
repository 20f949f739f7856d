//! Reading one raw message into an [`Inbound`] item, and the threading
//! headers of a reply. Pure: no I/O, so every rule here is unit-tested on
//! hand-written `.eml` fixtures.

use chrono::{DateTime, Utc};
use earshot_core::mention::{Author, MAX_TEXT_BYTES, MentionInput};
use earshot_core::source::SourceKind;
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Inbound, InboundKind};

/// The longest Message-ID kept as an id (the store's `external_id` limit);
/// a longer one is replaced by a content hash.
const MAX_ID_BYTES: usize = 256;

/// What a reply needs, stored with the mention as its `reply_ref`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplyRef {
    /// The customer's Message-ID, without angle brackets.
    pub message_id: String,
    /// Their `References`, oldest first, without angle brackets.
    pub references: Vec<String>,
    pub subject: String,
    /// Their address (lowercased): where the reply goes.
    pub from: String,
}

/// Why a message is not a customer's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not readable as mail (no sender, no text).
    Malformed(String),
    /// An automatic message: an out-of-office reply, a bounce, a list.
    Automatic(String),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::Malformed(why) => write!(f, "malformed message: {why}"),
            Skip::Automatic(why) => write!(f, "automatic message ignored: {why}"),
        }
    }
}

/// Reads one raw message. `received` is the server's arrival time (IMAP
/// INTERNALDATE), used when the message has no readable `Date`; `brand` is
/// our own address (its mail is `by_brand`, never a customer mention).
pub fn read_message(
    raw: &[u8],
    received: Option<DateTime<Utc>>,
    brand: &str,
    now: DateTime<Utc>,
) -> Result<Inbound, Skip> {
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| Skip::Malformed("no headers".into()))?;
    let from = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| {
            a.address()
                .map(|addr| (addr.trim().to_lowercase(), a.name()))
        })
        .filter(|(addr, _)| addr.contains('@') && !addr.contains('\0'))
        .ok_or_else(|| Skip::Malformed("no From address".into()))?;
    let (address, name) = from;
    if let Some(why) = automatic(&msg, &address) {
        return Err(Skip::Automatic(why));
    }
    let subject = msg.subject().unwrap_or("").trim().to_string();
    let body = msg.body_text(0).map(|b| b.into_owned()).unwrap_or_default();
    let new_words = trim_quoted(&body);
    let mut text = match (subject.is_empty(), new_words.is_empty()) {
        (true, _) => new_words.clone(),
        (false, true) => subject.clone(),
        (false, false) => format!("{subject}\n\n{new_words}"),
    };
    // NUL cannot be stored (PostgreSQL text) and is never a customer's words.
    text.retain(|c| c != '\0');
    if text.trim().is_empty() {
        return Err(Skip::Malformed("no subject and no text".into()));
    }
    truncate_to(&mut text, MAX_TEXT_BYTES);

    let message_id = msg
        .message_id()
        .and_then(normalise_message_id)
        .unwrap_or_else(|| content_id(&msg, &body));
    let references = ids(msg.references());
    let in_reply_to = ids(msg.in_reply_to()).into_iter().next();
    let thread_id = references
        .first()
        .cloned()
        .or_else(|| in_reply_to.clone())
        .unwrap_or_else(|| message_id.clone());
    let created_at = msg
        .date()
        .filter(|d| d.is_valid())
        .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0))
        .filter(|t| t.timestamp() >= 0)
        .or(received)
        .unwrap_or(now)
        .min(now);
    let display_name = name.map(str::trim).filter(|n| !n.is_empty()).map(|n| {
        n.chars()
            .filter(|c| *c != '\0')
            .take(earshot_core::mention::MAX_DISPLAY_NAME_CHARS)
            .collect()
    });
    let by_brand = address.eq_ignore_ascii_case(brand);
    let reply_ref = ReplyRef {
        message_id: message_id.clone(),
        references,
        subject,
        from: address.clone(),
    };
    Ok(Inbound {
        mention: MentionInput {
            source: SourceKind::Email,
            external_id: message_id,
            author: Author {
                handle: address,
                display_name,
                ..Author::default()
            },
            text,
            created_at,
            url: None,
            language: None,
            thread_id: Some(thread_id),
            parent_id: in_reply_to,
            metrics: Default::default(),
        },
        kind: InboundKind::Direct,
        reply_ref: serde_json::to_value(reply_ref).unwrap_or_default(),
        by_brand,
    })
}

/// Why a message was sent by a machine, not a person (RFC 3834 §5
/// `Auto-Submitted`, `Precedence`, delivery reports, the null sender).
fn automatic(msg: &mail_parser::Message<'_>, from: &str) -> Option<String> {
    let raw = |name: &str| msg.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if let Some(v) = raw("Auto-Submitted")
        && v.split(';').next().map(str::trim) != Some("no")
    {
        return Some(format!("Auto-Submitted: {v}"));
    }
    // Not `list`: a support address run as a group (a Google Group) stamps
    // it on every customer's mail.
    if let Some(v) = raw("Precedence")
        && matches!(v.as_str(), "bulk" | "auto_reply" | "junk")
    {
        return Some(format!("Precedence: {v}"));
    }
    let local = from.split('@').next().unwrap_or("");
    if matches!(local, "mailer-daemon" | "postmaster") {
        return Some(format!("sent by {from}"));
    }
    if raw("Return-Path").is_some_and(|v| v == "<>") {
        return Some("null sender (Return-Path: <>), a delivery report".into());
    }
    if msg.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    }) {
        return Some("multipart/report, a delivery or read report".into());
    }
    None
}

/// A Message-ID as an id: without angle brackets and folding whitespace;
/// `None` when empty or too long to store.
pub fn normalise_message_id(raw: &str) -> Option<String> {
    let id: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let id = id.trim_start_matches('<').trim_end_matches('>');
    (!id.is_empty() && id.len() <= MAX_ID_BYTES && !id.contains(['\0', '<', '>']))
        .then(|| id.to_string())
}

/// The ids in a `References` or `In-Reply-To` header, in order.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => normalise_message_id(t).into_iter().collect(),
        HeaderValue::TextList(list) => list
            .iter()
            .filter_map(|t| normalise_message_id(t))
            .collect(),
        _ => Vec::new(),
    }
}

/// A stable id for mail without a usable Message-ID: a hash of what makes it
/// this message (sender, recipients, date, subject, text), shaped like a
/// Message-ID so it lives in the same id space.
fn content_id(msg: &mail_parser::Message<'_>, body: &str) -> String {
    let mut hash = Sha256::new();
    for name in ["From", "To", "Cc", "Date", "Subject"] {
        hash.update(name.as_bytes());
        hash.update(b":");
        hash.update(msg.header_raw(name).unwrap_or("").trim().as_bytes());
        hash.update(b"\n");
    }
    hash.update(body.as_bytes());
    let digest = hash.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{hex}@content-hash.earshot.invalid")
}

/// The customer's new words: drops quoted lines (`>`), and everything from
/// a reply attribution ("On … wrote:", in a few languages), an Outlook
/// "Original Message" divider or the signature delimiter (`-- `, RFC 3676
/// §4.3) onwards. When nothing would be left, the whole text is kept.
pub fn trim_quoted(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let next = lines.get(i + 1).copied().unwrap_or("");
        if starts_quote(line, next) {
            break;
        }
        if line.trim_start().starts_with('>') {
            continue;
        }
        kept.push(line.trim_end());
    }
    let trimmed = kept.join("\n").trim().to_string();
    if trimmed.is_empty() {
        body.trim().to_string()
    } else {
        collapse_blank_lines(&trimmed)
    }
}

/// Whether `line` (with the one after it, as mail clients wrap long
/// attribution lines) opens the quoted previous message.
fn starts_quote(line: &str, next: &str) -> bool {
    let line = line.trim();
    // `--` is the signature delimiter `-- ` with its space trimmed.
    if line == "--"
        || line.starts_with("-----Original Message-----")
        || line.starts_with("-----Ursprüngliche Nachricht-----")
    {
        return true;
    }
    let openers = ["On ", "Am ", "Le ", "El ", "Op ", "Il "];
    if !openers.iter().any(|o| line.starts_with(o)) {
        return false;
    }
    // "On … wrote:", "Am … schrieb Name:", "Le … a écrit :": the
    // attribution ends in a colon, names the verb, and carries a date or
    // an address (so "On Monday I wrote to you twice:" stays).
    let verbs = [
        "wrote",
        "schrieb",
        "a écrit",
        "escribió",
        "schreef",
        "ha scritto",
    ];
    let is_attribution = |s: &str| {
        s.trim_end().ends_with(':')
            && verbs.iter().any(|v| s.contains(v))
            && s.contains(|c: char| c.is_ascii_digit() || c == '@')
    };
    is_attribution(line)
        || (!line.ends_with('.') && is_attribution(&format!("{line} {}", next.trim())))
}

fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate_to(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

/// `Re: <subject>`, without stacking a second `Re:`. Control characters
/// (a decoded subject can carry line breaks) become spaces.
pub fn reply_subject(subject: &str) -> String {
    let cleaned: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let s = cleaned.trim();
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("re:") || lower.starts_with("re :") {
        s.to_string()
    } else if s.is_empty() {
        "Re: your message".to_string()
    } else {
        format!("Re: {s}")
    }
}

/// The threading headers of a reply to `parent` (RFC 5322 §3.6.4):
/// `In-Reply-To` is the parent's Message-ID; `References` is the parent's
/// References followed by its Message-ID. `None` when the parent has none.
pub fn reply_threading(parent: &ReplyRef) -> Option<(String, String)> {
    let parent_id = normalise_message_id(&parent.message_id)?;
    let mut chain: Vec<String> = parent
        .references
        .iter()
        .filter_map(|r| normalise_message_id(r))
        .filter(|r| *r != parent_id)
        .collect();
    chain.push(parent_id.clone());
    let references = chain
        .iter()
        .map(|id| format!("<{id}>"))
        .collect::<Vec<_>>()
        .join(" ");
    Some((format!("<{parent_id}>"), references))
}
