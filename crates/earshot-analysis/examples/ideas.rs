//! Feature ideas for complaint / category, measured on folds of the TRAIN split only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::needless_range_loop)]

use earshot_analysis::Engine;
use earshot_analysis::data::{Row, Split, Task, read_labelled};
use earshot_analysis::eval::metrics;
use earshot_analysis::model::{Example, LinearModel, TrainParams, train};
use earshot_analysis::text::{Feat, fnv, mix};
use earshot_analysis::train::bare_engine;
use std::path::Path;

fn env<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn handles(t: &str) -> Vec<String> {
    let b = t.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'@' && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) {
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > i + 1 {
                out.push(t[i + 1..j].to_ascii_lowercase());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn hfeats(t: &str, mode: u32, f: &mut Vec<(u64, f32)>) {
    if mode == 0 {
        return;
    }
    let hs = handles(t);
    let take = if mode == 1 { 1 } else { hs.len() };
    for h in hs.iter().take(take) {
        f.push((mix(fnv(h.as_bytes()) ^ 0x4a4d), env("HV", 1.0)));
        if mode >= 3 {
            let p = format!("^{h}$");
            let pb = p.as_bytes();
            let n = env("HN", 4usize);
            let cnt = pb.len().saturating_sub(n - 1).max(1);
            let v = env("HCV", 1.0) / (cnt as f32).sqrt();
            for w in pb.windows(n) {
                f.push((mix(fnv(w) ^ 0x4a4e), v));
            }
        }
    }
}

fn lexd(t: &str) -> Vec<f32> {
    let l = t.to_lowercase();
    let words: Vec<&str> = l
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '$'))
        .filter(|w| !w.is_empty())
        .collect();
    let has = |ws: &[&str]| words.iter().filter(|w| ws.contains(w)).count() as f32;
    let hs = handles(t);
    vec![
        has(&["still", "yet"]).min(2.0) / 2.0,
        has(&["again", "another", "twice"]).min(2.0) / 2.0,
        has(&[
            "never", "no", "not", "nobody", "nothing", "can't", "won't", "didn't", "doesn't",
            "don't",
        ])
        .min(3.0)
            / 3.0,
        has(&[
            "waiting", "wait", "waited", "hold", "hours", "hour", "days", "weeks", "minutes",
            "mins", "hrs",
        ])
        .min(2.0)
            / 2.0,
        has(&["you", "your", "you're", "ur", "u", "yours"]).min(3.0) / 3.0,
        has(&["i", "my", "me", "i'm", "i've", "mine"]).min(3.0) / 3.0,
        (words
            .iter()
            .any(|w| w.starts_with('$') || w.ends_with("00"))) as u8 as f32,
        (t.trim_start().starts_with('@') || t.trim_start().starts_with(".@")) as u8 as f32,
        (hs.len() as f32).min(3.0) / 3.0,
        (t.contains("http")) as u8 as f32,
        has(&["thanks", "thank", "thx", "love", "great", "awesome"]).min(2.0) / 2.0,
        has(&[
            "help", "fix", "issue", "problem", "broken", "error", "refund", "cancel",
        ])
        .min(2.0)
            / 2.0,
    ]
}

fn score(m: &LinearModel, ex: &[Example], print: bool) -> f64 {
    let k = m.k();
    let mut gold = vec![];
    let mut pred = vec![];
    let mut out = vec![0f32; k];
    for e in ex {
        let f: Vec<Feat> = e
            .feats
            .iter()
            .map(|&(hash, val)| Feat {
                hash,
                val,
                tok: u32::MAX,
            })
            .collect();
        m.predict(&f, &e.dense, &mut out);
        gold.push(e.label);
        pred.push((0..k).fold(0, |b, j| if out[j] > out[b] { j } else { b }));
    }
    let r = metrics("x", m.labels(), &gold, &pred);
    if print {
        for (l, c) in &r.per_class {
            eprintln!("  {l}: f1 {:.3} n {}", c.f1, c.support);
        }
    }
    r.macro_f1
}

fn charw(mut f: Vec<(u64, f32)>, cw: f32) -> Vec<(u64, f32)> {
    if cw != 1.0 && !f.is_empty() {
        let v0 = f[0].1;
        if let Some(i) = f.iter().position(|x| x.1 != v0) {
            for x in &mut f[i..] {
                x.1 *= cw;
            }
            if cw == 0.0 {
                f.truncate(i);
            }
        }
    }
    f
}

