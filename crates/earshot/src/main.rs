//! `earshot`: one binary for social customer care.

mod analysis_cmd;
mod bench;
mod config;
mod demo;
mod import;
mod recovery_cmd;
mod users;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use earshot_app::App;
use earshot_core::auth::Role;
use earshot_core::pipeline::Pipeline;
use earshot_core::store::Store;
use earshot_store::SqlStore;
use earshot_web::AppState;
use earshot_workflow::{Clock, SystemClock};

use config::{Config, ServeArgs, StoreArgs};

#[derive(Parser)]
#[command(name = "earshot", version, about = "Self-hosted social customer care")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the desk.
    Serve(ServeArgs),
    /// Serve with the bundled demo data loaded; prints the URL and a token.
    Demo(ServeArgs),
    /// Import mentions from a JSONL file or a known CSV export.
    Import(ImportArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(StoreArgs),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Analyse text: one argument, or a file with one text per line.
    Analyze(analysis_cmd::AnalyzeArgs),
    /// Train the analysis models from labelled files.
    Train(analysis_cmd::TrainArgs),
    /// Evaluate the shipped models on a labelled CSV.
    Eval(analysis_cmd::EvalArgs),
    /// Manage desk users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Measure ingestion and search speed on this machine.
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Recovery (did an unhappy customer come back round?) replayed on a
    /// public dataset.
    #[command(subcommand)]
    Recovery(recovery_cmd::RecoveryCommand),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token and print it (it is shown only once).
    Create {
        /// A name to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
        #[arg(long, default_value = "admin", value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List API tokens (never their secrets): id, name, role, created,
    /// last used, revoked.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke an API token by its id (see `token list`); it stops working at once.
    Revoke {
        id: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a desk user (argon2-hashed password).
    Add(users::AddUserArgs),
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "expected admin, supervisor, agent or analyst".to_string())
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The file to import.
    file: PathBuf,
    /// The file's layout; detected from the extension and header when absent.
    #[arg(long, value_enum)]
    format: Option<import::Format>,
    /// Records per transaction.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// No progress bar (for logs and scripts).
    #[arg(long)]
    quiet: bool,
    /// Past conversations: store, analyse and index them, but open no case
    /// (and so start no SLA clock) for them.
    #[arg(long)]
    historical: bool,
    #[command(flatten)]
    store: StoreArgs,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EARSHOT_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => analysis_cmd::run_analyze(args),
        Command::Train(args) => analysis_cmd::run_train(args),
        Command::Eval(args) => analysis_cmd::run_eval(args),
        Command::Recovery(command) => recovery_cmd::run(command),
        command => runtime()?.block_on(run(command)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve(args) => {
            let config = Config::resolve(&args)?;
            let listener = bind(&config).await?;
            let store = Arc::new(open_store(&config).await?);
            serve(app(&config, &store)?, &config, listener).await
        }
        Command::Demo(mut args) => {
            if args.store.data_dir.is_none() && args.store.database_url.is_none() {
                args.store.data_dir = Some(PathBuf::from("earshot-demo"));
            }
            let config = Config::resolve(&args)?;
            // Bind first: a demo that cannot serve changes nothing (a running
            // demo keeps the passwords it printed).
            let listener = bind(&config).await?;
            let store = Arc::new(open_store(&config).await?);
            let app = app(&config, &store)?;
            let loaded = demo::load(&app, SystemClock.now()).await?;
            let token = demo::token(&store).await?;
            let logins = users::demo_users(&store).await?;
            let open = demo::open_cases(&app).await?;
            let addr = listener.local_addr()?;
            println!(
                "Earshot demo: {} mentions stored ({} new), {open} cases open",
                loaded.created + loaded.duplicates,
                loaded.created
            );
            println!("  Desk:      http://{addr}/");
            println!("  API:       http://{addr}/api/v1/cases   (Authorization: Bearer {token})");
            println!("  API docs:  http://{addr}/api/v1/openapi.json");
            for (name, role, password) in &logins {
                println!("  Login:     {name} / {password}   ({})", role.as_str());
            }
            serve(app, &config, listener).await
        }
        Command::Import(args) => {
            let config = Config::for_store(&args.store)?;
            let store = Arc::new(open_store(&config).await?);
            // Imported mentions take the same path as API ingestion.
            let app = app(&config, &store)?;
            let format = match args.format {
                Some(f) => f,
                None => import::detect(&args.file)?,
            };
            let file = std::fs::File::open(&args.file)
                .with_context(|| format!("opening {}", args.file.display()))?;
            let records = import::read(file, format)?;
            let report = demo::ingest_records(
                &app,
                records,
                args.batch.clamp(1, 10_000),
                !args.quiet,
                None,
                earshot_app::ingest::IngestOptions {
                    historical: args.historical,
                    ..Default::default()
                },
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            // Any invalid record, a broken CSV quote included, fails the
            // command so scripts notice; the report above lists them.
            if report.invalid > 0 {
                bail!(
                    "{} invalid record(s) were skipped (first: {}); the {} valid mentions are stored",
                    report.invalid,
                    report.errors.first().map_or("", String::as_str),
                    report.created + report.duplicates
                );
            }
            Ok(())
        }
        Command::Migrate(args) => {
            let config = Config::for_store(&args)?;
            open_store(&config).await?;
            println!("schema is up to date");
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { name, role, store },
        } => {
            let config = Config::for_store(&store)?;
            let store = open_store(&config).await?;
            let token = earshot_app::credentials::generate_token();
            store
                .create_token(
                    &name,
                    &earshot_app::credentials::hash_token(&token),
                    role,
                    SystemClock.now(),
                )
                .await?;
            println!("{token}");
            Ok(())
        }
        Command::Token {
            command: TokenCommand::List { json, store },
        } => {
            let config = Config::for_store(&store)?;
            let tokens = open_store(&config).await?.tokens().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
                return Ok(());
            }
            let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| "-".into())
            };
            println!(
                "{:>5}  {:<24} {:<10} {:<16} {:<16} REVOKED",
                "ID", "NAME", "ROLE", "CREATED", "LAST USED"
            );
            for t in tokens {
                println!(
                    "{:>5}  {:<24} {:<10} {:<16} {:<16} {}",
                    t.id,
                    t.name,
                    t.role.as_str(),
                    when(Some(t.created_at)),
                    when(t.last_used_at),
                    when(t.revoked_at)
                );
            }
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Revoke { id, store },
        } => {
            use earshot_core::workflow_store::{AuditRecord, WorkflowStore};
            let config = Config::for_store(&store)?;
            let store = open_store(&config).await?;
            let now = SystemClock.now();
            store.revoke_token(id, now).await?;
            store
                .record_audit(&AuditRecord {
                    entity: "token".into(),
                    entity_id: id.to_string(),
                    action: "revoked".into(),
                    actor: "cli".into(),
                    before: None,
                    after: None,
                    at: now,
                })
                .await?;
            eprintln!("token {id} revoked");
            Ok(())
        }
        Command::Bench(bench) => bench::run(bench).await,
        Command::User {
            command: UserCommand::Add(args),
        } => {
            let config = Config::for_store(&args.store)?;
            let store = open_store(&config).await?;
            users::add(&store, args).await
        }
        Command::Analyze(_) | Command::Train(_) | Command::Eval(_) | Command::Recovery(_) => {
            unreachable!("handled before the runtime starts")
        }
    }
}

