//! `mouthpiece account create|list|rotate|revoke`: accounts and their credentials, in the
//! same database the server uses.

use anyhow::Result;
use mouthpiece_domain::{AccountService, NewAccountRequest};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct AccountArgs {
    #[command(subcommand)]
    pub command: AccountCommand,
    /// TOML settings file (to find the data dir).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Where the database lives (default ./mouthpiece-data).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
pub enum AccountCommand {
    /// Create an account; prints its API key, AccessKey, SecretKey and
    /// webhook secret once (only a hash of the API key is kept).
    Create {
        #[arg(long)]
        name: String,
        /// Unfinished tasks at once (default: the server's account_concurrency).
        #[arg(long)]
        concurrency: Option<u32>,
        /// Do not create a webhook signing secret (callbacks go unsigned).
        #[arg(long)]
        no_webhook_secret: bool,
        /// Print the credentials as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List accounts (no secrets).
    List,
    /// Replace the account's API key, AccessKey and SecretKey; the old ones
    /// stop working at once. Prints the new ones once.
    Rotate {
        /// The account id (`acct_...`, see `account list`).
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke every credential of the account (until the next `rotate`).
    Revoke {
        /// The account id (`acct_...`, see `account list`).
        id: String,
    },
}

pub fn run(a: AccountArgs) -> Result<()> {
    let settings = crate::serve::settings(a.config.as_deref(), a.data_dir)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        mouthpiece_api::app::prepare_data_dir(&settings)?;
        let stores = mouthpiece_storage::url::open_metadata(&settings.database_url()).await?;
        let accounts = AccountService::new(stores.accounts, settings.auth.clock_skew_seconds);
        match a.command {
            AccountCommand::Create {
                name,
                concurrency,
                no_webhook_secret,
                json,
            } => {
                let c = accounts
                    .create(NewAccountRequest {
                        name,
                        max_concurrent_tasks: concurrency,
                        webhook_secret: !no_webhook_secret,
                    })
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "account_id": c.account.id,
                            "name": c.account.name,
                            "api_key": c.api_key,
                            "access_key": c.access_key,
                            "secret_key": c.secret_key,
                            "webhook_secret": c.webhook_secret,
                        }))?
                    );
                } else {
                    println!("account:        {} ({})", c.account.id, c.account.name);
                    println!("API key:        {}", c.api_key);
                    println!("AccessKey:      {}", c.access_key);
                    println!("SecretKey:      {}", c.secret_key);
                    if let Some(w) = &c.webhook_secret {
                        println!("webhook secret: {w}");
                    }
                    println!("These are shown once; keep them somewhere safe.");
                }
            }
            AccountCommand::Rotate { id, json } => {
                let c = accounts
                    .rotate(&id)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "account_id": id,
                            "api_key": c.api_key,
                            "access_key": c.access_key,
                            "secret_key": c.secret_key,
                        }))?
                    );
                } else {
                    println!("account:        {id}");
                    println!("API key:        {}", c.api_key);
                    println!("AccessKey:      {}", c.access_key);
                    println!("SecretKey:      {}", c.secret_key);
                    println!("The old credentials no longer work. These are shown once.");
                }
            }
            AccountCommand::Revoke { id } => {
                accounts
                    .revoke(&id)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("account {id}: every API key, AccessKey and SecretKey is revoked");
            }
            AccountCommand::List => {
                for acc in accounts.list().await.map_err(|e| anyhow::anyhow!("{e}"))? {
                    let limit = acc
                        .max_concurrent_tasks
                        .map_or("default".to_string(), |n| n.to_string());
                    println!("{}\t{}\tconcurrency {limit}", acc.id, acc.name);
                }
            }
        }
        Ok(())
    })
}
