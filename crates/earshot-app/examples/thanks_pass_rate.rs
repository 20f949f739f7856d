//! Measures the thank-you suggestions on real positive posts: what share
//! pass the personalisation check (`check_for_mention`, with every thank-you
//! sent so far counting as a recent reply) and how varied they are.
//!
//! ```text
//! cargo run -p earshot-app --example thanks_pass_rate -- airline ../shared/data/airline/train.csv
//! cargo run -p earshot-app --example thanks_pass_rate -- twcs ../shared/data/twcs/twcs_sample.csv
//! ```
//!
//! `airline`: the rows labelled `airline_sentiment = positive`. `twcs`: the
//! customers' tweets (`inbound = True`) that Earshot's analysis reads as
//! positive. Each post is ingested into a fresh SQLite store with the
//! shipped models, in file order; its suggestion is made and checked like
//! the queue does; then, when the post is in the queue (no case), the
//! suggestion, when it passes, is sent through the reply workflow and marked posted by hand,
//! so later suggestions are checked against it as a recently sent reply
//! (the check's near-duplicate rule looks at the last 200 sent).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use earshot_app::App;
use earshot_app::advocates::{self, SendOutcome, SendThanks};
use earshot_core::analysis::{Analyzer, Sentiment};
use earshot_core::auth::{Principal, Role};
use earshot_core::mention::{Author, NewMention, ReachMetrics};
use earshot_core::pipeline::Pipeline;
use earshot_core::priority::PriorityWeights;
use earshot_core::source::SourceKind;
use earshot_store::Location;
use earshot_workflow::FakeClock;

fn rows(
    kind: &str,
    path: &str,
    engine: &earshot_analysis::Engine,
) -> Vec<(String, String, String)> {
    let mut r = csv::Reader::from_path(path).expect("read the CSV");
    let headers = r.headers().unwrap().clone();
    let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        match kind {
            "airline" => {
                if &rec[at("airline_sentiment")] == "positive" {
                    out.push((
                        rec[at("tweet_id")].to_string(),
                        rec[at("name")].to_string(),
                        rec[at("text")].to_string(),
                    ));
                }
            }
            "twcs" => {
                let text = &rec[at("text")];
                if &rec[at("inbound")] == "True"
                    && engine.analyze(text).sentiment == Sentiment::Positive
                {
                    out.push((
                        rec[at("tweet_id")].to_string(),
                        rec[at("author_id")].to_string(),
                        text.to_string(),
                    ));
                }
            }
            other => panic!("unknown data set {other:?}: airline or twcs"),
        }
    }
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (kind, path) = match args.as_slice() {
        [_, kind, path] => (kind.as_str(), path.as_str()),
        _ => panic!("usage: thanks_pass_rate airline|twcs <file.csv>"),
    };
    let engine = earshot_analysis::Engine::builtin();
    let posts = rows(kind, path, &engine);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        earshot_store::open(&Location::SqliteDir(dir.path().to_path_buf()))
            .await
            .unwrap(),
    );
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    let clock = FakeClock::new(now);
    let app = App::new(
        store.clone(),
        Pipeline::new(Arc::new(engine), PriorityWeights::default()),
        Arc::new(clock.clone()),
    )
    .with_accounts(store.clone());
    let me = Principal {
        name: "token:measure".into(),
        role: Role::Admin,
    };
    let (mut passed, mut sent, mut queued, mut quoted) = (0usize, 0usize, 0usize, 0usize);
    let mut shares_words = 0usize;
    let mut tried = 0u64;
    let mut texts: HashSet<String> = HashSet::new();
    let mut failures: Vec<(String, String, Vec<String>)> = Vec::new();
    for (i, (id, handle, text)) in posts.iter().enumerate() {
        let mention = NewMention {
            source: SourceKind::Webhook,
            external_id: id.clone(),
            author: Author {
                handle: handle.trim_start_matches('@').to_string(),
                ..Author::default()
            },
            text: text.clone(),
            created_at: now - TimeDelta::minutes((posts.len() - i) as i64),
            url: None,
            language: None,
            thread_id: None,
            parent_id: None,
            metrics: ReachMetrics::default(),
            origin: None,
        };
        let Ok(stored) = earshot_app::ingest::ingest(&app, vec![mention]).await else {
            continue;
        };
        let mention_id = stored[0].outcome.mention_id;
        let m = app
            .advocates
            .mention_by_id(mention_id)
            .await
            .unwrap()
            .unwrap();
        let s = advocates::suggestion(&app, &m).await.unwrap();
        tried += u64::from(s.tried);
        texts.insert(s.text.clone());
        // Quotes their words: the span the suggestion is written from
        // appears in it, opened by a quote mark.
        let positive: Vec<String> = m
            .analysis
            .evidence
            .iter()
            .filter(|e| e.weight > 0.0)
            .map(|e| e.term.clone())
            .collect();
        if let Some(span) = earshot_core::thanks::praise_span(text, &positive)
            && let Some(first) = span.split(' ').next()
            && s.text.contains(&format!("'{first}"))
        {
            quoted += 1;
        }
        let said: HashSet<String> = earshot_core::personalise::content_terms(text)
            .into_iter()
            .collect();
        if earshot_core::personalise::content_terms(&s.text)
            .iter()
            .any(|w| said.contains(w))
        {
            shares_words += 1;
        }
        if s.passes {
            passed += 1;
        } else if failures.len() < 8 {
            failures.push((text.clone(), s.text.clone(), s.reasons.clone()));
        }
        let in_queue = advocates::not_thankable(&app, &m).await.unwrap().is_none();
        if in_queue {
            queued += 1;
        }
        if s.passes
            && in_queue
            && let SendOutcome::Submitted(t) = advocates::send(
                &app,
                &me,
                mention_id,
                SendThanks {
                    text: s.text.clone(),
                    override_personalisation: false,
                },
            )
            .await
            .unwrap()
        {
            earshot_app::replies::mark_posted_by_hand(&app, &me, t.reply_id.unwrap(), None)
                .await
                .unwrap();
            sent += 1;
        }
    }
    let n = posts.len().max(1);
    println!("data set: {kind} ({path})");
    println!("positive posts: {}", posts.len());
    println!(
        "suggestions passing check_for_mention: {passed} ({:.1}%)",
        100.0 * passed as f64 / n as f64
    );
    println!(
        "distinct suggestion texts: {} ({:.1}%)",
        texts.len(),
        100.0 * texts.len() as f64 / n as f64
    );
    println!(
        "suggestions quoting the post: {quoted} ({:.1}%)",
        100.0 * quoted as f64 / n as f64
    );
    println!(
        "suggestions using a content word of the post: {shares_words} ({:.1}%)",
        100.0 * shares_words as f64 / n as f64
    );
    println!(
        "wordings checked per post (mean): {:.2}",
        tried as f64 / n as f64
    );
    println!(
        "in the thank-you queue (no case): {queued}; passing ones sent and counted as recent replies: {sent}"
    );
    for (text, s, reasons) in failures {
        println!("not passing: {text:?}\n  -> {s:?}\n  because {reasons:?}");
    }
}
