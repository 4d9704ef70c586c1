//! Language-independent phone classes from spectral and energy features.
//! No model, no language: each 10 ms frame is classed as silence, a stop
//! closure (a short gap before a burst), nasal murmur, fricative noise
//! (strong sibilant or weak flat), or a vowel whose openness and rounding
//! come from the first two formants relative to the speaker's own range.
//! The classes are coarse phones, so the same animation rules apply.

use super::dsp::{self, Frame};
use super::loudness;
use super::phones::Phone;
use super::rules::TimedPhone;

/// Frame classes before smoothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Silence,
    Closure,
    Burst,
    Sibilant,
    Labiodental,
    Weak,
    Open,
    MidFront,
    MidBack,
    CloseFront,
    CloseBack,
    Central,
}

impl Class {
    fn phone(self) -> Phone {
        match self {
            Class::Silence => Phone::Sil,
            Class::Closure => Phone::Closure,
            Class::Burst => Phone::Burst,
            Class::Sibilant => Phone::S,
            Class::Labiodental => Phone::F,
            Class::Weak => Phone::HH,
            Class::Open => Phone::AA,
            Class::MidFront => Phone::EH,
            Class::MidBack => Phone::AO,
            Class::CloseFront => Phone::IY,
            Class::CloseBack => Phone::UW,
            Class::Central => Phone::Schwa,
        }
    }

    fn is_vowel(self) -> bool {
        matches!(
            self,
            Class::Open
                | Class::MidFront
                | Class::MidBack
                | Class::CloseFront
                | Class::CloseBack
                | Class::Central
        )
    }
}

/// Tunables, in dB unless noted.
const VOWEL_LEVEL: f32 = -22.0;
const BURST_RISE: f32 = 12.0;
/// A closure is a dip at least this deep below the sounds around it...
const MIN_DIP: f32 = 9.0;
/// ...or this deep when no voice bar or silence confirms it.
const PLAIN_DIP: f32 = 14.0;
/// How far to look for the loud sounds either side of a dip (frames).
const DIP_REACH: usize = 15;
/// A dip this far below the loud level is a stop gap.
const QUIET_GAP: f32 = 28.0;
/// Longest closure (frames).
const MAX_CLOSURE: usize = 16;

fn percentile(mut v: Vec<f32>, q: f32) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    v[((v.len() - 1) as f32 * q).round() as usize]
}

/// Frame features with speech activity and the speaker's loud level.
pub struct Analysis {
    pub frames: Vec<Frame>,
    pub active: Vec<bool>,
    /// 90th percentile of active frame levels, dB.
    pub loud: f32,
}

pub fn analyse(samples: &[f32]) -> Analysis {
    let frames = dsp::analyse(samples);
    let mut active = loudness::envelope(samples).voiced;
    active.resize(frames.len(), false);
    let loud = percentile(
        frames
            .iter()
            .zip(&active)
            .filter(|(_, &a)| a)
            .map(|(f, _)| f.db)
            .collect(),
        0.9,
    );
    Analysis {
        frames,
        active,
        loud,
    }
}

/// Phones of any language's speech (mono, `ANALYSIS_RATE`).
pub fn recognize(samples: &[f32]) -> Vec<TimedPhone> {
    let a = analyse(samples);
    let mut classes = classify(&a.frames, &a.active, a.loud);
    mark_bursts(&a.frames, &mut classes);
    for (s, e) in closures(&a) {
        for c in &mut classes[s..e] {
            *c = Class::Closure;
        }
    }
    to_phones(&smooth(&classes))
}

