//! Earshot's application layer: the use cases every adapter calls and the
//! runtime that runs background work.
//!
//! The HTTP API, the desk, `earshot import`, `earshot demo` and the
//! connectors all go through this crate: [`ingest::ingest`] is the one way a
//! mention enters the system, and the case actions in [`cases`],
//! [`replies`] and [`routing`] are the one place where the workflow's
//! decisions (`earshot_workflow`) meet storage (`earshot_core::store`).
//! Adapters keep transport concerns only: parsing, authentication,
//! templates, sessions.

pub mod access;
pub mod advocates;
pub mod cases;
pub mod channels;
pub mod corrections;
pub mod credentials;
pub mod csat;
pub mod deliveries;
mod group_commit;
pub mod handoff;
pub mod inbound;
pub mod ingest;
pub mod listen;
pub mod live;
pub mod notify;
pub mod outbox;
pub mod personalisation;
pub mod presence;
pub mod priority;
pub mod recovery;
pub mod replies;
pub mod routing;
pub mod runtime;
pub mod secrets;
pub mod sla;
pub mod sources;

use std::sync::{Arc, Mutex};

use earshot_core::accounts::Accounts;
use earshot_core::advocates::AdvocateStore;
use earshot_core::csat::CsatStore;
use earshot_core::inbound::InboundDeliveries;
use earshot_core::outbox::OutboxStore;
use earshot_core::pipeline::Pipeline;
use earshot_core::private_handoff::PrivateHandoffStore;
use earshot_core::recovery::RecoveryStore;
use earshot_core::sources::SourceStore;
use earshot_core::store::Store;
use earshot_core::workflow_store::WorkflowStore;
use earshot_workflow::{Clock, PresenceRegistry};
use tokio::sync::{Notify, broadcast};

pub use live::LiveEvent;

/// Where CSAT links point unless the node is told its public address: the
/// binary's default listen address.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// Everything a use case needs: storage, the analysis pipeline, the clock,
/// and the in-process channels (live events, presence, group commit).
/// Cheap to clone; every field is shared.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    /// Teams, rules, SLA, approvals, handoffs, audit: the same database as
    /// `store`, seen through the workflow contract.
    pub workflow: Arc<dyn WorkflowStore>,
    /// Replies on their way out through a connector: the same database.
    pub outbox: Arc<dyn OutboxStore>,
    /// Cases taken private (acknowledgement, private message or
    /// follow-up) and the private threads linked to cases: the same database.
    pub private_handoffs: Arc<dyn PrivateHandoffStore>,
    /// Advocates and the thank-you queue: the same database.
    pub advocates: Arc<dyn AdvocateStore>,
    /// Wakes the outbox worker when a reply is queued.
    pub outbox_wake: Arc<Notify>,
    /// Recovery outcomes of resolved cases: the same database.
    pub recovery: Arc<dyn RecoveryStore>,
    /// How long after a resolution recovery follows the author
    /// ([`earshot_core::recovery::DEFAULT_WINDOW_DAYS`] unless configured).
    pub recovery_window: chrono::TimeDelta,
    /// Configured sources (connector instances), their health and cursors.
    pub sources: Arc<dyn SourceStore>,
    /// Delivery ids of signed inbound webhooks already received.
    pub inbound: Arc<dyn InboundDeliveries>,
    /// CSAT policies, requests and answers: the same database.
    pub csat: Arc<dyn CsatStore>,
    /// How CSAT links are signed and where they point.
    pub csat_links: csat::CsatLinks,
    /// Users and sessions of the desk, when it is enabled.
    pub accounts: Option<Arc<dyn Accounts>>,
    pub pipeline: Pipeline,
    pub clock: Arc<dyn Clock>,
    /// Changes the desk shows live.
    pub live: broadcast::Sender<LiveEvent>,
    /// Who is viewing or drafting which case (in memory: presence expires
    /// within a minute, so it need not survive a restart).
    pub presence: Arc<Mutex<PresenceRegistry>>,
    /// The connectors that deliver replies, by source.
    pub channels: channels::Channels,
    /// Which webhook targets are allowed (public addresses only by default).
    pub delivery_policy: deliveries::DeliveryPolicy,
    /// Seals sources' credentials at rest.
    pub secrets: secrets::SecretBox,
    /// Builds a source's connector from its settings
    /// (`earshot_connectors::build` unless a test injects its own).
    pub connectors: listen::ConnectorFactory,
    /// Tells the source runtime that a source was created, edited,
    /// paused, resumed or deleted, so it restarts or stops its task.
    pub source_changes: broadcast::Sender<earshot_core::ids::SourceId>,
    /// How long the outbox worker holds a claimed reply ([`outbox::LEASE`]
    /// unless the node was given another): a worker that dies holding it
    /// delays that reply by this long.
    pub outbox_lease: chrono::TimeDelta,
    group_commit: Arc<group_commit::GroupCommit>,
}

