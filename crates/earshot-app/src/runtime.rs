//! The background workers of one node: the SLA ticker, outbound webhook
//! delivery, the priority refresher and the reply outbox. Each runs as its
//! own task; [`Runtime::shutdown`] (or dropping the runtime) stops them.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::App;

/// How often each worker wakes.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    pub sla_tick: Duration,
    pub deliveries: Duration,
    /// The waiting factor of each active case's priority.
    pub priority: Duration,
    /// The outbox's periodic pass (it also wakes whenever a reply is queued).
    pub outbox: Duration,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            sla_tick: Duration::from_secs(30),
            deliveries: Duration::from_secs(10),
            priority: Duration::from_secs(60),
            outbox: Duration::from_secs(5),
        }
    }
}

/// The running workers; they stop when this is dropped.
pub struct Runtime {
    workers: Vec<(&'static str, JoinHandle<()>)>,
}

impl Runtime {
    /// Starts every worker on the current tokio runtime.
    pub fn start(app: &App, every: Intervals) -> Self {
        Runtime {
            workers: vec![
                (
                    "sla_ticker",
                    crate::sla::spawn_sla_ticker(app.clone(), every.sla_tick),
                ),
                (
                    "deliveries",
                    crate::deliveries::spawn_webhook_sender(app.clone(), every.deliveries),
                ),
                (
                    "priority",
                    crate::priority::spawn_refresher(app.clone(), every.priority),
                ),
                (
                    "outbox",
                    crate::outbox::spawn_outbox_worker(
                        app.clone(),
                        every.outbox,
                        app.outbox_wake.clone(),
                    ),
                ),
            ],
        }
    }

    /// The workers' names, for logs and health output.
    pub fn workers(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.workers.iter().map(|(name, _)| *name)
    }

    /// Stops every worker and waits until each has ended.
    pub async fn shutdown(mut self) {
        for (_, handle) in self.workers.drain(..) {
            handle.abort();
            let _ = handle.await;
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for (_, handle) in &self.workers {
            handle.abort();
        }
    }
}
