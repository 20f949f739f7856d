//! Test peers: platforms as Earshot meets them, run locally. Each peer
//! implements the part of a platform's documented API that Earshot uses,
//! keeps state like the real service would (ids, threads, idempotency
//! keys) and records every request that could post something, so a test
//! can count what the platform actually received.

pub mod mastodon;
