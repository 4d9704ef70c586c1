//! Loudness-driven mouth timeline: the language-independent baseline. The
//! mouth opens with the speech envelope, closes in pauses, and never shows a
//! shape for less than `MIN_SHAPE` (no flicker).

use super::{Cue, MouthTimeline, Shape};
use crate::media::ANALYSIS_RATE;

/// Analysis hop: 10 ms, the resolution of every timing rule below.
pub const HOP_SECONDS: f64 = 0.01;
/// No shape is shown for less than this (Rhubarb: 70 ms avoids flicker).
pub const MIN_SHAPE: f64 = 0.07;
/// Pauses shorter than this hold the previous shape.
pub const HOLD_PAUSE: f64 = 0.12;
/// Pauses at least this long close the mouth fully.
pub const CLOSE_PAUSE: f64 = 0.35;

/// Per-hop loudness features of a mono signal at `ANALYSIS_RATE`.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// RMS level in dBFS per 10 ms hop.
    pub db: Vec<f32>,
    /// Speech activity per hop.
    pub voiced: Vec<bool>,
    /// Openness 0..1 per hop, relative to the speaker's own loud level.
    pub level: Vec<f32>,
}

pub fn envelope(samples: &[f32]) -> Envelope {
    let hop = (f64::from(ANALYSIS_RATE) * HOP_SECONDS) as usize;
    let win = hop * 2;
    let n_hops = samples.len().div_ceil(hop);
    let mut db = Vec::with_capacity(n_hops);
    for i in 0..n_hops {
        let start = (i * hop).saturating_sub(hop / 2);
        let end = (start + win).min(samples.len());
        let span = &samples[start.min(end)..end];
        let energy = if span.is_empty() {
            0.0
        } else {
            span.iter()
                .map(|&s| f64::from(s) * f64::from(s))
                .sum::<f64>()
                / span.len() as f64
        };
        db.push((10.0 * (energy + 1e-12).log10()) as f32);
    }
    let floor = percentile(&db, 0.10).max(-100.0);
    let loud = percentile(&db, 0.95);
    // Speech must stand out from the noise floor and not be digital silence.
    let threshold = (floor + 9.0).max(loud - 38.0).max(-58.0);
    let voiced: Vec<bool> = db.iter().map(|&d| d > threshold).collect();
    let span = (loud - threshold).max(6.0);
    let level = db
        .iter()
        .zip(&voiced)
        .map(|(&d, &v)| {
            if v {
                ((d - threshold) / span).clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect();
    Envelope { db, voiced, level }
}

fn percentile(values: &[f32], q: f32) -> f32 {
    if values.is_empty() {
        return -100.0;
    }
    let mut v: Vec<f32> = values.to_vec();
    v.sort_by(f32::total_cmp);
    let idx = ((v.len() - 1) as f32 * q).round() as usize;
    v[idx.min(v.len() - 1)]
}

/// Builds the timeline from loudness alone.
pub fn timeline(samples: &[f32], duration: f64) -> MouthTimeline {
    let env = envelope(samples);
    let shapes: Vec<Option<Shape>> = env
        .level
        .iter()
        .zip(&env.voiced)
        .map(|(&l, &v)| {
            if !v {
                None
            } else if l < 0.35 {
                Some(Shape::B)
            } else if l < 0.7 {
                Some(Shape::C)
            } else {
                Some(Shape::D)
            }
        })
        .collect();
    let runs = apply_pause_rules(&runs_of(&shapes));
    let runs = enforce_min_duration(runs, (MIN_SHAPE / HOP_SECONDS).round() as usize);
    let cues = runs.into_iter().map(|r| Cue {
        start: (r.start as f64 * HOP_SECONDS).min(duration),
        end: (r.end as f64 * HOP_SECONDS).min(duration),
        shape: r.shape,
    });
    let mut tl = MouthTimeline::from_cues(duration, cues);
    if let Some(last) = tl.cues.last_mut() {
        last.end = duration;
    }
    if tl.cues.is_empty() {
        tl = MouthTimeline::rest(duration);
    }
    tl
}

#[derive(Debug, Clone, Copy)]
struct Run {
    start: usize,
    end: usize,
    shape: Shape,
}

/// Hop runs; `None` (silence) becomes a provisional X run.
fn runs_of(shapes: &[Option<Shape>]) -> Vec<(usize, usize, Option<Shape>)> {
    let mut runs: Vec<(usize, usize, Option<Shape>)> = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        match runs.last_mut() {
            Some(r) if r.2 == *s => r.1 = i + 1,
            _ => runs.push((i, i + 1, *s)),
        }
    }
    runs
}

/// Short pauses hold the shape before them, medium ones relax to B, long ones close.
fn apply_pause_rules(runs: &[(usize, usize, Option<Shape>)]) -> Vec<Run> {
    let hold = (HOLD_PAUSE / HOP_SECONDS).round() as usize;
    let close = (CLOSE_PAUSE / HOP_SECONDS).round() as usize;
    let mut out: Vec<Run> = Vec::with_capacity(runs.len());
    for (i, &(start, end, shape)) in runs.iter().enumerate() {
        let shape = match shape {
            Some(s) => s,
            None => {
                let len = end - start;
                let inner = i > 0 && i + 1 < runs.len();
                let prev = out.last().map(|r| r.shape);
                match prev {
                    Some(p) if inner && len < hold => p,
                    Some(_) if inner && len < close => Shape::B,
                    _ => Shape::X,
                }
            }
        };
        match out.last_mut() {
            Some(r) if r.shape == shape => r.end = end,
            _ => out.push(Run { start, end, shape }),
        }
    }
    out
}

/// Merges runs shorter than `min_hops` into a neighbour, so no shape flickers.
fn enforce_min_duration(mut runs: Vec<Run>, min_hops: usize) -> Vec<Run> {
    loop {
        let Some((i, _)) = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.end - r.start < min_hops)
            .min_by_key(|(_, r)| r.end - r.start)
        else {
            return runs;
        };
        if runs.len() == 1 {
            return runs;
        }
        // Absorb into the neighbour that is more open-like when the short run
        // is open, so brief syllables still show; otherwise into the longer one.
        let target = if i == 0 {
            1
        } else if i + 1 == runs.len() {
            i - 1
        } else {
            let (p, n) = (&runs[i - 1], &runs[i + 1]);
            if p.end - p.start >= n.end - n.start {
                i - 1
            } else {
                i + 1
            }
        };
        let short = runs.remove(i);
        let t = if target > i { target - 1 } else { target };
        let r = &mut runs[t];
        r.start = r.start.min(short.start);
        r.end = r.end.max(short.end);
        // Neighbours of the removed run may now share a shape: merge them.
        let mut merged: Vec<Run> = Vec::with_capacity(runs.len());
        for r in runs {
            match merged.last_mut() {
                Some(m) if m.shape == r.shape => m.end = r.end,
                _ => merged.push(r),
            }
        }
        runs = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(seconds: f64, amp: f32) -> Vec<f32> {
        let n = (seconds * f64::from(ANALYSIS_RATE)) as usize;
        (0..n)
            .map(|i| {
                amp * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / ANALYSIS_RATE as f32).sin()
            })
            .collect()
    }

    #[test]
    fn opens_on_sound_and_closes_in_long_pauses() {
        let mut s = tone(0.5, 0.0);
        s.extend(tone(0.6, 0.5));
        s.extend(tone(0.6, 0.0));
        s.extend(tone(0.4, 0.3));
        let tl = timeline(&s, s.len() as f64 / 16000.0);
        assert_eq!(tl.shape_at(0.2), Shape::X);
        assert!(!tl.shape_at(0.8).is_closed());
        assert_eq!(tl.shape_at(1.4), Shape::X);
        assert!(!tl.shape_at(1.9).is_closed());
        for c in &tl.cues[1..tl.cues.len() - 1] {
            assert!(c.end - c.start >= MIN_SHAPE - 1e-9, "{c:?}");
        }
        tl.validate().unwrap();
    }
}
