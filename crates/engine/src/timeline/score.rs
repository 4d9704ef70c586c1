//! Lip-sync accuracy against known phone timing: speech made by espeak-ng
//! comes with exact phoneme events, so a timeline can be scored frame by
//! frame. Used by the accuracy benchmark and the tests.

use super::espeak;
use super::phones::{Articulation, Phone};
use super::rules::{tween, TimedPhone};
use super::MouthTimeline;
use crate::error::Result;
use crate::media::audio::to_analysis_rate;

/// Pauses at least this long must show a closed mouth.
pub const LONG_PAUSE: f64 = 0.35;

/// Speech with its true phones.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Mono samples at `ANALYSIS_RATE`.
    pub samples: Vec<f32>,
    /// Samples at espeak's own rate, for writing a WAV.
    pub native: Vec<i16>,
    pub native_rate: u32,
    pub phones: Vec<TimedPhone>,
    /// The whole text, sentences joined by spaces.
    pub text: String,
    pub duration: f64,
}

/// Speaks each sentence with espeak-ng and joins them with the given
/// silences (`gaps[i]` follows sentence `i`; missing gaps are 0). The true
/// phones are espeak's own events, shifted to their place in the joined
/// audio.
pub fn reference_speech(
    sentences: &[&str],
    voice: &str,
    rate: u32,
    gaps: &[f64],
) -> Result<Reference> {
    let mut native: Vec<i16> = Vec::new();
    let mut phones: Vec<TimedPhone> = Vec::new();
    let mut native_rate = 22_050;
    for (i, s) in sentences.iter().enumerate() {
        let syn = espeak::synthesize(s, voice, rate)?;
        native_rate = syn.sample_rate;
        let offset = native.len() as f64 / f64::from(native_rate);
        phones.extend(syn.timed_phones().into_iter().map(|p| TimedPhone {
            start: p.start + offset,
            end: p.end + offset,
            ..p
        }));
        native.extend_from_slice(&syn.samples);
        let gap = gaps.get(i).copied().unwrap_or(0.0);
        let n = (gap * f64::from(native_rate)).round() as usize;
        if n > 0 {
            let offset = native.len() as f64 / f64::from(native_rate);
            phones.push(TimedPhone {
                phone: Phone::Sil,
                start: offset,
                end: offset + n as f64 / f64::from(native_rate),
            });
            native.extend(std::iter::repeat_n(0i16, n));
        }
    }
    trim_pause_onsets(&mut phones, &native, native_rate);
    let floats: Vec<f32> = native.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let samples = to_analysis_rate(&floats, native_rate);
    let duration = native.len() as f64 / f64::from(native_rate);
    Ok(Reference {
        samples,
        native,
        native_rate,
        phones,
        text: sentences.join(" "),
        duration,
    })
}

/// espeak starts a pause event while the last sound still decays: a pause
/// really begins once the level has fallen 30 dB below the speech's loud
/// level. The phone before it keeps the sound.
fn trim_pause_onsets(phones: &mut [TimedPhone], native: &[i16], rate: u32) {
    let hop = (rate / 100).max(1) as usize;
    let db: Vec<f32> = native
        .chunks(hop)
        .map(|c| {
            let e = c
                .iter()
                .map(|&s| (f64::from(s) / 32768.0).powi(2))
                .sum::<f64>()
                / c.len().max(1) as f64;
            (10.0 * (e + 1e-12).log10()) as f32
        })
        .collect();
    let mut loud: Vec<f32> = db.iter().copied().filter(|&d| d > -60.0).collect();
    loud.sort_by(f32::total_cmp);
    let Some(&loud) = loud.get(loud.len() * 9 / 10) else {
        return;
    };
    for i in 1..phones.len() {
        if !phones[i].phone.is_pause() || phones[i - 1].phone.is_pause() {
            continue;
        }
        let mut k = (phones[i].start * 100.0).floor() as usize;
        let last = (phones[i].end * 100.0).ceil() as usize;
        while k < last && db.get(k).is_some_and(|&d| d >= loud - 30.0) {
            k += 1;
        }
        let t = (k as f64 / 100.0).clamp(phones[i].start, phones[i].end);
        phones[i].start = t;
        phones[i - 1].end = t;
    }
}

