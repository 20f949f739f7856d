//! `earshot recovery twcs [FILE]`: recovery replayed on the Customer Support
//! on Twitter export (the bundled sample by default). Each thread a
//! customer opened and a brand answered is a "case": the brand's first
//! reply stands for the resolution, the customer's tweets up to it are the
//! tone before, and the customer's later tweets to the same brand are the
//! tone after. Every tweet is read by Earshot's own analyser and every
//! thread goes through the same `earshot_core::recovery::assess` the
//! server uses. See docs/RECOVERY.md for what this can and cannot tell.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeDelta, Utc};
use earshot_core::analysis::{Analyzer, UrgencyKind};
use earshot_core::ids::{CaseId, MentionId};
use earshot_core::recovery::{RecoveryInput, RecoveryOutcome, TonePost, assess, window_days};
use serde::Serialize;

use crate::import::{self, Format, Item};

#[derive(clap::Subcommand)]
pub enum RecoveryCommand {
    /// Replay recovery on a Customer Support on Twitter CSV (default: the
    /// bundled sample) and print it per brand.
    Twcs(TwcsArgs),
}

#[derive(clap::Args)]
pub struct TwcsArgs {
    /// The twcs CSV; the bundled sample (crates/earshot/demo/twcs_sample.csv) when absent.
    file: Option<PathBuf>,
    /// Days after the brand's reply that the customer is followed.
    #[arg(long, default_value_t = earshot_core::recovery::DEFAULT_WINDOW_DAYS)]
    window_days: u32,
    /// Which brand reply stands for the resolution: the first one (the
    /// brand answered) or the last one in the thread (the brand had its
    /// last word, closer to a resolved case).
    #[arg(long, value_enum, default_value_t = Resolution::FirstReply)]
    resolved_at: Resolution,
    /// Brands with fewer threads are summed into "(other brands)".
    #[arg(long, default_value_t = 20)]
    min_threads: u64,
    /// One JSON document instead of a table.
    #[arg(long)]
    json: bool,
    /// Also print this many recovered and lost threads (before and after
    /// texts), to read what the analyser decided.
    #[arg(long, default_value_t = 0)]
    examples: usize,
}

/// Which brand reply stands for the resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    FirstReply,
    LastReply,
}

/// One tweet of the export.
#[derive(Debug, Clone)]
struct Tweet {
    id: String,
    author: String,
    brand: bool,
    text: String,
    created_at: DateTime<Utc>,
    parent: Option<String>,
}

/// The numbers of one brand.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BrandRow {
    pub brand: String,
    /// Threads a customer opened and the brand answered.
    pub threads: u64,
    /// Threads whose customer was negative before the brand's reply.
    pub negative_openers: u64,
    pub recovered: u64,
    pub lost: u64,
    pub unknown: u64,
    /// Still inside the window at the export's last tweet.
    pub watching: u64,
    /// recovered / (recovered + lost + unknown).
    pub recovery_rate: Option<f64>,
}

impl BrandRow {
    fn add(&mut self, outcome: RecoveryOutcome) {
        self.threads += 1;
        match outcome {
            RecoveryOutcome::NotApplicable => {}
            RecoveryOutcome::Recovered => self.recovered += 1,
            RecoveryOutcome::Lost => self.lost += 1,
            RecoveryOutcome::Unknown => self.unknown += 1,
            RecoveryOutcome::Watching => self.watching += 1,
        }
        if outcome != RecoveryOutcome::NotApplicable {
            self.negative_openers += 1;
        }
        let decided = self.recovered + self.lost + self.unknown;
        self.recovery_rate = (decided > 0).then(|| self.recovered as f64 / decided as f64);
    }

    fn merge(&mut self, other: &BrandRow) {
        self.threads += other.threads;
        self.negative_openers += other.negative_openers;
        self.recovered += other.recovered;
        self.lost += other.lost;
        self.unknown += other.unknown;
        self.watching += other.watching;
        let decided = self.recovered + self.lost + self.unknown;
        self.recovery_rate = (decided > 0).then(|| self.recovered as f64 / decided as f64);
    }
}

