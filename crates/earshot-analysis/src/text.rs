//! Social-text normalisation and feature extraction.
//!
//! One pass over the text turns it into tokens (handles become `@user`, links
//! `<url>`, emoticons `<smile>`/`<sad>`/…, elongations are collapsed, ALL CAPS and
//! repeated punctuation are flagged, words in a negation scope are marked) and
//! then into hashed features: word unigrams (negation-aware), word bigrams,
//! character 3–5-grams within words, hashtag markers and a few dense cues
//! (lexicon valence, punctuation, caps). Everything is written into a reusable
//! [`Scratch`] so a call allocates nothing once the buffers have grown.

use crate::lexicon::Lexicon;

/// Number of dense (non-hashed) features produced by [`featurize`].
pub const N_DENSE: usize = 8;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokKind {
    Word,
    Hashtag,
    User,
    Url,
    Num,
    Emoticon,
    Emoji,
    Punct,
}

/// One normalised token; its text lives in [`Scratch::buf`].
#[derive(Debug, Clone, Copy)]
pub struct Token {
    pub start: u32,
    pub end: u32,
    pub kind: TokKind,
    /// Inside a negation scope ("not *good*").
    pub neg: bool,
    /// Written in capitals ("NEVER").
    pub caps: bool,
    /// Had a letter repeated three or more times ("soooo").
    pub elongated: bool,
    /// Hash of the normalised token text (no salt).
    pub hash: u64,
}

/// A hashed feature with its value. `tok` is the token index for word
/// unigrams (used to explain decisions) and `u32::MAX` otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Feat {
    pub hash: u64,
    pub val: f32,
    pub tok: u32,
}

/// Word hash → (summed weight rows of its character n-grams, their count).
pub type GramCache =
    std::collections::HashMap<u64, ([i32; 16], u32), std::hash::BuildHasherDefault<WordHasher>>;

/// The cache's keys are already hashes: spread them once instead of
/// hashing them again with SipHash.
#[derive(Default)]
pub struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = mix(n);
    }
}

/// Reusable buffers for one thread.
#[derive(Debug, Default)]
pub struct Scratch {
    pub buf: String,
    pub toks: Vec<Token>,
    pub feats: Vec<Feat>,
    /// How many of `feats` are word-level (unigrams, bigrams, markers); the
    /// character n-grams follow them.
    pub n_word: usize,
    pub dense: [f32; N_DENSE],
    /// Character 4-grams of the @handles the text mentions (lower-cased,
    /// with `^`/`$` boundaries), before they are normalised to `@user`.
    /// Only the complaint model reads them: customer-care accounts share
    /// shapes (`…support`, `…care`, `…help`, brand names) that tell a post to
    /// a business from a reply to a friend.
    pub handle_feats: Vec<Feat>,
    /// Set when `feats` holds only the word-level features: the character
    /// n-grams' contribution to the packed weights, already scaled.
    pub char_acc: Option<[f32; 16]>,
    /// Per word hash: the sum of the packed weight rows of the word's
    /// character n-grams and how many there are, for the engine
    /// `gram_cache_owner`. A word's n-grams are the same in every post, so
    /// frequent words cost one lookup instead of a dozen.
    pub gram_cache: GramCache,
    pub gram_cache_owner: u64,
}

