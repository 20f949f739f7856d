//! Jetstream: the public JSON firehose, read over a WebSocket. It cannot
//! filter on text, so every post is parsed (borrowing from the frame) and
//! matched here against our keywords, our DID in mention facets, and
//! replies to and quotes of our posts.

use std::borrow::Cow;

use serde::Deserialize;

use super::matcher::KeywordMatcher;
use crate::InboundKind;

pub const POST_COLLECTION: &str = "app.bsky.feed.post";
const MENTION_FEATURE: &str = "app.bsky.richtext.facet#mention";

/// One Jetstream event (`kind` is `commit`, `identity` or `account`).
#[derive(Debug, Deserialize)]
pub struct Event<'a> {
    #[serde(borrow)]
    pub did: Cow<'a, str>,
    pub time_us: i64,
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub commit: Option<Commit<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct Commit<'a> {
    #[serde(borrow)]
    pub operation: Cow<'a, str>,
    #[serde(borrow)]
    pub collection: Cow<'a, str>,
    #[serde(borrow)]
    pub rkey: Cow<'a, str>,
    #[serde(default, borrow)]
    pub cid: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub record: Option<Post<'a>>,
}

/// An `app.bsky.feed.post` record, the fields Earshot reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Post<'a> {
    #[serde(default, borrow)]
    pub text: Cow<'a, str>,
    #[serde(default, borrow)]
    pub created_at: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub facets: Vec<Facet<'a>>,
    #[serde(default, borrow)]
    pub reply: Option<ReplyRefs<'a>>,
    #[serde(default, borrow)]
    pub langs: Vec<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub embed: Option<Embed<'a>>,
}

/// The part of a post's embed that can quote another post:
/// `app.bsky.embed.record` (`record` is the quoted post's strong ref) or
/// `app.bsky.embed.recordWithMedia` (`record.record`).
#[derive(Debug, Deserialize)]
pub struct Embed<'a> {
    #[serde(default, borrow)]
    pub record: Option<EmbeddedRecord<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct EmbeddedRecord<'a> {
    #[serde(default, borrow)]
    pub uri: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub record: Option<QuotedRef<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct QuotedRef<'a> {
    #[serde(default, borrow)]
    pub uri: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct Facet<'a> {
    #[serde(default, borrow)]
    pub features: Vec<Feature<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct Feature<'a> {
    #[serde(rename = "$type", default, borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub did: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct ReplyRefs<'a> {
    #[serde(borrow)]
    pub root: StrongRef<'a>,
    #[serde(borrow)]
    pub parent: StrongRef<'a>,
}

#[derive(Debug, Deserialize)]
pub struct StrongRef<'a> {
    #[serde(borrow)]
    pub uri: Cow<'a, str>,
    #[serde(borrow)]
    pub cid: Cow<'a, str>,
}

impl Post<'_> {
    /// The URI of the post this one quotes, if it quotes one.
    pub fn quoted(&self) -> Option<&str> {
        let record = self.embed.as_ref()?.record.as_ref()?;
        record
            .uri
            .as_deref()
            .or_else(|| record.record.as_ref()?.uri.as_deref())
    }

    /// The post @mentions `did` in a mention facet.
    pub fn mentions(&self, did: &str) -> bool {
        self.facets.iter().any(|f| {
            f.features
                .iter()
                .any(|x| x.kind == MENTION_FEATURE && x.did.as_deref() == Some(did))
        })
    }
}

/// What we listen for on the firehose.
#[derive(Debug, Clone)]
pub struct Interest {
    pub our_did: String,
    /// `at://<our did>/`: the start of every URI of ours.
    our_prefix: String,
    pub keywords: KeywordMatcher,
    pub listen_mentions: bool,
}

/// What one frame means to us.
#[derive(Debug)]
pub enum Outcome<'a> {
    /// Not ours to care about (another collection, a delete, no match).
    Ignore,
    /// Could not be read; the reason is logged and counted.
    Skip(String),
    /// A post to turn into an item.
    Hit(Box<Hit<'a>>),
}

#[derive(Debug)]
pub struct Hit<'a> {
    pub did: Cow<'a, str>,
    pub rkey: Cow<'a, str>,
    pub cid: Cow<'a, str>,
    pub post: Post<'a>,
    pub kind: InboundKind,
    pub by_brand: bool,
}

impl Hit<'_> {
    pub fn uri(&self) -> String {
        format!("at://{}/{POST_COLLECTION}/{}", self.did, self.rkey)
    }
}

impl Interest {
    pub fn new(our_did: &str, keywords: KeywordMatcher, listen_mentions: bool) -> Interest {
        Interest {
            our_did: our_did.to_string(),
            our_prefix: format!("at://{our_did}/"),
            keywords,
            listen_mentions,
        }
    }

    fn is_ours(&self, uri: &str) -> bool {
        uri.starts_with(&self.our_prefix)
    }

    /// Parses one frame and decides what it is. The event's `time_us`
    /// comes back whenever the frame was readable, so the cursor moves on
    /// past ignored events too.
    pub fn classify<'a>(&self, frame: &'a str) -> (Option<i64>, Outcome<'a>) {
        let event: Event<'a> = match serde_json::from_str(frame) {
            Ok(e) => e,
            Err(e) => {
                return (
                    None,
                    Outcome::Skip(format!("unreadable Jetstream event: {e}")),
                );
            }
        };
        let time = Some(event.time_us);
        if event.kind != "commit" {
            return (time, Outcome::Ignore);
        }
        let Some(commit) = event.commit else {
            return (time, Outcome::Skip("commit event without `commit`".into()));
        };
        if commit.operation != "create" || commit.collection != POST_COLLECTION {
            return (time, Outcome::Ignore);
        }
        let (Some(post), Some(cid)) = (commit.record, commit.cid) else {
            return (
                time,
                Outcome::Skip(format!(
                    "post create at://{}/{POST_COLLECTION}/{} without record or cid",
                    event.did, commit.rkey
                )),
            );
        };
        let replies_to_us = post
            .reply
            .as_ref()
            .is_some_and(|r| self.is_ours(&r.parent.uri) || self.is_ours(&r.root.uri))
            || post.quoted().is_some_and(|uri| self.is_ours(uri));
        let by_brand = event.did == self.our_did;
        let kind = if by_brand {
            // Our own post is an item only as an answer in a thread.
            if post.reply.is_none() {
                return (time, Outcome::Ignore);
            }
            InboundKind::Mention
        } else if self.listen_mentions && (replies_to_us || post.mentions(&self.our_did)) {
            InboundKind::Mention
        } else if self.keywords.first_match(&post.text).is_some() {
            InboundKind::Keyword
        } else {
            return (time, Outcome::Ignore);
        };
        (
            time,
            Outcome::Hit(Box::new(Hit {
                did: event.did,
                rkey: commit.rkey,
                cid,
                post,
                kind,
                by_brand,
            })),
        )
    }
}
