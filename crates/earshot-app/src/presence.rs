//! Presence on a case page: who is viewing or typing.

use chrono::TimeDelta;

/// How long a presence heartbeat lasts.
pub const PRESENCE_TTL: TimeDelta = TimeDelta::seconds(60);
