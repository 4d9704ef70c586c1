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
    /// Write a contact sheet of mouth crops at 2x (PNG): the source's mouth,
    /// then the most open, the most closed and a p/b/m frame.
    #[arg(long)]
    sheet: Option<PathBuf>,
}

pub fn run(a: QualityArgs) -> Result<()> {
    for p in [&a.video, &a.source] {
        if !p.is_file() {
            bail!("{} does not exist", p.display());
        }
    }
    let analyzer = crate::load_analyzer()?;
    let report = quality::measure_with_sheet(
        &a.video,
        &a.source,
        a.audio.as_deref(),
        &analyzer,
        a.sheet.as_deref(),
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
        if let Some(sheet) = &a.sheet {
            println!("mouth sheet: {}", sheet.display());
        }
    }
    Ok(())
}
