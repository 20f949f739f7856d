//! `earshot bench mastodon-latency`: from a customer's post arriving on a
//! Mastodon `user:notification` stream to its case being visible.
//!
//! Everything on the way is production's: the Mastodon connector built by
//! the app's default factory, the source runtime with its default timings
//! (the stream batch window included), the shipped analysis models, group
//! commit and SQLite in a temp dir. Only the Mastodon server is a stand-in
//! (`earshot_peers::mastodon::FakeMastodon` on 127.0.0.1).
//!
//! The clock starts just before the fake pushes the notification to its
//! open streams and stops when the app announces the mention's case on
//! `app.live` (sent after the commit and routing, which is when the desk
//! learns of it). Each announced case is then read back from the store,
//! off the clock, to confirm it holds that mention.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use clap::Args;
use earshot_app::listen::ListenOptions;
use earshot_app::runtime::{Intervals, Runtime};
use earshot_app::{App, LiveEvent, sources};
use earshot_core::analysis::Analyzer;
use earshot_core::auth::{Principal, Role};
use earshot_core::ids::{CaseId, MentionId, SourceId};
use earshot_core::intake;
use earshot_core::pipeline::Pipeline;
use earshot_core::priority::PriorityWeights;
use earshot_core::source::SourceKind;
use earshot_core::sources::SourceState;
use earshot_core::workflow_store::{UserProfile, WorkflowStore};
use earshot_peers::mastodon::{self, FakeMastodon};
use earshot_workflow::SystemClock;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::{corpus, percentile};

/// Longest wait for one mention's case before the run counts it as lost.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the source to start streaming.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The marker that ties a stored mention back to the post that made it.
const MARKER: &str = "ref lat-";

#[derive(Args)]
pub struct LatencyArgs {
    /// Mentions posted one at a time, each after the previous one's case
    /// is visible (pure latency).
    #[arg(long, default_value_t = 100)]
    single: usize,
    /// Mentions per second in the sustained phase (0 skips it).
    #[arg(long, default_value_t = 50)]
    rate: u64,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Mentions posted and waited for before measuring (reported apart).
    #[arg(long, default_value_t = 5)]
    warmup: usize,
}

/// A case announced on `app.live`, stamped when the announcement arrived.
struct Seen {
    at: Instant,
    mention_id: MentionId,
    case_id: CaseId,
}

struct Bench {
    app: App,
    fake: FakeMastodon,
    texts: Vec<String>,
    seen: mpsc::UnboundedReceiver<Seen>,
    /// Announcements the recorder missed (its channel lagged): a run with
    /// any is not trusted.
    lagged: Arc<AtomicU64>,
    next: usize,
}

