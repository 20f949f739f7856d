//! `earshot bench`: measures ingestion and search on this machine, end to
//! end through the same code paths as production (HTTP API, store, analysis).
//! Prints one JSON object per run so results can be pasted into
//! docs/PERFORMANCE.md with the command that produced them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use earshot_app::App;
use earshot_core::pipeline::Pipeline;
use earshot_core::priority::PriorityWeights;
use earshot_core::store::{MentionQuery, Store};
use earshot_web::AppState;
use earshot_workflow::SystemClock;
use serde_json::json;

mod mastodon_latency;

#[derive(Subcommand)]
pub enum Bench {
    /// Sustained ingestion: batches POSTed to /api/v1/mentions on SQLite, analysis on.
    Ingest(IngestArgs),
    /// Acknowledgement latency of single-mention POSTs at a fixed rate.
    Latency(LatencyArgs),
    /// Full-text search latency over a large store.
    Search(SearchArgs),
    /// From a post pushed on a (local, fake) Mastodon stream to its case
    /// being visible, through the real connector and source runtime.
    MastodonLatency(mastodon_latency::LatencyArgs),
}

#[derive(Args)]
pub struct IngestArgs {
    #[arg(long, default_value_t = 200_000)]
    mentions: usize,
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

#[derive(Args)]
pub struct LatencyArgs {
    /// Mentions per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

#[derive(Args)]
pub struct SearchArgs {
    /// Mentions stored before searching.
    #[arg(long, default_value_t = 1_000_000)]
    mentions: usize,
    #[arg(long, default_value_t = 500)]
    queries: usize,
}

/// Realistic texts: the customer tweets of the bundled sample.
pub(crate) fn corpus() -> Result<Vec<String>> {
    let records = crate::import::read(crate::demo::SAMPLE, crate::import::Format::Twcs)?;
    let texts: Vec<String> = records
        .filter_map(|r| match r.item {
            Ok(crate::import::Item::Mention(m)) => Some(m.text),
            _ => None,
        })
        .collect();
    if texts.is_empty() {
        bail!("the bundled sample has no texts");
    }
    Ok(texts)
}

fn mention_json(i: usize, texts: &[String]) -> serde_json::Value {
    json!({
        "source": "webhook",
        "external_id": format!("bench-{i}"),
        "author": {"handle": format!("user{}", i % 50_000), "followers": (i * 37) % 100_000},
        "text": texts[i % texts.len()],
        "created_at": "2026-11-22T10:00:00Z",
    })
}

struct Server {
    base: String,
    token: String,
    store: earshot_store::SqlStore,
    _dir: tempfile::TempDir,
}

async fn start_server() -> Result<Server> {
    let dir = tempfile::tempdir()?;
    let store = earshot_store::open(&earshot_store::Location::SqliteDir(
        dir.path().to_path_buf(),
    ))
    .await
    .map_err(|e| anyhow::anyhow!(e.message))?;
    let token = earshot_app::credentials::generate_token();
    let app = App::new(
        Arc::new(store.clone()),
        Pipeline::new(
            Arc::new(earshot_analysis::Engine::builtin()),
            PriorityWeights::default(),
        ),
        Arc::new(SystemClock),
    );
    // The benchmark measures ingestion, not the per-token rate limit.
    let state = AppState::new(app, Some(&token)).with_rate_limit(None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = earshot_web::serve(listener, state).await;
    });
    Ok(Server {
        base,
        token,
        store,
        _dir: dir,
    })
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub async fn run(bench: Bench) -> Result<()> {
    let machine = json!({
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
    });
    let result = match bench {
        Bench::Ingest(args) => ingest(args).await?,
        Bench::Latency(args) => latency(args).await?,
        Bench::Search(args) => search(args).await?,
        Bench::MastodonLatency(args) => mastodon_latency::run(args).await?,
    };
    let mut out = result;
    out["machine"] = machine;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

async fn ingest(args: IngestArgs) -> Result<serde_json::Value> {
    let texts = corpus()?;
    let server = start_server().await?;
    let client = reqwest::Client::new();
    // Bodies are built before the clock starts: we measure Earshot, not the client.
    let bodies: Vec<Vec<u8>> = (0..args.mentions)
        .collect::<Vec<_>>()
        .chunks(args.batch.max(1))
        .map(|chunk| {
            let batch: Vec<_> = chunk.iter().map(|&i| mention_json(i, &texts)).collect();
            serde_json::to_vec(&batch).unwrap_or_default()
        })
        .collect();
    let bodies = Arc::new(tokio::sync::Mutex::new(bodies.into_iter()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let bodies = bodies.clone();
        let client = client.clone();
        let url = format!("{}/api/v1/mentions", server.base);
        let token = server.token.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let Some(body) = bodies.lock().await.next() else {
                    return Ok::<_, anyhow::Error>(());
                };
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                if r.status() != 200 {
                    bail!("batch answered {}: {}", r.status(), r.text().await?);
                }
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stored = server
        .store
        .mention_count()
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    if stored as usize != args.mentions {
        bail!("stored {stored} of {} mentions", args.mentions);
    }
    Ok(json!({
        "bench": "ingest",
        "mentions": args.mentions,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "seconds": elapsed,
        "mentions_per_second": args.mentions as f64 / elapsed,
    }))
}

async fn latency(args: LatencyArgs) -> Result<serde_json::Value> {
    let texts = Arc::new(corpus()?);
    let server = start_server().await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let total = (args.rate * args.seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let url = Arc::new(format!("{}/api/v1/mentions", server.base));
    let token = Arc::new(server.token.clone());
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        ticker.tick().await;
        let (client, url, token, texts) =
            (client.clone(), url.clone(), token.clone(), texts.clone());
        tasks.push(tokio::spawn(async move {
            let body = mention_json(i, &texts);
            let t = Instant::now();
            let r = client
                .post(url.as_str())
                .bearer_auth(token.as_str())
                .json(&body)
                .send()
                .await?;
            let status = r.status();
            let _ = r.bytes().await?;
            if status != 201 {
                bail!("mention answered {status}");
            }
            Ok::<_, anyhow::Error>(t.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut ms = Vec::with_capacity(total);
    for t in tasks {
        ms.push(t.await.context("request task")??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    ms.sort_by(f64::total_cmp);
    Ok(json!({
        "bench": "latency",
        "target_rate": args.rate,
        "achieved_rate": total as f64 / elapsed,
        "requests": total,
        "p50_ms": percentile(&ms, 50.0),
        "p95_ms": percentile(&ms, 95.0),
        "p99_ms": percentile(&ms, 99.0),
        "max_ms": ms.last().copied().unwrap_or(0.0),
    }))
}

async fn search(args: SearchArgs) -> Result<serde_json::Value> {
    let texts = corpus()?;
    let server = start_server().await?;
    let pipeline = Pipeline::new(
        Arc::new(earshot_analysis::Engine::builtin()),
        PriorityWeights::default(),
    );
    let load_started = Instant::now();
    let batch = 10_000;
    let mut i = 0;
    while i < args.mentions {
        let end = (i + batch).min(args.mentions);
        let mentions: Vec<_> = (i..end)
            .map(|n| {
                let input: earshot_core::mention::MentionInput =
                    serde_json::from_value(mention_json(n, &texts))?;
                input
                    .validate(Utc::now())
                    .map_err(|e| anyhow::anyhow!(e.message))
            })
            .collect::<Result<_>>()?;
        let analyzed =
            pipeline.prepare_batch(mentions, &earshot_core::pipeline::Known::at(Utc::now()));
        server
            .store
            .ingest(&analyzed, Utc::now())
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        i = end;
    }
    let load_seconds = load_started.elapsed().as_secs_f64();
    // Query words drawn from the corpus itself, common and rare alike.
    let words: Vec<String> = texts
        .iter()
        .flat_map(|t| {
            t.split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .filter(|w| w.len() > 3 && w.chars().all(char::is_alphabetic))
        .collect();
    let mut ms = Vec::with_capacity(args.queries);
    let mut hits = 0usize;
    for q in 0..args.queries {
        let word = &words[(q * 7919) % words.len()];
        let query = if q % 4 == 0 {
            format!("{word} {}", words[(q * 104_729) % words.len()])
        } else {
            word.clone()
        };
        let t = Instant::now();
        let found = server
            .store
            .mentions(&MentionQuery {
                q: Some(query),
                ..MentionQuery::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        hits += found.len();
    }
    ms.sort_by(f64::total_cmp);
    Ok(json!({
        "bench": "search",
        "stored_mentions": args.mentions,
        "load_seconds": load_seconds,
        "queries": args.queries,
        "mean_hits": hits as f64 / args.queries.max(1) as f64,
        "p50_ms": percentile(&ms, 50.0),
        "p95_ms": percentile(&ms, 95.0),
        "p99_ms": percentile(&ms, 99.0),
    }))
}
