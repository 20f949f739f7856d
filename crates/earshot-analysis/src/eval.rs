//! Evaluation: accuracy, macro F1/recall, per-class precision/recall/F1, the
//! confusion matrix and how well the scores are calibrated, in one
//! JSON-serialisable report.

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
    /// Whether the predicted label's score can be read as a probability
    /// (absent from reports built from labels alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// Reliability of the predicted label's score ("confidence"): within each
/// tenth of the score range, how often the prediction was right.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Calibration {
    /// Expected calibration error: the row-weighted mean gap between
    /// confidence and accuracy over the bins (0 = perfectly calibrated).
    pub ece: f64,
    /// Largest such gap in a bin holding at least 1 % of the rows.
    pub max_gap: f64,
    pub mean_confidence: f64,
    /// Mean negative log of the score given to the gold label.
    pub log_loss: f64,
    /// Non-empty bins, lowest confidence first.
    pub bins: Vec<ReliabilityBin>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReliabilityBin {
    /// Confidence range [from, to).
    pub from: f64,
    pub to: f64,
    pub n: usize,
    pub mean_confidence: f64,
    pub accuracy: f64,
}

/// Calibration over rows given the predicted label's score, whether the
/// prediction was right, and the score given to the gold label.
pub fn calibration(confidence: &[f64], correct: &[bool], gold_score: &[f64]) -> Calibration {
    const BINS: usize = 10;
    let n = confidence.len();
    let mut count = [0usize; BINS];
    let mut conf_sum = [0f64; BINS];
    let mut right = [0usize; BINS];
    for (&c, &ok) in confidence.iter().zip(correct) {
        let b = ((c.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1);
        count[b] += 1;
        conf_sum[b] += c;
        right[b] += usize::from(ok);
    }
    let (mut ece, mut max_gap) = (0.0, 0.0f64);
    let mut bins = Vec::new();
    for b in 0..BINS {
        if count[b] == 0 {
            continue;
        }
        let mean_conf = conf_sum[b] / count[b] as f64;
        let acc = right[b] as f64 / count[b] as f64;
        let gap = (mean_conf - acc).abs();
        ece += gap * count[b] as f64 / n as f64;
        if count[b] * 100 >= n {
            max_gap = max_gap.max(gap);
        }
        bins.push(ReliabilityBin {
            from: b as f64 / BINS as f64,
            to: (b + 1) as f64 / BINS as f64,
            n: count[b],
            mean_confidence: round4(mean_conf),
            accuracy: round4(acc),
        });
    }
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let nll: Vec<f64> = gold_score.iter().map(|p| -p.max(1e-9).ln()).collect();
    Calibration {
        ece: round4(ece),
        max_gap: round4(max_gap),
        mean_confidence: round4(mean(confidence)),
        log_loss: round4(mean(&nll)),
        bins,
    }
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
        calibration: None,
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

/// Every label's score for one text, in [`task_labels`] order: sentiment
/// probabilities as `analyze` reports them, P(not complaint) and
/// P(complaint), category scores.
pub fn scores(engine: &Engine, task: Task, text: &str) -> Vec<f64> {
    match task {
        Task::Sentiment => engine
            .sentiment_probs_reported(text)
            .iter()
            .map(|&p| f64::from(p))
            .collect(),
        Task::Complaint => {
            let p = f64::from(engine.complaint_prob(text));
            vec![1.0 - p, p]
        }
        Task::Category => engine
            .category_scores(text)
            .iter()
            .map(|&p| f64::from(p))
            .collect(),
    }
}

/// Predicted label (index into [`task_labels`]) from [`scores`]: the
/// highest, except that a complaint needs P(complaint) ≥ the threshold.
pub fn predict(task: Task, scores: &[f64]) -> usize {
    match task {
        Task::Complaint => usize::from(scores[1] >= f64::from(COMPLAINT_THRESHOLD)),
        _ => (0..scores.len()).fold(0, |b, j| if scores[j] > scores[b] { j } else { b }),
    }
}

/// Evaluates the engine on labelled rows (labels already normalised).
pub fn evaluate(engine: &Engine, task: Task, rows: &[Row], skipped: usize) -> Report {
    let labels = task_labels(engine, task);
    let mut gold = Vec::with_capacity(rows.len());
    let mut pred = Vec::with_capacity(rows.len());
    let (mut conf, mut correct, mut gold_score) = (Vec::new(), Vec::new(), Vec::new());
    let mut skipped = skipped;
    for r in rows {
        // Category gold labels are default-taxonomy names; with a custom
        // taxonomy they must be names of that taxonomy.
        match labels.iter().position(|l| *l == r.label) {
            Some(g) => {
                let s = scores(engine, task, &r.text);
                let p = predict(task, &s);
                gold.push(g);
                pred.push(p);
                conf.push(s[p]);
                correct.push(p == g);
                gold_score.push(s[g]);
            }
            None => skipped += 1,
        }
    }
    let mut rep = metrics(task.as_str(), &labels, &gold, &pred);
    rep.skipped = skipped;
    rep.calibration = Some(calibration(&conf, &correct, &gold_score));
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

    #[test]
    fn calibration_measures_the_gap_between_confidence_and_accuracy() {
        // Ten rows at 0.95 confidence, 9 right: gap 0.05 in one bin.
        let conf = [0.95; 10];
        let mut ok = [true; 10];
        ok[0] = false;
        let c = calibration(&conf, &ok, &[0.95; 10]);
        assert_eq!(c.bins.len(), 1);
        assert_eq!((c.bins[0].from, c.bins[0].n), (0.9, 10));
        assert_eq!(c.bins[0].accuracy, 0.9);
        assert_eq!(c.ece, 0.05);
        assert_eq!(c.max_gap, 0.05);
        assert_eq!(c.log_loss, 0.0513);
        // Overconfident: 0.9 claimed, half right in one bin; 0.3 claimed and
        // right a third of the time in another.
        let conf = [0.9, 0.9, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3];
        let ok = [true, false, true, false, false, true, false, false];
        let c = calibration(&conf, &ok, &conf);
        assert_eq!(c.bins.len(), 2);
        // (2 × 0.4 + 6 × |0.3 − 1/3|) / 8
        assert_eq!(c.ece, 0.125);
        assert_eq!(c.max_gap, 0.4);
        // a score of exactly 1.0 falls in the last bin
        let c = calibration(&[1.0], &[true], &[1.0]);
        assert_eq!((c.bins[0].from, c.ece), (0.9, 0.0));
    }
}