pub async fn run(args: LatencyArgs) -> Result<Value> {
    let load_before = load_average();
    let dir = tempfile::tempdir()?;
    let store = earshot_store::open(&earshot_store::Location::SqliteDir(
        dir.path().to_path_buf(),
    ))
    .await
    .map_err(|e| anyhow!(e.message))?;
    let admin = Principal {
        name: "bench-admin".into(),
        role: Role::Admin,
    };
    store
        .put_user(
            &UserProfile {
                role: Some(Role::Admin),
                ..UserProfile::new(admin.name.clone())
            },
            "bench",
            Utc::now(),
        )
        .await
        .map_err(|e| anyhow!(e.message))?;
    let engine = Arc::new(earshot_analysis::Engine::builtin());
    let texts = case_texts(engine.as_ref())?;
    let app = App::new(
        Arc::new(store),
        Pipeline::new(engine, PriorityWeights::default()),
        Arc::new(SystemClock),
    );
    let lagged = Arc::new(AtomicU64::new(0));
    let seen = record(app.live.subscribe(), lagged.clone());
    let runtime = Runtime::start(&app, Intervals::default());
    let fake = FakeMastodon::start(0).await?;
    let source = sources::create(
        &app,
        &admin,
        SourceKind::Mastodon,
        "Fake Mastodon",
        json!({"base_url": fake.base_url, "access_token": mastodon::TOKEN}),
    )
    .await
    .map_err(|e| anyhow!(e.message))?;
    let started = Instant::now();
    wait_streaming(&app, &admin, &fake, source.id).await?;
    let streaming_after_ms = started.elapsed().as_secs_f64() * 1000.0;

    let mut bench = Bench {
        app,
        fake,
        texts,
        seen,
        lagged,
        next: 0,
    };
    let mut warmup = Vec::with_capacity(args.warmup);
    for _ in 0..args.warmup {
        warmup.push(bench.one().await?);
    }
    let mut single = Vec::with_capacity(args.single);
    for _ in 0..args.single {
        single.push(bench.one().await?);
    }
    let sustained = if args.rate > 0 && args.seconds > 0 {
        Some(bench.sustained(args.rate, args.seconds).await?)
    } else {
        None
    };
    let lagged = bench.lagged.load(Ordering::SeqCst);
    if lagged > 0 {
        bail!("the recorder missed {lagged} live announcements; the run is not trusted");
    }
    runtime.shutdown().await;
    let listen = ListenOptions::default();
    Ok(json!({
        "bench": "mastodon-latency",
        "measured": "from the fake Mastodon pushing a mention notification to its stream \
                     until app.live announces the mention's case (committed and routed); \
                     every case then read back from the store",
        "batch_window_ms": listen.batch_window.as_secs_f64() * 1000.0,
        "batch_max": listen.batch_max,
        "streaming_after_ms": streaming_after_ms,
        "warmup_ms": warmup,
        "single": summary(single),
        "sustained": sustained,
        "load_average": {"before": load_before, "after": load_average()},
    }))
}

/// The sample's texts that open a case (negative, a complaint or a
/// question, `intake::needs_a_case`), judged as Earshot will read the post:
/// the brand's handle first, the marker last. Other posts are stored
/// without a case, so there would be no case to wait for.
fn case_texts(engine: &dyn Analyzer) -> Result<Vec<String>> {
    let texts: Vec<String> = corpus()?
        .into_iter()
        .filter(|t| {
            let read = format!("@{} {t} ({MARKER}0)", mastodon::BRAND_ACCT);
            intake::needs_a_case(&engine.analyze(&read))
        })
        .collect();
    if texts.is_empty() {
        bail!("no text of the bundled sample opens a case");
    }
    Ok(texts)
}

