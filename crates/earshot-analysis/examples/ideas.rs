//! Feature ideas for complaint / category (v1.2), measured on folds of the
//! TRAIN split only: `cargo run --release -p earshot-analysis --example ideas -- comp|cat`.
//! comp: HANDLE=0..5 (handle identity / character n-grams, HV, HCV, HN), LEX=1, URG,
//! NB, EPOCHS, LR, L2, REPS (fold repeats), SEEDS (logit averaging).
//! cat: KWD=1|2 (keyword hits as inputs), CHARW, GAMMA (NB mix), HANDLE, OVR=1,
//! TRI (word trigrams / skip-bigrams), CLEAN (label cleaning), F5=1, PR=1.
//! Results: docs/ANALYSIS.md, "v1.2: what was tried on train-only folds".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::needless_range_loop)]

use earshot_analysis::Engine;
use earshot_analysis::data::{Row, Split, Task, read_labelled};
use earshot_analysis::eval::metrics;
use earshot_analysis::model::{Example, LinearModel, TrainParams, train};
use earshot_analysis::text::{fnv, mix};
use earshot_analysis::train::bare_engine;
use std::path::Path;

mod common;
use common::{charw, env, in_fold, report};

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
    for (hi, h) in hs.iter().take(take).enumerate() {
        let salt = if mode == 5 && hi > 0 { 0x4a4f } else { 0x4a4e };
        f.push((mix(fnv(h.as_bytes()) ^ 0x4a4d), env("HV", 1.0)));
        if mode >= 3 {
            let p = format!("^{h}$");
            let pb = p.as_bytes();
            let n = env("HN", 4usize);
            let cnt = pb.len().saturating_sub(n - 1).max(1);
            let v = env("HCV", 1.0) / (cnt as f32).sqrt();
            for w in pb.windows(n) {
                f.push((mix(fnv(w) ^ salt), v));
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
    let r = report(m, ex, &[]);
    if print {
        for (l, c) in &r.per_class {
            eprintln!("  {l}: f1 {:.3} n {}", c.f1, c.support);
        }
    }
    r.macro_f1
}

/// LR log-probabilities plus `gamma` × multinomial-NB log-likelihoods
/// (class-balanced prior), both linear in the hashed features.
fn nb_mix(m: &LinearModel, tx: &[Example], vx: &[Example], gamma: f32, alpha: f32) -> f64 {
    let k = m.k();
    let bits = m.header.bits;
    let shift = 64 - bits;
    let nb = 1usize << bits;
    let mut cnt = vec![0f32; nb * k];
    let mut tot = vec![0f64; k];
    for e in tx {
        for &(h, v) in &e.feats {
            cnt[(h >> shift) as usize * k + e.label] += v;
            tot[e.label] += f64::from(v);
        }
    }
    let lp: Vec<f32> = (0..nb * k)
        .map(|i| {
            let c = i % k;
            if tot[c] == 0.0 {
                return -100.0;
            }
            ((f64::from(cnt[i]) + f64::from(alpha)) / (tot[c] + f64::from(alpha) * nb as f64)).ln()
                as f32
        })
        .collect();
    let mut gold = vec![];
    let mut pred = vec![];
    let mut out = vec![0f32; k];
    for e in vx {
        let f = e.feat_list();
        m.predict(&f, &e.dense, &mut out);
        let mut z: Vec<f32> = out.iter().map(|p| p.max(1e-9).ln()).collect();
        for &(h, v) in &e.feats {
            let b = (h >> shift) as usize * k;
            for j in 0..k {
                z[j] += gamma * v * lp[b + j];
            }
        }
        gold.push(e.label);
        pred.push((0..k).fold(0, |b, j| if z[j] > z[b] { j } else { b }));
    }
    metrics("x", m.labels(), &gold, &pred).macro_f1
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
        // CATD=w: the reason model's ten probabilities (×w) as extra inputs.
        let catd: f32 = env("CATD", 0.0);
        // URG=w: the five urgency signals (×w) as extra inputs.
        let urg: f32 = env("URG", 0.0);
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
                    if urg > 0.0 {
                        use earshot_core::analysis::UrgencyKind as K;
                        let a = earshot_core::Analyzer::analyze(&fe, &r.text);
                        for k in [
                            K::ChurnIntent,
                            K::LegalThreat,
                            K::Safety,
                            K::PublicShaming,
                            K::Question,
                        ] {
                            let fired = a.urgency.iter().any(|u| u.kind == k);
                            dense.push(urg * f32::from(u8::from(fired)));
                        }
                    }
                    if catd > 0.0 {
                        // the shipped reason model (trained on airline data
                        // only, so nothing of these folds leaks in)
                        let (p, _) = Engine::builtin().category_parts(&r.text);
                        dense.extend(p.iter().map(|x| x * catd));
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
        let nd = earshot_analysis::COMPLAINT_DENSE
            + if lx { 12 } else { 0 }
            + if catd > 0.0 { 10 } else { 0 }
            + if urg > 0.0 { 5 } else { 0 };
        let mut f1s = vec![];
        let mut f1s_bare = vec![];
        // AUG: also train on each row with its @handles removed (weight AUG),
        // so the text must carry the decision where no handle is mentioned.
        let aug: f32 = env("AUG", 0.0);
        let bare = |rows: &[Row]| -> Vec<Row> {
            rows.iter()
                .map(|r| Row {
                    text: r
                        .text
                        .split(' ')
                        .filter(|w| !w.starts_with('@'))
                        .collect::<Vec<_>>()
                        .join(" "),
                    ..r.clone()
                })
                .collect()
        };
        for rep in 0..env("REPS", 1u64) {
            for f in 0..5 {
                let key = |r: &Row| in_fold(r, 0x77 + rep, 5, f);
                let (v, t): (Vec<Row>, Vec<Row>) = tr.iter().cloned().partition(key);
                // BARE=1: train on the handle-less copies only (a model for
                // posts that mention no handle: forums, Reddit, RSS).
                let mut tx = if env("BARE", 0) == 1 {
                    mk(&bare(&t))
                } else {
                    mk(&t)
                };
                if aug > 0.0 {
                    tx.extend(
                        mk(&bare(&t))
                            .into_iter()
                            .map(|e| Example { weight: aug, ..e }),
                    );
                }
                let vx_bare = mk(&bare(&v));
                let vx = mk(&v);
                let ns: u64 = env("SEEDS", 1);
                let ms: Vec<LinearModel> = (0..ns)
                    .map(|sd| train("c", &lab, nd, &tx, &TrainParams { seed: 42 + sd, ..p }))
                    .collect();
                let cv = |set: &[Example]| {
                    let mut gold = vec![];
                    let mut pred = vec![];
                    for e in set {
                        let f = e.feat_list();
                        let mut z = 0f32;
                        for m in &ms {
                            let mut out = [0f32; 2];
                            m.predict(&f, &e.dense, &mut out);
                            z += out[1].max(1e-9).ln() - out[0].max(1e-9).ln();
                        }
                        gold.push(e.label);
                        pred.push((z >= 0.0) as usize);
                    }
                    metrics("x", &lab, &gold, &pred).macro_f1
                };
                f1s.push(cv(&vx));
                f1s_bare.push(cv(&vx_bare));
            }
        }
        let mean = f1s.iter().sum::<f64>() / f1s.len() as f64;
        let mean_bare = f1s_bare.iter().sum::<f64>() / f1s_bare.len() as f64;
        println!(
            "comp cv {mean:.4} (handles removed: {mean_bare:.4}) handle={hm} lex={lx} cw={cw} aug={aug} {:?}",
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
                    hfeats(&r.text, env("HANDLE", 0), &mut feats);
                    let tri: f32 = env("TRI", 0.0);
                    if tri > 0.0 {
                        let l = r.text.to_lowercase();
                        let w: Vec<&str> = l
                            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
                            .filter(|w| !w.is_empty() && !w.starts_with("http"))
                            .collect();
                        let n = w.len().max(1) as f32;
                        for g in w.windows(3) {
                            let h = fnv(format!("{} {} {}", g[0], g[1], g[2]).as_bytes());
                            feats.push((mix(h ^ 0x7731), tri / n.sqrt()));
                        }
                        for g in w.windows(3) {
                            let h = fnv(format!("{} _ {}", g[0], g[2]).as_bytes());
                            feats.push((mix(h ^ 0x7732), tri / n.sqrt()));
                        }
                    }
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
            let key = |r: &Row| in_fold(r, salt, 5, 0);
            let (v, t): (Vec<Row>, Vec<Row>) = tr.iter().cloned().partition(key);
            let mut tx = mk(&t);
            let tau: f32 = env("CLEAN", 0.0);
            if tau > 0.0 {
                // drop training rows whose inner out-of-fold p(gold) < tau
                let mut keep = vec![true; tx.len()];
                for g in 0..5usize {
                    let inner: Vec<Example> = tx
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % 5 != g)
                        .map(|(_, e)| e.clone())
                        .collect();
                    let im = train("i", &labels, nd, &inner, &p);
                    let mut out = vec![0f32; labels.len()];
                    for (i, e) in tx.iter().enumerate().filter(|(i, _)| i % 5 == g) {
                        let f = e.feat_list();
                        im.predict(&f, &e.dense, &mut out);
                        if out[e.label] < tau {
                            keep[i] = false;
                        }
                    }
                }
                let before = tx.len();
                tx = tx
                    .into_iter()
                    .zip(&keep)
                    .filter(|(_, k)| **k)
                    .map(|(e, _)| e)
                    .collect();
                eprintln!("clean: kept {} of {before}", tx.len());
            }
            // ABSTAIN=τ: "other" (the annotators' "Can't Tell") is not
            // learned as a class but predicted when no reason reaches τ.
            let abstain: f32 = env("ABSTAIN", 0.0);
            let other = cats.iter().position(|c| *c == "other").unwrap();
            if abstain > 0.0 {
                tx.retain(|e| e.label != other);
            }
            let m = train("k", &labels, nd, &tx, &p);
            let vx = mk(&v);
            let gamma: f32 = env("GAMMA", 0.0);
            if abstain > 0.0 {
                let mut out = vec![0f32; labels.len()];
                let gold: Vec<usize> = vx.iter().map(|e| e.label).collect();
                let pred: Vec<usize> = vx
                    .iter()
                    .map(|e| {
                        m.predict(&e.feat_list(), &e.dense, &mut out);
                        out[other] = 0.0;
                        let best =
                            (0..out.len()).fold(0, |b, j| if out[j] > out[b] { j } else { b });
                        if out[best] < abstain { other } else { best }
                    })
                    .collect();
                f1s.push(metrics("x", &labels, &gold, &pred).macro_f1);
            } else if env("OVR", 0) == 1 {
                let bl: Vec<String> = vec!["rest".into(), "c".into()];
                let mut margins = vec![vec![f32::NEG_INFINITY; labels.len()]; vx.len()];
                for j in 0..labels.len() {
                    if !tx.iter().any(|e| e.label == j) {
                        continue;
                    }
                    let bx: Vec<Example> = tx
                        .iter()
                        .map(|e| Example {
                            label: (e.label == j) as usize,
                            ..e.clone()
                        })
                        .collect();
                    let mut bp = p;
                    bp.balance_power = env("OBPOW", 1.0);
                    let bm = train("b", &bl, nd, &bx, &bp);
                    let mut out = [0f32; 2];
                    for (i, e) in vx.iter().enumerate() {
                        let f = e.feat_list();
                        bm.predict(&f, &e.dense, &mut out);
                        margins[i][j] = out[1].max(1e-9).ln() - out[0].max(1e-9).ln();
                    }
                }
                let gold: Vec<usize> = vx.iter().map(|e| e.label).collect();
                let pred: Vec<usize> = margins
                    .iter()
                    .map(|z| (0..z.len()).fold(0, |b, j| if z[j] > z[b] { j } else { b }))
                    .collect();
                f1s.push(metrics("x", &labels, &gold, &pred).macro_f1);
            } else if gamma > 0.0 {
                f1s.push(nb_mix(&m, &tx, &vx, gamma, env("ALPHA", 1.0)));
            } else {
                f1s.push(score(&m, &vx, env("PR", 0) == 1 && salt == 1));
            }
        }
        let mean = f1s.iter().sum::<f64>() / f1s.len() as f64;
        println!("cat inner {mean:.4} kwd={kwd} cw={cw} {:?}", p);
    }
}
