//! Hyper-parameter exploration on validation splits carved from the TRAIN
//! portions only (never the reported dev splits, unless `DEV=1`).
//! `cargo run --release -p earshot-analysis --example tune -- sent|comp|cat`
//! (cat also takes SD and LEN: sentiment probabilities and length cues as inputs)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::type_complexity,
    clippy::needless_range_loop
)]

use earshot_analysis::data::{Row, Split, Task, normalise_label, read_labelled, read_tweeteval};
use earshot_analysis::eval::metrics;
use earshot_analysis::model::{Example, LinearModel, TrainParams, train};
use earshot_analysis::train::{bare_engine, confidence_by_id};
use earshot_analysis::{Engine, SENTIMENT_LABELS};
use std::path::Path;

mod common;
use common::{Pool, charw, env, in_fold, load_vectors, pooled, report};
use earshot_analysis::text::Scratch;
use std::collections::HashMap;

const GLOVE_DIM: usize = 100;

fn glove() -> Option<(&'static HashMap<u64, Vec<f32>>, f32)> {
    static V: std::sync::OnceLock<Option<HashMap<u64, Vec<f32>>>> = std::sync::OnceLock::new();
    let gw: f32 = env("GLOVE", 0.0);
    if gw <= 0.0 {
        return None;
    }
    V.get_or_init(|| std::env::var("VECS").ok().map(|p| load_vectors(&p)))
        .as_ref()
        .map(|v| (v, gw))
}

fn glove_dim() -> usize {
    if glove().is_some() { GLOVE_DIM } else { 0 }
}

fn inner(r: &Row) -> bool {
    in_fold(r, env("SALT", 0xabcdef), 5, 0)
}

fn score(m: &LinearModel, ex: &[Example], bias: &[f32]) -> (f64, f64) {
    let r = report(m, ex, bias);
    (r.macro_f1, r.macro_recall)
}

fn norm(rows: Vec<Row>) -> Vec<Row> {
    rows.into_iter()
        .filter_map(|r| normalise_label(Task::Sentiment, &r.label).map(|label| Row { label, ..r }))
        .collect()
}

fn ex(fe: &Engine, rows: &[Row], labels: &[&str], w: f32) -> Vec<Example> {
    rows.iter()
        .filter_map(|r| {
            let label = labels.iter().position(|l| *l == r.label)?;
            let (feats, mut dense) = fe.features(&r.text);
            // cat only: SD=w, the shipped sentiment model's probabilities
            // (×w) as inputs; LEN=w, length cues (×w): ln(1 + words
            // without handles) / 3, at most five such words, has a link.
            let sd: f32 = env("SD", 0.0);
            if sd > 0.0 {
                dense.extend(
                    Engine::builtin()
                        .sentiment_probs(&r.text)
                        .iter()
                        .map(|x| x * sd),
                );
            }
            let lw: f32 = env("LEN", 0.0);
            if lw > 0.0 {
                let n = r
                    .text
                    .split_whitespace()
                    .filter(|w| !w.starts_with('@'))
                    .count() as f32;
                dense.push(lw * (1.0 + n).ln() / 3.0);
                dense.push(lw * f32::from(u8::from(n <= 5.0)));
                dense.push(lw * f32::from(u8::from(r.text.contains("http"))));
            }
            // GLOVE=w (with VECS=file): the post's mean pretrained word vector ×w
            if let Some((vecs, gw)) = glove() {
                dense.extend(pooled(
                    vecs,
                    GLOVE_DIM,
                    &r.text,
                    &mut Scratch::default(),
                    gw,
                    Pool::MEAN,
                ));
            }
            Some(Example {
                feats: charw(feats, env("CHARW", 1.0)),
                dense,
                label,
                weight: w,
            })
        })
        .collect()
}

/// Trains SEEDS models (different shuffles) and averages their weights.
fn train_avg(
    name: &str,
    labels: &[String],
    nd: usize,
    ex: &[Example],
    p: &TrainParams,
) -> LinearModel {
    let n: u64 = env("SEEDS", 1);
    if n <= 1 {
        return train(name, labels, nd, ex, p);
    }
    let mut acc: Vec<f32> = vec![];
    let mut first: Option<LinearModel> = None;
    for sd in 0..n {
        let q = TrainParams {
            seed: p.seed + sd,
            ..*p
        };
        let m = train(name, labels, nd, ex, &q);
        let sc = m.header.scale;
        if acc.is_empty() {
            acc = vec![0.0; m.raw().len()];
        }
        for (a, &w) in acc.iter_mut().zip(m.raw()) {
            *a += f32::from(w) * sc / n as f32;
        }
        match &mut first {
            None => {
                let mut m = m;
                m.header.dense.iter_mut().for_each(|x| *x /= n as f32);
                m.header.bias.iter_mut().for_each(|x| *x /= n as f32);
                first = Some(m);
            }
            Some(f) => {
                for (a, b) in f.header.dense.iter_mut().zip(&m.header.dense) {
                    *a += b / n as f32;
                }
                for (a, b) in f.header.bias.iter_mut().zip(&m.header.bias) {
                    *a += b / n as f32;
                }
            }
        }
    }
    let f = first.unwrap();
    LinearModel::from_f32(f.header, &acc)
}