/// Stop and nasal closures: dips in level between louder sounds, without
/// fricative noise at the bottom, and confirmed by silence (a voiceless
/// stop), a voice bar (low frequencies dominate: a voiced stop or a nasal)
/// or sheer depth. Returns frame spans `[start, end)`.
pub fn closures(a: &Analysis) -> Vec<(usize, usize)> {
    let f = &a.frames;
    let n = f.len();
    if n < 3 {
        return Vec::new();
    }
    let floor = a.loud - 45.0;
    let level: Vec<f32> = (0..n)
        .map(|i| {
            let lo = i.saturating_sub(1);
            let hi = (i + 2).min(n);
            f[lo..hi].iter().map(|x| x.db.max(floor)).sum::<f32>() / (hi - lo) as f32
        })
        .collect();
    let tilt = |i: usize| f[i].bands[0] - f[i].bands[2];
    let hiss = |i: usize| f[i].bands[4] - f[i].bands[1].max(f[i].bands[2]);
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut i = 1;
    while i + 1 < n {
        // The bottom of a dip (first frame of a flat bottom).
        if !(level[i] < level[i - 1] && level[i] <= level[i + 1]) {
            i += 1;
            continue;
        }
        let (lp, li) = (i.saturating_sub(DIP_REACH)..i)
            .map(|k| (level[k], k))
            .fold((f32::MIN, i), |m, x| if x.0 > m.0 { x } else { m });
        let (rp, ri) = (i + 1..(i + DIP_REACH + 1).min(n))
            .map(|k| (level[k], k))
            .fold((f32::MIN, i), |m, x| if x.0 > m.0 { x } else { m });
        let depth = lp.min(rp) - level[i];
        let speech_around = lp > a.loud - 25.0 && rp > a.loud - 25.0;
        if !speech_around || depth < MIN_DIP {
            i += 1;
            continue;
        }
        // Near silence is a stop gap whatever faint noise it holds.
        let raw_min = f[i.saturating_sub(1)..(i + 2).min(n)]
            .iter()
            .map(|x| x.db)
            .fold(f32::MAX, f32::min);
        let silent = raw_min < a.loud - QUIET_GAP;
        let voice_bar = tilt(i) - (tilt(li) + tilt(ri)) / 2.0 >= 6.0 && f[i].voicing > 0.35;
        let fricative = hiss(i) > 8.0 && !silent;
        if fricative || !(silent || voice_bar || depth >= PLAIN_DIP) {
            i += 1;
            continue;
        }
        // The closure spans the lower part of the dip.
        let cut = level[i] + depth * 0.45;
        let mut s = i;
        while s > 0 && i - s < MAX_CLOSURE / 2 && level[s - 1] <= cut {
            s -= 1;
        }
        let mut e = i + 1;
        while e < n && e - i < MAX_CLOSURE / 2 && level[e] <= cut {
            e += 1;
        }
        match out.last_mut() {
            Some(last) if last.1 >= s => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
        i = e.max(i + 1);
    }
    out
}

fn classify(frames: &[Frame], active: &[bool], loud: f32) -> Vec<Class> {
    let n = frames.len();
    let is_active = |i: usize| active.get(i).copied().unwrap_or(false);
    // The speaker's own formant range over clearly voiced, loud frames.
    let vowelish: Vec<usize> = (0..n)
        .filter(|&i| {
            is_active(i)
                && frames[i].voicing > 0.6
                && frames[i].db > loud + VOWEL_LEVEL
                && frames[i].f1 > 0.0
        })
        .collect();
    let f1s: Vec<f32> = vowelish.iter().map(|&i| frames[i].f1).collect();
    let f2s: Vec<f32> = vowelish
        .iter()
        .filter(|&&i| frames[i].f2 > 0.0)
        .map(|&i| frames[i].f2)
        .collect();
    let (f1_lo, f1_hi) = (percentile(f1s.clone(), 0.1), percentile(f1s, 0.9));
    let (f2_lo, f2_hi) = (percentile(f2s.clone(), 0.1), percentile(f2s, 0.9));
    let span = |lo: f32, hi: f32| (hi - lo).max(1.0);

    (0..n)
        .map(|i| {
            let f = &frames[i];
            if !is_active(i) {
                return Class::Silence;
            }
            let rel = f.db - loud;
            let mid = f.bands[1].max(f.bands[2]);
            let high = f.bands[3].max(f.bands[4]);
            let noisy = f.voicing < 0.45;
            if noisy && high > mid + 3.0 {
                // Strong sibilants (s, sh) show the teeth; weak flat noise
                // (f, v, th) puts the lip under the teeth.
                return if rel > -32.0 && high > mid + 10.0 {
                    Class::Sibilant
                } else {
                    Class::Labiodental
                };
            }
            if rel < VOWEL_LEVEL || f.voicing < 0.5 || f.f1 <= 0.0 {
                return Class::Weak;
            }
            let open = (f.f1 - f1_lo) / span(f1_lo, f1_hi);
            let front = if f.f2 > 0.0 {
                (f.f2 - f2_lo) / span(f2_lo, f2_hi)
            } else {
                0.5
            };
            if open > 0.7 {
                Class::Open
            } else if open > 0.4 {
                if front > 0.45 {
                    Class::MidFront
                } else {
                    Class::MidBack
                }
            } else if front > 0.6 {
                Class::CloseFront
            } else if front < 0.3 {
                Class::CloseBack
            } else {
                Class::Central
            }
        })
        .collect()
}

/// A sound that starts abruptly out of silence is a stop release: the
/// rules shut the lips just before it.
fn mark_bursts(frames: &[Frame], classes: &mut [Class]) {
    for i in 0..classes.len().saturating_sub(2) {
        let rise = frames[i + 1].db.max(frames[i + 2].db) - frames[i].db;
        if classes[i] == Class::Silence && classes[i + 1] != Class::Silence && rise >= BURST_RISE {
            classes[i + 1] = Class::Burst;
        }
    }
}

/// A 5-frame majority vote among vowel classes, so one odd formant reading
/// does not flip the shape; consonant classes are kept as found.
fn smooth(classes: &[Class]) -> Vec<Class> {
    let n = classes.len();
    (0..n)
        .map(|i| {
            let c = classes[i];
            if !c.is_vowel() {
                return c;
            }
            let lo = i.saturating_sub(2);
            let hi = (i + 3).min(n);
            let window = &classes[lo..hi];
            window
                .iter()
                .filter(|k| k.is_vowel())
                .max_by_key(|k| window.iter().filter(|x| x == k).count())
                .copied()
                .unwrap_or(c)
        })
        .collect()
}

fn to_phones(classes: &[Class]) -> Vec<TimedPhone> {
    let mut out: Vec<TimedPhone> = Vec::new();
    let step = dsp::HOP as f64 / f64::from(crate::media::ANALYSIS_RATE);
    for (i, c) in classes.iter().enumerate() {
        let phone = c.phone();
        let (s, e) = (i as f64 * step, (i + 1) as f64 * step);
        match out.last_mut() {
            Some(last) if last.phone == phone => last.end = e,
            _ => out.push(TimedPhone {
                phone,
                start: s,
                end: e,
            }),
        }
    }
    out
}