/// Forwards every announced case, stamped on arrival.
fn record(
    mut live: broadcast::Receiver<LiveEvent>,
    lagged: Arc<AtomicU64>,
) -> mpsc::UnboundedReceiver<Seen> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match live.recv().await {
                Ok(LiveEvent::MentionIngested {
                    mention_id,
                    case_id: Some(case_id),
                }) => {
                    let seen = Seen {
                        at: Instant::now(),
                        mention_id,
                        case_id,
                    };
                    if tx.send(seen).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    lagged.fetch_add(n, Ordering::SeqCst);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    rx
}

/// Waits until the source runs and its stream is subscribed on the fake:
/// a mention pushed earlier would be caught up by polling, another path.
async fn wait_streaming(
    app: &App,
    admin: &Principal,
    fake: &FakeMastodon,
    id: SourceId,
) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let view = sources::get(app, admin, id)
            .await
            .map_err(|e| anyhow!(e.message))?;
        if view.health.state == SourceState::Running && fake.notification_streams() > 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the source did not start streaming within {} s (state {:?}, last error {:?})",
                START_TIMEOUT.as_secs(),
                view.health.state,
                view.health.last_error
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Bench {
    /// Pushes the next mention (a distinct customer each, so each opens
    /// its own case) and returns its number and when it was pushed.
    fn post(&mut self) -> (usize, Instant) {
        let i = self.next;
        self.next += 1;
        let text = format!("{} ({MARKER}{i})", self.texts[i % self.texts.len()]);
        let acct = format!("customer{i}");
        let at = Instant::now();
        self.fake.customer_mention(&acct, &text);
        (i, at)
    }

    /// What the store and the source's health say, for an error message.
    async fn stored(&self) -> String {
        let count = self.app.store.mention_count().await;
        let health = self.app.sources.sources().await.map(|s| {
            s.into_iter()
                .map(|s| format!("{:?}", s.health))
                .collect::<Vec<_>>()
        });
        format!("mentions stored: {count:?}; source health: {health:?}")
    }

    /// The post an announced case holds, read back from the store.
    async fn confirm(&self, seen: &Seen) -> Result<usize> {
        let detail = self
            .app
            .store
            .case_detail(seen.case_id)
            .await
            .map_err(|e| anyhow!(e.message))?
            .with_context(|| format!("case {} announced but not found", seen.case_id))?;
        let mention = detail
            .mentions
            .iter()
            .find(|m| m.id == seen.mention_id)
            .with_context(|| {
                format!(
                    "case {} does not hold mention {}",
                    seen.case_id, seen.mention_id
                )
            })?;
        marker(&mention.mention.text)
            .with_context(|| format!("mention {} is not one of ours", seen.mention_id))
    }

    async fn next_seen(&mut self, until: Instant) -> Result<Option<Seen>> {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.seen.recv()).await {
            Ok(Some(seen)) => Ok(Some(seen)),
            Ok(None) => bail!("the live channel closed"),
            Err(_) => Ok(None),
        }
    }

    /// One mention, waited for: milliseconds until its case was visible.
    async fn one(&mut self) -> Result<f64> {
        let (i, pushed) = self.post();
        let Some(seen) = self.next_seen(pushed + CASE_TIMEOUT).await? else {
            bail!(
                "mention {i}: no case within {} s ({})",
                CASE_TIMEOUT.as_secs(),
                self.stored().await
            );
        };
        let which = self.confirm(&seen).await?;
        if which != i {
            bail!("mention {which} announced while waiting for {i}");
        }
        Ok(ms(seen.at - pushed))
    }

    /// `rate` mentions a second for `seconds`, posted on a fixed schedule
    /// regardless of when cases appear; then every case is matched to its post.
    async fn sustained(&mut self, rate: u64, seconds: u64) -> Result<Value> {
        let total = (rate * seconds) as usize;
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let first = self.next;
        let mut pushed = Vec::with_capacity(total);
        let started = Instant::now();
        for _ in 0..total {
            ticker.tick().await;
            pushed.push(self.post().1);
        }
        let posting = started.elapsed().as_secs_f64();
        let until = Instant::now() + CASE_TIMEOUT;
        let mut seen = Vec::with_capacity(total);
        while seen.len() < total {
            match self.next_seen(until).await? {
                Some(s) => seen.push(s),
                None => break,
            }
        }
        let mut latencies = Vec::with_capacity(seen.len());
        let mut matched = vec![false; total];
        for s in &seen {
            let which = self.confirm(s).await?;
            let Some(k) = which.checked_sub(first).filter(|k| *k < total) else {
                bail!("mention {which} announced during the sustained phase");
            };
            if std::mem::replace(&mut matched[k], true) {
                bail!("mention {which} announced twice");
            }
            latencies.push(ms(s.at - pushed[k]));
        }
        let missing = matched.iter().filter(|m| !**m).count();
        if missing > 0 {
            bail!(
                "{missing} of {total} mentions had no visible case {} s after the last post ({})",
                CASE_TIMEOUT.as_secs(),
                self.stored().await
            );
        }
        let mut out = summary(latencies);
        out["target_rate"] = json!(rate);
        out["achieved_rate"] = json!(total as f64 / posting);
        out["seconds"] = json!(seconds);
        Ok(out)
    }
}

/// The post number in a stored mention's text.
fn marker(text: &str) -> Option<usize> {
    let at = text.rfind(MARKER)? + MARKER.len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(mut ms: Vec<f64>) -> Value {
    ms.sort_by(f64::total_cmp);
    json!({
        "count": ms.len(),
        "p50_ms": percentile(&ms, 50.0),
        "p95_ms": percentile(&ms, 95.0),
        "p99_ms": percentile(&ms, 99.0),
        "max_ms": ms.last().copied().unwrap_or(0.0),
        "mean_ms": if ms.is_empty() { 0.0 } else { ms.iter().sum::<f64>() / ms.len() as f64 },
    })
}

/// The machine's load average, where the system tells it (Linux): other
/// work on the same cores shows in these latencies.
fn load_average() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}
