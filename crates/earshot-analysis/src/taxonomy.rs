//! Complaint categories. The model predicts the ten default categories; a
//! [`Taxonomy`] maps them to the names a team wants (several model classes may
//! feed one category) and adds keyword cues, which also cover categories the
//! shipped training data has no examples for (billing/refund, app/website).

use serde::{Deserialize, Serialize};

/// The default taxonomy (retail, travel, telecom), in model-class order.
pub const DEFAULT_CATEGORIES: [&str; 10] = [
    "late_delayed",
    "cancelled",
    "lost_damaged_item",
    "billing_refund",
    "staff_attitude",
    "product_defect",
    "booking_account",
    "app_website",
    "long_wait",
    "other",
];

/// How the airline data's `negativereason` labels map to the default taxonomy
/// (travel preset). Used for training and by `earshot eval --task category`.
pub const AIRLINE_REASON_MAP: [(&str, &str); 10] = [
    ("Late Flight", "late_delayed"),
    ("Cancelled Flight", "cancelled"),
    ("Lost Luggage", "lost_damaged_item"),
    ("Damaged Luggage", "lost_damaged_item"),
    ("Customer Service Issue", "staff_attitude"),
    ("Flight Attendant Complaints", "staff_attitude"),
    ("Bad Flight", "product_defect"),
    ("Flight Booking Problems", "booking_account"),
    ("longlines", "long_wait"),
    ("Can't Tell", "other"),
];

/// Maps a gold label to a default-taxonomy name: airline reasons are
/// translated, taxonomy names pass through.
pub fn map_label(label: &str) -> Option<&'static str> {
    let l = label.trim();
    AIRLINE_REASON_MAP
        .iter()
        .find(|(r, _)| r.eq_ignore_ascii_case(l))
        .map(|(_, c)| *c)
        .or_else(|| DEFAULT_CATEGORIES.iter().find(|c| **c == l).copied())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoryDef {
    pub name: String,
    /// Model classes (default category names) whose probability feeds this one.
    #[serde(default)]
    pub from: Vec<String>,
    /// Lower-case words or phrases that point to this category.
    #[serde(default)]
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Taxonomy {
    pub categories: Vec<CategoryDef>,
    /// Weight of one keyword hit relative to model probability.
    #[serde(default = "default_kw_weight")]
    pub keyword_weight: f32,
}

fn default_kw_weight() -> f32 {
    0.08
}

fn kw(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Default for Taxonomy {
    fn default() -> Self {
        let cues: [&[&str]; 10] = [
            &[
                "delay",
                "delayed",
                "late",
                "behind schedule",
                "still not here",
                "hasn't arrived",
                "not arrived",
                "where is my order",
                "still waiting for my",
            ],
            &[
                "cancelled",
                "canceled",
                "cancellation",
                "cancelling",
                "canceling",
            ],
            &[
                "lost",
                "missing",
                "damaged",
                "luggage",
                "baggage",
                "never arrived",
                "never received",
                "package",
                "parcel",
                "smashed",
            ],
            &[
                "refund",
                "charged",
                "overcharged",
                "charge",
                "bill",
                "billing",
                "fee",
                "fees",
                "payment",
                "money back",
                "invoice",
                "price",
                "double charged",
                "compensation",
                "voucher",
            ],
            &[
                "rude",
                "unhelpful",
                "attitude",
                "staff",
                "agent",
                "representative",
                "manager",
                "customer service",
                "employee",
                "attendant",
                "crew",
                "hung up",
            ],
            &[
                "defective",
                "faulty",
                "broken",
                "stopped working",
                "doesn't work",
                "not working",
                "malfunction",
                "quality",
                "battery",
                "screen",
                "dirty",
                "seat broken",
            ],
            &[
                "booking",
                "reservation",
                "rebook",
                "rebooked",
                "account",
                "password",
                "sign in",
                "ticket",
                "upgrade",
                "miles",
                "points",
                "membership",
                "itinerary",
            ],
            &[
                "app", "website", "site", "online", "webpage", "error", "crash", "crashes", "bug",
                "log in", "login", "outage", "wifi", "internet",
            ],
            &[
                "on hold",
                "hold",
                "wait",
                "waiting",
                "queue",
                "line",
                "hours",
                "forever",
                "no response",
                "no reply",
                "still waiting",
            ],
            &[],
        ];
        Taxonomy {
            categories: DEFAULT_CATEGORIES
                .iter()
                .zip(cues)
                .map(|(n, k)| CategoryDef {
                    name: n.to_string(),
                    from: vec![n.to_string()],
                    keywords: kw(k),
                })
                .collect(),
            keyword_weight: default_kw_weight(),
        }
    }
}

impl Taxonomy {
    /// Reads a taxonomy from JSON (`{"categories":[{"name":…,"from":[…],"keywords":[…]}]}`).
    pub fn from_json(s: &str) -> anyhow::Result<Taxonomy> {
        let t: Taxonomy = serde_json::from_str(s)?;
        if t.categories.is_empty() {
            anyhow::bail!("a taxonomy needs at least one category");
        }
        Ok(t)
    }

    pub fn names(&self) -> Vec<String> {
        self.categories.iter().map(|c| c.name.clone()).collect()
    }
}

/// A taxonomy compiled against the model's classes: category → model class
/// indices, and keyword phrases as token-hash sequences.
#[derive(Debug, Clone)]
pub struct CompiledTaxonomy {
    pub names: Vec<String>,
    pub from: Vec<Vec<usize>>,
    /// (category index, phrase as word hashes), sorted by first hash
    pub phrases: Vec<(usize, Vec<u64>)>,
    pub keyword_weight: f32,
}

impl CompiledTaxonomy {
    pub fn compile(t: &Taxonomy, model_labels: &[String]) -> CompiledTaxonomy {
        let mut phrases = Vec::new();
        for (ci, c) in t.categories.iter().enumerate() {
            for k in &c.keywords {
                let hs: Vec<u64> = phrase_hashes(k);
                if !hs.is_empty() {
                    phrases.push((ci, hs));
                }
            }
        }
        phrases.sort_by_key(|(_, ph): &(usize, Vec<u64>)| ph[0]);
        CompiledTaxonomy {
            names: t.names(),
            from: t
                .categories
                .iter()
                .map(|c| {
                    c.from
                        .iter()
                        .filter_map(|f| model_labels.iter().position(|l| l == f))
                        .collect()
                })
                .collect(),
            phrases,
            keyword_weight: t.keyword_weight,
        }
    }
}

/// Hashes of the normalised words of a phrase, as the tokenizer produces them.
pub fn phrase_hashes(p: &str) -> Vec<u64> {
    let mut s = crate::text::Scratch::default();
    crate::text::tokenize(p, &mut s);
    s.toks.iter().map(|t| t.hash).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn airline_reasons_map_to_the_taxonomy() {
        assert_eq!(map_label("Late Flight"), Some("late_delayed"));
        assert_eq!(map_label("Damaged Luggage"), Some("lost_damaged_item"));
        assert_eq!(map_label("billing_refund"), Some("billing_refund"));
        assert_eq!(map_label("nonsense"), None);
    }

    #[test]
    fn custom_taxonomy_parses() {
        let t = Taxonomy::from_json(
            r#"{"categories":[{"name":"delivery","from":["late_delayed","lost_damaged_item"],"keywords":["courier"]},{"name":"other","from":["other"]}]}"#,
        )
        .unwrap();
        let c = CompiledTaxonomy::compile(&t, &Taxonomy::default().names());
        assert_eq!(c.from[0], vec![0, 2]);
    }
}
