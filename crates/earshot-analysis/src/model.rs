//! A hashed linear model (multinomial logistic regression) over the features
//! of [`crate::text`]: weights are a flat `i16` table of `2^bits × k` plus a few
//! dense weights and a bias per class, with a temperature for calibration.
//!
//! File format (little endian): `ESHM1\n`, `u32` header length, a JSON header
//! ([`Header`]), then `2^bits × k` `i16` weights (row-major: bucket, class).

use crate::text::Feat;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8] = b"ESHM1\n";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub labels: Vec<String>,
    pub bits: u32,
    pub n_dense: usize,
    /// Multiply an `i16` weight by this to get the trained `f32` weight.
    pub scale: f32,
    pub dense: Vec<f32>,
    pub bias: Vec<f32>,
    /// Softmax temperature, fitted on rows the weights were not trained on
    /// (which rows: `info.temperature_fitted_on`, else the dev split).
    pub temperature: f32,
    /// Sentiment only: per detected language (ISO 639-1), a factor on the
    /// tempered logits, fitted out of fold (see `train::language_sharpness`);
    /// below 1 the model was over-confident in that language.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub language_sharpness: std::collections::BTreeMap<String, f32>,
    /// Free-form training provenance (data, hyper-parameters, dev scores).
    #[serde(default)]
    pub info: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct LinearModel {
    pub header: Header,
    k: usize,
    shift: u32,
    w: Vec<i16>,
}

impl LinearModel {
    pub fn k(&self) -> usize {
        self.k
    }

    pub fn labels(&self) -> &[String] {
        &self.header.labels
    }

    #[inline]
    pub fn bucket(&self, hash: u64) -> usize {
        (hash >> self.shift) as usize
    }

    /// Raw weight of `class` for feature bucket `b` (explanations).
    #[inline]
    pub fn weight(&self, b: usize, class: usize) -> f32 {
        f32::from(self.w[b * self.k + class]) * self.header.scale
    }

    /// Adds the raw (`i16`-unit) hashed sums of `feats` to `acc` (length `k`).
    #[inline]
    pub fn accumulate(&self, feats: &[Feat], acc: &mut [f32]) {
        let k = self.k;
        for f in feats {
            let b = self.bucket(f.hash) * k;
            if let Some(row) = self.w.get(b..b + k) {
                for (a, &w) in acc.iter_mut().zip(row) {
                    *a += f.val * f32::from(w);
                }
            }
        }
    }

    /// Writes calibrated probabilities into `out` (length `k`).
    pub fn predict(&self, feats: &[Feat], dense: &[f32], out: &mut [f32]) {
        let k = self.k;
        debug_assert_eq!(out.len(), k);
        let mut acc = [0f32; 16];
        let acc = &mut acc[..k.min(16)];
        if k == 3 {
            let (mut a0, mut a1, mut a2) = (0f32, 0f32, 0f32);
            for f in feats {
                let b = self.bucket(f.hash) * 3;
                if let Some(row) = self.w.get(b..b + 3) {
                    a0 += f.val * f32::from(row[0]);
                    a1 += f.val * f32::from(row[1]);
                    a2 += f.val * f32::from(row[2]);
                }
            }
            acc[0] = a0;
            acc[1] = a1;
            acc[2] = a2;
        } else {
            for f in feats {
                let b = self.bucket(f.hash) * k;
                if let Some(row) = self.w.get(b..b + k) {
                    for (a, &w) in acc.iter_mut().zip(row) {
                        *a += f.val * f32::from(w);
                    }
                }
            }
        }
        self.finish(acc, dense, out);
    }

    /// Turns accumulated raw (`i16`-unit) hashed sums into calibrated probabilities.
    pub fn finish(&self, acc: &[f32], dense: &[f32], out: &mut [f32]) {
        let k = self.k;
        let s = self.header.scale;
        for (j, o) in out.iter_mut().enumerate() {
            let mut z = acc.get(j).copied().unwrap_or(0.0) * s + self.header.bias[j];
            for (d, x) in dense.iter().enumerate().take(self.header.n_dense) {
                z += x * self.header.dense[d * k + j];
            }
            *o = z / self.header.temperature;
        }
        softmax(out);
    }

