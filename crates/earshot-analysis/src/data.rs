//! Readers for the labelled files Earshot trains and evaluates on: CSV with
//! named columns (airline, complaints, exported corrections), TweetEval-style
//! `*_text.txt` + `*_labels.txt` pairs, and JSONL corrections.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::text::{fnv, mix};

/// A task Earshot trains and evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Sentiment,
    Complaint,
    Category,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Sentiment => "sentiment",
            Task::Complaint => "complaint",
            Task::Category => "category",
        }
    }

    pub fn parse(s: &str) -> Option<Task> {
        [Task::Sentiment, Task::Complaint, Task::Category]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    /// Label column used when the file has no `label` column.
    pub fn default_label_column(self) -> &'static str {
        match self {
            Task::Sentiment => "airline_sentiment",
            Task::Complaint => "is_complaint",
            Task::Category => "negativereason",
        }
    }
}

/// Which rows of a file to use. Files without their own dev split (airline,
/// complaints) are split deterministically by a hash of `tweet_id`: one row
/// in five is dev.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    #[default]
    All,
    Train,
    Dev,
}

impl Split {
    pub fn parse(s: &str) -> Option<Split> {
        match s {
            "all" => Some(Split::All),
            "train" => Some(Split::Train),
            "dev" => Some(Split::Dev),
            _ => None,
        }
    }

    pub fn keeps(self, key: &str) -> bool {
        match self {
            Split::All => true,
            Split::Dev => is_dev(key),
            Split::Train => !is_dev(key),
        }
    }
}

/// The deterministic 20 % dev split.
pub fn is_dev(key: &str) -> bool {
    mix(fnv(key.trim().as_bytes())).is_multiple_of(5)
}

/// Whether `r` falls in fold `f` of the `n`-way partition `salt`, by a hash
/// of its split key: the same folds on every run and machine.
pub fn in_fold(r: &Row, salt: u64, n: u64, f: u64) -> bool {
    mix(fnv(r.split_key().trim().as_bytes()) ^ salt) % n == f
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `tweet_id` when the file has one (used for the dev split).
    pub id: Option<String>,
    pub text: String,
    pub label: String,
}

impl Row {
    pub fn split_key(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.text)
    }
}

/// Normalises a gold label for a task: sentiment names (or TweetEval digits),
/// `1|0` for complaints, taxonomy names for categories (airline reasons are
/// mapped). `None` means the row has no usable label (skipped).
pub fn normalise_label(task: Task, raw: &str) -> Option<String> {
    let l = raw.trim();
    match task {
        Task::Sentiment => match l.to_ascii_lowercase().as_str() {
            "negative" | "neg" | "0" => Some("negative".into()),
            "neutral" | "neu" | "1" => Some("neutral".into()),
            "positive" | "pos" | "2" => Some("positive".into()),
            _ => None,
        },
        Task::Complaint => match l.to_ascii_lowercase().as_str() {
            "1" | "true" | "complaint" | "yes" => Some("1".into()),
            "0" | "false" | "not_complaint" | "no" => Some("0".into()),
            _ => None,
        },
        Task::Category => crate::taxonomy::map_label(l).map(str::to_string),
    }
}

/// Reads labelled rows. `.txt` files are TweetEval pairs (`x_text.txt` with
/// `x_labels.txt`), `.jsonl` files hold `{"text":…,"label":…}` objects, anything
/// else is CSV with a header. Rows whose label does not normalise are dropped
/// and counted in the second value.
pub fn read_labelled(
    path: &Path,
    task: Task,
    text_column: &str,
    label_column: Option<&str>,
    split: Split,
) -> Result<(Vec<Row>, usize)> {
    let name = path.to_string_lossy();
    let raw = if name.ends_with("_text.txt") {
        read_tweeteval(path)?
    } else if name.ends_with(".jsonl") {
        read_jsonl(path, Some(task))?
    } else {
        read_csv(path, task, text_column, label_column)?
    };
    let mut out = Vec::with_capacity(raw.len());
    let mut skipped = 0;
    for r in raw {
        if !split.keeps(r.split_key()) {
            continue;
        }
        match normalise_label(task, &r.label) {
            Some(label) => out.push(Row { label, ..r }),
            None => skipped += 1,
        }
    }
    Ok((out, skipped))
}