fn pipeline(config: &Config) -> Pipeline {
    Pipeline::new(
        Arc::new(earshot_analysis::Engine::builtin()),
        config.priority,
    )
}

async fn open_store(config: &Config) -> Result<SqlStore> {
    let location = config.location()?;
    let store = earshot_store::open(&location).await.map_err(|e| {
        anyhow::anyhow!(
            "opening the store ({}): {}",
            match &location {
                earshot_store::Location::SqliteDir(d) => d.display().to_string(),
                earshot_store::Location::Postgres(url) => earshot_store::redact(url),
            },
            e.message
        )
    })?;
    Ok(store)
}

/// The application on `store`, with the desk's accounts enabled and the
/// key that seals sources' credentials (`EARSHOT_SECRET_KEY`, or the data
/// dir's `secret.key`, created on first use).
fn app(config: &Config, store: &Arc<SqlStore>) -> Result<App> {
    use earshot_app::secrets::{KEY_ENV, SecretBox};
    let key = std::env::var(KEY_ENV).ok();
    let secrets = SecretBox::load(key.as_deref(), &config.data_dir)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let app = App::new(store.clone(), pipeline(config), Arc::new(SystemClock))
        .with_accounts(store.clone())
        .with_secrets(secrets)
        .with_delivery_policy(earshot_app::deliveries::DeliveryPolicy {
            allow_private: config.allow_private_webhooks,
        })
        .with_public_url(&config.public_url)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?
        .with_csat_link_ttl(config.csat_link_ttl)
        .with_recovery_window(config.recovery_window);
    Ok(match config.outbox_lease {
        Some(lease) => app.with_outbox_lease(lease),
        None => app,
    })
}

async fn bind(config: &Config) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))
}

async fn serve(app: App, config: &Config, listener: tokio::net::TcpListener) -> Result<()> {
    let bootstrap = std::env::var("EARSHOT_BOOTSTRAP_TOKEN").ok();
    let state = AppState::new(app, bootstrap.as_deref())
        .with_secure_cookies(users::secure_cookies())
        .with_rate_limit(config.rate_limit);
    tracing::info!(addr = %listener.local_addr()?, "earshot is serving");
    earshot_web::serve(listener, state).await?;
    Ok(())
}
