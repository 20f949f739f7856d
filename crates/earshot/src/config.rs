//! Configuration: flags, then `EARSHOT_*` environment variables (clap reads
//! both), then an optional `earshot.toml`, then defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use earshot_core::priority::PriorityWeights;
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
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub priority: PriorityWeights,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Config {
    pub fn resolve(serve: &ServeArgs) -> Result<Config> {
        let file = load_file(serve.store.config.as_deref())?;
        let default_listen: SocketAddr = DEFAULT_LISTEN.parse()?;
        Ok(Config {
            listen: serve.listen.or(file.listen).unwrap_or(default_listen),
            data_dir: serve
                .store
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("earshot-data")),
            database_url: serve.store.database_url.clone().or(file.database_url),
            priority: file.priority.unwrap_or_default(),
        })
    }

    pub fn for_store(store: &StoreArgs) -> Result<Config> {
        Config::resolve(&ServeArgs {
            listen: None,
            store: store.clone(),
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
            listen: None,
            store: StoreArgs {
                config: Some(file.clone()),
                ..StoreArgs::default()
            },
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
    fn unknown_keys_in_the_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("earshot.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let args = ServeArgs {
            listen: None,
            store: StoreArgs {
                config: Some(file),
                ..StoreArgs::default()
            },
        };
        let err = format!("{:#}", Config::resolve(&args).unwrap_err());
        assert!(err.contains("lisen"), "{err}");
    }
}
