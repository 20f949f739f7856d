//! The background workers of one node: the SLA ticker, the follow-up
//! check of private handoffs, outbound webhook delivery, the priority
//! refresher, the CSAT scan, recovery, the reply outbox and the source
//! runtime (one supervised task per source, see [`crate::listen`]). Each runs as its
//! own task; [`Runtime::shutdown`] (or dropping the runtime) stops them.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::App;
use crate::listen::ListenOptions;

/// How often each worker wakes.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    pub sla_tick: Duration,
    pub deliveries: Duration,
    /// The waiting factor of each active case's priority.
    pub priority: Duration,
    /// The outbox's periodic pass (it also wakes whenever a reply is queued).
    pub outbox: Duration,
    /// The scan for CSAT requests that fell due.
    pub csat: Duration,
    /// Recovery's pass over resolved cases ([`crate::recovery::pass`]).
    pub recovery: Duration,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            sla_tick: Duration::from_secs(30),
            deliveries: Duration::from_secs(10),
            priority: Duration::from_secs(60),
            outbox: Duration::from_secs(5),
            csat: Duration::from_secs(60),
            recovery: crate::recovery::INTERVAL,
        }
    }
}

/// The running workers; they stop when this is dropped.
pub struct Runtime {
    workers: Vec<(&'static str, JoinHandle<()>)>,
    /// Stops the source supervisor, which stops every source's task.
    listening: CancellationToken,
}

impl Runtime {
    /// Starts every worker on the current tokio runtime, the source
    /// runtime with its production timings.
    pub fn start(app: &App, every: Intervals) -> Self {
        Self::start_with(app, every, ListenOptions::default())
    }

    /// [`Runtime::start`] with the source runtime's timings given.
    pub fn start_with(app: &App, every: Intervals, listen: ListenOptions) -> Self {
        let listening = CancellationToken::new();
        let mut runtime = Runtime {
            listening: listening.clone(),
            workers: vec![
                (
                    "sla_ticker",
                    crate::sla::spawn_sla_ticker(app.clone(), every.sla_tick),
                ),
                (
                    "follow_ups",
                    crate::handoff::spawn_follow_up_ticker(app.clone(), every.sla_tick),
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
                    "csat",
                    crate::csat::spawn_csat_worker(app.clone(), every.csat),
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
        };
        runtime.workers.push((
            "recovery",
            crate::recovery::spawn_worker(app.clone(), every.recovery),
        ));
        runtime.workers.push((
            "sources",
            crate::listen::spawn_supervisor(app.clone(), listen, listening),
        ));
        runtime
    }

    /// The workers' names, for logs and health output.
    pub fn workers(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.workers.iter().map(|(name, _)| *name)
    }

    /// Stops every worker and waits until each has ended.
    pub async fn shutdown(mut self) {
        // The supervisor stops its sources' tasks before it ends.
        self.listening.cancel();
        for (name, handle) in self.workers.drain(..) {
            if name == "sources" {
                let _ = handle.await;
                continue;
            }
            handle.abort();
            let _ = handle.await;
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.listening.cancel();
        for (_, handle) in &self.workers {
            handle.abort();
        }
    }
}
