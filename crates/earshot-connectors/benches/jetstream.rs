//! Parse + match cost per Jetstream event, over the fixture events and a
//! synthesised firehose mix with 100 keyword rules. Run:
//! `cargo bench -p earshot-connectors --bench jetstream`.

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use earshot_connectors::bluesky::jetstream::Interest;
use earshot_connectors::bluesky::matcher::KeywordMatcher;

#[path = "../tests/support/jetstream_mix.rs"]
mod mix;

fn interest() -> Interest {
    let keywords = KeywordMatcher::new(&mix::rules()).unwrap_or_else(|e| panic!("{e}"));
    Interest::new(mix::BRAND_DID, keywords, true)
}

fn main() {
    divan::main();
}

/// 10,000 synthesised events, classified one by one.
#[divan::bench(sample_count = 30)]
fn firehose_mix(bencher: Bencher) {
    let frames = mix::frames(10_000);
    let interest = interest();
    bencher.counter(ItemsCount::new(frames.len())).bench(|| {
        for frame in &frames {
            black_box(interest.classify(black_box(frame)));
        }
    });
}

/// The retyped fixture events (keyword, mention, reply, brand, broken).
#[divan::bench]
fn fixture_events(bencher: Bencher) {
    let frames: Vec<&str> = include_str!("../tests/fixtures/bluesky/jetstream.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    let interest = interest();
    bencher.counter(ItemsCount::new(frames.len())).bench(|| {
        for frame in &frames {
            black_box(interest.classify(black_box(frame)));
        }
    });
}