fn params() -> TrainParams {
    TrainParams {
        bits: env("BITS", 17),
        epochs: env("EPOCHS", 4),
        lr: env("LR", 0.1),
        l2: env("L2", 1e-6),
        seed: 42,
        balanced: env("BAL", 1) == 1,
        balance_power: env("BPOW", 1.0),
        nb_alpha: env("NB", 0.0),
        average: env("AVG", 0) == 1,
    }
}

fn main() {
    let d = Path::new("../shared/data");
    let what = std::env::args().nth(1).unwrap();
    let dev = env("DEV", 0) == 1;
    let fe = bare_engine();
    let lab: Vec<String> = SENTIMENT_LABELS.iter().map(|s| s.to_string()).collect();
    match what.as_str() {
        "sent" => {
            let te = norm(read_tweeteval(&d.join("tweeteval/train_text.txt")).unwrap());
            let air_path = d.join("airline/train.csv");
            let (air, _) =
                read_labelled(&air_path, Task::Sentiment, "text", None, Split::Train).unwrap();
            let (air_dev, _) =
                read_labelled(&air_path, Task::Sentiment, "text", None, Split::Dev).unwrap();
            let te_dev = norm(read_tweeteval(&d.join("tweeteval/val_text.txt")).unwrap());
            // TweetEval train has no ids: inner split by text hash, 1 in 5
            let (te_v, te_t): (Vec<Row>, Vec<Row>) = if dev {
                (te_dev, te)
            } else {
                te.into_iter().partition(inner)
            };
            let (air_v, air_t): (Vec<Row>, Vec<Row>) = if dev {
                (air_dev, air)
            } else {
                air.into_iter().partition(inner)
            };
            let aw: f32 = env("AW", 3.0);
            let tw: f32 = env("TW", 1.0);
            let mut exs = ex(&fe, &te_t, &SENTIMENT_LABELS, tw);
            // per-domain class balancing
            let dombal = env("DOMBAL", 0) == 1;
            let mut air_ex = ex(&fe, &air_t, &SENTIMENT_LABELS, aw);
            let conf_mode: u32 = env("CONF", 0);
            if conf_mode > 0 {
                let cm = confidence_by_id(&air_path, "airline_sentiment_confidence").unwrap();
                let mut kept = vec![];
                for (e, r) in air_ex.into_iter().zip(&air_t) {
                    let c = cm.get(r.split_key().trim()).copied().unwrap_or(1.0);
                    match conf_mode {
                        1 => kept.push(Example {
                            weight: e.weight * c,
                            ..e
                        }),
                        2 => {
                            if c >= env("CMIN", 0.6) {
                                kept.push(e)
                            }
                        }
                        _ => kept.push(Example {
                            weight: e.weight * c * c,
                            ..e
                        }),
                    }
                }
                air_ex = kept;
            }
            if dombal {
                for set in [&mut exs, &mut air_ex] {
                    let mut c = [0f32; 3];
                    for e in set.iter() {
                        c[e.label] += 1.0;
                    }
                    let n: f32 = c.iter().sum();
                    for e in set.iter_mut() {
                        e.weight *= n / (3.0 * c[e.label]);
                    }
                }
            }
            exs.extend(air_ex);
            if env("ML", 1) == 1 {
                for l in [
                    "arabic",
                    "french",
                    "german",
                    "hindi",
                    "italian",
                    "portuguese",
                    "spanish",
                ] {
                    let rows = norm(
                        read_tweeteval(&d.join("multilingual").join(l).join("train_text.txt"))
                            .unwrap(),
                    );
                    exs.extend(ex(&fe, &rows, &SENTIMENT_LABELS, env("MW", 1.0)));
                }
            }
            let mut p = params();
            if dombal {
                p.balanced = false;
            }
            let m = train(
                "s",
                &lab,
                earshot_analysis::text::N_DENSE + glove_dim(),
                &exs,
                &p,
            );
            let tv = ex(&fe, &te_v, &SENTIMENT_LABELS, 1.0);
            let av = ex(&fe, &air_v, &SENTIMENT_LABELS, 1.0);
            if env("GRID", 0) == 1 {
                for b1 in [-0.3f32, -0.2, -0.1, 0.0] {
                    for b2 in [-0.4f32, -0.3, -0.2, -0.1, 0.0] {
                        let (_, ter) = score(&m, &tv, &[0.0, b1, b2]);
                        let (af, _) = score(&m, &av, &[0.0, b1, b2]);
                        println!("bias {b1} {b2}: te {ter:.4} air {af:.4}");
                    }
                }
            }
            if let Ok(path) = std::env::var("SAVE") {
                std::fs::write(path, m.to_bytes().unwrap()).unwrap();
            }
            let (_, ter) = score(&m, &tv, &[]);
            let (af, _) = score(&m, &av, &[]);
            println!(
                "{} te_recall {ter:.4} air_f1 {af:.4}  {:?} aw={aw} tw={tw} dombal={dombal}",
                if dev { "DEV" } else { "inner" },
                p
            );
        }
        "comp" => {
            let sm = LinearModel::from_bytes(
                &std::fs::read(std::env::var("SENT").unwrap_or("/tmp/m0/sentiment.bin".into()))
                    .unwrap(),
            )
            .unwrap();
            let fe = Engine::from_models(
                sm,
                bare_engine().complaint_model().clone(),
                bare_engine().category_model().clone(),
                &Default::default(),
            );
            let file = d.join("complaints/train.csv");
            let (tr, _) =
                read_labelled(&file, Task::Complaint, "text", None, Split::Train).unwrap();
            let (dv, _) = read_labelled(&file, Task::Complaint, "text", None, Split::Dev).unwrap();
            let cl = ["0", "1"];
            let mk = |rows: &[Row], w: f32| -> Vec<Example> {
                rows.iter()
                    .filter_map(|r| {
                        let label = cl.iter().position(|l| *l == r.label)?;
                        Some(Example {
                            feats: charw(fe.features(&r.text).0, env("CHARW", 1.0)),
                            dense: fe.complaint_dense(&r.text),
                            label,
                            weight: w,
                        })
                    })
                    .collect()
            };
            // distant supervision from airline train split: negative -> complaint
            let airw: f32 = env("AIRW", 0.0);
            let mut air_ex = vec![];
            if airw > 0.0 {
                let (air, _) = read_labelled(
                    &d.join("airline/train.csv"),
                    Task::Sentiment,
                    "text",
                    None,
                    Split::Train,
                )
                .unwrap();
                let neu: f32 = env("AIRNEU", 1.0);
                let rows: Vec<Row> = air
                    .into_iter()
                    .filter(|r| neu > 0.0 || r.label != "neutral")
                    .map(|r| Row {
                        label: if r.label == "negative" {
                            "1".into()
                        } else {
                            "0".into()
                        },
                        ..r
                    })
                    .collect();
                air_ex = mk(&rows, airw);
            }
            let lab: Vec<String> = cl.iter().map(|s| s.to_string()).collect();
            let p = params();
            let nd = earshot_analysis::COMPLAINT_DENSE;
            let mut f1s = vec![];
            if dev {
                let mut t = mk(&tr, 1.0);
                t.extend(air_ex.iter().cloned());
                let m = train("c", &lab, nd, &t, &p);
                f1s.push(score(&m, &mk(&dv, 1.0), &[]).0);
            } else {
                let folds: u64 = env("FOLDS", 5);
                for rep in 0..env("REPS", 1u64) {
                    for f in 0..folds {
                        let key = |r: &Row| in_fold(r, 0x77 + rep, folds, f);
                        let (v, t): (Vec<Row>, Vec<Row>) = tr.iter().cloned().partition(key);
                        let mut t = mk(&t, 1.0);
                        t.extend(air_ex.iter().cloned());
                        let m = train_avg("c", &lab, nd, &t, &p);
                        f1s.push(score(&m, &mk(&v, 1.0), &[0.0, env("BIASC", 0.0)]).0);
                    }
                }
            }
            let mean = f1s.iter().sum::<f64>() / f1s.len() as f64;
            println!(
                "{} comp_f1 {mean:.4} {:?} airw={airw}",
                if dev { "DEV" } else { "cv" },
                p
            );
        }
        "cat" => {
            let air = d.join("airline/train.csv");
            let fine = env("FINE", 0) == 1;
            let read = |split| -> Vec<Row> {
                if fine {
                    // the 10 original reasons
                    let (rows, _) =
                        read_labelled(&air, Task::Sentiment, "text", None, split).unwrap();
                    let _ = rows;
                    let mut rdr = csv::Reader::from_path(&air).unwrap();
                    let h = rdr.headers().unwrap().clone();
                    let ci = |n: &str| h.iter().position(|c| c == n).unwrap();
                    let (id, t, l) = (ci("tweet_id"), ci("text"), ci("negativereason"));
                    rdr.records()
                        .map(|r| r.unwrap())
                        .filter(|r| !r[l].trim().is_empty())
                        .map(|r| Row {
                            id: Some(r[id].to_string()),
                            text: r[t].to_string(),
                            label: r[l].trim().to_string(),
                        })
                        .filter(|r| split.keeps(r.split_key()))
                        .collect()
                } else {
                    read_labelled(&air, Task::Category, "text", None, split)
                        .unwrap()
                        .0
                }
            };
            let tr = read(Split::Train);
            let dv = read(Split::Dev);
            let labels: Vec<String> = if fine {
                earshot_analysis::AIRLINE_REASON_MAP
                    .iter()
                    .map(|(a, _)| a.to_string())
                    .collect()
            } else {
                earshot_analysis::taxonomy::DEFAULT_CATEGORIES
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            };
            let lr: Vec<&str> = labels.iter().map(String::as_str).collect();
            let p = params();
            let nd = earshot_analysis::text::N_DENSE
                + if env("SD", 0.0) > 0.0 { 3 } else { 0 }
                + if env("LEN", 0.0) > 0.0 { 3 } else { 0 }
                + glove_dim();
            let mut f1s = vec![];
            let mut mapped = vec![];
            let mut run = |t: &[Row], v: &[Row]| {
                let mut tx = ex(&fe, t, &lr, 1.0);
                let cm: u32 = env("RCONF", 0);
                if cm > 0 {
                    let conf = confidence_by_id(&air, "negativereason_confidence").unwrap();
                    for (e, r) in tx.iter_mut().zip(t) {
                        let c = conf.get(r.split_key().trim()).copied().unwrap_or(1.0);
                        e.weight *= if cm == 1 { c } else { c * c };
                    }
                }
                // RSOFT=1|2: soft labels from the crowd's confidence c: the
                // row keeps weight c for its label and gives 1 - c to the
                // other classes evenly (1) or to `other` (2).
                let soft: u32 = env("RSOFT", 0);
                if soft > 0 {
                    let conf = confidence_by_id(&air, "negativereason_confidence").unwrap();
                    let k = labels.len();
                    let other = lr.iter().position(|l| *l == "other").unwrap_or(k - 1);
                    let mut extra = vec![];
                    for (e, r) in tx.iter_mut().zip(t) {
                        let c = conf.get(r.split_key().trim()).copied().unwrap_or(1.0);
                        let rest = 1.0 - c;
                        e.weight *= c;
                        for j in 0..k {
                            let w = match soft {
                                1 if j != e.label => rest / (k - 1) as f32,
                                2 if j == other && j != e.label => rest,
                                _ => 0.0,
                            };
                            if w > 0.0 {
                                extra.push(Example {
                                    label: j,
                                    weight: w,
                                    ..e.clone()
                                });
                            }
                        }
                    }
                    tx.extend(extra);
                }
                let m = train_avg("k", &labels, nd, &tx, &p);
                let vx = ex(&fe, v, &lr, 1.0);
                f1s.push(score(&m, &vx, &[]).0);
                if fine {
                    // sum the reason probabilities into taxonomy classes
                    let tax = earshot_analysis::taxonomy::DEFAULT_CATEGORIES;
                    let to = |i: usize| {
                        tax.iter()
                            .position(|c| *c == earshot_analysis::AIRLINE_REASON_MAP[i].1)
                            .unwrap()
                    };
                    let (mut g, mut pr) = (vec![], vec![]);
                    let mut out = vec![0f32; m.k()];
                    for e in &vx {
                        let f = e.feat_list();
                        m.predict(&f, &e.dense, &mut out);
                        let mut agg = [0f32; 10];
                        for (i, o) in out.iter().enumerate() {
                            agg[to(i)] += o;
                        }
                        pr.push((0..10).fold(0, |b, j| if agg[j] > agg[b] { j } else { b }));
                        g.push(to(e.label));
                    }
                    let tl: Vec<String> = tax.iter().map(|s| s.to_string()).collect();
                    mapped.push(metrics("m", &tl, &g, &pr).macro_f1);
                }
            };
            if dev {
                run(&tr, &dv);
            } else {
                for salt in [1u64, 2, 3] {
                    let key = |r: &Row| in_fold(r, salt, 5, 0);
                    let (v, t): (Vec<Row>, Vec<Row>) = tr.iter().cloned().partition(key);
                    run(&t, &v);
                }
            }
            if fine {
                println!(
                    "mapped to taxonomy: {:.4}",
                    mapped.iter().sum::<f64>() / mapped.len() as f64
                );
            }
            let mean = f1s.iter().sum::<f64>() / f1s.len() as f64;
            println!(
                "{} cat_f1 {mean:.4} fine={fine} {:?}",
                if dev { "DEV" } else { "inner" },
                p
            );
        }
        _ => panic!("sent|comp|cat"),
    }
}
