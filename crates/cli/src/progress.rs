//! A terminal progress bar for renders (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use mouthpiece_engine::pipeline::{Progress, Stage};

pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:15} [{bar:40}] {pos}/{len} frames, {per_sec}, eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn stage(&self, stage: Stage) {
        self.bar.set_message(stage.label());
        self.bar.tick();
    }

    fn frames(&self, done: u64, total: u64) {
        if self.bar.length() != Some(total) {
            self.bar.set_length(total);
        }
        self.bar.set_position(done);
    }
}
