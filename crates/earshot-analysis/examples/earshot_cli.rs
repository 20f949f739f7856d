//! A stand-in for the `earshot` binary's analysis subcommands, compiled from
//! the very same module file, so they can be run before (and without) the
//! full binary: `cargo run --release -p earshot-analysis --example earshot_cli -- train --task all`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../earshot/src/analysis_cmd.rs"]
mod analysis_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Analyze(analysis_cmd::AnalyzeArgs),
    Train(analysis_cmd::TrainArgs),
    Eval(analysis_cmd::EvalArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Analyze(a) => analysis_cmd::run_analyze(a),
        Cmd::Train(a) => analysis_cmd::run_train(a),
        Cmd::Eval(a) => analysis_cmd::run_eval(a),
    }
}
