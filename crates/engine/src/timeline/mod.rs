//! The mouth timeline: which mouth shape is shown when. It is the contract
//! between the audio side (what is said, and when) and the renderer (how each
//! shape looks). Shapes follow the Rhubarb / Hanna-Barbera set.
//!
//! Timing comes from one of three phone sources, chosen by [`auto`]: a known
//! transcript aligned with espeak-ng ([`align`]), PocketSphinx phone
//! recognition for English ([`sphinx`]), or spectral classes for any
//! language ([`spectral`]); [`rules`] turns phones into cues, and
//! [`loudness`] is the fallback.

pub mod align;
pub mod auto;
pub mod dsp;
pub mod espeak;
pub mod loudness;
pub mod phones;
pub mod rules;
pub mod score;
pub mod spectral;
pub mod sphinx;

pub use auto::{automatic, Hints, Method};

use crate::error::{EngineError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Mouth shapes (Rhubarb Lip Sync's A–H and X).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Shape {
    /// Closed with slight pressure: P, B, M.
    A,
    /// Slightly open, teeth together: most consonants, EE.
    B,
    /// Open: EH, AE.
    C,
    /// Wide open: AA.
    D,
    /// Slightly rounded: AO, ER.
    E,
    /// Puckered: UW, OW, W.
    F,
    /// Upper teeth on the lower lip: F, V.
    G,
    /// Tongue raised behind the teeth: long L.
    H,
    /// Relaxed rest, mouth closed.
    X,
}

impl Shape {
    pub const ALL: [Shape; 9] = [
        Shape::A,
        Shape::B,
        Shape::C,
        Shape::D,
        Shape::E,
        Shape::F,
        Shape::G,
        Shape::H,
        Shape::X,
    ];

    pub fn letter(self) -> char {
        match self {
            Shape::A => 'A',
            Shape::B => 'B',
            Shape::C => 'C',
            Shape::D => 'D',
            Shape::E => 'E',
            Shape::F => 'F',
            Shape::G => 'G',
            Shape::H => 'H',
            Shape::X => 'X',
        }
    }

    /// Closed shapes show no gap between the lips.
    pub fn is_closed(self) -> bool {
        matches!(self, Shape::A | Shape::X)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.letter())
    }
}

impl FromStr for Shape {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self> {
        Shape::ALL
            .into_iter()
            .find(|sh| s.trim().eq_ignore_ascii_case(&sh.letter().to_string()))
            .ok_or_else(|| EngineError::InvalidTimeline(format!("unknown mouth shape {s:?}")))
    }
}

/// One shape held from `start` to `end` (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    #[serde(rename = "value")]
    pub shape: Shape,
}

/// Contiguous cues covering `[0, duration]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MouthTimeline {
    pub duration: f64,
    #[serde(rename = "mouthCues")]
    pub cues: Vec<Cue>,
}

impl MouthTimeline {
    /// A closed mouth for the whole clip.
    pub fn rest(duration: f64) -> Self {
        Self {
            duration,
            cues: vec![Cue {
                start: 0.0,
                end: duration,
                shape: Shape::X,
            }],
        }
    }

    /// Builds from runs of shapes, merging neighbours that repeat a shape.
    pub fn from_cues(duration: f64, cues: impl IntoIterator<Item = Cue>) -> Self {
        let mut merged: Vec<Cue> = Vec::new();
        for c in cues {
            if c.end <= c.start {
                continue;
            }
            match merged.last_mut() {
                Some(last) if last.shape == c.shape => last.end = c.end,
                _ => merged.push(c),
            }
        }
        Self {
            duration,
            cues: merged,
        }
    }

    /// The shape shown at time `t`, and the index of its cue.
    pub fn cue_index_at(&self, t: f64) -> Option<usize> {
        if self.cues.is_empty() {
            return None;
        }
        let i = self.cues.partition_point(|c| c.end <= t);
        Some(i.min(self.cues.len() - 1))
    }

