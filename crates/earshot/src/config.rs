//! Configuration: flags, then `EARSHOT_*` environment variables (clap reads
//! both), then an optional `earshot.toml`, then defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use earshot_core::priority::PriorityWeights;
use earshot_web::ratelimit::RateLimit;
use serde::Deserialize;

#[derive(Debug, Clone, Args, Default)]
pub struct StoreArgs {
    /// Directory for the embedded SQLite database.
    #[arg(long, env = "EARSHOT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL instead of embedded SQLite.
    #[arg(long, env = "EARSHOT_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Configuration file (default: ./earshot.toml when present).
    #[arg(long, env = "EARSHOT_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "EARSHOT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// API requests per token, e.g. `600/min,burst=120` (the default), or
    /// `off`.
    #[arg(long, env = "EARSHOT_RATE_LIMIT")]
    pub rate_limit: Option<String>,
    /// Let webhooks reach loopback, private and link-local addresses.
    #[arg(long, env = "EARSHOT_ALLOW_PRIVATE_WEBHOOKS", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_private_webhooks: Option<bool>,
    /// Seconds the outbox holds a reply it is delivering (default 60). A
    /// node killed mid-send leaves its replies to be taken over after this;
    /// each platform call is cut to 5/12 of it (at most 25 s).
    #[arg(long, env = "EARSHOT_OUTBOX_LEASE_SECS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub outbox_lease_secs: Option<u32>,
    /// Where customers reach this node, e.g. `https://care.example.com`:
    /// CSAT links point there (default: `http://` and the listen address).
    #[arg(long, env = "EARSHOT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Days a CSAT link works (default 7).
    #[arg(long, env = "EARSHOT_CSAT_LINK_DAYS", value_parser = clap::value_parser!(u32).range(1..=90))]
    pub csat_link_days: Option<u32>,
    /// Days recovery follows a resolved case's author in public (default
    /// 30): a case whose unhappy author posts nothing in that time is
    /// `unknown`.
    #[arg(long, env = "EARSHOT_RECOVERY_WINDOW_DAYS", value_parser = clap::value_parser!(u32).range(1..=i64::from(earshot_core::recovery::MAX_WINDOW_DAYS)))]
    pub recovery_window_days: Option<u32>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The file's shape; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    #[serde(default)]
    priority: Option<PriorityWeights>,
    rate_limit: Option<String>,
    allow_private_webhooks: Option<bool>,
    public_url: Option<String>,
    csat_link_days: Option<u32>,
    recovery_window_days: Option<u32>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub priority: PriorityWeights,
    /// `None`: no API rate limit.
    pub rate_limit: Option<RateLimit>,
    pub allow_private_webhooks: bool,
    /// `None`: the outbox's default lease.
    pub outbox_lease: Option<chrono::TimeDelta>,
    /// Where CSAT links point, checked, without a trailing slash.
    pub public_url: String,
    /// How long a CSAT link works.
    pub csat_link_ttl: chrono::TimeDelta,
    /// How long recovery follows a resolved case's author.
    pub recovery_window: chrono::TimeDelta,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Config {
    pub fn resolve(serve: &ServeArgs) -> Result<Config> {
        let file = load_file(serve.store.config.as_deref())?;
        let default_listen: SocketAddr = DEFAULT_LISTEN.parse()?;
        let listen = serve.listen.or(file.listen).unwrap_or(default_listen);
        let public_url = match serve.public_url.as_deref().or(file.public_url.as_deref()) {
            Some(url) => url.to_string(),
            None => format!("http://{listen}"),
        };
        let public_url = earshot_app::csat::normalise_public_url(&public_url)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let link_days = serve.csat_link_days.or(file.csat_link_days).unwrap_or(7);
        if !(1..=90).contains(&link_days) {
            anyhow::bail!("csat_link_days must be 1 to 90, not {link_days}");
        }
        Ok(Config {
            listen,
            public_url,
            csat_link_ttl: chrono::TimeDelta::days(i64::from(link_days)),
            data_dir: serve
                .store
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("earshot-data")),
            database_url: serve.store.database_url.clone().or(file.database_url),
            priority: file.priority.unwrap_or_default(),
            rate_limit: match serve.rate_limit.as_deref().or(file.rate_limit.as_deref()) {
                None => Some(RateLimit::default()),
                Some("off") => None,
                Some(limit) => Some(
                    limit
                        .parse()
                        .map_err(|e: String| anyhow::anyhow!("rate limit {e}"))?,
                ),
            },
            allow_private_webhooks: serve
                .allow_private_webhooks
                .or(file.allow_private_webhooks)
                .unwrap_or(false),
            outbox_lease: serve
                .outbox_lease_secs
                .map(|secs| chrono::TimeDelta::seconds(i64::from(secs))),
            recovery_window: earshot_core::recovery::window_days(
                serve
                    .recovery_window_days
                    .or(file.recovery_window_days)
                    .unwrap_or(earshot_core::recovery::DEFAULT_WINDOW_DAYS),
            )
            .map_err(|e| anyhow::anyhow!("{}", e.message))?,
        })
    }

