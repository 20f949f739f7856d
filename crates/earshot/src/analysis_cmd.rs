//! `earshot analyze | train | eval`: thin wrappers over `earshot_analysis`.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use earshot_analysis::Engine;
use earshot_analysis::data::{Split, Task, read_labelled};
use earshot_analysis::taxonomy::Taxonomy;
use earshot_analysis::train::TrainOptions;
use earshot_core::Analyzer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    Sentiment,
    Complaint,
    Category,
}

impl From<TaskArg> for Task {
    fn from(t: TaskArg) -> Task {
        match t {
            TaskArg::Sentiment => Task::Sentiment,
            TaskArg::Complaint => Task::Complaint,
            TaskArg::Category => Task::Category,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrainTaskArg {
    Sentiment,
    Complaint,
    Category,
    /// sentiment, then complaint (stacked on sentiment), then category
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SplitArg {
    /// every row of the file
    #[default]
    All,
    /// rows whose tweet_id hash puts them in the training split (4 in 5)
    Train,
    /// the deterministic 20 % dev split (1 in 5 by tweet_id hash)
    Dev,
}

impl From<SplitArg> for Split {
    fn from(s: SplitArg) -> Split {
        match s {
            SplitArg::All => Split::All,
            SplitArg::Train => Split::Train,
            SplitArg::Dev => Split::Dev,
        }
    }
}

/// Analyse one text (JSON) or a file with one text per line (JSONL).
#[derive(Debug, Clone, Args)]
pub struct AnalyzeArgs {
    /// The text to analyse.
    #[arg(conflicts_with = "file")]
    pub text: Option<String>,
    /// A file with one text per line (`-` for stdin); writes one JSON object per line.
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
    /// Worker threads for --file (0 = every core).
    #[arg(
        long,
        short = 't',
        default_value_t = 1,
        env = "EARSHOT_ANALYZE_THREADS"
    )]
    pub threads: usize,
    /// A category taxonomy (JSON) instead of the default one.
    #[arg(long, env = "EARSHOT_TAXONOMY")]
    pub taxonomy: Option<PathBuf>,
    /// Pretty-print the single-text result.
    #[arg(long)]
    pub pretty: bool,
}

/// Train a shipped model from the public data, reproducibly (fixed seed).
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    #[arg(long, value_enum)]
    pub task: TrainTaskArg,
    /// The public labelled data (see ../shared/data/README.md).
    #[arg(long, default_value = "../shared/data", env = "EARSHOT_DATA_DIR")]
    pub data: PathBuf,
    /// Where model files are written; the shipped ones live here.
    #[arg(long, default_value = "crates/earshot-analysis/models")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Extra training rows exported from agents' corrections: JSONL lines
    /// `{"task":"sentiment"|"category","text":…,"label":…}` (or CSV task,text,label).
    #[arg(long)]
    pub corrections: Option<PathBuf>,
    /// Leave the UMSAB non-English data out of the sentiment model.
    #[arg(long)]
    pub english_only: bool,
    /// Hash bits (2^bits feature buckets); defaults per task.
    #[arg(long, hide = true)]
    pub bits: Option<u32>,
    #[arg(long, hide = true)]
    pub epochs: Option<usize>,
    #[arg(long, hide = true)]
    pub lr: Option<f32>,
    #[arg(long, hide = true)]
    pub l2: Option<f32>,
}

/// Evaluate the models on a labelled file; prints one JSON object.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    #[arg(long, value_enum)]
    pub task: TaskArg,
    /// CSV with a header, a JSONL file of {"text","label"}, or a TweetEval
    /// `*_text.txt` (labels read from the matching `*_labels.txt`).
    pub file: PathBuf,
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// Defaults to `label`, else airline_sentiment / is_complaint / negativereason.
    #[arg(long)]
    pub label_column: Option<String>,
    /// Rows to use from files without their own dev split (airline, complaints).
    #[arg(long, value_enum, default_value_t = SplitArg::All)]
    pub split: SplitArg,
    /// Evaluate model files in this directory instead of the embedded ones.
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// A category taxonomy (JSON) instead of the default one.
    #[arg(long)]
    pub taxonomy: Option<PathBuf>,
}

fn engine(models: Option<&PathBuf>, taxonomy: Option<&PathBuf>) -> Result<Engine> {
    let e = match models {
        Some(dir) => Engine::from_dir(dir)?,
        None => Engine::builtin(),
    };
    Ok(match taxonomy {
        Some(p) => {
            let body =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            e.with_taxonomy(&Taxonomy::from_json(&body)?)
        }
        None => e,
    })
}

pub fn run_analyze(args: AnalyzeArgs) -> Result<()> {
    let engine = engine(None, args.taxonomy.as_ref())?;
    let stdout = std::io::stdout();
    match (&args.text, &args.file) {
        (Some(text), None) => {
            let a = engine.analyze(text);
            let mut out = stdout.lock();
            if args.pretty {
                serde_json::to_writer_pretty(&mut out, &a)?;
            } else {
                serde_json::to_writer(&mut out, &a)?;
            }
            writeln!(out)?;
            Ok(())
        }
        (None, Some(path)) => {
            let input: Box<dyn BufRead> = if path.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::with_capacity(
                    1 << 20,
                    std::fs::File::open(path)
                        .with_context(|| format!("opening {}", path.display()))?,
                ))
            };
            let threads = if args.threads == 0 {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                args.threads
            };
            let out = BufWriter::with_capacity(1 << 20, stdout.lock());
            earshot_analysis::stream::analyze_lines(&engine, input, out, threads)?;
            Ok(())
        }
        _ => bail!("give a text to analyse or --file FILE"),
    }
}

pub fn run_train(args: TrainArgs) -> Result<()> {
    let mut opts = TrainOptions::new(&args.data, &args.out);
    opts.seed = args.seed;
    opts.corrections = args.corrections.clone();
    opts.multilingual = !args.english_only;
    opts.bits = args.bits;
    opts.epochs = args.epochs;
    opts.lr = args.lr;
    opts.l2 = args.l2;
    let tasks: &[Task] = match args.task {
        TrainTaskArg::Sentiment => &[Task::Sentiment],
        TrainTaskArg::Complaint => &[Task::Complaint],
        TrainTaskArg::Category => &[Task::Category],
        TrainTaskArg::All => &[Task::Sentiment, Task::Complaint, Task::Category],
    };
    for &t in tasks {
        let report = earshot_analysis::train::train(t, &opts)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

pub fn run_eval(args: EvalArgs) -> Result<()> {
    let engine = engine(args.models.as_ref(), args.taxonomy.as_ref())?;
    let task: Task = args.task.into();
    let (rows, skipped) = read_labelled(
        &args.file,
        task,
        &args.text_column,
        args.label_column.as_deref(),
        args.split.into(),
    )?;
    let report = earshot_analysis::eval::evaluate(&engine, task, &rows, skipped);
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
