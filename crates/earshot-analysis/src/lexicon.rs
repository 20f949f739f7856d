//! The VADER valence lexicon (MIT licence, C.J. Hutto), used as dense cues for
//! the learned sentiment model. Looked up by the same FNV hash the tokenizer
//! computes, in a flat open-addressing table: no string hashing per call.

use crate::text::fnv;

const LEXICON_TSV: &str = include_str!("../models/vader_lexicon.tsv");

/// Extra entries for the tokens our normaliser produces.
const EXTRA: &[(&str, f32)] = &[
    ("<smile>", 2.0),
    ("<laugh>", 2.3),
    ("<sad>", -2.1),
    ("<cry>", -2.1),
    ("<annoyed>", -1.2),
    ("<wink>", 1.5),
    ("<tongue>", 1.1),
    ("<heart>", 2.3),
    ("<brokenheart>", -2.0),
];

#[derive(Debug, Clone)]
pub struct Lexicon {
    keys: Vec<u64>,
    vals: Vec<f32>,
    mask: usize,
}

impl Lexicon {
    pub fn builtin() -> Lexicon {
        let mut entries: Vec<(u64, f32)> = Vec::with_capacity(8000);
        for line in LEXICON_TSV.lines() {
            let mut it = line.split('\t');
            if let (Some(w), Some(v)) = (it.next(), it.next())
                && let Ok(v) = v.parse::<f32>()
            {
                entries.push((fnv(w.as_bytes()), v));
            }
        }
        for (w, v) in EXTRA {
            entries.push((fnv(w.as_bytes()), *v));
        }
        let cap = (entries.len() * 2).next_power_of_two();
        let mut keys = vec![0u64; cap];
        let mut vals = vec![0f32; cap];
        let mask = cap - 1;
        for (k, v) in entries {
            let k = k | 1; // 0 marks an empty slot
            let mut i = (k as usize) & mask;
            while keys[i] != 0 && keys[i] != k {
                i = (i + 1) & mask;
            }
            keys[i] = k;
            vals[i] = v;
        }
        Lexicon { keys, vals, mask }
    }

    /// Valence of the token whose FNV hash is `h`.
    #[inline]
    pub fn get(&self, h: u64) -> Option<f32> {
        let k = h | 1;
        let mut i = (k as usize) & self.mask;
        loop {
            let key = self.keys[i];
            if key == k {
                return Some(self.vals[i]);
            }
            if key == 0 {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Valence of a word (tests and diagnostics).
    pub fn word(&self, w: &str) -> Option<f32> {
        self.get(fnv(w.as_bytes()))
    }
}