    pub fn shape_at(&self, t: f64) -> Shape {
        self.cue_index_at(t)
            .and_then(|i| self.cues.get(i))
            .map_or(Shape::X, |c| c.shape)
    }

    /// Checks ordering and coverage, as a timeline read from a file must be.
    pub fn validate(&self) -> Result<()> {
        if !self.duration.is_finite() || self.duration < 0.0 {
            return Err(EngineError::InvalidTimeline(
                "duration must be a positive number".into(),
            ));
        }
        let mut t = 0.0f64;
        for (i, c) in self.cues.iter().enumerate() {
            if !(c.start.is_finite() && c.end.is_finite()) || c.end < c.start {
                return Err(EngineError::InvalidTimeline(format!(
                    "cue {i} has an invalid time span {}..{}",
                    c.start, c.end
                )));
            }
            if (c.start - t).abs() > 0.002 {
                return Err(EngineError::InvalidTimeline(format!(
                    "cue {i} starts at {:.3} s but the previous one ends at {t:.3} s",
                    c.start
                )));
            }
            t = c.end;
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let tl: MouthTimeline =
            serde_json::from_str(text).map_err(|e| EngineError::InvalidTimeline(e.to_string()))?;
        tl.validate()?;
        Ok(tl)
    }

    /// Rhubarb-style TSV: `start<TAB>shape`, one line per cue, and a final line
    /// with the end time and X.
    pub fn to_tsv(&self) -> String {
        let mut s = String::new();
        for c in &self.cues {
            s.push_str(&format!("{:.3}\t{}\n", c.start, c.shape));
        }
        s.push_str(&format!("{:.3}\tX\n", self.duration));
        s
    }

    pub fn from_tsv(text: &str) -> Result<Self> {
        let mut points: Vec<(f64, Shape)> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split('\t');
            let (Some(t), Some(sh)) = (parts.next(), parts.next()) else {
                return Err(EngineError::InvalidTimeline(format!(
                    "line {} is not `time<TAB>shape`",
                    n + 1
                )));
            };
            let t: f64 = t.trim().parse().map_err(|_| {
                EngineError::InvalidTimeline(format!("line {}: bad time {t:?}", n + 1))
            })?;
            points.push((t, sh.parse()?));
        }
        let Some(&(end, _)) = points.last() else {
            return Err(EngineError::InvalidTimeline("the file has no cues".into()));
        };
        let cues = points
            .windows(2)
            .map(|w| Cue {
                start: w[0].0,
                end: w[1].0,
                shape: w[0].1,
            })
            .collect::<Vec<_>>();
        let tl = Self {
            duration: end,
            cues,
        };
        tl.validate()?;
        Ok(tl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_tsv_round_trip() {
        let tl = MouthTimeline::from_cues(
            1.0,
            [
                Cue {
                    start: 0.0,
                    end: 0.3,
                    shape: Shape::X,
                },
                Cue {
                    start: 0.3,
                    end: 0.5,
                    shape: Shape::D,
                },
                Cue {
                    start: 0.5,
                    end: 1.0,
                    shape: Shape::A,
                },
            ],
        );
        assert_eq!(MouthTimeline::from_json(&tl.to_json()).unwrap(), tl);
        assert_eq!(MouthTimeline::from_tsv(&tl.to_tsv()).unwrap(), tl);
        assert_eq!(tl.shape_at(0.4), Shape::D);
        assert_eq!(tl.shape_at(2.0), Shape::A);
    }

    #[test]
    fn rejects_gaps_and_garbage() {
        assert!(MouthTimeline::from_tsv("0.0\tX\n0.5\tQ\n").is_err());
        assert!(MouthTimeline::from_json(
            "{\"duration\":1,\"mouthCues\":[{\"start\":0.2,\"end\":1,\"value\":\"A\"}]}"
        )
        .is_err());
    }
}
