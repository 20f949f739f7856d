//! Earshot's reading of a post: normalisation, language, sentiment, complaint,
//! category and urgency, with the evidence behind each decision.
//!
//! The models are hashed linear models trained in Rust by `earshot train`
//! (see [`train`]) and embedded in the binary, so nothing is read at run time.
//! One call tokenises the text once, hashes its features once and scores all
//! three models over the same features; buffers live in a thread-local
//! [`text::Scratch`], so concurrent calls neither lock nor churn the heap.

pub mod data;
pub mod eval;
pub mod lang;
pub mod lexicon;
pub mod model;
pub mod stream;
pub mod taxonomy;
pub mod text;
pub mod train;
pub mod urgency;

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use earshot_core::analysis::{CategoryScore, Evidence};
use earshot_core::{Analysis, Analyzer, Sentiment};

use crate::lang::{COMPLAINT_LANGS, LangId, SENTIMENT_LANGS};
use crate::lexicon::Lexicon;
use crate::model::{Header, LinearModel};
use crate::taxonomy::{CompiledTaxonomy, DEFAULT_CATEGORIES, Taxonomy};
use crate::text::{N_DENSE, Scratch, TokKind};
use crate::urgency::UrgencyMatcher;

pub use crate::taxonomy::AIRLINE_REASON_MAP;

/// Embedded model files (written by `earshot train`).
pub static SENTIMENT_MODEL: &[u8] = include_bytes!("../models/sentiment.bin");
pub static COMPLAINT_MODEL: &[u8] = include_bytes!("../models/complaint.bin");
pub static CATEGORY_MODEL: &[u8] = include_bytes!("../models/category.bin");

/// Sentiment model classes, in order.
pub const SENTIMENT_LABELS: [&str; 3] = ["negative", "neutral", "positive"];
/// Complaint model classes, in order.
pub const COMPLAINT_LABELS: [&str; 2] = ["0", "1"];
/// Dense inputs of the complaint model: text cues plus the sentiment probabilities.
pub const COMPLAINT_DENSE: usize = N_DENSE + 3;

/// A post whose complaint probability reaches this is a complaint.
pub const COMPLAINT_THRESHOLD: f32 = 0.5;
/// Categories scoring below this are not reported.
pub const CATEGORY_MIN_SCORE: f32 = 0.15;

/// The three models' weights interleaved per hash bucket (sentiment 3,
/// complaint 2, category ≤ 11 columns), so each feature costs one memory
/// access and one 16-lane multiply-add for all models. Built at load time
/// when the models share a hash size.
struct Packed {
    shift: u32,
    rows: Vec<[i16; 16]>,
    /// Column offset of the category model.
    cat: usize,
}

impl Packed {
    fn build(s: &LinearModel, c: &LinearModel, k: &LinearModel) -> Option<Packed> {
        let bits = s.header.bits;
        if c.header.bits != bits || k.header.bits != bits || s.k() + c.k() + k.k() > 16 {
            return None;
        }
        let n = 1usize << bits;
        let mut rows = vec![[0i16; 16]; n];
        for (b, row) in rows.iter_mut().enumerate() {
            let mut col = 0;
            for m in [s, c, k] {
                let kk = m.k();
                row[col..col + kk].copy_from_slice(&m.raw()[b * kk..(b + 1) * kk]);
                col += kk;
            }
        }
        Some(Packed {
            shift: 64 - bits,
            rows,
            cat: s.k() + c.k(),
        })
    }