    /// The quantised weights, row-major (bucket, class).
    pub fn raw(&self) -> &[i16] {
        &self.w
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<LinearModel> {
        if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
            bail!("not an Earshot model file");
        }
        let mut p = MAGIC.len();
        let hl = u32::from_le_bytes([bytes[p], bytes[p + 1], bytes[p + 2], bytes[p + 3]]) as usize;
        p += 4;
        let header: Header =
            serde_json::from_slice(bytes.get(p..p + hl).context("truncated model header")?)?;
        p += hl;
        let k = header.labels.len();
        if k == 0 || k > 16 || header.bits == 0 || header.bits > 26 {
            bail!("unsupported model shape");
        }
        let n = (1usize << header.bits) * k;
        let raw = bytes.get(p..p + 2 * n).context("truncated model weights")?;
        let w = raw
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        if header.dense.len() != header.n_dense * k || header.bias.len() != k {
            bail!("inconsistent model header");
        }
        Ok(LinearModel {
            shift: 64 - header.bits,
            k,
            header,
            w,
        })
    }

    /// Quantises trained `f32` weights to `i16`.
    pub fn from_f32(mut header: Header, w: &[f32]) -> LinearModel {
        let k = header.labels.len();
        let max = w.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
        header.scale = max / 32767.0;
        let q = w
            .iter()
            .map(|x| (x / header.scale).round().clamp(-32767.0, 32767.0) as i16)
            .collect();
        LinearModel {
            shift: 64 - header.bits,
            k,
            header,
            w: q,
        }
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let h = serde_json::to_vec(&self.header)?;
        let mut out = Vec::with_capacity(MAGIC.len() + 4 + h.len() + 2 * self.w.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(h.len() as u32).to_le_bytes());
        out.extend_from_slice(&h);
        for w in &self.w {
            out.extend_from_slice(&w.to_le_bytes());
        }
        Ok(out)
    }
}

#[inline]
pub fn softmax(z: &mut [f32]) {
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    for v in z.iter_mut() {
        *v /= s;
    }
}

/// A training example: feature buckets are resolved per model at train time.
#[derive(Debug, Clone)]
pub struct Example {
    pub feats: Vec<(u64, f32)>,
    pub dense: Vec<f32>,
    pub label: usize,
    pub weight: f32,
}

