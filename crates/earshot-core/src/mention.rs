//! A mention: one post about the brand, as it arrived from a source.

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::error::{Error, Result};
use crate::ids::{CaseId, MentionId, SourceId};
use crate::source::SourceKind;

/// Who wrote a mention, as the platform describes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Author {
    /// Platform handle, without a leading `@`.
    pub handle: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub followers: u64,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub profile_url: Option<String>,
}

/// Engagement counts at the time the mention was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReachMetrics {
    #[serde(default)]
    pub likes: u64,
    #[serde(default)]
    pub reposts: u64,
    #[serde(default)]
    pub replies: u64,
}

/// The wire shape of a mention as clients send it (`POST /api/v1/mentions`,
/// JSONL import). Unknown fields are rejected so typos never pass silently.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MentionInput {
    pub source: SourceKind,
    /// The post's id on its platform; with `source` it makes the mention unique.
    pub external_id: String,
    pub author: Author,
    pub text: String,
    /// RFC 3339 timestamp of publication.
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub url: Option<String>,
    /// Declared language (ISO 639-1); detected when absent.
    #[serde(default)]
    pub language: Option<String>,
    /// Root post of the conversation on the platform.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// The post this one answers.
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub metrics: ReachMetrics,
}

/// Longest accepted post text, in bytes (long-form forum and review posts fit).
pub const MAX_TEXT_BYTES: usize = 40_000;
const MAX_ID_BYTES: usize = 256;
const MAX_URL_BYTES: usize = 2_048;
/// Longest accepted author display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 256;
/// How far past the server's clock a post may claim to be published: sources'
/// clocks drift a little, but a post from next week is a bug or an attack.
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// A validated mention, ready for analysis and storage.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NewMention {
    pub source: SourceKind,
    pub external_id: String,
    pub author: Author,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub url: Option<String>,
    pub language: Option<String>,
    pub thread_id: Option<String>,
    pub parent_id: Option<String>,
    pub metrics: ReachMetrics,
    /// The configured source that heard it, for mentions a running
    /// connector delivered (`None` for the API, imports and the demo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<MentionOrigin>,
}

/// Which source heard a mention and what a reply to it needs: the outbox
/// answers through that source's connector with this reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MentionOrigin {
    #[schema(value_type = i64)]
    pub source_id: SourceId,
    /// The connector's thread reference (its shape is documented per
    /// connector: a status id, strong refs, a Message-ID…).
    #[schema(value_type = Object)]
    pub reply_ref: serde_json::Value,
    /// Heard in a private channel (a DM, a chat, an email) rather than in
    /// public: it joins its case but is never counted as public evidence
    /// (recovery reads only what the author said in public).
    #[serde(default)]
    pub private: bool,
}

impl MentionInput {
    /// Checks what the types cannot; errors name the offending field.
    /// `now` is the server's clock, the bound for `created_at`.
    pub fn validate(self, now: DateTime<Utc>) -> Result<NewMention> {
        self.check_no_nul()?;
        if self.created_at > now + MAX_CLOCK_SKEW {
            return Err(Error::invalid_field(
                "created_at",
                format!(
                    "is in the future (more than {} minutes past the server's clock)",
                    MAX_CLOCK_SKEW.num_minutes()
                ),
            ));
        }
        if self.created_at.year() < 1970 {
            return Err(Error::invalid_field("created_at", "is before 1970"));
        }
        let external_id = non_empty("external_id", self.external_id, MAX_ID_BYTES)?;
        let handle = self
            .author
            .handle
            .trim()
            .trim_start_matches('@')
            .to_string();
        let handle = non_empty("author.handle", handle, MAX_ID_BYTES)?;
        if let Some(name) = &self.author.display_name {
            let chars = name.chars().count();
            if chars > MAX_DISPLAY_NAME_CHARS {
                return Err(Error::invalid_field(
                    "author.display_name",
                    format!("is {chars} characters, the limit is {MAX_DISPLAY_NAME_CHARS}"),
                ));
            }
        }
        if self.text.trim().is_empty() {
            return Err(Error::invalid_field("text", "must not be empty"));
        }
        if !self.text.chars().any(is_visible) {
            return Err(Error::invalid_field("text", "has no visible characters"));
        }
        if self.text.len() > MAX_TEXT_BYTES {
            return Err(Error::invalid_field(
                "text",
                format!(
                    "is {} bytes, the limit is {MAX_TEXT_BYTES}",
                    self.text.len()
                ),
            ));
        }
        if let Some(url) = &self.url {
            check_url("url", url)?;
        }
        if let Some(url) = &self.author.profile_url {
            check_url("author.profile_url", url)?;
        }
        let language = match self.language {
            Some(lang) => Some(check_language(lang)?),
            None => None,
        };
        let thread_id = optional("thread_id", self.thread_id)?;
        let parent_id = optional("parent_id", self.parent_id)?;
        Ok(NewMention {
            source: self.source,
            external_id,
            author: Author {
                handle,
                ..self.author
            },
            text: self.text,
            created_at: self.created_at,
            url: self.url,
            language,
            thread_id,
            parent_id,
            metrics: self.metrics,
            origin: None,
        })
    }
}

