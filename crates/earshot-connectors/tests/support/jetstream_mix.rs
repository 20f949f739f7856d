//! A deterministic stand-in for a replayed firehose: Jetstream frames in
//! the shape of tests/fixtures/bluesky/jetstream.jsonl, in a mix close to
//! what `wantedCollections=app.bsky.feed.post` delivers (mostly post
//! creates, about 40 % of them replies, a fifth with facets, some deletes
//! and identity/account events, a quarter non-English text), with 100
//! keyword rules of which about 1 % of posts carry one.

use serde_json::json;

/// The brand account the mix mentions and replies to.
pub const BRAND_DID: &str = "did:plc:acmebrandaccount000000000";

/// 100 keyword rules: 50 single words, 50 two-word phrases.
pub fn rules() -> Vec<String> {
    (0..100)
        .map(|i| {
            if i % 2 == 0 {
                format!("acmeprod{i}")
            } else {
                format!("acme service{i}")
            }
        })
        .collect()
}

const WORDS: &[&str] = &[
    "the", "a", "and", "to", "of", "in", "is", "it", "you", "that", "for", "on", "with", "this",
    "was", "just", "so", "but", "not", "are", "have", "be", "at", "my", "what", "all", "out",
    "about", "like", "one", "people", "today", "new", "time", "really", "good", "love", "think",
    "know", "day", "thread", "post", "art", "photo", "music", "game", "news", "week", "coffee",
    "morning", "night", "weather", "city", "train", "book", "movie", "great", "little", "again",
    "order", "support", "help", "service", "shipping", "update", "phone", "app", "bug", "careful",
];
const OTHER: &[&str] = &[
    "今日はとても良い天気ですね、散歩に行きました",
    "Que dia lindo para tomar um café na praia",
    "Ich habe heute ein neues Buch angefangen",
    "C'est vraiment génial, merci à tous 🎉",
    "오늘 점심은 정말 맛있었어요",
];

/// A tiny LCG: the same mix on every machine.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` frames, `time_us` increasing by 200 µs (5,000 events/s).
pub fn frames(n: usize) -> Vec<String> {
    let mut rng = Lcg(0x5eed);
    let rules = rules();
    let mut out = Vec::with_capacity(n);
    let start = 1_733_050_000_000_000i64;
    for i in 0..n {
        let time_us = start + i as i64 * 200;
        let did = format!("did:plc:user{:020}", rng.below(5000));
        let rkey = format!("3l{:011}", i);
        let roll = rng.below(100);
        let frame = if roll < 3 {
            json!({"did": did, "time_us": time_us, "kind": "identity",
                   "identity": {"did": did, "handle": "someone.bsky.social", "seq": i, "time": "2024-12-01T10:46:46.000Z"}})
        } else if roll < 5 {
            json!({"did": did, "time_us": time_us, "kind": "account",
                   "account": {"active": true, "did": did, "seq": i, "time": "2024-12-01T10:46:46.000Z"}})
        } else if roll < 10 {
            json!({"did": did, "time_us": time_us, "kind": "commit",
                   "commit": {"rev": "3lrev0000001", "operation": "delete", "collection": "app.bsky.feed.post", "rkey": rkey}})
        } else {
            let mut text = if rng.below(4) == 0 {
                OTHER[rng.below(OTHER.len() as u64) as usize].to_string()
            } else {
                let len = 5 + rng.below(40);
                (0..len)
                    .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            if rng.below(100) == 0 {
                text.push(' ');
                text.push_str(&rules[rng.below(rules.len() as u64) as usize].to_uppercase());
            }
            let mut record = json!({
                "$type": "app.bsky.feed.post",
                "createdAt": "2024-12-01T10:46:40.000Z",
                "langs": ["en"],
                "text": text,
            });
            if rng.below(5) == 0 {
                let target = if rng.below(200) == 0 {
                    BRAND_DID.to_string()
                } else {
                    format!("did:plc:user{:020}", rng.below(5000))
                };
                record["facets"] = json!([{"index": {"byteStart": 0, "byteEnd": 5},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": target}]}]);
            }
            if rng.below(10) < 4 {
                let parent = format!(
                    "at://did:plc:user{:020}/app.bsky.feed.post/3lparent{:05}",
                    rng.below(5000),
                    rng.below(99999)
                );
                record["reply"] = json!({"root": {"uri": parent, "cid": "bafyreiroot"}, "parent": {"uri": parent, "cid": "bafyreiparent"}});
            }
            json!({"did": did, "time_us": time_us, "kind": "commit",
                   "commit": {"rev": "3lrev0000001", "operation": "create", "collection": "app.bsky.feed.post",
                              "rkey": rkey, "record": record, "cid": "bafyreihzwnyk4ygsyz3fmo7pgjfzuwcrdwwf5hj6xqhjdpa5ik6xhwvwxq"}})
        };
        out.push(frame.to_string());
    }
    out
}
