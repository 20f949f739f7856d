//! Group commit for ingestion. Concurrent requests hand their analysed
//! mentions to one writer task, which stores everything waiting in a single
//! transaction and answers each request with its own outcomes. A request is
//! still acknowledged only after the commit that holds it; under load many
//! small requests share one commit instead of queueing for the write lock
//! one by one.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use earshot_core::error::{Error, Result};
use earshot_core::store::{AnalyzedMention, IngestOutcome, Store};
use tokio::sync::{mpsc, oneshot};

/// Most mentions stored in one group transaction.
const MAX_GROUP: usize = 5_000;

type Answer = Result<(Vec<AnalyzedMention>, Vec<IngestOutcome>)>;

struct Job {
    batch: Vec<AnalyzedMention>,
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
    pub(crate) async fn ingest(&self, batch: Vec<AnalyzedMention>, now: DateTime<Utc>) -> Answer {
        // The writer starts on first use, inside the server's runtime.
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(1024);
            tokio::spawn(write_groups(self.store.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        sender
            .send(Job { batch, now, reply })
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
        let mut replies = Vec::with_capacity(group.len());
        for job in group {
            combined.extend(job.batch);
            replies.push(job.reply);
        }
        match store.ingest(&combined, now).await {
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
                let mut mentions = combined.into_iter();
                for (reply, n) in replies.into_iter().zip(sizes) {
                    let batch: Vec<AnalyzedMention> = mentions.by_ref().take(n).collect();
                    let answer = store
                        .ingest(&batch, now)
                        .await
                        .map(|outcomes| (batch, outcomes));
                    let _ = reply.send(answer);
                }
            }
        }
    }
}
