//! The "Add a source" forms: which fields each kind asks for, and how a
//! submitted form becomes the `config` object `POST /api/v1/sources` takes
//! (so the desk and the API check one and the same thing).

use std::collections::HashMap;

use earshot_core::error::{Error, Result};
use earshot_core::source::SourceKind;
use serde_json::{Map, Value};

/// How a field is typed in and read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Text,
    Url,
    /// A credential: a password input, never prefilled.
    Secret,
    Number,
    /// Comma-separated, sent as a JSON array of strings.
    List,
    Select(&'static [&'static str]),
}

/// One field of a kind's form; `key` is its name in `config`.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub key: &'static str,
    pub label: &'static str,
    pub input: Input,
    pub required: bool,
    pub hint: &'static str,
    /// Shown prefilled.
    pub default: &'static str,
}

const fn field(key: &'static str, label: &'static str, input: Input) -> Field {
    Field {
        key,
        label,
        input,
        required: true,
        hint: "",
        default: "",
    }
}

const fn optional(mut f: Field) -> Field {
    f.required = false;
    f
}

const fn hint(mut f: Field, hint: &'static str) -> Field {
    f.hint = hint;
    f
}

const fn default(mut f: Field, default: &'static str) -> Field {
    f.default = default;
    f
}

const RSS: &[Field] = &[
    hint(
        field("url", "Feed URL", Input::Url),
        "An RSS, Atom or JSON Feed address.",
    ),
    hint(
        optional(field("keywords", "Keywords", Input::List)),
        "Comma separated; only entries that mention one are kept. Empty keeps every entry.",
    ),
];

const MASTODON: &[Field] = &[
    hint(
        field("base_url", "Server URL", Input::Url),
        "The brand account's server, e.g. https://mastodon.social.",
    ),
    hint(
        field("access_token", "Access token", Input::Secret),
        "From Preferences → Development → New application.",
    ),
    hint(
        optional(field("hashtags", "Hashtags", Input::List)),
        "Comma separated, without #.",
    ),
];

const BLUESKY: &[Field] = &[
    hint(
        field("identifier", "Handle or DID", Input::Text),
        "e.g. brand.bsky.social",
    ),
    hint(
        field("app_password", "App password", Input::Secret),
        "Settings → Privacy and security → App passwords.",
    ),
    hint(
        optional(field("keywords", "Keywords", Input::List)),
        "Comma separated; posts that contain one are heard.",
    ),
    default(
        field("service_url", "Service URL", Input::Url),
        "https://bsky.social",
    ),
    default(
        field("jetstream_url", "Jetstream URL", Input::Url),
        "wss://jetstream2.us-east.bsky.network",
    ),
];

const EMAIL: &[Field] = &[
    field("imap_host", "IMAP host", Input::Text),
    hint(
        optional(field("imap_port", "IMAP port", Input::Number)),
        "993 with TLS, 143 with STARTTLS when empty.",
    ),
    field("smtp_host", "SMTP host", Input::Text),
    hint(
        optional(field("smtp_port", "SMTP port", Input::Number)),
        "465 with TLS, 587 with STARTTLS when empty.",
    ),
    default(
        field(
            "tls",
            "Encryption",
            Input::Select(&["tls", "starttls", "none"]),
        ),
        "tls",
    ),
    field("username", "User name", Input::Text),
    field("password", "Password", Input::Secret),
    hint(
        field("address", "Address", Input::Text),
        "The support address customers write to.",
    ),
];

const WEBHOOK: &[Field] = &[
    default(
        field(
            "scheme",
            "Signature scheme",
            Input::Select(&["standard", "github"]),
        ),
        "standard",
    ),
    hint(
        field("secret", "Signing secret", Input::Secret),
        "whsec_… (Standard Webhooks) or the secret the sender signs with; at least 16 bytes.",
    ),
    hint(
        optional(field(
            "tolerance_secs",
            "Replay window (seconds)",
            Input::Number,
        )),
        "Standard Webhooks only; 300 when empty.",
    ),
];