impl MentionInput {
    /// PostgreSQL refuses NUL in text, and one refused row fails the whole
    /// group commit, so NUL is caught here, in every text field.
    fn check_no_nul(&self) -> Result<()> {
        let a = &self.author;
        let fields: [(&str, Option<&str>); 9] = [
            ("external_id", Some(&self.external_id)),
            ("author.handle", Some(&a.handle)),
            ("author.display_name", a.display_name.as_deref()),
            ("author.profile_url", a.profile_url.as_deref()),
            ("text", Some(&self.text)),
            ("url", self.url.as_deref()),
            ("language", self.language.as_deref()),
            ("thread_id", self.thread_id.as_deref()),
            ("parent_id", self.parent_id.as_deref()),
        ];
        for (field, value) in fields {
            if let Some(value) = value {
                reject_nul(field, value)?;
            }
        }
        Ok(())
    }
}

/// Rejects a NUL byte, which PostgreSQL cannot store in text.
pub fn reject_nul(field: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::invalid_field(
            field,
            "must not contain a NUL character",
        ));
    }
    Ok(())
}

/// Whether a character shows on screen: not whitespace, not a control or
/// format character (zero-width spaces and joiners, bidi marks, BOM, tags),
/// not a blank filler that renders as nothing.
fn is_visible(c: char) -> bool {
    !(c.is_whitespace()
        || c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
            | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}'))
}

fn non_empty(field: &str, value: String, max: usize) -> Result<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid_field(field, "must not be empty"));
    }
    if trimmed.len() > max {
        return Err(Error::invalid_field(
            field,
            format!("is longer than {max} bytes"),
        ));
    }
    Ok(trimmed.to_string())
}

fn optional(field: &str, value: Option<String>) -> Result<Option<String>> {
    match value {
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => non_empty(field, v, MAX_ID_BYTES).map(Some),
        None => Ok(None),
    }
}

fn check_url(field: &str, url: &str) -> Result<()> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= MAX_URL_BYTES
        && !url.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_field(
            field,
            "must be an http(s) URL without spaces, at most 2048 bytes",
        ))
    }
}

fn check_language(lang: String) -> Result<String> {
    let lang = lang.trim().to_ascii_lowercase();
    if (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_lowercase()) {
        Ok(lang)
    } else {
        Err(Error::invalid_field(
            "language",
            "must be an ISO 639 code such as \"en\"",
        ))
    }
}

impl NewMention {
    /// When the customer posted, as far as any clock is concerned: the
    /// platform's `created_at`, or `received_at` when that lies in the
    /// future (a skewed platform clock must not give a case extra time).
    pub fn posted_at(&self, received_at: DateTime<Utc>) -> DateTime<Utc> {
        self.created_at.min(received_at)
    }

    /// The conversation this mention belongs to: the platform thread when
    /// known, otherwise the author (one customer, one conversation).
    pub fn conversation_key(&self) -> String {
        match (&self.thread_id, &self.parent_id) {
            (Some(thread), _) => format!("{}:thread:{thread}", self.source),
            _ => self.author_key(),
        }
    }

    pub fn author_key(&self) -> String {
        format!(
            "{}:author:{}",
            self.source,
            self.author.handle.to_lowercase()
        )
    }
}

