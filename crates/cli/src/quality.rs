//! `mouthpiece quality`: measures a rendered video against its source
//! portrait and speech, and prints each figure next to its target.

use anyhow::{bail, Result};
use mouthpiece_engine::quality;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct QualityArgs {
    /// The rendered MP4.
    video: PathBuf,
    /// The portrait it was rendered from.
    #[arg(long)]
    source: PathBuf,
    /// The speech it was rendered from (default: the video's own sound).
    #[arg(long)]
    audio: Option<PathBuf>,
    /// Print the figures as JSON (with per-frame series).
    #[arg(long)]
    json: bool,
}

pub fn run(a: QualityArgs) -> Result<()> {
    for p in [&a.video, &a.source] {
        if !p.is_file() {
            bail!("{} does not exist", p.display());
        }
    }
    let analyzer = crate::load_analyzer()?;
    let report = quality::measure(&a.video, &a.source, a.audio.as_deref(), &analyzer)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