/// Accuracy figures of one timeline.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Score {
    /// Share of 10 ms speech frames whose shape the true phone allows.
    pub allowed: f64,
    /// Share of P, B, M that show a closed mouth within one video frame of
    /// the phone.
    pub bilabial_closed: f64,
    pub bilabials: usize,
    /// Share of video frames inside pauses of `LONG_PAUSE` or more that are
    /// closed.
    pub pause_closed: f64,
    pub pause_frames: usize,
    /// Cues shorter than their minimum (70 ms; 40 ms for tweens), the last
    /// cue excepted.
    pub too_short: usize,
}

/// Scores `tl` against the true phones, sampling video frames at `fps`.
pub fn score(tl: &MouthTimeline, truth: &[TimedPhone], fps: f64) -> Score {
    let frame = 1.0 / fps;
    // Allowed shapes, on a 10 ms grid over speech. Before a stop's event
    // its closure shapes are allowed too, for as long as the occlusion rule
    // reaches back: espeak marks some stops at the release.
    let (mut ok, mut total) = (0usize, 0usize);
    for (i, p) in truth
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.phone.is_pause())
    {
        let allowed = p.phone.acceptable(p.end - p.start);
        let next_closure =
            truth
                .get(i + 1)
                .and_then(|n| match n.phone.articulation(n.end - n.start) {
                    Articulation::Plosive { closure, .. } => {
                        let reach = ((p.end - p.start) / 2.0).clamp(0.04, 0.12);
                        Some((n.start - reach, closure))
                    }
                    _ => None,
                });
        let mut t = (p.start / 0.01).ceil() * 0.01 + 0.005;
        while t < p.end {
            total += 1;
            let shape = tl.shape_at(t);
            let by_stop = next_closure.is_some_and(|(from, set)| t >= from && set.contains(shape));
            if allowed.contains(shape) || by_stop {
                ok += 1;
            }
            t += 0.01;
        }
    }
    // Bilabials: any video frame within one frame of the phone is closed.
    let (mut closed, mut bilabials) = (0usize, 0usize);
    for p in truth.iter().filter(|p| p.phone.is_bilabial()) {
        bilabials += 1;
        let first = ((p.start - frame) / frame).ceil().max(0.0) as i64;
        let last = ((p.end + frame) / frame).floor() as i64;
        if (first..=last).any(|k| tl.shape_at(k as f64 * frame).is_closed()) {
            closed += 1;
        }
    }
    // Long pauses: merge adjacent pause phones, then sample frames.
    let mut pauses: Vec<(f64, f64)> = Vec::new();
    for p in truth.iter().filter(|p| p.phone.is_pause()) {
        match pauses.last_mut() {
            Some(last) if (p.start - last.1).abs() < 1e-6 => last.1 = p.end,
            _ => pauses.push((p.start, p.end)),
        }
    }
    let (mut pause_ok, mut pause_frames) = (0usize, 0usize);
    for (s, e) in pauses.into_iter().filter(|(s, e)| e - s >= LONG_PAUSE) {
        let first = (s / frame).ceil() as i64;
        let last = ((e / frame).ceil() as i64) - 1;
        for k in first..=last {
            pause_frames += 1;
            if tl.shape_at(k as f64 * frame).is_closed() {
                pause_ok += 1;
            }
        }
    }
    Score {
        allowed: ratio(ok, total),
        bilabial_closed: ratio(closed, bilabials),
        bilabials,
        pause_closed: ratio(pause_ok, pause_frames),
        pause_frames,
        too_short: too_short(tl),
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Cues under their minimum: 70 ms, or 40 ms for a tween between its
/// neighbours. The last cue may be cut short by the end of the audio.
pub fn too_short(tl: &MouthTimeline) -> usize {
    let n = tl.cues.len();
    (0..n.saturating_sub(1))
        .filter(|&i| {
            let c = tl.cues[i];
            let is_tween = i > 0
                && tween(tl.cues[i - 1].shape, tl.cues[i + 1].shape).map(|t| t.0) == Some(c.shape);
            let min = if is_tween { 0.04 } else { 0.07 };
            c.end - c.start < min - 1e-6
        })
        .count()
}