fn main() {
    let d = Path::new("../shared/data");
    let what = std::env::args().nth(1).unwrap();
    let p = TrainParams {
        bits: 17,
        epochs: env("EPOCHS", 10),
        lr: env("LR", 0.05),
        l2: env("L2", 1e-6),
        seed: 42,
        balanced: true,
        balance_power: 1.0,
        nb_alpha: env("NB", 1.0),
        average: false,
    };
    let cw: f32 = env("CHARW", 1.0);
    if what == "comp" {
        let sm = LinearModel::from_bytes(earshot_analysis::SENTIMENT_MODEL).unwrap();
        let fe = Engine::from_models(
            sm,
            bare_engine().complaint_model().clone(),
            bare_engine().category_model().clone(),
            &Default::default(),
        );
        let file = d.join("complaints/train.csv");
        let (tr, _) = read_labelled(&file, Task::Complaint, "text", None, Split::Train).unwrap();
        let hm: u32 = env("HANDLE", 0);
        let lx = env("LEX", 0) == 1;
        let lab: Vec<String> = vec!["0".into(), "1".into()];
        let mk = |rows: &[Row]| -> Vec<Example> {
            rows.iter()
                .map(|r| {
                    let mut feats = charw(fe.features(&r.text).0, cw);
                    hfeats(&r.text, hm, &mut feats);
                    let mut dense = fe.complaint_dense(&r.text);
                    if lx {
                        dense.extend(lexd(&r.text));
                    }
                    Example {
                        feats,
                        dense,
                        label: (r.label == "1") as usize,
                        weight: 1.0,
                    }
                })
                .collect()
        };
        let nd = earshot_analysis::COMPLAINT_DENSE + if lx { 12 } else { 0 };
        let mut f1s = vec![];
        for rep in 0..env("REPS", 1u64) {
            for f in 0..5 {
                let key = |r: &Row| mix(fnv(r.split_key().as_bytes()) ^ (0x77 + rep)) % 5 == f;
                let (v, t): (Vec<Row>, Vec<Row>) = tr.iter().cloned().partition(key);
                let m = train("c", &lab, nd, &mk(&t), &p);
                f1s.push(score(&m, &mk(&v), false));
            }
        }
        let mean = f1s.iter().sum::<f64>() / f1s.len() as f64;
        println!(
            "comp cv {mean:.4} handle={hm} lex={lx} cw={cw} {:?}",
            f1s.iter()
                .map(|x| (x * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>()
        );
    } else {
        let fe = bare_engine();
        let air = d.join("airline/train.csv");
        let (tr, _) = read_labelled(&air, Task::Category, "text", None, Split::Train).unwrap();
        let cats = earshot_analysis::taxonomy::DEFAULT_CATEGORIES;
        let labels: Vec<String> = cats.iter().map(|s| s.to_string()).collect();
        let kwd = env("KWD", 0u32);
        let mk = |rows: &[Row]| -> Vec<Example> {
            rows.iter()
                .filter_map(|r| {
                    let label = cats.iter().position(|c| *c == r.label)?;
                    let (f, mut dense) = fe.features(&r.text);
                    let mut feats = charw(f, cw);
                    if kwd > 0 {
                        let (_, hits) = fe.category_parts(&r.text);
                        if kwd == 1 {
                            dense.extend(hits.iter().map(|&h| h as u8 as f32));
                        } else {
                            for (i, h) in hits.iter().enumerate() {
                                if *h {
                                    feats.push((mix(0x6b77 + i as u64), env("KV", 1.0)));
                                }
                            }
                        }
                    }
                    Some(Example {
                        feats,
                        dense,
                        label,
                        weight: 1.0,
                    })
                })
                .collect()
        };
        let nd = earshot_analysis::text::N_DENSE + if kwd == 1 { 10 } else { 0 };
        let mut f1s = vec![];
        let folds: Vec<u64> = if env("F5", 0) == 1 {
            vec![1, 2, 3, 4, 5]
        } else {
            vec![1, 2, 3]
        };
        for salt in folds {
            let key = |r: &Row| mix(fnv(r.split_key().trim().as_bytes()) ^ salt).is_multiple_of(5);
            let (v, t): (Vec<Row>, Vec<Row>) = tr.iter().cloned().partition(key);
            let m = train("k", &labels, nd, &mk(&t), &p);
            f1s.push(score(&m, &mk(&v), env("PR", 0) == 1 && salt == 1));
        }
        let mean = f1s.iter().sum::<f64>() / f1s.len() as f64;
        println!("cat inner {mean:.4} kwd={kwd} cw={cw} {:?}", p);
    }
}
