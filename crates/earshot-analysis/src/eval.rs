//! Evaluation: accuracy, macro F1/recall, per-class precision/recall/F1 and
//! the confusion matrix, in one JSON-serialisable report.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Engine;
use crate::data::{Row, Task};
use crate::taxonomy::DEFAULT_CATEGORIES;
use crate::{COMPLAINT_THRESHOLD, SENTIMENT_LABELS};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Confusion {
    /// Row = gold label, column = predicted label, both in this order.
    pub labels: Vec<String>,
    pub matrix: Vec<Vec<usize>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub task: String,
    pub n: usize,
    pub accuracy: f64,
    /// Mean F1 over the classes present in gold or predictions.
    pub macro_f1: f64,
    /// Mean recall over the same classes.
    pub macro_recall: f64,
    pub per_class: BTreeMap<String, ClassMetrics>,
    pub confusion: Confusion,
    /// Rows without a usable label.
    pub skipped: usize,
}

/// Metrics for gold/predicted class indices into `labels`.
pub fn metrics(task: &str, labels: &[String], gold: &[usize], pred: &[usize]) -> Report {
    let k = labels.len();
    let mut m = vec![vec![0usize; k]; k];
    for (&g, &p) in gold.iter().zip(pred) {
        m[g][p] += 1;
    }
    let n = gold.len();
    let correct: usize = (0..k).map(|i| m[i][i]).sum();
    let mut per_class = BTreeMap::new();
    let (mut f1s, mut recs, mut used) = (0.0, 0.0, 0usize);
    for i in 0..k {
        let tp = m[i][i] as f64;
        let support: usize = m[i].iter().sum();
        let predicted: usize = (0..k).map(|r| m[r][i]).sum();
        if support == 0 && predicted == 0 {
            continue;
        }
        let precision = if predicted > 0 {
            tp / predicted as f64
        } else {
            0.0
        };
        let recall = if support > 0 {
            tp / support as f64
        } else {
            0.0
        };
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        f1s += f1;
        recs += recall;
        used += 1;
        per_class.insert(
            labels[i].clone(),
            ClassMetrics {
                precision: round4(precision),
                recall: round4(recall),
                f1: round4(f1),
                support,
            },
        );
    }
    let used = used.max(1) as f64;
    Report {
        task: task.to_string(),
        n,
        accuracy: round4(if n > 0 {
            correct as f64 / n as f64
        } else {
            0.0
        }),
        macro_f1: round4(f1s / used),
        macro_recall: round4(recs / used),
        per_class,
        confusion: Confusion {
            labels: labels.to_vec(),
            matrix: m,
        },
        skipped: 0,
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The label set of a task (category: the engine's taxonomy).
pub fn task_labels(engine: &Engine, task: Task) -> Vec<String> {
    match task {
        Task::Sentiment => SENTIMENT_LABELS.iter().map(|s| s.to_string()).collect(),
        Task::Complaint => vec!["0".into(), "1".into()],
        Task::Category => engine.taxonomy_names().to_vec(),
    }
}

/// Predicted label (index into [`task_labels`]) for one text.
pub fn predict(engine: &Engine, task: Task, text: &str) -> usize {
    match task {
        Task::Sentiment => {
            let p = engine.sentiment_probs(text);
            (0..3).fold(0, |b, j| if p[j] > p[b] { j } else { b })
        }
        Task::Complaint => usize::from(engine.complaint_prob(text) >= COMPLAINT_THRESHOLD),
        Task::Category => {
            let s = engine.category_scores(text);
            (0..s.len()).fold(0, |b, j| if s[j] > s[b] { j } else { b })
        }
    }
}

/// Evaluates the engine on labelled rows (labels already normalised).
pub fn evaluate(engine: &Engine, task: Task, rows: &[Row], skipped: usize) -> Report {
    let labels = task_labels(engine, task);
    let mut gold = Vec::with_capacity(rows.len());
    let mut pred = Vec::with_capacity(rows.len());
    let mut skipped = skipped;
    for r in rows {
        // Category gold labels are default-taxonomy names; with a custom
        // taxonomy they must be names of that taxonomy.
        match labels.iter().position(|l| *l == r.label) {
            Some(g) => {
                gold.push(g);
                pred.push(predict(engine, task, &r.text));
            }
            None => skipped += 1,
        }
    }
    let mut rep = metrics(task.as_str(), &labels, &gold, &pred);
    rep.skipped = skipped;
    rep
}

/// Default-taxonomy names (for docs and tests).
pub fn default_category_labels() -> Vec<String> {
    DEFAULT_CATEGORIES.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_a_hand_computed_example() {
        let labels: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        // gold a a b b, pred a b b b
        let r = metrics("t", &labels, &[0, 0, 1, 1], &[0, 1, 1, 1]);
        assert_eq!(r.n, 4);
        assert_eq!(r.accuracy, 0.75);
        assert_eq!(r.per_class["a"].precision, 1.0);
        assert_eq!(r.per_class["a"].recall, 0.5);
        assert_eq!(r.per_class["b"].precision, 0.6667);
        assert_eq!(r.macro_recall, 0.75);
        assert_eq!(r.confusion.matrix, vec![vec![1, 1], vec![0, 2]]);
        // f1: a = 2/3, b = 0.8 → 0.7333
        assert_eq!(r.macro_f1, 0.7333);
    }
}
