//! The ingestion pipeline stages before storage: analysis, then priority.
//! Stateless and synchronous so it can run on any thread, in-process today
//! and on separate workers later.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::analysis::Analyzer;
use crate::mention::NewMention;
use crate::priority::{Priority, PriorityInputs, PriorityWeights};
use crate::store::AnalyzedMention;

/// What ingestion knows beyond the post itself.
#[derive(Debug, Clone)]
pub struct Known {
    /// Lower-case handles on the brand's VIP list.
    pub vip: HashSet<String>,
    /// Lower-case handles on the press list.
    pub press: HashSet<String>,
    /// Past conversations: stored, searchable and analysed, but no case,
    /// so importing history does not start a storm of breached SLAs.
    pub historical: bool,
    pub now: DateTime<Utc>,
}

impl Known {
    /// Nothing known about any author, at `now`.
    pub fn at(now: DateTime<Utc>) -> Known {
        Known {
            vip: HashSet::new(),
            press: HashSet::new(),
            historical: false,
            now,
        }
    }
}

#[derive(Clone)]
pub struct Pipeline {
    pub analyzer: Arc<dyn Analyzer>,
    pub weights: PriorityWeights,
}

impl Pipeline {
    pub fn new(analyzer: Arc<dyn Analyzer>, weights: PriorityWeights) -> Self {
        Pipeline { analyzer, weights }
    }

    /// Analyses one mention and scores the priority it brings to its case.
    pub fn prepare(&self, mention: NewMention, known: &Known) -> AnalyzedMention {
        let mut analysis = self.analyzer.analyze(&mention.text);
        if let Some(declared) = &mention.language {
            // The platform's declared language beats detection on short text.
            analysis.language = Some(declared.clone());
            analysis.language_confidence = 1.0;
        }
        let handle = mention.author.handle.to_lowercase();
        let priority = Priority::compute(
            &PriorityInputs {
                analysis: &analysis,
                followers: mention.author.followers,
                reposts: mention.metrics.reposts,
                likes: mention.metrics.likes,
                vip: known.vip.contains(&handle),
                press: known.press.contains(&handle),
                // The customer's wait starts when they posted; the SLA tick
                // keeps it growing until the brand answers.
                waiting_hours: (known.now - mention.created_at).num_seconds().max(0) as f32
                    / 3600.0,
            },
            &self.weights,
        );
        AnalyzedMention {
            mention,
            analysis,
            priority,
            historical: known.historical,
        }
    }

    /// Prepares a batch, spreading large ones over the machine's cores.
    pub fn prepare_batch(&self, mentions: Vec<NewMention>, known: &Known) -> Vec<AnalyzedMention> {
        const PER_THREAD: usize = 512;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if mentions.len() < 2 * PER_THREAD || threads == 1 {
            return mentions
                .into_iter()
                .map(|m| self.prepare(m, known))
                .collect();
        }
        let chunk = mentions.len().div_ceil(threads);
        let mut chunks: Vec<Vec<NewMention>> = Vec::new();
        let mut rest = mentions;
        while rest.len() > chunk {
            let tail = rest.split_off(chunk);
            chunks.push(rest);
            rest = tail;
        }
        chunks.push(rest);
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|c| {
                    scope.spawn(move || {
                        c.into_iter()
                            .map(|m| self.prepare(m, known))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::analysis::{Analysis, Sentiment};
    use crate::mention::Author;
    use crate::source::SourceKind;

    struct Shouty;
    impl Analyzer for Shouty {
        fn analyze(&self, text: &str) -> Analysis {
            Analysis {
                sentiment: if text.contains('!') {
                    Sentiment::Negative
                } else {
                    Sentiment::Neutral
                },
                sentiment_score: if text.contains('!') { -1.0 } else { 0.0 },
                language: Some("xx".into()),
                ..Analysis::default()
            }
        }
    }

    fn mention(i: usize, text: &str) -> NewMention {
        NewMention {
            source: SourceKind::Webhook,
            external_id: i.to_string(),
            author: Author {
                handle: "a".into(),
                ..Author::default()
            },
            text: text.into(),
            created_at: chrono::DateTime::default(),
            url: None,
            language: None,
            thread_id: None,
            parent_id: None,
            metrics: Default::default(),
            origin: None,
        }
    }

    #[test]
    fn large_batches_keep_their_order() {
        let p = Pipeline::new(Arc::new(Shouty), PriorityWeights::default());
        let batch: Vec<_> = (0..5000)
            .map(|i| mention(i, if i % 3 == 0 { "bad!" } else { "ok" }))
            .collect();
        let out = p.prepare_batch(batch, &Known::at(chrono::DateTime::default()));
        assert_eq!(out.len(), 5000);
        for (i, m) in out.iter().enumerate() {
            assert_eq!(m.mention.external_id, i.to_string());
            assert_eq!(m.analysis.sentiment == Sentiment::Negative, i % 3 == 0);
        }
        assert!(out[0].priority.score > out[1].priority.score);
    }

    #[test]
    fn declared_language_wins_over_detection() {
        let p = Pipeline::new(Arc::new(Shouty), PriorityWeights::default());
        let known = Known::at(chrono::DateTime::default());
        let mut m = mention(1, "hola");
        assert_eq!(
            p.prepare(m.clone(), &known).analysis.language.as_deref(),
            Some("xx")
        );
        m.language = Some("es".into());
        let a = p.prepare(m, &known).analysis;
        assert_eq!(a.language.as_deref(), Some("es"));
        assert_eq!(a.language_confidence, 1.0);
    }

    #[test]
    fn author_lists_and_the_wait_so_far_feed_the_priority() {
        let p = Pipeline::new(Arc::new(Shouty), PriorityWeights::default());
        let mut m = mention(1, "bad!");
        m.author.handle = "Ana".into();
        let posted = m.created_at;
        let plain = p.prepare(m.clone(), &Known::at(posted));
        let mut known = Known::at(posted + chrono::TimeDelta::hours(5));
        known.vip.insert("ana".into());
        let vip = p.prepare(m, &known);
        let factor = |a: &AnalyzedMention, f: &str| {
            a.priority
                .breakdown
                .iter()
                .find(|c| c.factor == f)
                .map(|c| c.points)
                .unwrap()
        };
        assert_eq!(factor(&plain, "customer_value"), 0.0);
        assert!(factor(&vip, "customer_value") > 0.0);
        assert_eq!(factor(&plain, "waiting"), 0.0);
        assert!(factor(&vip, "waiting") > 0.0);
    }
}