impl Example {
    /// The hashed inputs as the inference side takes them.
    pub fn feat_list(&self) -> Vec<Feat> {
        self.feats
            .iter()
            .map(|&(hash, val)| Feat {
                hash,
                val,
                tok: u32::MAX,
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TrainParams {
    pub bits: u32,
    pub epochs: usize,
    pub lr: f32,
    pub l2: f32,
    pub seed: u64,
    /// Weight classes inversely to their frequency (better macro recall).
    pub balanced: bool,
    /// With `balanced`, class weights are `(total / (k · count))^balance_power`:
    /// 1 is full balancing, 0.5 a softer one (often better for macro-F1).
    pub balance_power: f32,
    /// NB-LR: scale each (bucket, class) input by its naive-Bayes log-count
    /// ratio with this add-α smoothing (0 = off). The ratios are folded into
    /// the exported weights, so inference is unchanged.
    #[serde(default)]
    pub nb_alpha: f32,
    /// Return the average of the weights over all updates after the first
    /// epoch (averaged SGD) instead of the last weights.
    #[serde(default)]
    pub average: bool,
}

/// Small deterministic RNG (SplitMix64) so training is reproducible everywhere.
pub struct SplitMix(pub u64);
impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Trains a multinomial logistic regression with AdaGrad and L2 (applied to
/// the weights an example touches), in a fixed, seeded order.
#[allow(clippy::needless_range_loop)]
pub fn train(
    name: &str,
    labels: &[String],
    n_dense: usize,
    examples: &[Example],
    p: &TrainParams,
) -> LinearModel {
    let k = labels.len();
    let buckets = 1usize << p.bits;
    let shift = 64 - p.bits;
    let mut w = vec![0f32; buckets * k];
    let mut g = vec![0f32; buckets * k];
    let mut wd = vec![0f32; n_dense * k];
    let mut gd = vec![0f32; n_dense * k];
    let mut bias = vec![0f32; k];
    let mut gb = vec![0f32; k];
    let mut counts = vec![0f32; k];
    for e in examples {
        counts[e.label] += e.weight;
    }
    let total: f32 = counts.iter().sum();
    let cw: Vec<f32> = counts
        .iter()
        .map(|&c| {
            if p.balanced && c > 0.0 {
                (total / (k as f32 * c)).powf(p.balance_power)
            } else {
                1.0
            }
        })
        .collect();
    let r = (p.nb_alpha > 0.0).then(|| nb_ratios(examples, k, p.bits, p.nb_alpha));
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = SplitMix(p.seed);
    let mut z = vec![0f32; k];
    const EPS: f32 = 1e-6;
    // averaged weights: avg = w - u / steps, with u += step · Δw
    let mut u = vec![0f32; if p.average { buckets * k } else { 0 }];
    let mut ud = vec![0f32; n_dense * k];
    let mut ub = vec![0f32; k];
    let mut step = 0f32;
    for epoch in 0..p.epochs {
        rng.shuffle(&mut order);
        let avg = p.average && (epoch > 0 || p.epochs == 1);
        for &i in &order {
            let e = &examples[i];
            z.copy_from_slice(&bias);
            for &(h, v) in &e.feats {
                let b = (h >> shift) as usize * k;
                match &r {
                    Some(r) => {
                        for j in 0..k {
                            z[j] += v * w[b + j] * r[b + j];
                        }
                    }
                    None => {
                        for j in 0..k {
                            z[j] += v * w[b + j];
                        }
                    }
                }
            }
            for (d, x) in e.dense.iter().enumerate().take(n_dense) {
                for j in 0..k {
                    z[j] += x * wd[d * k + j];
                }
            }
            softmax(&mut z);
            let sw = e.weight * cw[e.label];
            for j in 0..k {
                z[j] = (z[j] - if j == e.label { 1.0 } else { 0.0 }) * sw;
            }
            for &(h, v) in &e.feats {
                let b = (h >> shift) as usize * k;
                for j in 0..k {
                    let x = match &r {
                        Some(r) => v * r[b + j],
                        None => v,
                    };
                    let gr = z[j] * x + p.l2 * w[b + j];
                    g[b + j] += gr * gr;
                    let dw = p.lr * gr / (g[b + j] + EPS).sqrt();
                    w[b + j] -= dw;
                    if avg {
                        u[b + j] -= step * dw;
                    }
                }
            }
            for (d, x) in e.dense.iter().enumerate().take(n_dense) {
                for j in 0..k {
                    let gr = z[j] * x;
                    gd[d * k + j] += gr * gr;
                    let dw = p.lr * gr / (gd[d * k + j] + EPS).sqrt();
                    wd[d * k + j] -= dw;
                    if avg {
                        ud[d * k + j] -= step * dw;
                    }
                }
            }
            for j in 0..k {
                gb[j] += z[j] * z[j];
                let dw = p.lr * z[j] / (gb[j] + EPS).sqrt();
                bias[j] -= dw;
                if avg {
                    ub[j] -= step * dw;
                }
            }
            if avg {
                step += 1.0;
            }
        }
    }
    if step > 0.0 {
        for (w, u) in w.iter_mut().zip(&u) {
            *w -= u / step;
        }
        for (w, u) in wd.iter_mut().zip(&ud) {
            *w -= u / step;
        }
        for (w, u) in bias.iter_mut().zip(&ub) {
            *w -= u / step;
        }
    }
    if let Some(r) = &r {
        for (w, r) in w.iter_mut().zip(r) {
            *w *= r;
        }
    }
    let header = Header {
        name: name.to_string(),
        labels: labels.to_vec(),
        bits: p.bits,
        n_dense,
        scale: 1.0,
        dense: wd,
        bias,
        temperature: 1.0,
        language_sharpness: Default::default(),
        info: serde_json::json!({ "params": p }),
    };
    LinearModel::from_f32(header, &w)
}

/// Naive-Bayes log-count ratios per (bucket, class): how much more often a
/// bucket fires in class `j` than in the other classes (Wang & Manning 2012,
/// one-vs-rest), from weighted presence counts with add-`alpha` smoothing.
fn nb_ratios(examples: &[Example], k: usize, bits: u32, alpha: f32) -> Vec<f32> {
    let buckets = 1usize << bits;
    let shift = 64 - bits;
    let mut c = vec![0f32; buckets * k];
    for e in examples {
        for &(h, _) in &e.feats {
            c[(h >> shift) as usize * k + e.label] += e.weight;
        }
    }
    let mut class_tot = vec![0f64; k];
    let mut all = vec![0f32; buckets];
    for b in 0..buckets {
        for j in 0..k {
            class_tot[j] += f64::from(c[b * k + j] + alpha);
            all[b] += c[b * k + j];
        }
    }
    let grand: f64 = class_tot.iter().sum();
    let mut r = vec![0f32; buckets * k];
    for b in 0..buckets {
        for j in 0..k {
            let pj = f64::from(c[b * k + j] + alpha) / class_tot[j];
            let rest = f64::from(all[b] - c[b * k + j]) + f64::from(alpha) * (k as f64 - 1.0);
            let qj = rest / (grand - class_tot[j]);
            r[b * k + j] = (pj / qj).ln().abs() as f32;
        }
    }
    r
}

/// Scales the logits behind the probabilities `p` by `a`: p_i^a renormalised
/// (a < 1 softens, a > 1 sharpens; the order of the classes never changes).
pub fn sharpen(p: &mut [f32], a: f32) {
    let mut z = 0.0;
    for x in p.iter_mut() {
        *x = x.max(1e-30).powf(a);
        z += *x;
    }
    p.iter_mut().for_each(|x| *x /= z);
}

/// Fits the softmax temperature minimising log-loss on held-out examples.
pub fn fit_temperature(model: &mut LinearModel, examples: &[Example]) -> f32 {
    fit_temperature_folds(&mut [(model, examples)])
}

/// One temperature for several models, each scored on its own held-out
/// examples (cross-validation folds): the grid value 0.4, 0.5, …, 10.0 with
/// the least total log-loss. The models' temperatures are left at it.
pub fn fit_temperature_folds(folds: &mut [(&mut LinearModel, &[Example])]) -> f32 {
    let feats: Vec<Vec<Vec<Feat>>> = folds
        .iter()
        .map(|(_, ex)| ex.iter().map(Example::feat_list).collect())
        .collect();
    let mut best = (f32::INFINITY, 1.0);
    for step in 0..=96 {
        let t = 0.4 + 0.1 * step as f32;
        let mut nll = 0.0f32;
        for ((model, examples), feats) in folds.iter_mut().zip(&feats) {
            model.header.temperature = t;
            let mut out = vec![0f32; model.k()];
            for (e, f) in examples.iter().zip(feats) {
                model.predict(f, &e.dense, &mut out);
                nll -= out[e.label].max(1e-9).ln();
            }
        }
        if nll < best.0 {
            best = (nll, t);
        }
    }
    for (model, _) in folds.iter_mut() {
        model.header.temperature = best.1;
    }
    best.1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ex(hash: u64, label: usize) -> Example {
        Example {
            feats: vec![(hash, 1.0)],
            dense: vec![],
            label,
            weight: 1.0,
        }
    }

    #[test]
    fn temperature_softens_a_model_that_is_too_sure() {
        // Trained on clean data, the model is near certain about both
        // words; held out, each word's label is right only 7 times in 10.
        let a = 0x1234_5678_9abc_def0;
        let b = 0x0fed_cba9_8765_4321;
        let train_ex: Vec<Example> = (0..50).flat_map(|_| [ex(a, 0), ex(b, 1)]).collect();
        let params = TrainParams {
            bits: 10,
            epochs: 20,
            lr: 0.5,
            l2: 0.0,
            seed: 1,
            balanced: false,
            balance_power: 1.0,
            nb_alpha: 0.0,
            average: false,
        };
        let labels = vec!["x".to_string(), "y".to_string()];
        let mut m = train("t", &labels, 0, &train_ex, &params);
        let held: Vec<Example> = (0..10)
            .flat_map(|i| [ex(a, usize::from(i >= 7)), ex(b, usize::from(i < 7))])
            .collect();
        let mut p = [0f32; 2];
        m.predict(&held[0].feat_list(), &[], &mut p);
        assert!(p[0] > 0.9, "the trained model should be sure: {p:?}");
        let t = fit_temperature(&mut m, &held);
        assert!(t > 1.0, "{t}");
        m.predict(&held[0].feat_list(), &[], &mut p);
        assert!((p[0] - 0.7).abs() < 0.1, "{p:?} at temperature {t}");
        // The same rows split over two "folds" of the same model give the
        // same temperature as one pool.
        let (h1, h2) = held.split_at(7);
        let (mut m1, mut m2) = (m.clone(), m.clone());
        m2.header.temperature = 1.0;
        assert_eq!(
            fit_temperature_folds(&mut [(&mut m1, h1), (&mut m2, h2)]),
            t
        );
        assert_eq!(m2.header.temperature, t);
    }
}
