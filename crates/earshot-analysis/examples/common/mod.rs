//! What the experiment harnesses (`tune`, `ideas`) share: knobs from the
//! environment, the train-only folds, feature-group weighting and scoring.
#![allow(dead_code)]

use earshot_analysis::data::Row;
use earshot_analysis::eval::{Report, metrics};
use earshot_analysis::model::{Example, LinearModel};
use earshot_analysis::text::{fnv, mix};

/// An experiment knob: the environment variable `k` parsed, or `d`.
pub fn env<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Whether `r` falls in the one-in-`n` fold `f` of the partition `salt`
/// (by a hash of its id, so folds are stable across runs and machines).
pub fn in_fold(r: &Row, salt: u64, n: u64, f: u64) -> bool {
    mix(fnv(r.split_key().trim().as_bytes()) ^ salt) % n == f
}

/// Scales the character n-gram group (the features after the first change
/// of value: word features share one value, character n-grams another) by
/// `cw`; 0 drops it.
pub fn charw(mut f: Vec<(u64, f32)>, cw: f32) -> Vec<(u64, f32)> {
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

/// Scores `m` on `ex`, deciding by argmax of log-probability plus `bias`
/// (per class, missing entries 0).
pub fn report(m: &LinearModel, ex: &[Example], bias: &[f32]) -> Report {
    let k = m.k();
    let mut gold = vec![];
    let mut pred = vec![];
    let mut out = vec![0f32; k];
    for e in ex {
        m.predict(&e.feat_list(), &e.dense, &mut out);
        let z: Vec<f32> = out
            .iter()
            .enumerate()
            .map(|(j, p)| p.max(1e-30).ln() + bias.get(j).copied().unwrap_or(0.0))
            .collect();
        gold.push(e.label);
        pred.push((0..k).fold(0, |b, j| if z[j] > z[b] { j } else { b }));
    }
    metrics("x", m.labels(), &gold, &pred)
}

/// Pretrained word vectors (`word rank v1 … vd` per line, as written by
/// scripts/experiments/glove_subset.py), keyed by token hash, unit length,
/// each followed by its SIF weight a/(a + p) (a = 10⁻³, p the word's Zipf
/// probability from its frequency rank): `d + 1` numbers a word.
pub fn load_vectors(path: &str) -> std::collections::HashMap<u64, Vec<f32>> {
    use earshot_analysis::text::{Scratch, TokKind, tokenize};
    let mut s = Scratch::default();
    let mut out = std::collections::HashMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let mut it = line.split(' ');
        let word = it.next().unwrap();
        let rank: f32 = it.next().unwrap().parse().unwrap();
        let v: Vec<f32> = it.map(|x| x.parse().unwrap()).collect();
        // Zipf over GloVe's 341,479 words: p(rank) = 1 / (rank · H), H ≈ 13.3
        let sif = 1e-3 / (1e-3 + 1.0 / (rank * 13.3));
        tokenize(word, &mut s);
        let toks: Vec<u64> = s
            .toks
            .iter()
            .filter(|t| t.kind != TokKind::Punct)
            .map(|t| t.hash)
            .collect();
        if toks.len() == 1 {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            out.entry(toks[0]).or_insert_with(|| {
                let mut u: Vec<f32> = v.iter().map(|x| x / norm).collect();
                u.push(sif);
                u
            });
        }
    }
    out
}

/// Mean of the vectors of a text's words (zeros when none has one), ×`scale`.
pub fn mean_vector(
    v: &std::collections::HashMap<u64, Vec<f32>>,
    dim: usize,
    text: &str,
    scale: f32,
) -> Vec<f32> {
    use earshot_analysis::text::{Scratch, TokKind, tokenize};
    let mut s = Scratch::default();
    tokenize(text, &mut s);
    let mut out = vec![0f32; dim];
    let mut n = 0f32;
    for t in s.toks.iter().filter(|t| t.kind != TokKind::Punct) {
        if let Some(x) = v.get(&t.hash) {
            out.iter_mut().zip(&x[..dim]).for_each(|(o, x)| *o += x);
            n += 1.0;
        }
    }
    if n > 0.0 {
        out.iter_mut().for_each(|o| *o *= scale / n);
    }
    out
}
