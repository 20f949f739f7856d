//! Word vectors learned from the shared unlabelled posts (skip-gram with
//! negative sampling, the word2vec recipe, seeded) and their mean over a
//! post as extra inputs to the reason and complaint models; measured on
//! train-only folds against the shipped recipes. Not shipped: see
//! docs/ANALYSIS.md, "v1.4: what was tried".
//! `cargo run --release -p earshot-analysis --example wordvec`
#![allow(clippy::unwrap_used, clippy::needless_range_loop)]

use std::collections::HashMap;
use std::path::Path;

use earshot_analysis::data::{Row, Split, Task, read_labelled, read_tweeteval};
use earshot_analysis::model::{Example, LinearModel, SplitMix, TrainParams, train};
use earshot_analysis::taxonomy::DEFAULT_CATEGORIES;
use earshot_analysis::text::Scratch;
use earshot_analysis::{COMPLAINT_DENSE, COMPLAINT_LABELS, Engine};

mod common;
use common::{Pool, env_list, in_fold, load_vectors, pooled, report, word_hashes};

fn main() {
    let d = Path::new("../shared/data");
    let mut s = Scratch::default();
    // The corpus: the training side of every shared set, never a dev split
    // or val file, and not UMSAB English (its sources overlap TweetEval test).
    let mut texts: Vec<String> = read_tweeteval(&d.join("tweeteval/train_text.txt"))
        .unwrap()
        .into_iter()
        .map(|r| r.text)
        .collect();
    let air = d.join("airline/train.csv");
    for (task, file) in [
        (Task::Sentiment, air.clone()),
        (Task::Complaint, d.join("complaints/train.csv")),
    ] {
        texts.extend(
            read_labelled(&file, task, "text", None, Split::Train)
                .unwrap()
                .0
                .into_iter()
                .map(|r| r.text),
        );
    }
    let mut rdr = csv::Reader::from_path(d.join("twcs/twcs_sample.csv")).unwrap();
    let ti = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "text")
        .unwrap();
    texts.extend(rdr.records().map(|r| r.unwrap()[ti].to_string()));
    let sentences: Vec<Vec<u64>> = texts.iter().map(|t| word_hashes(t, &mut s)).collect();
    let mut p = Word2VecParams::default();
    let t0 = std::time::Instant::now();
    let vecs = match std::env::var("VECS") {
        Ok(path) => {
            let v = load_vectors(&path);
            p.dim = v.values().next().map_or(0, |x| x.len() - 1);
            v
        }
        Err(_) => train_word2vec(&sentences, &p),
    };
    println!(
        "word vectors: {} posts, {} words with vectors, dim {}, {:.1} s",
        texts.len(),
        vecs.len(),
        p.dim,
        t0.elapsed().as_secs_f64()
    );

    let fe = Engine::builtin();
    let params = |epochs, l2, nb| TrainParams {
        bits: 17,
        epochs,
        lr: 0.05,
        l2,
        seed: 42,
        balanced: true,
        balance_power: 1.0,
        nb_alpha: nb,
        average: false,
    };
    let n_dense = earshot_analysis::text::N_DENSE;

    // Reason model: the v1.3 recipe on three 1-in-5 folds of the train split.
    let (tr, _) = read_labelled(&air, Task::Category, "text", None, Split::Train).unwrap();
    let labels: Vec<String> = DEFAULT_CATEGORIES.iter().map(|c| c.to_string()).collect();
    if let Ok(path) = std::env::var("DUMP") {
        // the reason rows with their fold numbers, for prototyping elsewhere
        let mut w = csv::Writer::from_path(path).unwrap();
        w.write_record(["label", "text", "f1", "f2", "f3"]).unwrap();
        for r in &tr {
            let f = |salt| {
                (0..5u64)
                    .find(|&f| in_fold(r, salt, 5, f))
                    .unwrap()
                    .to_string()
            };
            w.write_record([r.label.clone(), r.text.clone(), f(1), f(2), f(3)])
                .unwrap();
        }
        return;
    }
    let pool = Pool::from_env();
    for scale in env_list("SCALES", &[0.0, 0.5, 1.0, 2.0, 3.0]) {
        let mut s = Scratch::default();
        let mut mk = |rows: &[Row]| -> Vec<Example> {
            rows.iter()
                .filter_map(|r| {
                    let label = DEFAULT_CATEGORIES.iter().position(|c| *c == r.label)?;
                    let (feats, mut dense) = fe.features(&r.text);
                    if scale > 0.0 {
                        dense.extend(pooled(&vecs, p.dim, &r.text, &mut s, scale, pool));
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
        let nd = n_dense + if scale > 0.0 { pool.dim(p.dim) } else { 0 };
        let mut f1 = vec![];
        for salt in [1u64, 2, 3] {
            let (v, t): (Vec<Row>, Vec<Row>) =
                tr.iter().cloned().partition(|r| in_fold(r, salt, 5, 0));
            let m: LinearModel = train("k", &labels, nd, &mk(&t), &params(50, 1e-2, 1.0));
            f1.push(report(&m, &mk(&v), &[]).macro_f1);
        }
        println!(
            "reason, word-vector scale {scale}: macro-F1 {:.4} (3 folds)",
            f1.iter().sum::<f64>() / 3.0
        );
    }

    // Complaint model: the v1.2 recipe (handle 4-grams, stacked on the
    // shipped sentiment model) on 3 × 5 folds of the train split.
    let (tr, _) = read_labelled(
        &d.join("complaints/train.csv"),
        Task::Complaint,
        "text",
        None,
        Split::Train,
    )
    .unwrap();
    let labels: Vec<String> = COMPLAINT_LABELS.iter().map(|c| c.to_string()).collect();
    if std::env::var("SKIP_COMPLAINT").is_ok() {
        return;
    }
    for scale in env_list("CSCALES", &[0.0, 0.5, 1.0, 2.0]) {
        let mut s = Scratch::default();
        let mut mk = |rows: &[Row]| -> Vec<Example> {
            rows.iter()
                .map(|r| {
                    let mut dense = fe.complaint_dense(&r.text);
                    if scale > 0.0 {
                        dense.extend(pooled(&vecs, p.dim, &r.text, &mut s, scale, pool));
                    }
                    Example {
                        feats: fe.complaint_features(&r.text),
                        dense,
                        label: usize::from(r.label == "1"),
                        weight: 1.0,
                    }
                })
                .collect()
        };
        let nd = COMPLAINT_DENSE + if scale > 0.0 { pool.dim(p.dim) } else { 0 };
        let mut f1 = vec![];
        for rep in 0..3u64 {
            for f in 0..5 {
                let (v, t): (Vec<Row>, Vec<Row>) = tr
                    .iter()
                    .cloned()
                    .partition(|r| in_fold(r, 0x77 + rep, 5, f));
                let m = train("c", &labels, nd, &mk(&t), &params(10, 1e-6, 0.0));
                f1.push(report(&m, &mk(&v), &[]).macro_f1);
            }
        }
        println!(
            "complaint, word-vector scale {scale}: macro-F1 {:.4} (15 folds)",
            f1.iter().sum::<f64>() / 15.0
        );
    }
}

#[derive(Debug, Clone, Copy)]
struct Word2VecParams {
    dim: usize,
    window: usize,
    negative: usize,
    epochs: usize,
    min_count: u32,
    /// Subsampling threshold for frequent words.
    sample: f64,
    lr: f32,
    seed: u64,
}

impl Default for Word2VecParams {
    fn default() -> Self {
        Word2VecParams {
            dim: 50,
            window: 5,
            negative: 5,
            epochs: 5,
            min_count: 3,
            sample: 1e-3,
            lr: 0.025,
            seed: 42,
        }
    }
}

/// Learns vectors for the words (hashes) of `sentences` that occur at least
/// `min_count` times.
fn train_word2vec(sentences: &[Vec<u64>], p: &Word2VecParams) -> HashMap<u64, Vec<f32>> {
    // Vocabulary in a fixed order: by count, then hash.
    let mut counts = HashMap::<u64, u32>::new();
    for s in sentences {
        for &h in s {
            *counts.entry(h).or_default() += 1;
        }
    }
    let mut vocab: Vec<(u64, u32)> = counts
        .into_iter()
        .filter(|&(_, c)| c >= p.min_count)
        .collect();
    vocab.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let index: HashMap<u64, u32> = vocab
        .iter()
        .enumerate()
        .map(|(i, &(h, _))| (h, i as u32))
        .collect();
    let corpus: Vec<Vec<u32>> = sentences
        .iter()
        .map(|s| s.iter().filter_map(|h| index.get(h).copied()).collect())
        .collect();
    let total: u64 = vocab.iter().map(|v| u64::from(v.1)).sum();
    let (n, d) = (vocab.len(), p.dim);
    if n == 0 {
        return HashMap::new();
    }

    // Probability of keeping each occurrence of a word (frequent words are
    // thinned out; they carry little about their neighbours).
    let thr = p.sample * total as f64;
    let keep: Vec<f64> = vocab
        .iter()
        .map(|&(_, c)| {
            let f = f64::from(c);
            if thr > 0.0 {
                ((f / thr).sqrt() + 1.0) * thr / f
            } else {
                1.0
            }
        })
        .collect();
    // Noise distribution: unigram^0.75 as a sampling table.
    const TABLE: usize = 1 << 22;
    let pw: Vec<f64> = vocab
        .iter()
        .map(|&(_, c)| f64::from(c).powf(0.75))
        .collect();
    let z: f64 = pw.iter().sum();
    let mut table = Vec::with_capacity(TABLE);
    let mut acc = 0.0;
    for (i, w) in pw.iter().enumerate() {
        acc += w / z;
        while (table.len() as f64) < acc * TABLE as f64 && table.len() < TABLE {
            table.push(i as u32);
        }
    }
    while table.len() < TABLE {
        table.push((n - 1) as u32);
    }

    let mut rng = SplitMix(p.seed);
    let unit = |rng: &mut SplitMix| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut syn0: Vec<f32> = (0..n * d)
        .map(|_| ((unit(&mut rng) - 0.5) / d as f64) as f32)
        .collect();
    let mut syn1 = vec![0f32; n * d];
    let mut grad = vec![0f32; d];
    let planned = (total * p.epochs as u64).max(1) as f64;
    let mut seen = 0u64;
    let mut kept = Vec::new();
    for _ in 0..p.epochs {
        for s in &corpus {
            seen += s.len() as u64;
            let lr = (p.lr * (1.0 - (seen as f64 / planned) as f32)).max(p.lr * 1e-4);
            kept.clear();
            kept.extend(
                s.iter()
                    .copied()
                    .filter(|&w| keep[w as usize] >= unit(&mut rng)),
            );
            for (pos, &center) in kept.iter().enumerate() {
                let b = (rng.next_u64() % p.window as u64) as usize;
                let reach = p.window - b;
                let lo = pos.saturating_sub(reach);
                let hi = (pos + reach).min(kept.len() - 1);
                for (c, &ctx) in kept.iter().enumerate().take(hi + 1).skip(lo) {
                    if c == pos {
                        continue;
                    }
                    let l1 = ctx as usize * d;
                    grad.fill(0.0);
                    for k in 0..=p.negative {
                        let (target, label) = if k == 0 {
                            (center, 1.0)
                        } else {
                            let t = table[(rng.next_u64() % TABLE as u64) as usize];
                            if t == center {
                                continue;
                            }
                            (t, 0.0)
                        };
                        let l2 = target as usize * d;
                        let dot: f32 = syn0[l1..l1 + d]
                            .iter()
                            .zip(&syn1[l2..l2 + d])
                            .map(|(a, b)| a * b)
                            .sum();
                        let g = (label - sigmoid(dot)) * lr;
                        for j in 0..d {
                            grad[j] += g * syn1[l2 + j];
                            syn1[l2 + j] += g * syn0[l1 + j];
                        }
                    }
                    for (w, g) in syn0[l1..l1 + d].iter_mut().zip(&grad) {
                        *w += g;
                    }
                }
            }
        }
    }
    // unit length, as the mean of "directions" is what the inputs read
    vocab
        .iter()
        .enumerate()
        .map(|(i, &(h, _))| {
            let v = &syn0[i * d..(i + 1) * d];
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            (h, v.iter().map(|x| x / norm).collect())
        })
        .collect()
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    if x > 8.0 {
        1.0
    } else if x < -8.0 {
        0.0
    } else {
        1.0 / (1.0 + (-x).exp())
    }
}