/// Shortest normalised text that gets a [`fingerprint`]: shorter posts
/// ("thanks!", "help") are too alike across customers to mean a cross-post.
pub const MIN_FINGERPRINT_CHARS: usize = 20;

/// `text` as compared across platforms: lowercase, without URLs, @mentions
/// and punctuation, whitespace collapsed. A cross-post carries the same
/// words whatever each platform adds around them.
pub fn normalise_for_fingerprint(text: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let lower = word.to_lowercase();
        if lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("www.")
            || lower.starts_with('@')
        {
            continue;
        }
        let kept: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
        if !kept.is_empty() {
            words.push(kept);
        }
    }
    words.join(" ")
}

/// A hash of the normalised text (hex, 128 bits of SHA-256), or `None`
/// when fewer than [`MIN_FINGERPRINT_CHARS`] characters remain.
pub fn fingerprint(text: &str) -> Option<String> {
    use sha2::Digest;
    let normal = normalise_for_fingerprint(text);
    if normal.chars().count() < MIN_FINGERPRINT_CHARS {
        return None;
    }
    let digest = sha2::Sha256::digest(normal.as_bytes());
    Some(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
}

/// A stored mention with its analysis.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Mention {
    #[schema(value_type = i64)]
    pub id: MentionId,
    #[serde(flatten)]
    pub mention: NewMention,
    pub received_at: DateTime<Utc>,
    pub analysis: Analysis,
    #[schema(value_type = Option<i64>)]
    pub case_id: Option<CaseId>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> std::result::Result<MentionInput, serde_json::Error> {
        serde_json::from_value(json)
    }

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "source": "webhook",
            "external_id": "123",
            "author": {"handle": "@Jane", "followers": 120},
            "text": "my order never arrived",
            "created_at": "2026-11-22T10:00:00Z",
            "url": "https://example.org/p/1"
        })
    }

    #[test]
    fn minimal_shape_parses_and_strips_the_at_sign() {
        let m = input(minimal()).unwrap().validate(now()).unwrap();
        assert_eq!(m.author.handle, "Jane");
        assert_eq!(m.author.followers, 120);
        assert_eq!(m.source, SourceKind::Webhook);
    }

    #[test]
    fn unknown_fields_and_bad_enums_are_rejected() {
        let mut v = minimal();
        v["colour"] = "red".into();
        let err = input(v).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");

        let mut v = minimal();
        v["source"] = "myspace".into();
        let err = input(v).unwrap_err().to_string();
        assert!(err.contains("myspace"), "{err}");
    }

    #[test]
    fn invalid_date_is_rejected() {
        let mut v = minimal();
        v["created_at"] = "yesterday".into();
        assert!(input(v).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let mut v = minimal();
        v["text"] = "   ".into();
        let err = input(v).unwrap().validate(now()).unwrap_err();
        assert!(err.message.starts_with("text:"), "{}", err.message);

        let mut v = minimal();
        v["url"] = "javascript:alert(1)".into();
        let err = input(v).unwrap().validate(now()).unwrap_err();
        assert!(err.message.starts_with("url:"), "{}", err.message);

        let mut v = minimal();
        v["author"]["handle"] = "".into();
        let err = input(v).unwrap().validate(now()).unwrap_err();
        assert!(err.message.starts_with("author.handle:"), "{}", err.message);

        let mut v = minimal();
        v["language"] = "english".into();
        let err = input(v).unwrap().validate(now()).unwrap_err();
        assert!(err.message.starts_with("language:"), "{}", err.message);
    }

    /// The server's clock in these tests: ten minutes after `minimal`'s post.
    fn now() -> DateTime<Utc> {
        "2026-11-22T10:10:00Z".parse().unwrap()
    }

    fn message(v: serde_json::Value) -> String {
        input(v).unwrap().validate(now()).unwrap_err().message
    }

    #[test]
    fn nul_is_rejected_in_every_text_field() {
        let paths: [&[&str]; 9] = [
            &["external_id"],
            &["author", "handle"],
            &["author", "display_name"],
            &["author", "profile_url"],
            &["text"],
            &["url"],
            &["language"],
            &["thread_id"],
            &["parent_id"],
        ];
        for path in paths {
            let mut v = minimal();
            let slot = match path {
                [a, b] => &mut v[*a][*b],
                [a] => &mut v[*a],
                _ => unreachable!(),
            };
            // A value that passes every other check once the NUL is gone.
            let clean = match path.last().unwrap() {
                &"profile_url" | &"url" => "https://example.org/a",
                &"language" => "en",
                _ => "abc",
            };
            let (head, tail) = clean.split_at(clean.len() - 1);
            *slot = format!("{head}\u{0}{tail}").into();
            let field = path.join(".");
            let err = input(v).unwrap().validate(now()).unwrap_err();
            assert_eq!(err.code, crate::error::ErrorCode::InvalidField);
            assert!(
                err.message.starts_with(&format!("{field}:")) && err.message.contains("NUL"),
                "{field}: {}",
                err.message
            );
        }
    }

    #[test]
    fn created_at_must_not_be_past_the_clock_skew_nor_before_1970() {
        let mut v = minimal();
        v["created_at"] = "2026-11-22T10:15:00Z".into(); // now + 5 min: accepted
        assert!(input(v).unwrap().validate(now()).is_ok());

        let mut v = minimal();
        v["created_at"] = "2026-11-22T10:15:01Z".into();
        let err = message(v);
        assert!(
            err.starts_with("created_at:") && err.contains("future"),
            "{err}"
        );

        let mut v = minimal();
        v["created_at"] = "1969-12-31T23:59:59Z".into();
        let err = message(v);
        assert!(
            err.starts_with("created_at:") && err.contains("1970"),
            "{err}"
        );

        let mut v = minimal();
        v["created_at"] = "1970-01-01T00:00:00Z".into();
        assert!(input(v).unwrap().validate(now()).is_ok());
    }

    #[test]
    fn display_name_and_handle_lengths_are_bounded() {
        let mut v = minimal();
        v["author"]["display_name"] = "é".repeat(256).into(); // 512 bytes, 256 chars
        assert!(input(v).unwrap().validate(now()).is_ok());

        let mut v = minimal();
        v["author"]["display_name"] = "é".repeat(257).into();
        let err = message(v);
        assert!(err.starts_with("author.display_name:"), "{err}");

        let mut v = minimal();
        v["author"]["handle"] = "a".repeat(256).into();
        assert!(input(v).unwrap().validate(now()).is_ok());

        let mut v = minimal();
        v["author"]["handle"] = "é".repeat(129).into(); // 258 bytes
        let err = message(v);
        assert!(err.starts_with("author.handle:"), "{err}");
    }

    #[test]
    fn text_without_visible_characters_is_rejected() {
        for text in [
            "\u{200B}",
            "\u{200B}\u{200C}\u{200D}",
            " \u{2060} \u{FEFF}\t",
            "\u{202E}\u{00AD}\u{3164}",
            "\u{7}\u{1F}",
        ] {
            let mut v = minimal();
            v["text"] = text.into();
            let err = message(v);
            assert_eq!(err, "text: has no visible characters", "{text:?}");
        }
        // Joiners inside real text are fine (emoji sequences, scripts).
        let mut v = minimal();
        v["text"] = "\u{200B}ok\u{200D}".into();
        assert!(input(v).unwrap().validate(now()).is_ok());
    }

    #[test]
    fn cross_posts_share_a_fingerprint_and_short_texts_have_none() {
        let a = fingerprint("@AcmeSupport My parcel never arrived!!! https://t.co/xyz");
        let b =
            fingerprint("my parcel   NEVER arrived @acme@mastodon.social https://example.org/p");
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_ne!(a, fingerprint("my parcel arrived broken and late"));
        assert_eq!(
            normalise_for_fingerprint("Hello, @bob! See https://x.y/z — it's   broken."),
            "hello see its broken"
        );
        assert_eq!(fingerprint("thanks so much!!"), None);
        assert_eq!(
            fingerprint("@brand https://a.example/very/long/link/only"),
            None
        );
    }

    #[test]
    fn conversation_key_prefers_the_thread() {
        let mut m = input(minimal()).unwrap().validate(now()).unwrap();
        assert_eq!(m.conversation_key(), "webhook:author:jane");
        m.thread_id = Some("root-1".into());
        assert_eq!(m.conversation_key(), "webhook:thread:root-1");
    }
}
