//! `mouthpiece migrate-store --from URL --to URL`: copies every blob from
//! one store to another, e.g. from `file://` to `s3://` when a single node
//! grows into several. Idempotent: blobs already present with the same size
//! are skipped, so an interrupted copy simply runs again.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mouthpiece_storage::url::open_blobs;

#[derive(clap::Args)]
pub struct MigrateStoreArgs {
    /// Source: file://PATH or s3://BUCKET/PREFIX.
    #[arg(long)]
    pub from: String,
    /// Destination: file://PATH or s3://BUCKET/PREFIX.
    #[arg(long)]
    pub to: String,
    /// TOML settings file with the `[s3]` endpoint and credentials.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
}

pub fn run(a: MigrateStoreArgs) -> Result<()> {
    let settings = crate::serve::settings(a.config.as_deref(), None)?;
    let s3 = settings.s3_config();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let from = open_blobs(&a.from, &s3).await.context("opening --from")?;
        let to = open_blobs(&a.to, &s3).await.context("opening --to")?;
        let mut keys = from.list(None).await.context("listing --from")?;
        keys.sort();
        let bar = ProgressBar::new(keys.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("[{bar:40}] {pos}/{len} blobs, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let scratch = tempfile::tempdir()?;
        let (mut copied, mut skipped) = (0u64, 0u64);
        for key in &keys {
            let size = from.size(key).await?;
            let Some(size) = size else {
                // Deleted since the listing (the janitor runs meanwhile).
                bar.inc(1);
                continue;
            };
            if to.size(key).await? == Some(size) {
                skipped += 1;
            } else {
                let tmp = scratch.path().join("blob");
                from.download(key, &tmp)
                    .await
                    .with_context(|| format!("reading {key}"))?;
                to.put_file(key, &tmp)
                    .await
                    .with_context(|| format!("writing {key}"))?;
                copied += 1;
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        println!(
            "migrate-store: {} blobs: {copied} copied, {skipped} already present",
            keys.len()
        );
        Ok(())
    })
}
