//! Transcript alignment: espeak-ng speaks the known text, giving exact phone
//! times on its own audio; dynamic time warping between mel-cepstral
//! features of that audio and of the user's audio then carries each phone
//! boundary over to the user's timeline. When the user's audio is espeak's
//! own output the warp is the identity and the times are exact.

use super::dsp::{self, NCEP};
use super::espeak;
use super::loudness;
use super::phones::Phone;
use super::rules::{self, TimedPhone};
use crate::error::{EngineError, Result};
use crate::media::{audio::to_analysis_rate, ANALYSIS_RATE};

/// espeak's default speaking rate, words per minute.
pub const DEFAULT_RATE: u32 = 175;
/// Re-synthesise at a matched rate when tempos differ by more than this.
const TEMPO_TOLERANCE: f64 = 0.12;
/// Audio more than this many times slower or faster than espeak's normal
/// pace for the text is taken not to say that text.
const MIN_TEMPO: f64 = 0.33;
const MAX_TEMPO: f64 = 3.0;
/// Frames of context kept around the speech when trimming silence.
const MARGIN: usize = 5;
/// Cost added to a non-diagonal step, so equal material stays in lockstep.
const STRETCH_PENALTY: f32 = 0.3;
/// Silences at least this long in the user's audio (10 ms frames) become
/// pauses even when espeak did not pause there.
const USER_PAUSE_FRAMES: usize = 15;

/// Upper bound on the warping table (bytes), about 150 MB.
const MAX_DTW_CELLS: usize = 150_000_000;

type Feat = [f32; NCEP + 1];

/// Phone timings for `samples` (mono, `ANALYSIS_RATE`) that say `text` in
/// the espeak voice `voice`.
pub fn align(samples: &[f32], text: &str, voice: &str) -> Result<Vec<TimedPhone>> {
    if text.trim().is_empty() {
        return Err(EngineError::Speech("the transcript is empty".into()));
    }
    let user_env = loudness::envelope(samples);
    let user_active = active_span(&user_env.voiced);
    let Some((ua, ub)) = user_active else {
        return Err(EngineError::Speech(
            "the audio has no speech to align".into(),
        ));
    };

    let mut synth = espeak::synthesize(text, voice, DEFAULT_RATE)?;
    let mut reference = to_analysis_rate(&synth.samples_f32(), synth.sample_rate);
    let ref_env = loudness::envelope(&reference);
    let Some((ra, rb)) = active_span(&ref_env.voiced) else {
        return Err(EngineError::Speech(
            "espeak-ng produced no speech for the transcript".into(),
        ));
    };
    let ratio = (ub - ua) as f64 / (rb - ra).max(1) as f64;
    if !(MIN_TEMPO..=MAX_TEMPO).contains(&ratio) {
        // Far too long or short for the text: most likely not its audio.
        return Err(EngineError::Speech(format!(
            "the audio lasts {ratio:.1} times as long as the transcript spoken at a normal pace; \
             it does not look like that text"
        )));
    }
    if (ratio - 1.0).abs() > TEMPO_TOLERANCE {
        let rate = (f64::from(DEFAULT_RATE) / ratio).round().clamp(80.0, 450.0) as u32;
        synth = espeak::synthesize(text, voice, rate)?;
        reference = to_analysis_rate(&synth.samples_f32(), synth.sample_rate);
    }
    let ref_phones = synth.timed_phones();
    if ref_phones.iter().all(|p| p.phone.is_pause()) {
        return Err(EngineError::Speech(
            "espeak-ng produced no phones for the transcript".into(),
        ));
    }
    let ref_env = loudness::envelope(&reference);
    let (ra, rb) = active_span(&ref_env.voiced).unwrap_or((0, ref_env.voiced.len()));

    let user_feats = dsp::align_features(&dsp::analyse(samples));
    let ref_feats = dsp::align_features(&dsp::analyse(&reference));
    let (ua, ub) = (
        ua.saturating_sub(MARGIN),
        (ub + MARGIN).min(user_feats.len()),
    );
    let (ra, rb) = (
        ra.saturating_sub(MARGIN),
        (rb + MARGIN).min(ref_feats.len()),
    );
    if ub <= ua || rb <= ra {
        return Err(EngineError::Speech("nothing to align".into()));
    }
    let map = warp(&user_feats[ua..ub], &ref_feats[ra..rb]);

    // Reference time -> user time, piecewise linear between frame centres.
    let frame = dsp::HOP as f64 / f64::from(ANALYSIS_RATE);
    let to_user = |t: f64| -> f64 {
        let f = t / frame - ra as f64;
        if f <= 0.0 {
            return (ua as f64 + f.max(-(ua as f64))) * frame;
        }
        let last = map.len() - 1;
        if f >= last as f64 {
            return (ua as f64 + map[last] + (f - last as f64)) * frame;
        }
        let j = f.floor() as usize;
        let x = f - j as f64;
        (ua as f64 + map[j] + x * (map[j + 1] - map[j])) * frame
    };
    let duration = samples.len() as f64 / f64::from(ANALYSIS_RATE);
    let mapped: Vec<TimedPhone> = ref_phones
        .iter()
        .map(|p| TimedPhone {
            phone: p.phone,
            start: to_user(p.start).clamp(0.0, duration),
            end: to_user(p.end).clamp(0.0, duration),
        })
        .filter(|p| p.end > p.start)
        .collect();
    Ok(insert_user_pauses(mapped, &user_env.voiced, frame))
}