impl Scratch {
    pub fn tok_text(&self, t: &Token) -> &str {
        self.buf.get(t.start as usize..t.end as usize).unwrap_or("")
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over bytes: stable across platforms and releases (model files depend on it).
#[inline]
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Murmur3 finaliser; spreads a hash combined with a salt.
#[inline]
pub fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

#[inline]
fn salted(h: u64, salt: u64) -> u64 {
    mix(h ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

const SALT_UNI: u64 = 1;
const SALT_UNI_NEG: u64 = 2;
const SALT_BI: u64 = 3;
const SALT_CHAR: u64 = 4;
const SALT_TAG: u64 = 5;
const SALT_MARK: u64 = 6;
const SALT_HANDLE: u64 = 7;
/// Length of the handle character n-grams.
const HANDLE_GRAM: usize = 4;

/// Appends the character 4-grams of one handle (without `@`) to `out`,
/// each weighted 1/√(number of grams).
fn handle_grams(handle: &str, out: &mut Vec<Feat>) {
    let mut b = [0u8; 66];
    let h = handle.as_bytes();
    let n = h.len().min(64);
    b[0] = b'^';
    for (d, c) in b[1..=n].iter_mut().zip(h) {
        *d = c.to_ascii_lowercase();
    }
    b[n + 1] = b'$';
    let g = &b[..n + 2];
    let cnt = g.len().saturating_sub(HANDLE_GRAM - 1).max(1);
    let val = 1.0 / (cnt as f32).sqrt();
    if g.len() < HANDLE_GRAM {
        out.push(Feat {
            hash: salted(fnv(g), SALT_HANDLE),
            val,
            tok: u32::MAX,
        });
        return;
    }
    for w in g.windows(HANDLE_GRAM) {
        out.push(Feat {
            hash: salted(fnv(w), SALT_HANDLE),
            val,
            tok: u32::MAX,
        });
    }
}

const NEGATORS: &[&str] = &[
    "not", "no", "never", "cannot", "nobody", "nothing", "none", "neither", "nor", "nowhere",
    "without", "hardly", "barely", "dont", "cant", "wont", "isnt", "arent", "wasnt", "werent",
    "didnt", "doesnt", "havent", "hasnt", "hadnt", "shouldnt", "wouldnt", "couldnt", "aint",
    "nope", "nah",
];

/// FNV-1a at compile time (same as [`fnv`]).
const fn fnv_const(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut h = FNV_OFFSET;
    let mut i = 0;
    while i < b.len() {
        h ^= b[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

const N_NEG: usize = NEGATORS.len();
/// Hashes of [`NEGATORS`]: tokens carry their hash, so the check is a few
/// integer compares instead of string compares.
const NEGATOR_HASHES: [u64; N_NEG] = {
    let mut out = [0u64; N_NEG];
    let mut i = 0;
    while i < N_NEG {
        out[i] = fnv_const(NEGATORS[i]);
        i += 1;
    }
    out
};
const BUT_HASH: u64 = fnv_const("but");

#[inline]
fn is_negator(w: &str, hash: u64) -> bool {
    NEGATOR_HASHES.contains(&hash) && NEGATORS.contains(&w) || w.ends_with("n't")
}

/// Emoticons, longest first, with their normalised token.
const EMOTICONS: &[(&str, &str)] = &[
    (":-)", "<smile>"),
    (":-D", "<laugh>"),
    (":-(", "<sad>"),
    (":'(", "<cry>"),
    (":-/", "<annoyed>"),
    (";-)", "<wink>"),
    ("</3", "<brokenheart>"),
    (":)", "<smile>"),
    ("(:", "<smile>"),
    (":]", "<smile>"),
    ("=)", "<smile>"),
    (":D", "<laugh>"),
    (":(", "<sad>"),
    ("):", "<sad>"),
    (":[", "<sad>"),
    ("=(", "<sad>"),
    (":/", "<annoyed>"),
    (":|", "<annoyed>"),
    (";)", "<wink>"),
    (":P", "<tongue>"),
    (":p", "<tongue>"),
    ("<3", "<heart>"),
];

#[inline]
fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F300..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x1F000..=0x1F2FF)
        && !matches!(c as u32, 0x1F3FB..=0x1F3FF)
}

/// Character classes of the Basic Multilingual Plane, computed once from
/// the standard library's own Unicode tables: the tokeniser asks about every
/// letter of non-Latin posts (Arabic, Devanagari…), and std answers those
/// with a binary search each time.
struct CharClasses(Box<[u8]>);

const ALNUM: u8 = 1;
const UPPER: u8 = 2;
const LOWER: u8 = 4;
/// Lower-casing leaves the character as it is (no case, or already lower).
const SELF_LOWER: u8 = 8;
const ALPHA: u8 = 16;

impl CharClasses {
    fn get() -> &'static CharClasses {
        static CLASSES: std::sync::OnceLock<CharClasses> = std::sync::OnceLock::new();
        CLASSES.get_or_init(|| {
            CharClasses(
                (0..=0xFFFFu32)
                    .map(|u| char::from_u32(u).map_or(0, Self::compute))
                    .collect(),
            )
        })
    }

    fn compute(c: char) -> u8 {
        let mut lower = c.to_lowercase();
        let self_lower = lower.next() == Some(c) && lower.next().is_none();
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        flag(c.is_alphanumeric(), ALNUM)
            | flag(c.is_uppercase(), UPPER)
            | flag(c.is_lowercase(), LOWER)
            | flag(self_lower, SELF_LOWER)
            | flag(c.is_alphabetic(), ALPHA)
    }

    #[inline]
    fn of(&self, c: char) -> u8 {
        match self.0.get(c as usize) {
            Some(&f) => f,
            None => Self::compute(c),
        }
    }
}

#[inline]
fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        CharClasses::get().of(c) & ALNUM != 0
    }
}

#[inline]
fn is_alphabetic(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        CharClasses::get().of(c) & ALPHA != 0
    }
}

/// Tokenises `text` into `s.toks` / `s.buf`.
pub fn tokenize(text: &str, s: &mut Scratch) {
    s.buf.clear();
    s.toks.clear();
    s.handle_feats.clear();
    let bytes = text.as_bytes();
    let mut i = 0usize;
    let n = bytes.len();
    while i < n {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let rest = &text[i..];
        // handles
        if b == b'@' {
            let end = scan_word(text, i + 1);
            if end > i + 1 {
                handle_grams(&text[i + 1..end], &mut s.handle_feats);
                push_tok(s, "@user", TokKind::User, false, false);
                i = end;
                continue;
            }
        }
        // links
        if (b == b'h' && (rest.starts_with("http://") || rest.starts_with("https://")))
            || (b == b'w' && rest.starts_with("www."))
        {
            let end = rest.find(|c: char| c.is_whitespace()).map_or(n, |e| i + e);
            push_tok(s, "<url>", TokKind::Url, false, false);
            i = end;
            continue;
        }
        if b == b'#' {
            let end = scan_word(text, i + 1);
            if end > i + 1 {
                push_word(s, &text[i + 1..end], TokKind::Hashtag);
                i = end;
                continue;
            }
        }
        if b < 128 && b.is_ascii_punctuation() {
            if let Some((emo, norm)) = matches!(b, b':' | b';' | b'=' | b'(' | b')' | b'<')
                .then(|| EMOTICONS.iter().find(|(e, _)| rest.starts_with(e)))
                .flatten()
            {
                // ":/" inside words like "re:/" are rare; "):" only after a space.
                push_tok(s, norm, TokKind::Emoticon, false, false);
                i += emo.len();
                continue;
            }
            if b == b'!' || b == b'?' {
                let mut j = i;
                let mut bang = false;
                let mut q = false;
                while j < n && (bytes[j] == b'!' || bytes[j] == b'?') {
                    bang |= bytes[j] == b'!';
                    q |= bytes[j] == b'?';
                    j += 1;
                }
                let repeated = j - i > 1;
                let norm = match (bang, q, repeated) {
                    (true, true, _) => "?!",
                    (false, true, false) => "?",
                    (false, true, true) => "??",
                    (true, false, false) => "!",
                    _ => "!!",
                };
                push_tok(s, norm, TokKind::Punct, false, false);
                i = j;
                continue;
            }
            if matches!(b, b'.' | b',' | b';' | b':') {
                let mut j = i + 1;
                while j < n && bytes[j] == b {
                    j += 1;
                }
                let norm = match (b, j - i > 1) {
                    (b'.', true) => "...",
                    (b'.', false) => ".",
                    (b',', _) => ",",
                    (b';', _) => ";",
                    _ => ":",
                };
                push_tok(s, norm, TokKind::Punct, false, false);
                i = j;
                continue;
            }
            i += 1;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        if is_word_char(c) {
            let end = scan_word(text, i);
            let word = &text[i..end];
            if word.bytes().all(|b| b.is_ascii_digit()) {
                push_tok(s, "<num>", TokKind::Num, false, false);
            } else {
                push_word(s, word, TokKind::Word);
            }
            i = end.max(i + 1);
            continue;
        }
        if is_emoji(c) {
            let mut tmp = [0u8; 4];
            push_tok(s, c.encode_utf8(&mut tmp), TokKind::Emoji, false, false);
        } else if c == '\u{2019}' {
            // stray right quote
        } else if c == '\u{2026}' {
            push_tok(s, "...", TokKind::Punct, false, false);
        }
        i += c.len_utf8();
    }
    mark_negation(s);
}

/// End (byte index) of a word starting at `start`; apostrophes inside words are kept.
fn scan_word(text: &str, start: usize) -> usize {
    let mut end = start;
    let mut it = text[start..].char_indices().peekable();
    while let Some((off, c)) = it.next() {
        if is_word_char(c) {
            end = start + off + c.len_utf8();
        } else if (c == '\'' || c == '\u{2019}') && end == start + off && end > start {
            match it.peek() {
                Some((_, nc)) if is_alphabetic(*nc) => continue,
                _ => break,
            }
        } else {
            break;
        }
    }
    end
}

fn push_tok(s: &mut Scratch, norm: &str, kind: TokKind, caps: bool, elongated: bool) {
    let start = s.buf.len() as u32;
    s.buf.push_str(norm);
    let end = s.buf.len() as u32;
    s.toks.push(Token {
        start,
        end,
        kind,
        neg: false,
        caps,
        elongated,
        hash: fnv(norm.as_bytes()),
    });
}

/// Lowercases, turns the curly apostrophe into `'`, collapses runs of three or
/// more identical letters to two, and records caps/elongation.
fn push_word(s: &mut Scratch, word: &str, kind: TokKind) {
    let start = s.buf.len();
    let mut upper = 0usize;
    let mut lower = 0usize;
    let mut prev = '\0';
    let mut run = 0usize;
    let mut elongated = false;
    let classes = CharClasses::get();
    for c in word.chars() {
        let c = if c == '\u{2019}' { '\'' } else { c };
        let class = if c.is_ascii_uppercase() {
            UPPER
        } else if c.is_ascii_lowercase() {
            LOWER
        } else if c.is_ascii() {
            0
        } else {
            classes.of(c)
        };
        if class & UPPER != 0 {
            upper += 1;
        } else if class & LOWER != 0 {
            lower += 1;
        }
        let mut push = |lc: char, s: &mut Scratch| {
            if lc == prev {
                run += 1;
            } else {
                run = 1;
                prev = lc;
            }
            if run >= 3 && is_alphabetic(lc) {
                elongated = true;
            } else {
                s.buf.push(lc);
            }
        };
        if c.is_ascii() {
            push(c.to_ascii_lowercase(), s);
        } else if class & SELF_LOWER != 0 {
            push(c, s);
        } else {
            for lc in c.to_lowercase() {
                push(lc, s);
            }
        }
    }
    let caps = upper >= 2 && lower == 0;
    let end = s.buf.len();
    let hash = fnv(&s.buf.as_bytes()[start..end]);
    s.toks.push(Token {
        start: start as u32,
        end: end as u32,
        kind,
        neg: false,
        caps,
        elongated,
        hash,
    });
}

fn mark_negation(s: &mut Scratch) {
    let mut in_scope = false;
    for i in 0..s.toks.len() {
        let t = s.toks[i];
        match t.kind {
            TokKind::Punct => {
                let txt = &s.buf[t.start as usize..t.end as usize];
                if txt != "..." || in_scope {
                    in_scope = false;
                }
            }
            TokKind::Word => {
                if in_scope {
                    s.toks[i].neg = true;
                }
                let txt = &s.buf[t.start as usize..t.end as usize];
                if is_negator(txt, t.hash) {
                    in_scope = true;
                } else if t.hash == BUT_HASH && txt == "but" {
                    in_scope = false;
                }
            }
            _ => {}
        }
    }
}

/// Computes hashed features and dense cues for the tokens in `s`.
pub fn featurize(s: &mut Scratch, lex: &Lexicon) {
    featurize_words(s, lex);
    let n_word = s.n_word;
    let Scratch {
        buf, toks, feats, ..
    } = s;
    let buf = buf.as_bytes();
    for t in toks.iter() {
        if !matches!(t.kind, TokKind::Word | TokKind::Hashtag) {
            continue;
        }
        char_grams(&buf[t.start as usize..t.end as usize], |hash| {
            feats.push(Feat {
                hash,
                val: 1.0,
                tok: u32::MAX,
            })
        });
    }
    let cv = char_gram_weight(feats.len() - n_word);
    for f in feats[n_word..].iter_mut() {
        f.val = cv;
    }
}

/// The value of each of a post's `n` character n-gram features: 1/√n, so
/// long posts do not outweigh their word features.
#[inline]
pub fn char_gram_weight(n: usize) -> f32 {
    if n == 0 { 0.0 } else { 1.0 / (n as f32).sqrt() }
}

/// Calls `f` with the hash of every character 3-, 4- and 5-gram of the word
/// `w` (its first 32 bytes, between `<` and `>`), in order: the same for a
/// word wherever it appears.
#[inline]
pub fn char_grams(w: &[u8], mut f: impl FnMut(u64)) {
    let mut gram = [0u8; 34];
    let len = w.len().min(32);
    gram[0] = b'<';
    gram[1..=len].copy_from_slice(&w[..len]);
    gram[len + 1] = b'>';
    let g = &gram[..len + 2];
    for st in 0..g.len() {
        let mut h = FNV_OFFSET;
        for (k, &b) in g[st..].iter().take(5).enumerate() {
            h ^= u64::from(b);
            h = h.wrapping_mul(FNV_PRIME);
            if k >= 2 {
                f(salted(h, SALT_CHAR));
            }
        }
    }
}

/// The word-level part of [`featurize`]: unigrams (negation-aware),
/// bigrams, markers and the dense cues; `s.n_word` is their count.
pub fn featurize_words(s: &mut Scratch, lex: &Lexicon) {
    s.feats.clear();
    s.dense = [0.0; N_DENSE];
    let mut pos = 0f32;
    let mut neg = 0f32;
    let mut last_val = 0f32;
    let mut bangs = 0f32;
    let mut question = 0f32;
    let mut caps_words = 0f32;
    let mut words = 0f32;
    let mut any_caps = false;
    let mut any_elong = false;
    let mut prev_hash = fnv(b"<s>");
    let Scratch {
        buf, toks, feats, ..
    } = s;
    let buf = buf.as_bytes();
    // word-level features first; values normalised afterwards
    for (ti, t) in toks.iter().enumerate() {
        let uni_salt = if t.neg { SALT_UNI_NEG } else { SALT_UNI };
        feats.push(Feat {
            hash: salted(t.hash, uni_salt),
            val: 1.0,
            tok: ti as u32,
        });
        feats.push(Feat {
            hash: salted(prev_hash.rotate_left(17) ^ t.hash, SALT_BI),
            val: 1.0,
            tok: u32::MAX,
        });
        prev_hash = t.hash;
        match t.kind {
            TokKind::Hashtag => feats.push(Feat {
                hash: salted(t.hash, SALT_TAG),
                val: 1.0,
                tok: u32::MAX,
            }),
            TokKind::Punct => {
                let b0 = buf[t.start as usize];
                if b0 == b'!' || b0 == b'?' {
                    if t.end - t.start > 1 || b0 == b'!' {
                        bangs += 1.0;
                    }
                    if b0 == b'?' || buf[(t.end - 1) as usize] == b'?' || t.end - t.start == 2 {
                        question = 1.0;
                    }
                }
            }
            _ => {}
        }
        if matches!(t.kind, TokKind::Word | TokKind::Hashtag) {
            words += 1.0;
            if t.caps {
                caps_words += 1.0;
                any_caps = true;
            }
            any_elong |= t.elongated;
        }
        if let Some(mut v) = lex.get(t.hash) {
            if t.caps {
                v *= 1.3;
            }
            if t.elongated {
                v *= 1.2;
            }
            if t.neg {
                v *= -0.74;
            }
            if v > 0.0 {
                pos += v;
            } else {
                neg -= v;
            }
            last_val = v;
        }
    }
    feats.push(Feat {
        hash: salted(prev_hash.rotate_left(17) ^ fnv(b"</s>"), SALT_BI),
        val: 1.0,
        tok: u32::MAX,
    });
    if any_caps {
        feats.push(mark("<caps>"));
    }
    if any_elong {
        feats.push(mark("<elong>"));
    }
    let n_word = feats.len();
    s.n_word = n_word;
    let wv = 1.0 / (n_word as f32).sqrt();
    for f in feats.iter_mut() {
        f.val = wv;
    }
    let d = &mut s.dense;
    d[0] = (pos / 4.0).tanh();
    d[1] = (neg / 4.0).tanh();
    d[2] = ((pos - neg) / 4.0).tanh();
    d[3] = (bangs / 3.0).min(1.0);
    d[4] = question;
    d[5] = if words > 0.0 { caps_words / words } else { 0.0 };
    d[6] = (last_val / 2.0).tanh();
    d[7] = (words / 30.0).min(1.5);
}

fn mark(m: &str) -> Feat {
    Feat {
        hash: salted(fnv(m.as_bytes()), SALT_MARK),
        val: 1.0,
        tok: u32::MAX,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_character_table_agrees_with_the_standard_library() {
        let astral = ['\u{1F600}', '\u{10400}', '\u{1D400}', '\u{20000}'];
        for c in (0..=0xFFFFu32).filter_map(char::from_u32).chain(astral) {
            assert_eq!(is_word_char(c), c.is_alphanumeric() || c == '_', "{c:?}");
            assert_eq!(is_alphabetic(c), c.is_alphabetic(), "{c:?}");
            if !c.is_ascii() {
                let f = CharClasses::get().of(c);
                assert_eq!(f & UPPER != 0, c.is_uppercase(), "{c:?}");
                assert_eq!(f & LOWER != 0, c.is_lowercase(), "{c:?}");
                let same = c.to_lowercase().eq(std::iter::once(c));
                assert_eq!(f & SELF_LOWER != 0, same, "{c:?}");
            }
        }
    }

    fn toks(text: &str) -> Vec<String> {
        let mut s = Scratch::default();
        tokenize(text, &mut s);
        s.toks
            .iter()
            .map(|t| {
                let mut x = s.tok_text(t).to_string();
                if t.neg {
                    x = format!("NEG_{x}");
                }
                x
            })
            .collect()
    }

    #[test]
    fn handle_grams_are_kept_apart_from_the_shared_features() {
        let mut a = Scratch::default();
        tokenize("@HPSupport printer broken", &mut a);
        // ^hps hpsu psup supp uppo ppor port ort$
        assert_eq!(a.handle_feats.len(), 8);
        let mut b = Scratch::default();
        tokenize("@hpsupport printer broken", &mut b);
        let h = |s: &Scratch| s.handle_feats.iter().map(|f| f.hash).collect::<Vec<_>>();
        assert_eq!(h(&a), h(&b));
        let mut c = Scratch::default();
        tokenize("@jo printer broken", &mut c);
        assert_eq!(c.handle_feats.len(), 1);
        assert_ne!(h(&a), h(&c));
        assert_eq!(
            toks("@jo printer broken"),
            toks("@HPSupport printer broken")
        );
    }

    #[test]
    fn handles_links_and_hashtags_are_normalised() {
        assert_eq!(
            toks("@United thanks!! http://t.co/x #Fail"),
            vec!["@user", "thanks", "!!", "<url>", "fail"]
        );
    }

    #[test]
    fn elongation_and_caps_are_collapsed_and_flagged() {
        let mut s = Scratch::default();
        tokenize("SOOOO GOOD", &mut s);
        assert_eq!(s.tok_text(&s.toks[0]), "soo");
        assert!(s.toks[0].elongated && s.toks[0].caps);
        assert_eq!(s.tok_text(&s.toks[1]), "good");
    }

    #[test]
    fn negation_scope_ends_at_punctuation() {
        assert_eq!(
            toks("I don't like it. Great"),
            vec!["i", "don't", "NEG_like", "NEG_it", ".", "great"]
        );
    }

    #[test]
    fn emoticons_and_emoji_become_tokens() {
        assert_eq!(toks("ok :( 😡"), vec!["ok", "<sad>", "😡"]);
    }
}
