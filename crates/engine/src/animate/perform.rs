//! The performance: everything that moves besides the lips, frame by frame.
//! Blinks at irregular (log-normal) intervals, slow idle head motion that
//! follows the speech's stresses, moods and gestures from the direction, and
//! the camera. All of it comes from a seeded generator, so the same inputs
//! and seed give the same frames.

use super::direction::{camera_zoom, CameraMove, Direction, Emotion, Gesture, Side, When};
use super::pose::{pose_track, MouthPose};
use crate::media::ANALYSIS_RATE;
use crate::timeline::MouthTimeline;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

/// Face controls on top of the mouth pose; 0 is the portrait's own face.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Expression {
    /// Lip corners up and out, cheeks up.
    pub smile: f32,
    /// Lip corners down.
    pub frown: f32,
    /// Lip corners pulled sideways (fear).
    pub stretch: f32,
    /// Whole brows up.
    pub brow_raise: f32,
    /// Inner brow ends up (sadness, worry).
    pub brow_inner: f32,
    /// Brows down and together.
    pub brow_knit: f32,
    /// Upper lids up (positive) or drooping (negative).
    pub eyes_wide: f32,
    /// Lower lids up.
    pub squint: f32,
    /// Upper lip raised (disgust).
    pub sneer: f32,
    /// Extra jaw opening.
    pub jaw: f32,
    /// Lips pressed thinner.
    pub press: f32,
}

impl Expression {
    fn add(&mut self, o: &Expression, k: f32) {
        self.smile += o.smile * k;
        self.frown += o.frown * k;
        self.stretch += o.stretch * k;
        self.brow_raise += o.brow_raise * k;
        self.brow_inner += o.brow_inner * k;
        self.brow_knit += o.brow_knit * k;
        self.eyes_wide += o.eyes_wide * k;
        self.squint += o.squint * k;
        self.sneer += o.sneer * k;
        self.jaw += o.jaw * k;
        self.press += o.press * k;
    }

    fn clamp(&mut self) {
        for v in [
            &mut self.smile,
            &mut self.frown,
            &mut self.stretch,
            &mut self.brow_raise,
            &mut self.brow_inner,
            &mut self.brow_knit,
            &mut self.squint,
            &mut self.sneer,
            &mut self.jaw,
            &mut self.press,
        ] {
            *v = v.clamp(0.0, 1.3);
        }
        self.eyes_wide = self.eyes_wide.clamp(-1.0, 1.0);
    }

    /// The face of a mood at full strength.
    pub fn of(e: Emotion) -> Expression {
        let z = Expression::default();
        match e {
            Emotion::Neutral => z,
            Emotion::Happy => Expression {
                smile: 1.0,
                squint: 0.35,
                brow_raise: 0.1,
                ..z
            },
            Emotion::Sad => Expression {
                frown: 0.8,
                brow_inner: 1.0,
                brow_knit: 0.15,
                eyes_wide: -0.35,
                ..z
            },
            Emotion::Surprised => Expression {
                brow_raise: 1.0,
                eyes_wide: 0.8,
                jaw: 0.25,
                ..z
            },
            Emotion::Angry => Expression {
                brow_knit: 1.0,
                eyes_wide: 0.3,
                press: 0.5,
                frown: 0.3,
                sneer: 0.15,
                ..z
            },
            Emotion::Fearful => Expression {
                brow_raise: 0.55,
                brow_inner: 0.7,
                eyes_wide: 0.85,
                stretch: 0.6,
                ..z
            },
            Emotion::Disgusted => Expression {
                sneer: 1.0,
                brow_knit: 0.5,
                squint: 0.45,
                frown: 0.45,
                ..z
            },
            Emotion::Serious => Expression {
                brow_knit: 0.4,
                press: 0.3,
                frown: 0.1,
                ..z
            },
        }
    }
}

/// Head rotation (radians) and shift (fractions of the inter-ocular distance).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HeadPose {
    /// In-plane rotation, clockwise in the image.
    pub roll: f32,
    /// Turn; positive moves the nose towards image right.
    pub yaw: f32,
    /// Nod; positive moves the nose down.
    pub pitch: f32,
    pub shift_x: f32,
    pub shift_y: f32,
}