/// First and last active frame (end exclusive).
fn active_span(active: &[bool]) -> Option<(usize, usize)> {
    let a = active.iter().position(|&v| v)?;
    let b = active.iter().rposition(|&v| v)? + 1;
    Some((a, b))
}

fn dist(a: &Feat, b: &Feat) -> f32 {
    // Energy counts double: it pins pauses and stop closures.
    let mut d = 2.0 * (a[0] - b[0]).abs();
    for k in 1..a.len() {
        d += (a[k] - b[k]).abs();
    }
    d
}

/// Dynamic time warping of `user` (rows) against `reference` (columns)
/// inside a band around the proportional diagonal. Returns, for every
/// reference frame, the mean user frame it was matched with.
fn warp(user: &[Feat], reference: &[Feat]) -> Vec<f64> {
    let (n, m) = (user.len(), reference.len());
    let slope = m as f64 / n as f64;
    // Wide enough for local tempo swings, narrow enough to stay fast.
    // The step table is n x (2 band + 1) bytes: cap it for very long audio.
    let budget = (MAX_DTW_CELLS / (2 * n.max(1))).max(50);
    let band = ((m as f64 * 0.2) as usize).max(150).min(budget).min(m);
    let lo = |i: usize| ((i as f64 * slope) as usize).saturating_sub(band);
    let hi = |i: usize| (((i as f64 * slope) as usize) + band + 1).min(m);
    // 0 diagonal, 1 from the row above (user advances), 2 from the left.
    let mut steps: Vec<Vec<u8>> = Vec::with_capacity(n);
    let mut prev: Vec<f32> = vec![f32::INFINITY; m];
    let mut cur: Vec<f32> = vec![f32::INFINITY; m];
    for (i, u) in user.iter().enumerate() {
        let (a, b) = (lo(i), hi(i));
        let mut row = vec![0u8; b - a];
        cur.iter_mut().for_each(|c| *c = f32::INFINITY);
        for j in a..b {
            let d = dist(u, &reference[j]);
            let (best, how) = if i == 0 && j == 0 {
                (0.0, 0)
            } else {
                let diag = if i > 0 && j > 0 {
                    prev[j - 1]
                } else {
                    f32::INFINITY
                };
                let up = if i > 0 {
                    prev[j] + STRETCH_PENALTY
                } else {
                    f32::INFINITY
                };
                let left = if j > 0 {
                    cur[j - 1] + STRETCH_PENALTY
                } else {
                    f32::INFINITY
                };
                if diag <= up && diag <= left {
                    (diag, 0)
                } else if up <= left {
                    (up, 1)
                } else {
                    (left, 2)
                }
            };
            cur[j] = best + d;
            row[j - a] = how;
        }
        steps.push(row);
        std::mem::swap(&mut prev, &mut cur);
    }
    // Walk back from the end; cells outside the band cannot be reached, so
    // the walk clamps into it.
    let mut sum = vec![0f64; m];
    let mut count = vec![0u32; m];
    let (mut i, mut j) = (n - 1, m - 1);
    loop {
        sum[j] += i as f64;
        count[j] += 1;
        if i == 0 && j == 0 {
            break;
        }
        let a = lo(i);
        let how = if j >= a && j - a < steps[i].len() {
            steps[i][j - a]
        } else if j < a {
            1
        } else {
            2
        };
        match how {
            0 if i > 0 && j > 0 => {
                i -= 1;
                j -= 1;
            }
            1 if i > 0 => i -= 1,
            _ if j > 0 => j -= 1,
            _ => i -= 1,
        }
    }
    (0..m)
        .map(|j| sum[j] / f64::from(count[j].max(1)))
        .collect()
}

/// Long silences in the user's audio become pauses, cutting whatever phone
/// the warp stretched across them.
fn insert_user_pauses(phones: Vec<TimedPhone>, active: &[bool], frame: f64) -> Vec<TimedPhone> {
    rules::overlay(
        phones,
        &rules::quiet_spans(active, USER_PAUSE_FRAMES, frame),
        Phone::Sil,
    )
}
