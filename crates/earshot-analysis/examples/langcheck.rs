//! Language check on labelled text: each UMSAB train file (whose language is
//! known) and TweetEval train (English). Per file: how many texts the
//! function words settle (right / wrong / left open) and how many need
//! whatlang (right / wrong / open).
//! `cargo run --release -p earshot-analysis --example langcheck [-- val]`
//! (`val`: the val files instead, which the word lists were not drawn from).
#![allow(clippy::unwrap_used)]
use earshot_analysis::lang::LangId;
use earshot_analysis::text::{Scratch, tokenize};

fn main() {
    let d = std::path::Path::new("../shared/data");
    let split = match std::env::args().nth(1).as_deref() {
        Some("val") => "val",
        _ => "train",
    };
    let f = |dir: &str| d.join(format!("{dir}/{split}_text.txt"));
    let files = [
        ("en", f("tweeteval")),
        ("ar", f("multilingual/arabic")),
        ("de", f("multilingual/german")),
        ("es", f("multilingual/spanish")),
        ("fr", f("multilingual/french")),
        ("hi", f("multilingual/hindi")),
        ("it", f("multilingual/italian")),
        ("pt", f("multilingual/portuguese")),
    ];
    let id = LangId::new();
    let mut s = Scratch::default();
    println!("lang  n      cheap: right wrong open | whatlang: right wrong open");
    for (lang, path) in files {
        let body = std::fs::read_to_string(path).unwrap();
        let mut c = [[0usize; 3]; 2];
        let mut n = 0;
        for line in body.lines() {
            n += 1;
            tokenize(line, &mut s);
            let (which, guess) = match id.by_function_words(&s) {
                Some(g) => (0, g),
                None => (1, id.detect(line, &s)),
            };
            let k = match guess.code {
                Some(code) if code == lang => 0,
                Some(_) => 1,
                None => 2,
            };
            c[which][k] += 1;
        }
        println!(
            "{lang}  {n:6} {:6} {:5} {:4}      | {:6} {:5} {:4}",
            c[0][0], c[0][1], c[0][2], c[1][0], c[1][1], c[1][2]
        );
    }
}