/// What the replay found.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    pub tweets: u64,
    pub invalid_rows: u64,
    /// Threads without a customer opening or without a brand reply.
    pub skipped_threads: u64,
    pub window_days: u32,
    pub resolved_at: Resolution,
    /// The export's last tweet: windows still open then are `watching`.
    pub data_end: Option<DateTime<Utc>>,
    pub brands: Vec<BrandRow>,
    pub total: BrandRow,
    /// Recovered or lost threads whose deciding tweet came within an hour,
    /// and within a day, of the brand's reply.
    pub decided_within_an_hour: u64,
    pub decided_within_a_day: u64,
    /// Recovered threads whose deciding tweet read positive (the rest read
    /// neutral).
    pub recovered_positive: u64,
    /// Recovered and lost threads: outcome, brand, before and after texts.
    #[serde(skip)]
    pub examples: Vec<(RecoveryOutcome, String, Vec<String>, Vec<String>)>,
}

pub fn run(command: RecoveryCommand) -> Result<()> {
    let RecoveryCommand::Twcs(args) = command;
    let reader: Box<dyn std::io::Read + Send> = match &args.file {
        Some(path) => Box::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        ),
        None => Box::new(crate::demo::SAMPLE),
    };
    let window = window_days(args.window_days).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let engine = earshot_analysis::Engine::builtin();
    let replay = replay(reader, &engine, window, args.resolved_at, args.min_threads)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&replay)?);
        return Ok(());
    }
    print!("{}", table(&replay));
    for outcome in [RecoveryOutcome::Recovered, RecoveryOutcome::Lost] {
        let chosen = replay.examples.iter().filter(|e| e.0 == outcome);
        for (_, brand, before, after) in chosen.take(args.examples) {
            println!("\n{outcome} ({brand})");
            for t in before {
                println!("  before: {}", t.replace('\n', " "));
            }
            for t in after {
                println!("  after:  {}", t.replace('\n', " "));
            }
        }
    }
    Ok(())
}

