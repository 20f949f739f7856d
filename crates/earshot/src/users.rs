//! `earshot user add` and the demo's desk users.

use std::io::BufRead;

use anyhow::{Context, Result, bail};
use earshot_core::accounts::{Accounts, NewUser};
use earshot_core::auth::Role;
use earshot_store::SqlStore;
use earshot_workflow::{Clock, SystemClock};

#[derive(clap::Args)]
pub struct AddUserArgs {
    /// Login name: letters, digits, '.', '-' or '_'.
    pub name: String,
    #[arg(long, default_value = "agent", value_parser = crate::parse_role)]
    pub role: Role,
    /// Name shown in the desk (default: the login name).
    #[arg(long, default_value = "")]
    pub display_name: String,
    /// Teams, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub teams: Vec<String>,
    /// Replies by this user need approval.
    #[arg(long)]
    pub in_training: bool,
    /// Read the password from the first line of stdin; otherwise a random
    /// one is generated and printed.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub store: crate::config::StoreArgs,
}

pub async fn add(store: &SqlStore, args: AddUserArgs) -> Result<()> {
    let (password, generated) = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        (line.trim_end_matches(['\r', '\n']).to_string(), false)
    } else {
        (
            earshot_app::credentials::random_hex()[..20].to_string(),
            true,
        )
    };
    if password.chars().count() < 10 {
        bail!("the password needs at least 10 characters");
    }
    let hash = earshot_app::credentials::hash_password(&password)
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let user = store
        .create_user(
            &NewUser {
                name: args.name,
                display_name: args.display_name,
                role: args.role,
                in_training: args.in_training,
                teams: args.teams,
            },
            &hash,
            SystemClock.now(),
        )
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    println!("created {} ({})", user.name, user.role.as_str());
    if generated {
        println!("password: {password}");
    }
    Ok(())
}

/// The demo's users, created on first run; each start gives them fresh
/// random passwords, printed with the URL.
pub async fn demo_users(store: &SqlStore) -> Result<Vec<(String, Role, String)>> {
    let mut out = Vec::new();
    for (name, display, role, teams) in [
        ("admin", "Ada Admin", Role::Admin, vec![]),
        (
            "supervisor",
            "Sam Supervisor",
            Role::Supervisor,
            vec!["care".to_string()],
        ),
        ("agent", "Alex Agent", Role::Agent, vec!["care".to_string()]),
    ] {
        let password = earshot_app::credentials::random_hex()[..16].to_string();
        let hash = earshot_app::credentials::hash_password(&password)
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let exists = store
            .credentials(name)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?
            .is_some();
        let result = if exists {
            store.set_password(name, &hash).await
        } else {
            store
                .create_user(
                    &NewUser {
                        name: name.into(),
                        display_name: display.into(),
                        role,
                        in_training: false,
                        teams,
                    },
                    &hash,
                    SystemClock.now(),
                )
                .await
                .map(|_| ())
        };
        result.map_err(|e| anyhow::anyhow!(e.message))?;
        out.push((name.to_string(), role, password));
    }
    Ok(out)
}

/// `EARSHOT_SECURE_COOKIES=1` marks session cookies `Secure` even when the
/// request looks like plain http (set it behind a TLS-terminating proxy that
/// does not send `X-Forwarded-Proto`).
pub fn secure_cookies() -> bool {
    std::env::var("EARSHOT_SECURE_COOKIES")
        .map(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}
