//! `mouthpiece serve`: the Kling-compatible API with its queue, workers,
//! callbacks and janitor in one process (`--no-workers`: API only), and
//! `mouthpiece worker`: render workers only, on shared stores.

use anyhow::Result;
use mouthpiece_api::{Server, Settings};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// TOML settings file (default: $MOUTHPIECE_CONFIG, else ./mouthpiece.toml when present).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<String>,
    /// Where the database and files live (default ./mouthpiece-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Renders at once in this process.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Serve the API without render workers (tasks wait in the queue).
    #[arg(long)]
    pub no_workers: bool,
}

#[derive(clap::Args)]
pub struct WorkerArgs {
    /// TOML settings file (default: $MOUTHPIECE_CONFIG, else ./mouthpiece.toml when present).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Scratch space (and the SQLite file when no `database_url` is set).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Renders at once in this process.
    #[arg(long)]
    pub workers: Option<usize>,
}

/// Settings from the file and environment, then these flags.
pub fn settings(config: Option<&std::path::Path>, data_dir: Option<PathBuf>) -> Result<Settings> {
    let from_env = std::env::var_os("MOUTHPIECE_CONFIG").map(PathBuf::from);
    let mut s = Settings::load(config.or(from_env.as_deref()))?;
    if let Some(d) = data_dir {
        s.data_dir = d;
    }
    Ok(s)
}

pub fn run(a: ServeArgs) -> Result<()> {
    let mut s = settings(a.config.as_deref(), a.data_dir)?;
    if let Some(l) = a.listen {
        s.listen = l;
    }
    if let Some(n) = a.workers {
        s.workers.concurrency = n;
    }
    if a.no_workers {
        s.workers.enabled = false;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let server = Server::start(s, None).await?;
        println!(
            "mouthpiece: listening on {} (web playground: {}/)",
            server.url(),
            server.url()
        );
        wait_for_signal().await;
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok(())
    })
}

pub fn run_worker(a: WorkerArgs) -> Result<()> {
    let mut s = settings(a.config.as_deref(), a.data_dir)?;
    if let Some(n) = a.workers {
        s.workers.concurrency = n;
    }
    s.workers.enabled = true;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let server = Server::start_role(s, None, false).await?;
        println!("mouthpiece: worker started");
        wait_for_signal().await;
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