/// The kinds an admin can add from the desk, in the order shown, with
/// their form's title and fields.
pub const KINDS: &[(SourceKind, &str, &[Field])] = &[
    (SourceKind::Rss, "RSS / Atom feed", RSS),
    (SourceKind::Mastodon, "Mastodon account", MASTODON),
    (SourceKind::Bluesky, "Bluesky account", BLUESKY),
    (SourceKind::Email, "Mailbox", EMAIL),
    (SourceKind::Webhook, "Signed webhook", WEBHOOK),
];

pub fn fields(kind: SourceKind) -> Option<&'static [Field]> {
    KINDS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, _, f)| *f)
}

/// The `config` a submitted form stands for. Empty optional fields are left
/// out (the connector's default applies); errors name `config.<field>`.
pub fn config_from_form(kind: SourceKind, form: &HashMap<String, String>) -> Result<Value> {
    let fields = fields(kind).ok_or_else(|| {
        Error::invalid_field("kind", format!("`{kind}` cannot be added from the desk"))
    })?;
    let mut config = Map::new();
    for f in fields {
        let raw = form.get(f.key).map(|v| v.trim()).unwrap_or("");
        let name = format!("config.{}", f.key);
        let value = match f.input {
            _ if raw.is_empty() => {
                if f.required {
                    return Err(Error::new(
                        earshot_core::ErrorCode::MissingField,
                        format!("{name}: is required"),
                    ));
                }
                continue;
            }
            Input::Number => Value::from(
                raw.parse::<u64>()
                    .map_err(|_| Error::invalid_field(&name, "must be a whole number"))?,
            ),
            Input::List => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| Value::String(v.to_string()))
                    .collect(),
            ),
            Input::Select(options) => {
                if !options.contains(&raw) {
                    return Err(Error::invalid_field(
                        &name,
                        format!("must be one of {}", options.join(", ")),
                    ));
                }
                Value::String(raw.to_string())
            }
            Input::Text | Input::Url | Input::Secret => Value::String(raw.to_string()),
        };
        config.insert(f.key.to_string(), value);
    }
    Ok(Value::Object(config))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_mastodon_form_becomes_its_config() {
        let config = config_from_form(
            SourceKind::Mastodon,
            &form(&[
                ("base_url", " https://mastodon.example "),
                ("access_token", "tok"),
                ("hashtags", "acme, acmehelp,,"),
                ("csrf_token", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config,
            json!({"base_url": "https://mastodon.example", "access_token": "tok",
                   "hashtags": ["acme", "acmehelp"]})
        );
    }

    #[test]
    fn empty_optional_fields_are_left_to_the_connectors_defaults() {
        let config = config_from_form(
            SourceKind::Webhook,
            &form(&[
                ("scheme", "github"),
                ("secret", "s"),
                ("tolerance_secs", ""),
            ]),
        )
        .unwrap();
        assert_eq!(config, json!({"scheme": "github", "secret": "s"}));
    }

    #[test]
    fn errors_name_the_config_field() {
        let e = config_from_form(SourceKind::Rss, &form(&[])).unwrap_err();
        assert_eq!(e.message, "config.url: is required");
        let e = config_from_form(
            SourceKind::Email,
            &form(&[
                ("imap_host", "imap.example"),
                ("imap_port", "nine"),
                ("smtp_host", "smtp.example"),
                ("tls", "tls"),
                ("username", "u"),
                ("password", "p"),
                ("address", "a@example.org"),
            ]),
        )
        .unwrap_err();
        assert!(e.message.starts_with("config.imap_port:"), "{e:?}");
        let e = config_from_form(
            SourceKind::Webhook,
            &form(&[("scheme", "stripe"), ("secret", "s")]),
        )
        .unwrap_err();
        assert!(e.message.starts_with("config.scheme:"), "{e:?}");
        assert!(config_from_form(SourceKind::Import, &form(&[])).is_err());
    }
}