impl App {
    pub fn new<
        S: Store
            + WorkflowStore
            + SourceStore
            + OutboxStore
            + InboundDeliveries
            + PrivateHandoffStore
            + CsatStore
            + RecoveryStore
            + AdvocateStore,
    >(
        store: Arc<S>,
        pipeline: Pipeline,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (live, _) = broadcast::channel(1024);
        let (source_changes, _) = broadcast::channel(256);
        let secrets = secrets::SecretBox::random();
        App {
            group_commit: Arc::new(group_commit::GroupCommit::new(store.clone())),
            store: store.clone(),
            outbox: store.clone(),
            private_handoffs: store.clone(),
            advocates: store.clone(),
            outbox_wake: Arc::default(),
            recovery: store.clone(),
            recovery_window: chrono::TimeDelta::days(i64::from(
                earshot_core::recovery::DEFAULT_WINDOW_DAYS,
            )),
            sources: store.clone(),
            inbound: store.clone(),
            csat: store.clone(),
            csat_links: csat::CsatLinks {
                key: secrets.csat_link_key(),
                public_url: DEFAULT_PUBLIC_URL.to_string(),
                ttl: earshot_core::csat::DEFAULT_LINK_TTL,
            },
            workflow: store,
            accounts: None,
            pipeline,
            clock,
            live,
            presence: Arc::default(),
            channels: channels::Channels::default(),
            delivery_policy: Default::default(),
            secrets,
            connectors: listen::default_factory(),
            source_changes,
            outbox_lease: outbox::LEASE,
        }
    }

    /// Seals source credentials with this key (the binary's: from
    /// `EARSHOT_SECRET_KEY` or the data dir's `secret.key`). Without it a
    /// random key is used, which nothing can open after a restart.
    /// The same key signs CSAT links, through a derived key.
    pub fn with_secrets(mut self, secrets: secrets::SecretBox) -> Self {
        self.csat_links.key = secrets.csat_link_key();
        self.secrets = secrets;
        self
    }

    /// Where customers reach this node (`--public-url`): CSAT links point
    /// there. Checked and without a trailing slash.
    pub fn with_public_url(mut self, url: &str) -> earshot_core::error::Result<Self> {
        self.csat_links.public_url = csat::normalise_public_url(url)?;
        Ok(self)
    }

    /// How long CSAT links work ([`earshot_core::csat::DEFAULT_LINK_TTL`]
    /// unless changed).
    pub fn with_csat_link_ttl(mut self, ttl: chrono::TimeDelta) -> Self {
        self.csat_links.ttl = ttl;
        self
    }

    /// Builds connectors with `factory` instead of `earshot_connectors::build`
    /// (tests hand in scripted connectors).
    pub fn with_connectors(mut self, factory: listen::ConnectorFactory) -> Self {
        self.connectors = factory;
        self
    }

    /// Holds claimed outbox rows for `lease` instead of [`outbox::LEASE`];
    /// each connector call is then cut to fit ([`outbox::call_timeout`]).
    pub fn with_outbox_lease(mut self, lease: chrono::TimeDelta) -> Self {
        self.outbox_lease = lease;
        self
    }

    /// Follows authors for `window` after a resolution (see
    /// [`earshot_core::recovery::window_days`]).
    pub fn with_recovery_window(mut self, window: chrono::TimeDelta) -> Self {
        self.recovery_window = window;
        self
    }

    pub fn with_delivery_policy(mut self, policy: deliveries::DeliveryPolicy) -> Self {
        self.delivery_policy = policy;
        self
    }

    /// Enables desk accounts on this store.
    pub fn with_accounts(mut self, accounts: Arc<dyn Accounts>) -> Self {
        self.accounts = Some(accounts);
        self
    }
}