    /// The character n-grams' contribution to the row sums for the words
    /// of `s`, scaled like [`text::featurize`] scales them, from the
    /// per-thread cache of per-word sums (filled on a miss).
    fn char_contribution(&self, owner: u64, s: &mut Scratch) -> [f32; 16] {
        const MAX_CACHED_WORDS: usize = 1 << 15;
        let Scratch {
            buf,
            toks,
            gram_cache,
            gram_cache_owner,
            ..
        } = s;
        if *gram_cache_owner != owner || gram_cache.len() >= MAX_CACHED_WORDS {
            gram_cache.clear();
            *gram_cache_owner = owner;
        }
        let buf = buf.as_bytes();
        let mut sum = [0i32; 16];
        let mut n = 0u32;
        for t in toks.iter() {
            if !matches!(t.kind, TokKind::Word | TokKind::Hashtag) {
                continue;
            }
            let (rows, count) = gram_cache.entry(t.hash).or_insert_with(|| {
                let mut rows = [0i32; 16];
                let mut count = 0u32;
                text::char_grams(&buf[t.start as usize..t.end as usize], |h| {
                    count += 1;
                    if let Some(row) = self.rows.get((h >> self.shift) as usize) {
                        for (r, &w) in rows.iter_mut().zip(row) {
                            *r += i32::from(w);
                        }
                    }
                });
                (rows, count)
            });
            for (a, r) in sum.iter_mut().zip(rows.iter()) {
                *a += *r;
            }
            n += *count;
        }
        let cv = text::char_gram_weight(n as usize);
        sum.map(|s| cv * s as f32)
    }

    #[inline]
    fn accumulate(&self, feats: &[text::Feat]) -> [f32; 16] {
        let mut acc = [0f32; 16];
        for f in feats {
            if let Some(row) = self.rows.get((f.hash >> self.shift) as usize) {
                for (a, &w) in acc.iter_mut().zip(row) {
                    *a += f.val * f32::from(w);
                }
            }
        }
        acc
    }
}

struct Inner {
    /// Distinguishes engines in the per-thread n-gram cache.
    id: u64,
    packed: Option<Packed>,
    lex: Lexicon,
    lang: LangId,
    urgency: UrgencyMatcher,
    sentiment: LinearModel,
    complaint: LinearModel,
    category: LinearModel,
    taxonomy: CompiledTaxonomy,
    model_id: String,
}

/// The analysis engine. Cloning is cheap (the models are shared).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model", &self.inner.model_id)
            .finish()
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Engine ids start at 1: a fresh scratch's cache (owner 0) belongs to none.
static NEXT_ENGINE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(crate) fn untrained(name: &str, labels: &[&str], n_dense: usize) -> LinearModel {
    let k = labels.len();
    let header = Header {
        name: format!("{name}-untrained"),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        bits: 1,
        n_dense,
        scale: 1.0,
        dense: vec![0.0; n_dense * k],
        bias: vec![0.0; k],
        temperature: 1.0,
        language_sharpness: Default::default(),
        info: serde_json::Value::Null,
    };
    LinearModel::from_f32(header, &vec![0.0; 2 * k])
}

fn load_or_untrained(bytes: &[u8], name: &str, labels: &[&str], n_dense: usize) -> LinearModel {
    match LinearModel::from_bytes(bytes) {
        Ok(m)
            if m.labels()
                .iter()
                .map(String::as_str)
                .eq(labels.iter().copied()) =>
        {
            m
        }
        _ => untrained(name, labels, n_dense),
    }
}