/// Reads the export and assesses every thread.
pub fn replay(
    reader: impl std::io::Read + Send + 'static,
    analyzer: &dyn Analyzer,
    window: TimeDelta,
    resolution: Resolution,
    min_threads: u64,
) -> Result<Replay> {
    let mut tweets: Vec<Tweet> = Vec::new();
    let mut invalid = 0;
    for record in import::read(reader, Format::Twcs)? {
        match record.item {
            Ok(Item::Mention(m)) => tweets.push(Tweet {
                id: m.external_id,
                author: m.author.handle,
                brand: false,
                text: m.text,
                created_at: m.created_at,
                parent: m.parent_id,
            }),
            Ok(Item::BrandReply(b)) => tweets.push(Tweet {
                id: b.external_id,
                author: b.brand_handle,
                brand: true,
                text: b.text,
                created_at: b.created_at,
                parent: b.in_reply_to,
            }),
            Err(_) => invalid += 1,
        }
    }
    if tweets.is_empty() {
        bail!("no tweets read");
    }
    let index: HashMap<&str, usize> = tweets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    // Each tweet's thread: the root its replies lead back to.
    let root_of = |mut i: usize| {
        for _ in 0..tweets.len() {
            match tweets
                .get(i)
                .and_then(|t| t.parent.as_deref())
                .and_then(|p| index.get(p))
            {
                Some(&parent) if parent != i => i = parent,
                _ => break,
            }
        }
        i
    };
    let mut threads: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..tweets.len() {
        threads.entry(root_of(i)).or_default().push(i);
    }
    let posts: Vec<TonePost> = tweets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let a = analyzer.analyze(&t.text);
            TonePost {
                mention_id: MentionId(i as i64),
                created_at: t.created_at,
                sentiment: a.sentiment,
                churn: a.has_urgency(UrgencyKind::ChurnIntent),
                private: false,
            }
        })
        .collect();
    let data_end = tweets.iter().map(|t| t.created_at).max();
    let now = data_end.unwrap_or_default();

    // A thread's customer, brand and first brand reply.
    struct Case {
        customer: String,
        brand: String,
        answered_at: DateTime<Utc>,
        resolved_at: DateTime<Utc>,
        members: Vec<usize>,
    }
    let mut cases: Vec<Case> = Vec::new();
    let mut skipped = 0;
    for (root, members) in &threads {
        let Some(opening) = tweets.get(*root).filter(|t| !t.brand) else {
            skipped += 1;
            continue;
        };
        let replies = || {
            members
                .iter()
                .filter_map(|&i| tweets.get(i).filter(|t| t.brand))
        };
        let (Some(first), Some(last)) = (
            replies().min_by_key(|t| t.created_at),
            replies().max_by_key(|t| t.created_at),
        ) else {
            skipped += 1;
            continue;
        };
        cases.push(Case {
            customer: opening.author.to_lowercase(),
            brand: first.author.clone(),
            answered_at: first.created_at,
            resolved_at: match resolution {
                Resolution::FirstReply => first.created_at,
                Resolution::LastReply => last.created_at,
            },
            members: members.clone(),
        });
    }
    // The customer's tweets in every thread of the same brand: "later
    // posts" are what they said to that brand afterwards, in any thread.
    let mut to_brand: HashMap<(&str, &str), Vec<TonePost>> = HashMap::new();
    for case in &cases {
        let theirs = case.members.iter().filter(|&&i| {
            tweets
                .get(i)
                .is_some_and(|t| !t.brand && t.author.to_lowercase() == case.customer)
        });
        to_brand
            .entry((case.customer.as_str(), case.brand.as_str()))
            .or_default()
            .extend(theirs.filter_map(|&i| posts.get(i).copied()));
    }
    let mut brands: BTreeMap<String, BrandRow> = BTreeMap::new();
    let (mut within_hour, mut within_day, mut positive) = (0, 0, 0);
    let mut examples = Vec::new();
    let text = |id: &MentionId| {
        usize::try_from(id.0)
            .ok()
            .and_then(|i| tweets.get(i))
            .map(|t| t.text.clone())
            .unwrap_or_default()
    };
    for (n, case) in cases.iter().enumerate() {
        let case_posts: Vec<TonePost> = case
            .members
            .iter()
            .filter(|&&i| {
                tweets
                    .get(i)
                    .is_some_and(|t| !t.brand && t.author.to_lowercase() == case.customer)
            })
            .filter_map(|&i| posts.get(i).copied())
            .collect();
        let later = to_brand
            .get(&(case.customer.as_str(), case.brand.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let a = assess(&RecoveryInput {
            case_id: CaseId(n as i64),
            resolved_at: case.resolved_at,
            first_response_at: Some(case.answered_at),
            case_posts: &case_posts,
            later_posts: later,
            window,
            now,
        });
        if a.outcome == RecoveryOutcome::Recovered
            && a.after == Some(earshot_core::analysis::Sentiment::Positive)
        {
            positive += 1;
        }
        if matches!(
            a.outcome,
            RecoveryOutcome::Recovered | RecoveryOutcome::Lost
        ) {
            let decided = a
                .after_mentions
                .last()
                .and_then(|id| usize::try_from(id.0).ok())
                .and_then(|i| posts.get(i))
                .map(|p| p.created_at - case.resolved_at);
            if let Some(after) = decided {
                within_hour += u64::from(after <= TimeDelta::hours(1));
                within_day += u64::from(after <= TimeDelta::days(1));
            }
            examples.push((
                a.outcome,
                case.brand.clone(),
                a.before_mentions.iter().map(text).collect(),
                a.after_mentions.iter().map(text).collect(),
            ));
        }
        brands
            .entry(case.brand.clone())
            .or_insert_with(|| BrandRow {
                brand: case.brand.clone(),
                ..BrandRow::default()
            })
            .add(a.outcome);
    }
    let mut rows: Vec<BrandRow> = Vec::new();
    let mut other = BrandRow {
        brand: "(other brands)".into(),
        ..BrandRow::default()
    };
    let mut total = BrandRow {
        brand: "all".into(),
        ..BrandRow::default()
    };
    for row in brands.into_values() {
        total.merge(&row);
        if row.threads >= min_threads {
            rows.push(row);
        } else {
            other.merge(&row);
        }
    }
    rows.sort_by(|a, b| b.threads.cmp(&a.threads).then(a.brand.cmp(&b.brand)));
    if other.threads > 0 {
        rows.push(other);
    }
    Ok(Replay {
        tweets: tweets.len() as u64,
        invalid_rows: invalid,
        skipped_threads: skipped,
        window_days: u32::try_from(window.num_days()).unwrap_or(u32::MAX),
        resolved_at: resolution,
        data_end,
        brands: rows,
        total,
        decided_within_an_hour: within_hour,
        decided_within_a_day: within_day,
        recovered_positive: positive,
        examples,
    })
}

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// The replay as a Markdown table.
pub fn table(r: &Replay) -> String {
    let mut out = format!(
        "{} tweets ({} invalid rows skipped), {} threads skipped (no customer opening or no brand reply), resolution at the brand's {} reply, window {} days, data end {}\n\n",
        r.tweets,
        r.invalid_rows,
        r.skipped_threads,
        match r.resolved_at {
            Resolution::FirstReply => "first",
            Resolution::LastReply => "last",
        },
        r.window_days,
        r.data_end
            .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
    );
    out.push_str("| brand | threads | negative openers | recovered | lost | unknown | watching | recovery rate |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in r.brands.iter().chain(std::iter::once(&r.total)) {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.brand,
            row.threads,
            row.negative_openers,
            row.recovered,
            row.lost,
            row.unknown,
            row.watching,
            rate(row.recovery_rate)
        ));
    }
    let decided = r.total.recovered + r.total.lost;
    out.push_str(&format!(
        "\nOf the {decided} recovered or lost threads, {} were decided by a tweet within an hour of the resolving reply, {} within a day.\n",
        r.decided_within_an_hour, r.decided_within_a_day
    ));
    out.push_str(&format!(
        "Of the {} recovered, {} were decided by a tweet read positive (the others read neutral).\n",
        r.total.recovered, r.recovered_positive
    ));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use earshot_core::analysis::{Analysis, Sentiment, UrgencySignal};

    /// "bad" negative, "thanks" positive, "cancel" churn.
    struct Words;
    impl Analyzer for Words {
        fn analyze(&self, text: &str) -> Analysis {
            let mut a = Analysis::default();
            if text.contains("bad") {
                a.sentiment = Sentiment::Negative;
            } else if text.contains("thanks") {
                a.sentiment = Sentiment::Positive;
            }
            if text.contains("cancel") {
                a.urgency.push(UrgencySignal {
                    kind: UrgencyKind::ChurnIntent,
                    trigger: "cancel".into(),
                });
            }
            a
        }
    }

    const HEADER: &str =
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n";

    fn csv(rows: &[&str]) -> std::io::Cursor<Vec<u8>> {
        let mut text = HEADER.to_string();
        for r in rows {
            text.push_str(r);
            text.push('\n');
        }
        std::io::Cursor::new(text.into_bytes())
    }

    #[test]
    fn threads_are_replayed_through_assess() {
        let file = csv(&[
            // ann: bad → brand → thanks: recovered.
            "1,ann,True,Tue Oct 03 10:00:00 +0000 2017,@acme bad service,2,",
            "2,acme,False,Tue Oct 03 10:05:00 +0000 2017,@ann sorry!,3,1",
            "3,ann,True,Tue Oct 03 10:20:00 +0000 2017,@acme thanks,,2",
            // bob: bad → brand → cancel: lost.
            "4,bob,True,Tue Oct 03 11:00:00 +0000 2017,@acme bad app,5,",
            "5,acme,False,Tue Oct 03 11:05:00 +0000 2017,@bob DM us,6,4",
            "6,bob,True,Tue Oct 03 11:30:00 +0000 2017,@acme I will cancel,,5",
            // cat: bad → brand, silence; the export ends > 30 days later.
            "7,cat,True,Tue Oct 03 12:00:00 +0000 2017,@acme bad parcel,8,",
            "8,acme,False,Tue Oct 03 12:05:00 +0000 2017,@cat on it,,7",
            // dan: neutral opener: not applicable.
            "9,dan,True,Tue Oct 03 13:00:00 +0000 2017,@acme hello,10,",
            "10,acme,False,Tue Oct 03 13:05:00 +0000 2017,@dan hi,,9",
            // eve to zed: bad, answered, silent, but within the window
            // at the export's end: watching.
            "11,eve,True,Sat Nov 18 12:00:00 +0000 2017,@zed bad,12,",
            "12,zed,False,Sat Nov 18 12:05:00 +0000 2017,@eve sorry,,11",
            // fay: never answered: skipped.
            "13,fay,True,Sat Nov 18 13:00:00 +0000 2017,@zed bad,,",
            // The export's end.
            "14,gus,True,Sun Dec 03 18:00:00 +0000 2017,@zed hello,,",
        ]);
        let r = replay(file, &Words, TimeDelta::days(30), Resolution::FirstReply, 2).unwrap();
        assert_eq!(r.tweets, 14);
        assert_eq!(r.skipped_threads, 2);
        let acme = &r.brands[0];
        assert_eq!(
            (
                acme.brand.as_str(),
                acme.threads,
                acme.negative_openers,
                acme.recovered,
                acme.lost,
                acme.unknown
            ),
            ("acme", 4, 3, 1, 1, 1)
        );
        assert!((acme.recovery_rate.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        // zed has one thread: summed into the others.
        let other = &r.brands[1];
        assert_eq!(
            (other.brand.as_str(), other.watching),
            ("(other brands)", 1)
        );
        assert_eq!(other.recovery_rate, None);
        assert_eq!(r.total.threads, 5);
        assert!(table(&r).contains("| acme | 4 | 3 | 1 | 1 | 1 | 0 | 33.3% |"));
        assert_eq!(r.recovered_positive, 1);
        assert_eq!((r.decided_within_an_hour, r.decided_within_a_day), (2, 2));
    }

    #[test]
    fn the_last_reply_can_stand_for_the_resolution() {
        let file = || {
            csv(&[
                "1,ann,True,Tue Oct 03 10:00:00 +0000 2017,@acme bad service,2,",
                "2,acme,False,Tue Oct 03 10:05:00 +0000 2017,@ann sorry! details?,3,1",
                "3,ann,True,Tue Oct 03 10:20:00 +0000 2017,@acme order 42,4,2",
                "4,acme,False,Tue Oct 03 10:30:00 +0000 2017,@ann fixed,,3",
                // The export ends two months later: the window closed.
                "5,gus,True,Sun Dec 03 18:00:00 +0000 2017,@zed hello,,",
            ])
        };
        // The details after the first reply read neutral: recovered.
        let first = replay(
            file(),
            &Words,
            TimeDelta::days(30),
            Resolution::FirstReply,
            1,
        )
        .unwrap();
        assert_eq!(first.total.recovered, 1);
        // After the brand's last word the customer said nothing: unknown.
        let last = replay(
            file(),
            &Words,
            TimeDelta::days(30),
            Resolution::LastReply,
            1,
        )
        .unwrap();
        assert_eq!((last.total.recovered, last.total.unknown), (0, 1));
    }

    #[test]
    fn the_bundled_sample_replays() {
        let engine = earshot_analysis::Engine::builtin();
        for resolution in [Resolution::FirstReply, Resolution::LastReply] {
            let r = replay(
                crate::demo::SAMPLE,
                &engine,
                TimeDelta::days(30),
                resolution,
                20,
            )
            .unwrap();
            assert!(r.total.threads > 1000, "{}", r.total.threads);
            let t = &r.total;
            assert_eq!(
                t.negative_openers,
                t.recovered + t.lost + t.unknown + t.watching
            );
        }
    }
}