impl HeadPose {
    pub fn is_rest(&self) -> bool {
        *self == HeadPose::default()
    }
}

/// The virtual camera: a crop of the rendered frame of `1/zoom` its size,
/// centred at (`cx`, `cy`) in fractions of the frame, scaled to the output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraView {
    pub zoom: f32,
    pub cx: f32,
    pub cy: f32,
}

impl Default for CameraView {
    fn default() -> Self {
        Self {
            zoom: 1.0,
            cx: 0.5,
            cy: 0.5,
        }
    }
}

impl CameraView {
    pub fn is_identity(&self) -> bool {
        (self.zoom - 1.0).abs() < 1e-4
            && (self.cx - 0.5).abs() < 1e-4
            && (self.cy - 0.5).abs() < 1e-4
    }
}

/// Everything one frame needs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameState {
    pub mouth: MouthPose,
    /// Eyelid closure per eye (image left, image right): 0 open, 1 shut.
    pub blink: [f32; 2],
    pub expression: Expression,
    pub head: HeadPose,
    pub camera: CameraView,
}

impl From<MouthPose> for FrameState {
    fn from(mouth: MouthPose) -> Self {
        FrameState {
            mouth,
            ..Default::default()
        }
    }
}

/// Inputs of a performance.
pub struct Performance<'a> {
    pub timeline: &'a MouthTimeline,
    /// The speech at `ANALYSIS_RATE` (mono), for loudness and pauses.
    pub samples: &'a [f32],
    pub fps: f64,
    pub frames: usize,
    pub seed: u64,
    pub direction: &'a Direction,
    /// Emotion of the request (the TTS emotion key), mixed with the prompt's.
    pub emotion: Emotion,
    /// Centre of the face in fractions of the frame (camera framing).
    pub face_centre: (f32, f32),
}

/// Average blinks per minute while speaking (people: 15–26).
pub const BLINK_RATE: f64 = 20.0;
/// Largest idle rotation, radians (about 2.6 degrees).
pub const IDLE_LIMIT: f64 = 0.045;

impl Performance<'_> {
    /// One state per frame.
    pub fn frames(&self) -> Vec<FrameState> {
        let n = self.frames;
        let fps = self.fps.max(1.0);
        let duration = n as f64 / fps;
        let poses = pose_track(self.timeline, fps, n);
        let env = Envelope::new(self.samples);
        let stresses = env.stresses();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x6d6f_7574_6870_6965);

        let mut blink = vec![[0.0f32; 2]; n];
        let blinks = blink_times(&mut rng, duration, &env);
        for &(t, d) in &blinks {
            add_blink(&mut blink, fps, t, d, [true, true]);
        }

        let mut head = vec![HeadPose::default(); n];
        let mut expr = vec![Expression::default(); n];
        if !self.direction.still {
            idle_motion(&mut rng, &mut head, &mut expr, fps, &env, &stresses);
        }

        // Moods: the request's emotion underneath the prompt's.
        let base = Expression::of(self.emotion);
        for e in expr.iter_mut() {
            e.add(&base, 0.7);
        }
        for m in &self.direction.moods {
            let (a, b) = m.when.span();
            let whole = m.when == When::Throughout;
            let face = Expression::of(m.what);
            for (f, e) in expr.iter_mut().enumerate() {
                let t = f as f64 / fps / duration.max(1e-6);
                let w = if whole {
                    1.0
                } else {
                    window(t * duration, a * duration, b * duration, 0.5)
                };
                if w > 0.0 {
                    e.add(&face, (w * f64::from(m.strength)) as f32);
                }
            }
        }

        for g in &self.direction.gestures {
            let side_sign = match g.what {
                Gesture::Tilt(Some(Side::Left)) | Gesture::Turn(Some(Side::Left)) => -1.0,
                Gesture::Tilt(Some(Side::Right)) | Gesture::Turn(Some(Side::Right)) => 1.0,
                _ => {
                    if rng.random::<bool>() {
                        1.0
                    } else {
                        -1.0
                    }
                }
            };
            let length = gesture_length(g.what, g.repeat);
            for start in gesture_starts(g.when, duration, length, &stresses, &mut rng) {
                let k = f64::from(g.strength.clamp(0.3, 1.6));
                apply_gesture(
                    g.what, g.repeat, start, k, side_sign, fps, &mut head, &mut expr, &mut blink,
                );
            }
        }

        let camera = if self.direction.still {
            vec![CameraView::default(); n]
        } else {
            camera_track(self.direction, n, fps, self.face_centre)
        };

        (0..n)
            .map(|f| {
                let mut e = expr[f];
                e.clamp();
                FrameState {
                    mouth: poses.get(f).copied().unwrap_or_default(),
                    blink: [blink[f][0].clamp(0.0, 1.0), blink[f][1].clamp(0.0, 1.0)],
                    expression: e,
                    head: head[f],
                    camera: camera[f],
                }
            })
            .collect()
    }
}

