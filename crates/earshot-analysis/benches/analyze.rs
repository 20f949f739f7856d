//! `cargo bench -p earshot-analysis --bench analyze`: whole analysis
//! (normalisation, language, sentiment, complaint, category, urgency) per text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use earshot_analysis::Engine;
use earshot_core::Analyzer;

/// Customer-care posts of typical length (written for the bench).
const TEXTS: &[&str] = &[
    "@united my flight was cancelled and nobody at the desk helps, 3 hours in line already!!",
    "@AmazonHelp thank you so much, the package arrived early and it's perfect :)",
    "@sprintcare why is my bill $40 higher this month? I never changed my plan",
    "@Delta lost my bag AGAIN. This is the last time I fly with you, switching to Southwest",
    "@AppleSupport my iPhone keeps restarting after the update, any fix?",
    "Waiting on hold for 45 minutes with @comcast, this is ridiculous #fail",
    "@JetBlue great crew on flight 123 today, very friendly and helpful 😊",
    "@Uber_Support driver was rude and took a longer route, I want a refund",
    "Anyone else's @Spotify app crashing on login since this morning?",
    "@VirginAmerica the wifi didn't work the whole flight and the seat was broken",
    "@hulu_support thanks, that fixed it",
    "Food poisoning after eating at your restaurant last night, my lawyer will be in touch",
];

fn main() {
    divan::main();
}

#[divan::bench]
fn analyze_one_text(b: divan::Bencher) {
    let e = Engine::builtin();
    let mut i = 0usize;
    b.bench_local(|| {
        i = (i + 1) % TEXTS.len();
        e.analyze(divan::black_box(TEXTS[i]))
    });
}

#[divan::bench]
fn sentiment_only(b: divan::Bencher) {
    let e = Engine::builtin();
    let mut i = 0usize;
    b.bench_local(|| {
        i = (i + 1) % TEXTS.len();
        e.sentiment_probs(divan::black_box(TEXTS[i]))
    });
}