    pub fn for_store(store: &StoreArgs) -> Result<Config> {
        Config::resolve(&ServeArgs {
            store: store.clone(),
            ..ServeArgs::default()
        })
    }

    pub fn location(&self) -> Result<earshot_store::Location> {
        earshot_store::Location::from_config(self.database_url.as_deref(), &self.data_dir)
            .map_err(|e| anyhow::anyhow!(e.message))
    }
}

fn load_file(explicit: Option<&Path>) -> Result<FileConfig> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let default = PathBuf::from("earshot.toml");
            if !default.exists() {
                return Ok(FileConfig::default());
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("in config file {}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("earshot.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9999\"\ndata_dir = \"/srv/earshot\"\n[priority]\nreach = 0.0\n",
        )
        .unwrap();
        let mut args = ServeArgs {
            store: StoreArgs {
                config: Some(file.clone()),
                ..StoreArgs::default()
            },
            ..ServeArgs::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.data_dir, PathBuf::from("/srv/earshot"));
        assert_eq!(c.priority.reach, 0.0);
        assert_eq!(c.priority.severity, PriorityWeights::default().severity);

        args.listen = Some("127.0.0.1:7000".parse().unwrap());
        assert_eq!(Config::resolve(&args).unwrap().listen.port(), 7000);
    }

    #[test]
    fn the_public_url_defaults_to_the_listen_address() {
        let mut args = ServeArgs {
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            ..ServeArgs::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.public_url, "http://127.0.0.1:7000");
        assert_eq!(c.csat_link_ttl, chrono::TimeDelta::days(7));
        args.public_url = Some("https://care.example.com/".into());
        args.csat_link_days = Some(3);
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.public_url, "https://care.example.com");
        assert_eq!(c.csat_link_ttl, chrono::TimeDelta::days(3));
        args.public_url = Some("care.example.com".into());
        let e = Config::resolve(&args).unwrap_err().to_string();
        assert!(e.contains("public_url"), "{e}");
    }

    #[test]
    fn rate_limit_and_private_webhooks_are_configurable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("earshot.toml");
        std::fs::write(
            &file,
            "rate_limit = \"60/min,burst=5\"\nallow_private_webhooks = true\n",
        )
        .unwrap();
        let mut args = ServeArgs {
            store: StoreArgs {
                config: Some(file),
                ..StoreArgs::default()
            },
            ..ServeArgs::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.rate_limit, Some("60/min,burst=5".parse().unwrap()));
        assert!(c.allow_private_webhooks);
        args.rate_limit = Some("off".into());
        args.allow_private_webhooks = Some(false);
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.rate_limit, None);
        assert!(!c.allow_private_webhooks);
        args.rate_limit = Some("lots".into());
        assert!(Config::resolve(&args).is_err());

        let defaults = Config::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(defaults.rate_limit, Some(RateLimit::default()));
        assert!(!defaults.allow_private_webhooks);
    }

    #[test]
    fn the_recovery_window_is_configurable() {
        let defaults = Config::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(defaults.recovery_window, chrono::TimeDelta::days(30));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("earshot.toml");
        std::fs::write(&file, "recovery_window_days = 14\n").unwrap();
        let mut args = ServeArgs {
            store: StoreArgs {
                config: Some(file),
                ..StoreArgs::default()
            },
            ..ServeArgs::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.recovery_window, chrono::TimeDelta::days(14));
        args.recovery_window_days = Some(7);
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.recovery_window, chrono::TimeDelta::days(7));
        args.recovery_window_days = Some(0);
        assert!(Config::resolve(&args).is_err());
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("earshot.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let args = ServeArgs {
            store: StoreArgs {
                config: Some(file),
                ..StoreArgs::default()
            },
            ..ServeArgs::default()
        };
        let err = format!("{:#}", Config::resolve(&args).unwrap_err());
        assert!(err.contains("lisen"), "{err}");
    }
}
