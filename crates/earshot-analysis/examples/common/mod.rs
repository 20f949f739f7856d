//! What the experiment harnesses (`tune`, `ideas`) share: knobs from the
//! environment, the train-only folds, feature-group weighting and scoring.
#![allow(dead_code)]

use earshot_analysis::eval::{Report, metrics};
use earshot_analysis::model::{Example, LinearModel};
use std::collections::HashMap;

use earshot_analysis::text::{Scratch, TokKind, tokenize};

/// An experiment knob: the environment variable `k` parsed, or `d`.
pub fn env<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

pub use earshot_analysis::data::in_fold;

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

/// Token hashes that get word vectors: every token but punctuation.
pub fn word_hashes(text: &str, s: &mut Scratch) -> Vec<u64> {
    tokenize(text, s);
    s.toks
        .iter()
        .filter(|t| t.kind != TokKind::Punct)
        .map(|t| t.hash)
        .collect()
}

/// Pretrained word vectors (`word rank v1 … vd` per line, as written by
/// scripts/experiments/glove_subset.py), keyed by token hash, unit length,
/// each followed by its SIF weight a/(a + p) (a = 10⁻³, p the word's Zipf
/// probability from its frequency rank): `d + 1` numbers a word.
pub fn load_vectors(path: &str) -> HashMap<u64, Vec<f32>> {
    let mut s = Scratch::default();
    let mut out = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let mut it = line.split(' ');
        let word = it.next().unwrap();
        let rank: f32 = it.next().unwrap().parse().unwrap();
        let v: Vec<f32> = it.map(|x| x.parse().unwrap()).collect();
        // Zipf over GloVe's 341,479 words: p(rank) = 1 / (rank · H), H ≈ 13.3
        let sif = 1e-3 / (1e-3 + 1.0 / (rank * 13.3));
        if let [h] = word_hashes(word, &mut s)[..] {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            out.entry(h).or_insert_with(|| {
                let mut u: Vec<f32> = v.iter().map(|x| x / norm).collect();
                u.push(sif);
                u
            });
        }
    }
    out
}

/// How a post's word vectors become one input vector.
#[derive(Debug, Clone, Copy)]
pub struct Pool {
    /// Weight each word by its SIF weight (vectors without one weigh 1).
    pub sif: bool,
    /// Append the element-wise maximum to the mean.
    pub max: bool,
}

impl Pool {
    pub const MEAN: Pool = Pool {
        sif: false,
        max: false,
    };

    /// `POOL=mean|sif|meanmax|sifmax` (default `mean`).
    pub fn from_env() -> Pool {
        let p = std::env::var("POOL").unwrap_or_default();
        Pool {
            sif: p.starts_with("sif"),
            max: p.ends_with("max"),
        }
    }

    /// Length of the pooled vector for `dim`-dimensional word vectors.
    pub fn dim(self, dim: usize) -> usize {
        if self.max { 2 * dim } else { dim }
    }
}

/// The pooled word vectors of `text` (zeros when no word has one), ×`scale`.
pub fn pooled(
    v: &HashMap<u64, Vec<f32>>,
    dim: usize,
    text: &str,
    s: &mut Scratch,
    scale: f32,
    pool: Pool,
) -> Vec<f32> {
    let mut out = vec![0f32; dim];
    let mut mx = vec![f32::MIN; dim];
    let mut n = 0f32;
    for h in word_hashes(text, s) {
        if let Some(x) = v.get(&h) {
            let w = if pool.sif {
                x.get(dim).copied().unwrap_or(1.0)
            } else {
                1.0
            };
            for (o, x) in out.iter_mut().zip(&x[..dim]) {
                *o += w * x;
            }
            for (m, x) in mx.iter_mut().zip(&x[..dim]) {
                *m = m.max(*x);
            }
            n += w;
        }
    }
    if n > 0.0 {
        out.iter_mut().for_each(|o| *o *= scale / n);
    }
    if pool.max {
        out.extend(mx.iter().map(|m| if n > 0.0 { m * scale } else { 0.0 }));
    }
    out
}

/// A comma-separated list of numbers from the environment variable `k`, or `d`.
pub fn env_list(k: &str, d: &[f32]) -> Vec<f32> {
    std::env::var(k)
        .map(|v| v.split(',').map(|x| x.parse().unwrap()).collect())
        .unwrap_or_else(|_| d.to_vec())
}
