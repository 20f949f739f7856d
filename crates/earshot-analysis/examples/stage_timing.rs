//! Times each stage of the analysis over a file of texts (one per line).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use earshot_analysis::Engine;
use earshot_core::Analyzer;
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("file");
    let body = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    let e = Engine::builtin();
    let n = lines.len() as f64;
    let t = Instant::now();
    let mut x = 0f32;
    for l in &lines {
        x += e.features(l).1[0];
    }
    println!(
        "features (+copy): {:.0}/s {x}",
        n / t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    for l in &lines {
        x += e.sentiment_probs(l)[0];
    }
    println!("features+sentiment: {:.0}/s", n / t.elapsed().as_secs_f64());
    let t = Instant::now();
    for l in &lines {
        x += e.category_scores(l)[0];
    }
    println!("features+category: {:.0}/s", n / t.elapsed().as_secs_f64());
    if std::env::var_os("WHATLANG").is_some() {
        let t = Instant::now();
        for l in &lines {
            x += whatlang::detect(l).map_or(0.0, |i| i.confidence() as f32);
        }
        println!("whatlang alone: {:.0}/s", n / t.elapsed().as_secs_f64());
    }
    let langs: std::collections::HashMap<String, usize> =
        lines.iter().fold(Default::default(), |mut m, l| {
            *m.entry(format!("{:?}", e.analyze(l).language)).or_default() += 1;
            m
        });
    println!("{langs:?}");
    let t = Instant::now();
    let mut c = 0usize;
    for l in lines.iter().cycle().take(lines.len() * 4) {
        c += e.analyze(l).urgency.len();
    }
    println!(
        "full analyze: {:.0}/s {c} {x}",
        4.0 * n / t.elapsed().as_secs_f64()
    );
}

#[allow(dead_code)]
fn unused() {}
