//! earshot-web's one integration-test binary: each module drives a real
//! server (SQLite in a temp dir, bound to 127.0.0.1:0) over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod advocates;
mod api;
mod approvals;
mod audit;
mod browser;
mod calls;
mod contract;
mod csat;
mod desk;
mod hardening;
mod location_scope;
mod private_handoffs;
mod recovery;
mod routing;
mod sla;
mod sources;
mod support;
mod truth;
mod webhooks;