/// 0 outside [a, b], 1 inside, with `ramp`-second smooth edges.
fn window(t: f64, a: f64, b: f64, ramp: f64) -> f64 {
    let up = smoothstep(((t - a) / ramp + 0.5).clamp(0.0, 1.0));
    let down = smoothstep(((b - t) / ramp + 0.5).clamp(0.0, 1.0));
    up.min(down)
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

// ---------------------------------------------------------------------------
// Speech envelope

/// Loudness per 10 ms hop, 0..1 relative to the speaker's loud level.
struct Envelope {
    level: Vec<f32>,
    voiced: Vec<bool>,
}

const HOP: f64 = 0.01;

impl Envelope {
    fn new(samples: &[f32]) -> Self {
        let hop = (f64::from(ANALYSIS_RATE) * HOP) as usize;
        let hops = samples.len().div_ceil(hop.max(1));
        let db: Vec<f32> = (0..hops)
            .map(|i| {
                let s = &samples[(i * hop).min(samples.len())..((i + 1) * hop).min(samples.len())];
                let e = s.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>()
                    / s.len().max(1) as f64;
                (10.0 * (e + 1e-12).log10()) as f32
            })
            .collect();
        let mut sorted = db.clone();
        sorted.sort_by(f32::total_cmp);
        let pct = |q: f32| {
            sorted
                .get(((sorted.len().saturating_sub(1)) as f32 * q) as usize)
                .copied()
                .unwrap_or(-100.0)
        };
        let (floor, loud) = (pct(0.1).max(-100.0), pct(0.95));
        let thr = (floor + 9.0).max(loud - 38.0).max(-58.0);
        let span = (loud - thr).max(6.0);
        let voiced: Vec<bool> = db.iter().map(|&d| d > thr).collect();
        let level = db
            .iter()
            .map(|&d| ((d - thr) / span).clamp(0.0, 1.0))
            .collect();
        Envelope { level, voiced }
    }

    /// Fraction of voiced hops within ±`half` seconds of `t`.
    fn activity(&self, t: f64, half: f64) -> f64 {
        let a = ((t - half) / HOP).max(0.0) as usize;
        let b = (((t + half) / HOP).max(0.0) as usize).min(self.voiced.len());
        if b <= a {
            return 0.0;
        }
        self.voiced[a..b].iter().filter(|&&v| v).count() as f64 / (b - a) as f64
    }

    /// Stressed syllables: prominent peaks of the smoothed envelope, as
    /// (time, prominence 0..1).
    fn stresses(&self) -> Vec<(f64, f64)> {
        let n = self.level.len();
        // 70 ms moving average: syllable scale.
        let k = 3usize;
        let smooth: Vec<f64> = (0..n)
            .map(|i| {
                let a = i.saturating_sub(k);
                let b = (i + k + 1).min(n);
                self.level[a..b].iter().map(|&v| f64::from(v)).sum::<f64>() / (b - a) as f64
            })
            .collect();
        let mut peaks: Vec<(f64, f64)> = Vec::new();
        for i in 1..n.saturating_sub(1) {
            if !(smooth[i] >= smooth[i - 1] && smooth[i] > smooth[i + 1] && smooth[i] > 0.5) {
                continue;
            }
            // Prominence against the lowest point in the 250 ms before.
            let lo = smooth[i.saturating_sub(25)..i]
                .iter()
                .copied()
                .fold(f64::MAX, f64::min);
            let prom = smooth[i] - lo;
            if prom < 0.2 {
                continue;
            }
            let t = i as f64 * HOP;
            match peaks.last_mut() {
                Some(last) if t - last.0 < 0.35 => {
                    if prom > last.1 {
                        *last = (t, prom);
                    }
                }
                _ => peaks.push((t, prom)),
            }
        }
        peaks
    }

    /// Starts of pauses of at least `min` seconds.
    fn pauses(&self, min: f64) -> Vec<f64> {
        let need = (min / HOP) as usize;
        let mut out = Vec::new();
        let mut run = 0usize;
        for (i, &v) in self.voiced.iter().enumerate() {
            if v {
                run = 0;
            } else {
                run += 1;
                if run == need && i + 1 > need {
                    let start = i + 1 - need;
                    if start > 0 && self.voiced[start - 1] {
                        out.push(start as f64 * HOP);
                    }
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Blinks

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller: the generator stays in one place and deterministic.
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Blink (start time, duration) pairs: log-normal intervals averaging
/// `BLINK_RATE` a minute, pulled to pauses when one is close, since people
/// tend to blink at phrase boundaries. Intervals are drawn four at a time
/// and scaled to the mean, so even a short clip gets the right rate while
/// the spacing stays irregular.
fn blink_times(rng: &mut ChaCha8Rng, duration: f64, env: &Envelope) -> Vec<(f64, f64)> {
    let mean = 60.0 / BLINK_RATE;
    let sigma: f64 = 0.5;
    let pauses = env.pauses(0.25);
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut intervals: Vec<f64> = Vec::new();
    let mut t = rng.random_range(0.3..1.5f64);
    while t < duration - 0.3 {
        let mut at = t;
        if let Some(&p) = pauses
            .iter()
            .filter(|&&p| (p - t).abs() < 0.5)
            .min_by(|a, b| (*a - t).abs().total_cmp(&(*b - t).abs()))
        {
            at = p + 0.05;
        }
        if out.last().is_none_or(|&(last, _)| at - last > 0.9) {
            let d = rng.random_range(0.2..0.34f64);
            out.push((at, d));
            // Now and then a quick second blink.
            if rng.random::<f64>() < 0.05 && at + 0.75 < duration {
                out.push((at + 0.45, rng.random_range(0.18..0.26f64)));
            }
        }
        if intervals.is_empty() {
            let block: Vec<f64> = (0..4).map(|_| (sigma * normal(rng)).exp()).collect();
            let m = block.iter().sum::<f64>() / block.len() as f64;
            intervals = block
                .iter()
                .map(|v| (v / m * mean).clamp(1.0, 8.0))
                .collect();
        }
        let interval = intervals.pop().unwrap_or(mean);
        t = at.max(t) + interval;
    }
    out
}

/// Adds a blink of `d` seconds starting at `t`: a quick close (35 %), a short
/// hold, and a slower opening.
fn add_blink(blink: &mut [[f32; 2]], fps: f64, t: f64, d: f64, eyes: [bool; 2]) {
    let close = d * 0.32;
    let hold = d * 0.18;
    let open = d - close - hold;
    let first = ((t * fps).floor().max(0.0)) as usize;
    let last = (((t + d) * fps).ceil().max(0.0)) as usize;
    for f in first..=last.min(blink.len().saturating_sub(1)) {
        let x = f as f64 / fps - t;
        let c = if x < 0.0 || x > d {
            0.0
        } else if x < close {
            smoothstep(x / close)
        } else if x < close + hold {
            1.0
        } else {
            1.0 - smoothstep((x - close - hold) / open)
        } as f32;
        for (e, on) in eyes.iter().enumerate() {
            if *on {
                blink[f][e] = blink[f][e].max(c);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Head motion

/// Smooth noise: a sum of slow sines with random frequencies and phases.
struct SlowNoise {
    parts: Vec<(f64, f64, f64)>,
}

impl SlowNoise {
    /// Frequencies in [lo, hi] Hz, scaled to an RMS of `rms`.
    fn new(rng: &mut ChaCha8Rng, lo: f64, hi: f64, rms: f64) -> Self {
        let mut parts: Vec<(f64, f64, f64)> = (0..6)
            .map(|_| {
                let f = lo * (hi / lo).powf(rng.random::<f64>());
                let phase = rng.random::<f64>() * 2.0 * PI;
                // Slower components carry more of the motion.
                (f, phase, 1.0 / f.sqrt())
            })
            .collect();
        let power: f64 = parts.iter().map(|p| p.2 * p.2 / 2.0).sum();
        let k = rms / power.sqrt().max(1e-9);
        for p in &mut parts {
            p.2 *= k;
        }
        Self { parts }
    }

    fn at(&self, t: f64) -> f64 {
        self.parts
            .iter()
            .map(|&(f, ph, a)| a * (2.0 * PI * f * t + ph).sin())
            .sum()
    }
}

/// Soft limit: linear for small values, never beyond `limit`.
fn soft_limit(v: f64, limit: f64) -> f64 {
    limit * (v / limit).tanh()
}

fn idle_motion(
    rng: &mut ChaCha8Rng,
    head: &mut [HeadPose],
    expr: &mut [Expression],
    fps: f64,
    env: &Envelope,
    stresses: &[(f64, f64)],
) {
    let deg = PI / 180.0;
    let roll = SlowNoise::new(rng, 0.06, 0.5, 0.7 * deg);
    let yaw = SlowNoise::new(rng, 0.05, 0.6, 0.9 * deg);
    let pitch = SlowNoise::new(rng, 0.07, 0.7, 0.55 * deg);
    let sx = SlowNoise::new(rng, 0.05, 0.4, 0.008);
    let sy = SlowNoise::new(rng, 0.05, 0.4, 0.006);
    // Stressed syllables: a small nod, a touch of turn, sometimes the brows.
    let beats: Vec<(f64, f64, f64, f64)> = stresses
        .iter()
        .map(|&(t, prom)| {
            let amp = (0.5 + 0.9 * prom.min(1.0)) * deg;
            let turn = (rng.random::<f64>() - 0.5) * 0.6 * deg;
            let brow = if prom > 0.45 && rng.random::<f64>() < 0.4 {
                0.22
            } else {
                0.0
            };
            (t + 0.04, amp, turn, brow)
        })
        .collect();
    let sigma = 0.16;
    for (f, h) in head.iter_mut().enumerate() {
        let t = f as f64 / fps;
        // Livelier while speaking, calmer in pauses.
        let live = 0.55 + 0.45 * env.activity(t, 0.75);
        let mut p = pitch.at(t) * live;
        let mut y = yaw.at(t) * live;
        let mut brow = 0.0;
        for &(bt, amp, turn, b) in beats.iter().filter(|b| (b.0 - t).abs() < 4.0 * sigma) {
            let g = (-(t - bt) * (t - bt) / (2.0 * sigma * sigma)).exp();
            p += amp * g;
            y += turn * g;
            brow += b * g;
        }
        h.roll = soft_limit(roll.at(t) * live, IDLE_LIMIT) as f32;
        h.yaw = soft_limit(y, IDLE_LIMIT) as f32;
        h.pitch = soft_limit(p, IDLE_LIMIT) as f32;
        h.shift_x = soft_limit(sx.at(t) * live, 0.025) as f32;
        h.shift_y = soft_limit(sy.at(t) * live + 0.15 * p, 0.025) as f32;
        if let Some(e) = expr.get_mut(f) {
            e.brow_raise += brow as f32;
        }
    }
}

// ---------------------------------------------------------------------------
// Gestures

fn gesture_length(g: Gesture, repeat: u8) -> f64 {
    let r = f64::from(repeat.max(1));
    match g {
        Gesture::Nod => 0.45 * r.max(2.0),
        Gesture::ShakeHead => 0.42 * (r + 1.0),
        Gesture::Tilt(_) | Gesture::Turn(_) => 2.4,
        Gesture::RaiseEyebrows => 1.1 * r,
        Gesture::Frown => 2.2,
        Gesture::Wink => 0.45 * r,
        Gesture::Blink => 0.35 * r,
    }
}

/// Start times of a gesture's occurrences.
fn gesture_starts(
    when: When,
    duration: f64,
    length: f64,
    stresses: &[(f64, f64)],
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let latest = (duration - length - 0.15).max(0.0);
    let clampt = |t: f64| t.clamp(0.0, latest);
    // Start on a stressed syllable near `t` when there is one.
    let near_stress = |t: f64| {
        stresses
            .iter()
            .map(|s| s.0 - 0.05)
            .filter(|s| (s - t).abs() < 0.6)
            .min_by(|a, b| (a - t).abs().total_cmp(&(b - t).abs()))
            .unwrap_or(t)
    };
    match when {
        When::Throughout => {
            let mut out = Vec::new();
            let mut t = 0.6f64.min(latest);
            while t <= latest + 1e-9 {
                let s = clampt(near_stress(t));
                if out.last().is_none_or(|&l: &f64| s - l > length + 0.8) {
                    out.push(s);
                }
                t += (length + rng.random_range(2.5..4.5f64)).max(length + 0.5);
            }
            if out.is_empty() {
                out.push(0.0);
            }
            out
        }
        When::End => vec![clampt(duration - length - 0.25)],
        When::Start => vec![clampt(0.3)],
        other => {
            let (a, b) = other.span();
            let mid = (a + b) / 2.0 * duration;
            vec![clampt(near_stress(mid - length / 2.0))]
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_gesture(
    g: Gesture,
    repeat: u8,
    start: f64,
    k: f64,
    side: f64,
    fps: f64,
    head: &mut [HeadPose],
    expr: &mut [Expression],
    blink: &mut [[f32; 2]],
) {
    let deg = PI / 180.0;
    let len = gesture_length(g, repeat);
    match g {
        Gesture::Blink => {
            for i in 0..repeat.max(1) {
                add_blink(blink, fps, start + f64::from(i) * 0.35, 0.24, [true, true]);
            }
            return;
        }
        Gesture::Wink => {
            let eye = if side > 0.0 {
                [false, true]
            } else {
                [true, false]
            };
            for i in 0..repeat.max(1) {
                add_blink(blink, fps, start + f64::from(i) * 0.45, 0.4, eye);
            }
            return;
        }
        _ => {}
    }
    let first = (start * fps).floor().max(0.0) as usize;
    let last = (((start + len) * fps).ceil().max(0.0) as usize).min(head.len());
    for f in first..last {
        let u = ((f as f64 / fps - start) / len).clamp(0.0, 1.0);
        let h = &mut head[f];
        match g {
            Gesture::Nod => {
                let dips = f64::from(repeat.max(2));
                let v = (1.0 - (2.0 * PI * u * dips).cos()) / 2.0;
                h.pitch += (4.0 * deg * k * v) as f32;
                h.shift_y += (0.03 * k * v) as f32;
            }
            Gesture::ShakeHead => {
                let cycles = f64::from(repeat.max(1)) + 1.0;
                let env = (PI * u).sin();
                h.yaw += (4.0 * deg * k * (2.0 * PI * cycles * u).sin() * env) as f32;
            }
            Gesture::Tilt(_) => {
                h.roll += (side * 4.0 * deg * k * hold_curve(u)) as f32;
            }
            Gesture::Turn(_) => {
                h.yaw += (side * 5.0 * deg * k * hold_curve(u)) as f32;
            }
            Gesture::RaiseEyebrows => {
                let n = f64::from(repeat.max(1));
                let v = hold_curve((u * n).fract());
                expr[f].brow_raise += (k * v) as f32;
            }
            Gesture::Frown => {
                expr[f].brow_knit += (k * hold_curve(u)) as f32;
            }
            Gesture::Wink | Gesture::Blink => {}
        }
    }
}

/// Up quickly, hold, down slowly (0..1 over the gesture).
fn hold_curve(u: f64) -> f64 {
    if u < 0.18 {
        smoothstep(u / 0.18)
    } else if u < 0.7 {
        1.0
    } else {
        1.0 - smoothstep((u - 0.7) / 0.3)
    }
}

// ---------------------------------------------------------------------------
// Camera

fn camera_track(dir: &Direction, n: usize, fps: f64, face: (f32, f32)) -> Vec<CameraView> {
    if dir.camera.is_empty() {
        return vec![CameraView::default(); n];
    }
    let duration = n as f64 / fps;
    // Pans need a little zoom all along so there is room to move.
    let pan_zoom = dir
        .camera
        .iter()
        .filter(|c| matches!(c.what, CameraMove::Pan(_)))
        .map(|c| camera_zoom(c.what, c.strength).0)
        .fold(1.0f32, f32::max);
    // The zoom before the first move is where that move starts.
    let start_zoom = dir
        .camera
        .iter()
        .find(|c| !matches!(c.what, CameraMove::Pan(_)))
        .map(|c| camera_zoom(c.what, c.strength).0)
        .unwrap_or(1.0);
    (0..n)
        .map(|f| {
            let t = f as f64 / fps;
            let mut zoom = start_zoom;
            let mut pan = 0.0f32;
            for c in &dir.camera {
                let (a, b) = c.when.span();
                let (a, b) = (a * duration, b * duration);
                let x = if b - a < 1e-6 {
                    1.0
                } else {
                    smoothstep((t - a) / (b - a))
                } as f32;
                match c.what {
                    CameraMove::Pan(side) => {
                        let s = if side == Side::Right { 1.0 } else { -1.0 };
                        pan = s * (2.0 * x - 1.0);
                    }
                    m => {
                        let (z0, z1) = camera_zoom(m, c.strength);
                        if t >= a {
                            zoom = z0 + (z1 - z0) * x;
                        }
                    }
                }
            }
            let zoom = zoom.max(pan_zoom).max(1.0);
            let half = 0.5 / zoom;
            // Centre on the face, keep the crop inside the frame.
            let room = 0.5 - half;
            let cx = (face.0 + pan * room * 0.9).clamp(half, 1.0 - half);
            let cy = face.1.clamp(half, 1.0 - half);
            // At zoom 1 the crop is the frame whatever the face position.
            let blend = ((zoom - 1.0) / 0.02).clamp(0.0, 1.0);
            CameraView {
                zoom,
                cx: 0.5 + (cx - 0.5) * blend,
                cy: 0.5 + (cy - 0.5) * blend,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::MouthTimeline;

    /// Syllable-like bursts: 4 Hz modulated noise with pauses.
    fn speechy(seconds: f64) -> Vec<f32> {
        let n = (seconds * f64::from(ANALYSIS_RATE)) as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(ANALYSIS_RATE);
                let phrase = if (t % 4.0) < 3.2 { 1.0 } else { 0.0 };
                let syl =
                    (2.0 * PI * 4.0 * t).sin().max(0.0) * (0.6 + 0.4 * (2.0 * PI * 0.7 * t).sin());
                (phrase * syl * (rng.random::<f64>() - 0.5) * 0.5) as f32
            })
            .collect()
    }

    fn run(prompt: &str, seed: u64, seconds: f64) -> Vec<FrameState> {
        let samples = speechy(seconds);
        let tl = MouthTimeline::rest(seconds);
        let dir = Direction::parse(prompt);
        let fps = 24.0;
        Performance {
            timeline: &tl,
            samples: &samples,
            fps,
            frames: (seconds * fps) as usize,
            seed,
            direction: &dir,
            emotion: Emotion::Neutral,
            face_centre: (0.5, 0.3),
        }
        .frames()
    }

    fn blinks(states: &[FrameState]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, s) in states.iter().enumerate() {
            let closed = s.blink[0] > 0.5;
            match (closed, start) {
                (true, None) => start = Some(i),
                (false, Some(a)) => {
                    out.push((a, i));
                    start = None;
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn same_seed_same_performance_other_seed_differs() {
        let a = run("", 3, 10.0);
        let b = run("", 3, 10.0);
        let c = run("", 4, 10.0);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn blink_rate_and_durations_are_human() {
        let mut total = 0usize;
        let seconds = 60.0;
        for seed in 0..10 {
            let s = run("", seed, seconds);
            let b = blinks(&s);
            total += b.len();
            for w in b.windows(2) {
                assert!(w[1].0 > w[0].1, "blinks do not overlap");
            }
            // Whole blink (any closure) lasts 150–400 ms.
            let mut i = 0;
            while i < s.len() {
                if s[i].blink[0] > 0.02 {
                    let a = i;
                    while i < s.len() && s[i].blink[0] > 0.02 {
                        i += 1;
                    }
                    let ms = (i - a) as f64 / 24.0 * 1000.0;
                    assert!((80.0..=450.0).contains(&ms), "blink of {ms} ms");
                }
                i += 1;
            }
        }
        let per_min = total as f64 / 10.0;
        assert!(
            (15.0..=26.0).contains(&per_min),
            "{per_min} blinks a minute"
        );
    }

    #[test]
    fn idle_head_motion_is_small_and_slow() {
        let s = run("", 11, 30.0);
        let deg = 180.0 / PI as f32;
        for st in &s {
            assert!(st.head.roll.abs() * deg <= 3.0);
            assert!(st.head.yaw.abs() * deg <= 3.0);
            assert!(st.head.pitch.abs() * deg <= 3.0);
            assert!(st.head.shift_x.abs() <= 0.03 && st.head.shift_y.abs() <= 0.03);
        }
        let yaw: Vec<f64> = s.iter().map(|x| f64::from(x.head.yaw)).collect();
        assert!(low_band_share(&yaw, 24.0, 2.0) > 0.8);
        let pitch: Vec<f64> = s.iter().map(|x| f64::from(x.head.pitch)).collect();
        assert!(low_band_share(&pitch, 24.0, 2.0) > 0.8);
        let range = pitch.iter().copied().fold(f64::MIN, f64::max)
            - pitch.iter().copied().fold(f64::MAX, f64::min);
        assert!(range * 180.0 / PI > 0.5, "the head does move");
    }

    /// Share of the signal's power below `cut` Hz (plain DFT).
    fn low_band_share(x: &[f64], fs: f64, cut: f64) -> f64 {
        let n = x.len();
        let mean = x.iter().sum::<f64>() / n as f64;
        let (mut low, mut all) = (0.0, 0.0);
        for k in 1..n / 2 {
            let (mut re, mut im) = (0.0, 0.0);
            for (i, v) in x.iter().enumerate() {
                let a = 2.0 * PI * k as f64 * i as f64 / n as f64;
                re += (v - mean) * a.cos();
                im -= (v - mean) * a.sin();
            }
            let p = re * re + im * im;
            all += p;
            if k as f64 * fs / n as f64 <= cut {
                low += p;
            }
        }
        low / all.max(1e-30)
    }

    #[test]
    fn static_stops_sway_and_camera_but_not_blinks() {
        let s = run("static, zoom in", 5, 12.0);
        assert!(s.iter().all(|x| x.head.is_rest() && x.camera.is_identity()));
        assert!(!blinks(&s).is_empty());
    }

    #[test]
    fn nod_moves_pitch_and_zoom_grows() {
        let plain = run("", 2, 8.0);
        let nod = run("nod", 2, 8.0);
        let peak = |s: &[FrameState]| s.iter().map(|x| x.head.pitch).fold(0.0f32, f32::max);
        assert!(peak(&nod) > peak(&plain) + 0.03);
        let z = run("zoom in", 2, 8.0);
        assert!((z[0].camera.zoom - 1.0).abs() < 1e-3);
        assert!(z.last().map(|x| x.camera.zoom).unwrap_or(1.0) > 1.1);
        assert!(z.windows(2).all(|w| w[1].camera.zoom >= w[0].camera.zoom));
        let out = run("pull out", 2, 8.0);
        assert!(out[0].camera.zoom > 1.1 && out.last().map(|x| x.camera.zoom) < Some(1.01));
    }

    #[test]
    fn moods_and_timed_gestures() {
        let s = run("smile", 1, 4.0);
        assert!(s.iter().all(|x| x.expression.smile > 0.9));
        let s = run("finally raise eyebrows", 1, 8.0);
        let early = s[..96]
            .iter()
            .map(|x| x.expression.brow_raise)
            .fold(0.0, f32::max);
        let late = s[120..]
            .iter()
            .map(|x| x.expression.brow_raise)
            .fold(0.0, f32::max);
        assert!(
            late > 0.8 && late > early + 0.4,
            "late {late} early {early}"
        );
        let s = run("angry, wink", 1, 4.0);
        assert!(s
            .iter()
            .any(|x| x.blink[0] > 0.9 && x.blink[1] < 0.1 || x.blink[1] > 0.9 && x.blink[0] < 0.1));
        assert!(s[0].expression.brow_knit > 0.9);
    }
}
