//! Group commit for ingestion. Concurrent requests hand their analysed
//! mentions to one writer task, which stores everything waiting in a single
//! transaction and answers each request with its own outcomes. A request is
//! still acknowledged only after the commit that holds it; under load many
//! small requests share one commit instead of queueing for the write lock
//! one by one.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use earshot_core::error::{Error, Result};
use earshot_core::sources::Checkpoint;
use earshot_core::store::{AnalyzedMention, IngestOutcome, Store};
use tokio::sync::{mpsc, oneshot};

/// Most mentions stored in one group transaction.
const MAX_GROUP: usize = 5_000;

type Answer = Result<(Vec<AnalyzedMention>, Vec<IngestOutcome>)>;

struct Job {
    batch: Vec<AnalyzedMention>,
    checkpoints: Vec<Checkpoint>,
    now: DateTime<Utc>,
    reply: oneshot::Sender<Answer>,
}

pub(crate) struct GroupCommit {
    store: Arc<dyn Store>,
    sender: OnceLock<mpsc::Sender<Job>>,
}

impl GroupCommit {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        GroupCommit {
            store,
            sender: OnceLock::new(),
        }
    }

    /// Stores a batch (in the next group transaction) and returns it with
    /// its outcomes, in input order.
    #[cfg(test)]
    pub(crate) async fn ingest(&self, batch: Vec<AnalyzedMention>, now: DateTime<Utc>) -> Answer {
        self.ingest_checkpointed(batch, Vec::new(), now).await
    }

    /// [`GroupCommit::ingest`] with sources' checkpoints, committed in the
    /// same transaction as the batch: if the batch fails, so do they.
    pub(crate) async fn ingest_checkpointed(
        &self,
        batch: Vec<AnalyzedMention>,
        checkpoints: Vec<Checkpoint>,
        now: DateTime<Utc>,
    ) -> Answer {
        // The writer starts on first use, inside the server's runtime.
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(1024);
            tokio::spawn(write_groups(self.store.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        sender
            .send(Job {
                batch,
                checkpoints,
                now,
                reply,
            })
            .await
            .map_err(|_| Error::internal("the ingestion writer has stopped"))?;
        answer
            .await
            .map_err(|_| Error::internal("the ingestion writer dropped a request"))?
    }
}

async fn write_groups(store: Arc<dyn Store>, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.recv().await {
        let mut size = first.batch.len();
        let mut group = vec![first];
        while size < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => {
                    size += job.batch.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let now = group.iter().map(|j| j.now).max().unwrap_or_else(Utc::now);
        let sizes: Vec<usize> = group.iter().map(|j| j.batch.len()).collect();
        let mut combined = Vec::with_capacity(size);
        let mut checkpoints: Vec<Vec<Checkpoint>> = Vec::with_capacity(group.len());
        let mut replies = Vec::with_capacity(group.len());
        for job in group {
            combined.extend(job.batch);
            checkpoints.push(job.checkpoints);
            replies.push(job.reply);
        }
        let all_checkpoints: Vec<Checkpoint> = checkpoints.iter().flatten().cloned().collect();
        match store
            .ingest_checkpointed(&combined, &all_checkpoints, now)
            .await
        {
            Ok(outcomes) => {
                let mut mentions = combined.into_iter();
                let mut outcomes = outcomes.into_iter();
                for (reply, n) in replies.into_iter().zip(sizes) {
                    let part = (
                        mentions.by_ref().take(n).collect(),
                        outcomes.by_ref().take(n).collect(),
                    );
                    let _ = reply.send(Ok(part));
                }
            }
            Err(e) if replies.len() == 1 => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
            Err(_) => {
                // One request's bad record must not fail the others that
                // shared its commit: each is stored again on its own.
                // Each keeps its own checkpoints: a failing batch leaves its
                // source's cursor where it was.
                let mut mentions = combined.into_iter();
                for ((reply, n), own) in replies.into_iter().zip(sizes).zip(checkpoints) {
                    let batch: Vec<AnalyzedMention> = mentions.by_ref().take(n).collect();
                    let answer = store
                        .ingest_checkpointed(&batch, &own, now)
                        .await
                        .map(|outcomes| (batch, outcomes));
                    let _ = reply.send(answer);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use earshot_core::analysis::{Analysis, Sentiment};
    use earshot_core::mention::{Author, NewMention, ReachMetrics};
    use earshot_core::priority::{Priority, PriorityInputs, PriorityWeights};
    use earshot_core::source::SourceKind;
    use earshot_core::store::MentionQuery;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
    }

    /// Built by hand, past the validator: the store sees what it is given.
    fn complaint(id: &str, text: &str) -> AnalyzedMention {
        let analysis = Analysis {
            sentiment: Sentiment::Negative,
            sentiment_score: -0.8,
            complaint: true,
            complaint_score: 0.9,
            language: Some("en".into()),
            ..Analysis::default()
        };
        let priority = Priority::compute(
            &PriorityInputs {
                analysis: &analysis,
                followers: 10,
                reposts: 0,
                likes: 0,
                vip: false,
                press: false,
                waiting_hours: 0.0,
            },
            &PriorityWeights::default(),
        );
        AnalyzedMention {
            mention: NewMention {
                source: SourceKind::Webhook,
                external_id: id.into(),
                author: Author {
                    handle: format!("author-{id}"),
                    followers: 10,
                    ..Author::default()
                },
                text: text.into(),
                created_at: now(),
                url: None,
                language: None,
                thread_id: None,
                parent_id: None,
                metrics: ReachMetrics::default(),
                origin: None,
            },
            analysis,
            priority,
            historical: false,
        }
    }

    /// PostgreSQL refuses a NUL byte in text (SQLite stores it), so a
    /// mention the validator missed makes the group's transaction fail
    /// there. The requests are all sent before the writer task first runs
    /// (one test thread: it runs only once `join!` waits), so they share
    /// its first commit; the good ones must still be stored and answered.
    #[tokio::test]
    async fn a_record_the_database_rejects_fails_only_its_own_request() {
        let Some(url) = earshot_store::testing::postgres_url() else {
            return;
        };
        let location = earshot_store::Location::Postgres(
            earshot_store::testing::fresh_postgres_database(&url)
                .await
                .unwrap(),
        );
        let store: Arc<dyn Store> = Arc::new(earshot_store::open(&location).await.unwrap());
        let commits = GroupCommit::new(store.clone());

        let (first, bad, last) = tokio::join!(
            commits.ingest(
                vec![
                    complaint("g1", "my parcel never arrived"),
                    complaint("g2", "billed twice")
                ],
                now()
            ),
            commits.ingest(vec![complaint("nul", "refund me\0 now")], now()),
            commits.ingest(vec![complaint("g3", "the app keeps crashing")], now()),
        );

        let bad = bad.expect_err("PostgreSQL rejects a NUL in text");
        assert_eq!(
            bad.code,
            earshot_core::error::ErrorCode::Internal,
            "{bad:?}"
        );
        let (mentions, outcomes) = first.expect("the good requests are not failed with it");
        assert_eq!(mentions.len(), 2);
        assert!(outcomes.iter().all(|o| !o.duplicate && o.case.is_some()));
        let (_, outcomes) = last.expect("the good requests are not failed with it");
        assert_eq!(outcomes.len(), 1);

        let stored = store.mentions(&MentionQuery::default()).await.unwrap();
        let mut ids: Vec<&str> = stored
            .iter()
            .map(|m| m.mention.external_id.as_str())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, ["g1", "g2", "g3"]);
    }
}
