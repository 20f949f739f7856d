//! Test peers shared by the connector tests.
#![allow(dead_code)]

pub mod ws_replay;