fn read_csv(path: &Path, task: Task, text_col: &str, label_col: Option<&str>) -> Result<Vec<Row>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let headers = rdr.headers()?.clone();
    let find = |c: &str| headers.iter().position(|h| h.trim() == c);
    let ti =
        find(text_col).with_context(|| format!("no column '{text_col}' in {}", path.display()))?;
    let li = match label_col {
        Some(c) => find(c).with_context(|| format!("no column '{c}' in {}", path.display()))?,
        None => find("label")
            .or_else(|| find(task.default_label_column()))
            .with_context(|| {
                format!(
                    "no 'label' or '{}' column in {}",
                    task.default_label_column(),
                    path.display()
                )
            })?,
    };
    let idi = find("tweet_id").or_else(|| find("id"));
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec?;
        rows.push(Row {
            id: idi.and_then(|i| rec.get(i)).map(str::to_string),
            text: rec.get(ti).unwrap_or("").to_string(),
            label: rec.get(li).unwrap_or("").to_string(),
        });
    }
    Ok(rows)
}

/// `dir/x_text.txt` + `dir/x_labels.txt`, one item per line.
pub fn read_tweeteval(text_path: &Path) -> Result<Vec<Row>> {
    let name = text_path.to_string_lossy();
    let Some(stem) = name.strip_suffix("_text.txt") else {
        bail!("expected a *_text.txt file, got {name}");
    };
    let labels_path = PathBuf::from(format!("{stem}_labels.txt"));
    let texts = std::fs::read_to_string(text_path)
        .with_context(|| format!("reading {}", text_path.display()))?;
    let labels = std::fs::read_to_string(&labels_path)
        .with_context(|| format!("reading {}", labels_path.display()))?;
    let texts: Vec<&str> = texts.lines().collect();
    let labels: Vec<&str> = labels.lines().collect();
    if texts.len() != labels.len() {
        bail!(
            "{} has {} lines but {} has {}",
            text_path.display(),
            texts.len(),
            labels_path.display(),
            labels.len()
        );
    }
    Ok(texts
        .into_iter()
        .zip(labels)
        .map(|(t, l)| Row {
            id: None,
            text: t.to_string(),
            label: l.trim().to_string(),
        })
        .collect())
}

/// A correction made by an agent, exported as a training row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Correction {
    pub task: Task,
    pub text: String,
    pub label: String,
}

/// Reads JSONL rows `{"task":…,"text":…,"label":…}` (`task` optional when
/// `task` is given); rows for other tasks are skipped.
pub fn read_jsonl(path: &Path, task: Option<Task>) -> Result<Vec<Row>> {
    #[derive(Deserialize)]
    struct J {
        #[serde(default)]
        task: Option<String>,
        text: String,
        label: serde_json::Value,
        #[serde(default)]
        id: Option<serde_json::Value>,
    }
    let body =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let j: J = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a JSON row", path.display(), n + 1))?;
        if let (Some(want), Some(t)) = (task, j.task.as_deref())
            && t != want.as_str()
        {
            continue;
        }
        let label = match j.label {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        rows.push(Row {
            id: j.id.map(|v| v.to_string()),
            text: j.text,
            label,
        });
    }
    Ok(rows)
}

/// Reads corrections for `task` from JSONL (`{"task","text","label"}`) or CSV
/// (`task,text,label`), normalising labels.
pub fn read_corrections(path: &Path, task: Task) -> Result<Vec<Row>> {
    let rows = if path.to_string_lossy().ends_with(".csv") {
        let mut rdr = csv::Reader::from_path(path)?;
        let headers = rdr.headers()?.clone();
        let find = |c: &str| headers.iter().position(|h| h.trim() == c);
        let (ti, li) = (
            find("text").context("corrections CSV needs a 'text' column")?,
            find("label").context("corrections CSV needs a 'label' column")?,
        );
        let ki = find("task");
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let rec = rec?;
            if let Some(k) = ki.and_then(|i| rec.get(i))
                && k != task.as_str()
            {
                continue;
            }
            rows.push(Row {
                id: None,
                text: rec.get(ti).unwrap_or("").into(),
                label: rec.get(li).unwrap_or("").into(),
            });
        }
        rows
    } else {
        read_jsonl(path, Some(task))?
    };
    Ok(rows
        .into_iter()
        .filter_map(|r| normalise_label(task, &r.label).map(|label| Row { label, ..r }))
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn dev_split_is_deterministic_and_about_a_fifth() {
        let n = (0..10_000).filter(|i| is_dev(&i.to_string())).count();
        assert!((1800..2200).contains(&n), "{n}");
        assert_eq!(is_dev("569863453696876544"), is_dev(" 569863453696876544 "));
    }

    #[test]
    fn labels_normalise_per_task() {
        assert_eq!(
            normalise_label(Task::Sentiment, "2").as_deref(),
            Some("positive")
        );
        assert_eq!(normalise_label(Task::Complaint, "1").as_deref(), Some("1"));
        assert_eq!(
            normalise_label(Task::Category, "Cancelled Flight").as_deref(),
            Some("cancelled")
        );
        assert_eq!(normalise_label(Task::Category, ""), None);
    }
}