impl Engine {
    /// The models shipped in the binary. The first call parses them; later
    /// calls share the same instance.
    pub fn builtin() -> Engine {
        static BUILTIN: OnceLock<Engine> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                Engine::from_models(
                    load_or_untrained(SENTIMENT_MODEL, "sentiment", &SENTIMENT_LABELS, N_DENSE),
                    load_or_untrained(
                        COMPLAINT_MODEL,
                        "complaint",
                        &COMPLAINT_LABELS,
                        COMPLAINT_DENSE,
                    ),
                    load_or_untrained(CATEGORY_MODEL, "category", &DEFAULT_CATEGORIES, N_DENSE),
                    &Taxonomy::default(),
                )
            })
            .clone()
    }

    /// The models in a directory written by `earshot train` (`sentiment.bin`,
    /// `complaint.bin`, `category.bin`); missing files fall back to the embedded ones.
    pub fn from_dir(dir: &std::path::Path) -> anyhow::Result<Engine> {
        let read = |f: &str, embedded: &[u8]| -> anyhow::Result<Vec<u8>> {
            let p = dir.join(f);
            if p.exists() {
                Ok(std::fs::read(&p)?)
            } else {
                Ok(embedded.to_vec())
            }
        };
        Ok(Engine::from_models(
            LinearModel::from_bytes(&read("sentiment.bin", SENTIMENT_MODEL)?)?,
            LinearModel::from_bytes(&read("complaint.bin", COMPLAINT_MODEL)?)?,
            LinearModel::from_bytes(&read("category.bin", CATEGORY_MODEL)?)?,
            &Taxonomy::default(),
        ))
    }

    /// An engine over the given models (training and evaluation use this).
    pub fn from_models(
        sentiment: LinearModel,
        complaint: LinearModel,
        category: LinearModel,
        taxonomy: &Taxonomy,
    ) -> Engine {
        let model_id = format!(
            "earshot-linear/{}+{}+{}",
            sentiment.header.name, complaint.header.name, category.header.name
        );
        let taxonomy = CompiledTaxonomy::compile(taxonomy, category.labels());
        Engine {
            inner: Arc::new(Inner {
                id: NEXT_ENGINE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                packed: Packed::build(&sentiment, &complaint, &category),
                lex: Lexicon::builtin(),
                lang: LangId::new(),
                urgency: UrgencyMatcher::builtin(),
                sentiment,
                complaint,
                category,
                taxonomy,
                model_id,
            }),
        }
    }

    /// The same models with another category taxonomy.
    pub fn with_taxonomy(&self, taxonomy: &Taxonomy) -> Engine {
        let i = &self.inner;
        Engine::from_models(
            i.sentiment.clone(),
            i.complaint.clone(),
            i.category.clone(),
            taxonomy,
        )
    }

    pub fn model_id(&self) -> &str {
        &self.inner.model_id
    }

    pub fn sentiment_model(&self) -> &LinearModel {
        &self.inner.sentiment
    }

    pub fn complaint_model(&self) -> &LinearModel {
        &self.inner.complaint
    }

    pub fn category_model(&self) -> &LinearModel {
        &self.inner.category
    }

    pub fn taxonomy_names(&self) -> &[String] {
        &self.inner.taxonomy.names
    }

    fn with_scratch<R>(&self, text: &str, f: impl FnOnce(&mut Scratch) -> R) -> R {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => {
                text::tokenize(text, &mut s);
                text::featurize(&mut s, &self.inner.lex);
                s.char_acc = None;
                f(&mut s)
            }
            Err(_) => {
                let mut s = Scratch::default();
                text::tokenize(text, &mut s);
                text::featurize(&mut s, &self.inner.lex);
                f(&mut s)
            }
        })
    }

    /// Hashed features and dense cues of a text (training).
    pub fn features(&self, text: &str) -> (Vec<(u64, f32)>, Vec<f32>) {
        self.with_scratch(text, |s| {
            (
                s.feats.iter().map(|f| (f.hash, f.val)).collect(),
                s.dense.to_vec(),
            )
        })
    }

    /// P(negative), P(neutral), P(positive).
    pub fn sentiment_probs(&self, text: &str) -> [f32; 3] {
        self.with_scratch(text, |s| self.sentiment_of(s))
    }

    /// P(negative), P(neutral), P(positive) as `analyze` reports them: with
    /// the per-language calibration for the language it detects.
    pub fn sentiment_probs_reported(&self, text: &str) -> [f32; 3] {
        self.with_scratch(text, |s| {
            let mut p = self.sentiment_of(s);
            self.calibrate_for_language(self.inner.lang.detect(text, s).code, &mut p);
            p
        })
    }

    /// The language `analyze` reports for `text` (`None` when unsure).
    pub fn language(&self, text: &str) -> Option<&'static str> {
        self.with_scratch(text, |s| self.inner.lang.detect(text, s).code)
    }

    /// Scales the sentiment logits by the model's factor for `lang`, if it
    /// has one: p_i^a renormalised. The predicted class never changes.
    /// (Posts of unsure language keep the temperature: a shared factor for
    /// them, fitted like the others, made UMSAB val worse in five of seven
    /// languages; docs/ANALYSIS.md, "Calibration".)
    fn calibrate_for_language(&self, lang: Option<&str>, p: &mut [f32; 3]) {
        let sharp = &self.inner.sentiment.header.language_sharpness;
        if let Some(&a) = lang.and_then(|l| sharp.get(l)) {
            model::sharpen(p, a);
        }
    }

    fn sentiment_of(&self, s: &Scratch) -> [f32; 3] {
        let mut p = [0f32; 3];
        self.inner.sentiment.predict(&s.feats, &s.dense, &mut p);
        p
    }

    fn complaint_of(&self, s: &Scratch, sent: &[f32; 3]) -> f32 {
        let mut dense = [0f32; COMPLAINT_DENSE];
        dense[..N_DENSE].copy_from_slice(&s.dense);
        dense[N_DENSE..].copy_from_slice(sent);
        let mut acc = [0f32; 2];
        self.inner.complaint.accumulate(&s.feats, &mut acc);
        self.inner.complaint.accumulate(&s.handle_feats, &mut acc);
        let mut p = [0f32; 2];
        self.inner.complaint.finish(&acc, &dense, &mut p);
        p[1]
    }

    /// Hashed complaint-model inputs (training): the shared features plus
    /// the handle character n-grams only the complaint model reads.
    pub fn complaint_features(&self, text: &str) -> Vec<(u64, f32)> {
        self.with_scratch(text, |s| {
            s.feats
                .iter()
                .chain(&s.handle_feats)
                .map(|f| (f.hash, f.val))
                .collect()
        })
    }

    /// Complaint probability.
    pub fn complaint_prob(&self, text: &str) -> f32 {
        self.with_scratch(text, |s| {
            let sent = self.sentiment_of(s);
            self.complaint_of(s, &sent)
        })
    }

    /// Dense complaint-model inputs (training: text cues + sentiment probabilities).
    pub fn complaint_dense(&self, text: &str) -> Vec<f32> {
        self.with_scratch(text, |s| {
            let sent = self.sentiment_of(s);
            let mut d = s.dense.to_vec();
            d.extend_from_slice(&sent);
            d
        })
    }

    /// Scores for every taxonomy category (sum to 1), in taxonomy order.
    pub fn category_scores(&self, text: &str) -> Vec<f32> {
        self.with_scratch(text, |s| {
            let mut out = vec![0f32; self.inner.taxonomy.names.len()];
            let mut p = [0f32; 16];
            let k = self.inner.category.k().min(16);
            self.inner.category.predict(&s.feats, &s.dense, &mut p[..k]);
            self.categories_of(s, &p, &mut out);
            out
        })
    }

    /// Per taxonomy category, the first keyword phrase that matched, as
    /// (first token, number of tokens).
    fn keyword_hits(&self, s: &Scratch) -> [Option<(usize, usize)>; 64] {
        let tax = &self.inner.taxonomy;
        let toks = &s.toks;
        let mut hit = [None; 64];
        for i in 0..toks.len() {
            let h = toks[i].hash;
            let lo = tax.phrases.partition_point(|(_, ph)| ph[0] < h);
            for (ci, ph) in &tax.phrases[lo..] {
                if ph[0] != h {
                    break;
                }
                if *ci < 64
                    && hit[*ci].is_none()
                    && toks.len() - i >= ph.len()
                    && ph.iter().zip(&toks[i..]).all(|(h, t)| *h == t.hash)
                {
                    hit[*ci] = Some((i, ph.len()));
                }
            }
        }
        hit
    }

    /// Why taxonomy category `i` was chosen: its matched keyword phrase,
    /// then the words (unigrams) that raised its most likely model class
    /// above the average class the most. Reads the packed rows the scoring
    /// pass has just touched.
    fn category_terms(
        &self,
        s: &Scratch,
        i: usize,
        model_p: &[f32],
        keyword: Option<(usize, usize)>,
    ) -> Vec<String> {
        let inner = &*self.inner;
        let mut terms: Vec<String> = Vec::with_capacity(3);
        if let Some((start, len)) = keyword {
            let words: Vec<&str> = s.toks[start..start + len]
                .iter()
                .map(|t| s.tok_text(t))
                .collect();
            terms.push(words.join(" "));
        }
        let Some(&class) = inner.taxonomy.from.get(i).and_then(|from| {
            from.iter()
                .filter(|&&x| x < model_p.len())
                .max_by(|&&x, &&y| model_p[x].total_cmp(&model_p[y]))
        }) else {
            return terms;
        };
        let m = &inner.category;
        let k = m.k();
        // The five strongest pushes (the model's raw units), kept in place.
        let mut best = [(0f32, u32::MAX); 5];
        let words = &s.feats[..s.n_word.min(s.feats.len())];
        for f in words.iter().filter(|f| f.tok != u32::MAX) {
            let push = match &inner.packed {
                Some(pk) => match pk.rows.get((f.hash >> pk.shift) as usize) {
                    Some(r) => {
                        let row = &r[pk.cat..pk.cat + k];
                        let sum: i32 = row.iter().map(|&w| i32::from(w)).sum();
                        f32::from(row[class]) - sum as f32 / k as f32
                    }
                    None => 0.0,
                },
                None => {
                    let b = m.bucket(f.hash);
                    let sum: f32 = (0..k).map(|j| m.weight(b, j)).sum();
                    m.weight(b, class) - sum / k as f32
                }
            } * f.val;
            let weakest = (0..best.len())
                .min_by(|&x, &y| best[x].0.total_cmp(&best[y].0))
                .unwrap_or(0);
            if push > best[weakest].0 {
                best[weakest] = (push, f.tok);
            }
        }
        best.sort_by(|x, y| y.0.total_cmp(&x.0));
        for (_, t) in best {
            if terms.len() >= 3 || t == u32::MAX {
                break;
            }
            let tok = &s.toks[t as usize];
            let word = s.tok_text(tok);
            if matches!(tok.kind, TokKind::Word | TokKind::Hashtag)
                && word.len() > 1
                && !inner.lang.is_english_function_word(tok.hash)
                && !terms.iter().any(|w| w.split(' ').any(|p| p == word))
            {
                terms.push(word.to_string());
            }
        }
        terms
    }

    /// Category-model probabilities (model classes) and, per taxonomy
    /// category, whether a keyword cue fired (training: decision offsets).
    pub fn category_parts(&self, text: &str) -> (Vec<f32>, Vec<bool>) {
        self.with_scratch(text, |s| {
            let k = self.inner.category.k();
            let mut p = vec![0f32; k];
            self.inner.category.predict(&s.feats, &s.dense, &mut p);
            let hit = self.keyword_hits(s);
            let n = self.inner.taxonomy.names.len().min(64);
            (p, hit[..n].iter().map(Option::is_some).collect())
        })
    }

    /// Maps category-model probabilities `p` through the taxonomy, adding
    /// keyword cues; returns the keyword hits.
    fn categories_of(
        &self,
        s: &Scratch,
        p: &[f32; 16],
        out: &mut [f32],
    ) -> [Option<(usize, usize)>; 64] {
        let tax = &self.inner.taxonomy;
        for (o, from) in out.iter_mut().zip(&tax.from) {
            *o = from.iter().map(|&j| p.get(j).copied().unwrap_or(0.0)).sum();
        }
        let mut hit = [None; 64];
        if tax.keyword_weight > 0.0 && !tax.phrases.is_empty() {
            hit = self.keyword_hits(s);
            for (o, h) in out.iter_mut().zip(hit) {
                if h.is_some() {
                    *o += tax.keyword_weight;
                }
            }
            let sum: f32 = out.iter().sum();
            if sum > 0.0 {
                out.iter_mut().for_each(|o| *o /= sum);
            }
        }
        hit
    }

    fn analyze_scratch(&self, text: &str, s: &Scratch) -> Analysis {
        let inner = &*self.inner;
        let mut a = Analysis {
            model: inner.model_id.clone(),
            ..Analysis::default()
        };
        let lang = inner.lang.detect(text, s);
        a.language = lang.code.map(str::to_string);
        a.language_confidence = lang.confidence;
        let sentiment_ok = lang.code.is_none_or(|c| SENTIMENT_LANGS.contains(&c));
        let complaint_ok = lang.code.is_none_or(|c| COMPLAINT_LANGS.contains(&c));
        if s.toks.is_empty() {
            a.not_judged.push("sentiment: empty text".into());
            return a;
        }
        if sentiment_ok {
            let acc = inner.packed.as_ref().map(|pk| {
                let mut acc = pk.accumulate(&s.feats);
                if let Some(chars) = &s.char_acc {
                    for (a, c) in acc.iter_mut().zip(chars) {
                        *a += c;
                    }
                }
                acc
            });
            let p = match &acc {
                Some(acc) => {
                    let mut p = [0f32; 3];
                    inner.sentiment.finish(&acc[..3], &s.dense, &mut p);
                    p
                }
                None => self.sentiment_of(s),
            };
            // The reported probabilities carry the per-language factor; the
            // complaint model reads `p` as it was trained on.
            let mut shown = p;
            self.calibrate_for_language(lang.code, &mut shown);
            let best = (0..3).fold(0, |b, j| if shown[j] > shown[b] { j } else { b });
            a.sentiment = Sentiment::ALL[best];
            a.sentiment_confidence = shown[best];
            a.sentiment_score = shown[2] - shown[0];
            self.evidence(s, &mut a.evidence);
            if complaint_ok {
                a.complaint_score = match &acc {
                    Some(acc) => {
                        let mut dense = [0f32; COMPLAINT_DENSE];
                        dense[..N_DENSE].copy_from_slice(&s.dense);
                        dense[N_DENSE..].copy_from_slice(&p);
                        let mut c = [acc[3], acc[4]];
                        inner.complaint.accumulate(&s.handle_feats, &mut c);
                        let mut q = [0f32; 2];
                        inner.complaint.finish(&c, &dense, &mut q);
                        q[1]
                    }
                    None => self.complaint_of(s, &p),
                };
                a.complaint = a.complaint_score >= COMPLAINT_THRESHOLD;
                if a.complaint {
                    let mut scores = [0f32; 32];
                    let n = inner.taxonomy.names.len().min(32);
                    let mut cp = [0f32; 16];
                    let k = inner.category.k().min(16);
                    match (&acc, &inner.packed) {
                        (Some(acc), Some(pk)) => {
                            inner
                                .category
                                .finish(&acc[pk.cat..pk.cat + k], &s.dense, &mut cp[..k]);
                        }
                        _ => inner.category.predict(&s.feats, &s.dense, &mut cp[..k]),
                    }
                    let hits = self.categories_of(s, &cp, &mut scores[..n]);
                    let mut idx: Vec<usize> = (0..n)
                        .filter(|&i| scores[i] >= CATEGORY_MIN_SCORE)
                        .collect();
                    idx.sort_by(|&x, &y| scores[y].total_cmp(&scores[x]));
                    idx.truncate(3);
                    // A category whose taxonomy keyword matched is listed,
                    // after the others and with the keyword, even below the
                    // threshold: billing and app problems have no labelled
                    // examples in the default taxonomy, so the model gives
                    // them nothing and the keyword alone cannot lift them.
                    let cued: Vec<usize> = (0..n)
                        .filter(|&i| hits[i].is_some() && !idx.contains(&i))
                        .collect();
                    let n_scored = idx.len();
                    idx.extend(cued);
                    // The words behind the top category only: the others are
                    // runners-up, and explaining each costs a pass (a cued
                    // category's keyword is free).
                    a.categories = idx
                        .into_iter()
                        .enumerate()
                        .map(|(rank, i)| CategoryScore {
                            name: inner.taxonomy.names[i].clone(),
                            score: scores[i],
                            terms: if rank == 0 {
                                self.category_terms(s, i, &cp[..k], hits[i])
                            } else if rank >= n_scored {
                                self.category_terms(s, i, &[], hits[i])
                            } else {
                                Vec::new()
                            },
                        })
                        .collect();
                }
            } else {
                let l = lang.code.unwrap_or("?");
                a.not_judged.push(format!(
                    "complaint: language '{l}' is not covered by the complaint model"
                ));
                a.not_judged.push(format!(
                    "category: language '{l}' is not covered by the category model"
                ));
            }
        } else {
            let l = lang.code.unwrap_or("?");
            for what in ["sentiment", "complaint", "category"] {
                a.not_judged.push(format!(
                    "{what}: language '{l}' is not covered by the models"
                ));
            }
        }
        inner.urgency.find(s, &mut a.urgency);
        a
    }

    /// The word-level terms that pushed the decision between negative and
    /// positive the most (signed: negative values push towards negative).
    fn evidence(&self, s: &Scratch, out: &mut Vec<Evidence>) {
        let m = &self.inner.sentiment;
        let packed = self.inner.packed.as_ref();
        let scale = m.header.scale;
        let mut best: [(f32, u32); 5] = [(0.0, u32::MAX); 5];
        for f in &s.feats {
            if f.tok == u32::MAX {
                continue;
            }
            let c = match packed {
                Some(pk) => match pk.rows.get((f.hash >> pk.shift) as usize) {
                    Some(r) => f.val * scale * (f32::from(r[2]) - f32::from(r[0])),
                    None => 0.0,
                },
                None => {
                    let b = m.bucket(f.hash);
                    f.val * (m.weight(b, 2) - m.weight(b, 0))
                }
            };
            if c.abs() < 0.05 {
                continue;
            }
            if let Some(slot) = (0..5).min_by(|&x, &y| best[x].0.abs().total_cmp(&best[y].0.abs()))
                && c.abs() > best[slot].0.abs()
            {
                best[slot] = (c, f.tok);
            }
        }
        best.sort_by(|x, y| y.0.abs().total_cmp(&x.0.abs()));
        for (c, t) in best {
            if t == u32::MAX {
                continue;
            }
            let tok = &s.toks[t as usize];
            let term = if tok.neg {
                format!("{} (negated)", s.tok_text(tok))
            } else {
                s.tok_text(tok).to_string()
            };
            out.push(Evidence { term, weight: c });
        }
    }

    /// Features for [`Engine::analyze_scratch`]. With packed weights only the
    /// word-level features are listed and the character n-grams arrive as
    /// per-word sums from the thread's cache (the same numbers, summed in a
    /// different order); otherwise all features, as in training.
    fn prepare(&self, text: &str, s: &mut Scratch) {
        text::tokenize(text, s);
        match &self.inner.packed {
            Some(pk) => {
                text::featurize_words(s, &self.inner.lex);
                s.char_acc = Some(pk.char_contribution(self.inner.id, s));
            }
            None => {
                text::featurize(s, &self.inner.lex);
                s.char_acc = None;
            }
        }
    }
}

impl Analyzer for Engine {
    fn analyze(&self, text: &str) -> Analysis {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => {
                self.prepare(text, &mut s);
                self.analyze_scratch(text, &s)
            }
            Err(_) => {
                let mut s = Scratch::default();
                self.prepare(text, &mut s);
                self.analyze_scratch(text, &s)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_sync_and_cheap_to_share() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
    }
}
