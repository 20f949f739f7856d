//! Earshot's domain model, free of I/O.
//!
//! Data flows one way: source → mention → analysis → case → reply → outcome.
//! Everything here is plain data plus the rules that govern it (the case
//! lifecycle, how a mention finds its case, how priority is scored); the
//! store, the web layer and the analysis engine implement or consume the
//! traits defined here.

pub mod accounts;
pub mod advocates;
pub mod analysis;
pub mod auth;
pub mod calendar;
pub mod case;
pub mod csat;
pub mod error;
pub mod ids;
pub mod inbound;
pub mod intake;
pub mod mention;
pub mod outbox;
pub mod personalise;
pub mod pipeline;
pub mod priority;
pub mod private_handoff;
pub mod recovery;
pub mod reply;
pub mod sla_policy;
pub mod source;
pub mod sources;
pub mod store;
pub mod thanks;
pub mod workflow_store;

pub use analysis::{Analysis, Analyzer, Sentiment, UrgencyKind, UrgencySignal};
pub use case::{Case, CaseStatus, TransitionError};
pub use error::{Error, ErrorCode};
pub use ids::{CaseId, HandoffId, MentionId, NoteId, PolicyId, ReplyId, WebhookId};
pub use mention::{Author, Mention, MentionInput, MentionOrigin, NewMention, ReachMetrics};
pub use priority::{Priority, PriorityComponent, PriorityInputs, PriorityWeights};
pub use reply::{Event, Note, Reply, ReplyStatus, Visibility};
pub use source::{SourceCapabilities, SourceKind};
