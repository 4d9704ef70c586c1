//! Short-time spectral analysis shared by the aligner and the spectral
//! recogniser: one 10 ms hop per frame at `ANALYSIS_RATE`, a 25 ms Hann
//! window, and from its power spectrum MFCCs, band energies, a smoothed
//! envelope with two formant estimates, and a voicing measure.

use crate::media::ANALYSIS_RATE;

/// Samples per 10 ms hop at the analysis rate.
pub const HOP: usize = (ANALYSIS_RATE / 100) as usize;
const WIN: usize = 400;
const NFFT: usize = 512;
const NBINS: usize = NFFT / 2 + 1;
const NMEL: usize = 26;
/// MFCCs kept per frame (c1..c12; c0 is replaced by normalised energy).
pub const NCEP: usize = 12;

/// Features of one 10 ms frame.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// Log energy in dB (full scale = 0 dB).
    pub db: f32,
    /// c1..c12 of the mel cepstrum.
    pub mfcc: [f32; NCEP],
    /// Energy in dB per band: 0–300, 300–1000, 1000–2500, 2500–4000, 4000–8000 Hz.
    pub bands: [f32; 5],
    /// First two peaks of the smoothed spectral envelope, in Hz.
    pub f1: f32,
    pub f2: f32,
    /// Normalised autocorrelation peak in the pitch range (0 unvoiced .. 1).
    pub voicing: f32,
}

/// Analyses a mono signal at `ANALYSIS_RATE`.
pub fn analyse(samples: &[f32]) -> Vec<Frame> {
    let n_frames = samples.len().div_ceil(HOP);
    let window: Vec<f32> = (0..WIN)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / (WIN - 1) as f32).cos())
        .collect();
    let mel = MelBank::new();
    let fft = Fft::new(NFFT);
    let chunk = 256;
    let frame_ids: Vec<usize> = (0..n_frames).collect();
    use rayon::prelude::*;
    frame_ids
        .par_chunks(chunk)
        .flat_map_iter(|ids| {
            let mut re = vec![0f32; NFFT];
            let mut im = vec![0f32; NFFT];
            let mut power = vec![0f32; NBINS];
            ids.iter()
                .map(|&f| {
                    frame_at(
                        samples, f, &window, &mel, &fft, &mut re, &mut im, &mut power,
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn frame_at(
    samples: &[f32],
    f: usize,
    window: &[f32],
    mel: &MelBank,
    fft: &Fft,
    re: &mut [f32],
    im: &mut [f32],
    power: &mut [f32],
) -> Frame {
    // Centre the window on the hop centre.
    let centre = f * HOP + HOP / 2;
    let start = centre as isize - (WIN / 2) as isize;
    re.fill(0.0);
    im.fill(0.0);
    let mut prev = 0.0f32;
    let mut energy = 0.0f64;
    for i in 0..WIN {
        let idx = start + i as isize;
        let x = if idx >= 0 {
            samples.get(idx as usize).copied().unwrap_or(0.0)
        } else {
            0.0
        };
        energy += f64::from(x * x);
        // Pre-emphasis flattens the speech tilt so formants stand out.
        re[i] = (x - 0.97 * prev) * window[i];
        prev = x;
    }
    let db = (10.0 * (energy / WIN as f64 + 1e-12).log10()) as f32;
    fft.forward(re, im);
    for k in 0..NBINS {
        power[k] = re[k] * re[k] + im[k] * im[k];
    }
    // Mel cepstrum.
    let logmel = mel.apply(power);
    let mut mfcc = [0f32; NCEP];
    for (c, out) in mfcc.iter_mut().enumerate() {
        let q = (c + 1) as f32;
        *out = logmel
            .iter()
            .enumerate()
            .map(|(m, &v)| v * (std::f32::consts::PI * q * (m as f32 + 0.5) / NMEL as f32).cos())
            .sum::<f32>()
            * (2.0 / NMEL as f32).sqrt();
    }
    let hz_per_bin = ANALYSIS_RATE as f32 / NFFT as f32;
    let band = |lo: f32, hi: f32| {
        let (a, b) = (
            (lo / hz_per_bin) as usize,
            ((hi / hz_per_bin) as usize).min(NBINS - 1),
        );
        let e: f32 = power[a..=b].iter().sum();
        10.0 * (e + 1e-9).log10()
    };
    let bands = [
        band(50.0, 300.0),
        band(300.0, 1000.0),
        band(1000.0, 2500.0),
        band(2500.0, 4000.0),
        band(4000.0, 7900.0),
    ];
    let (f1, f2) = formants(power, fft, re, im);
    let voicing = voicing(samples, start, WIN);
    Frame {
        db,
        mfcc,
        bands,
        f1,
        f2,
        voicing,
    }
}

/// Two formant estimates from a cepstrally smoothed log spectrum: the
/// strongest envelope peak in 250–1000 Hz and the next one above it.
fn formants(power: &[f32], fft: &Fft, re: &mut [f32], im: &mut [f32]) -> (f32, f32) {
    for k in 0..NBINS {
        re[k] = (power[k] + 1e-9).ln();
        im[k] = 0.0;
    }
    for k in NBINS..NFFT {
        re[k] = re[NFFT - k];
        im[k] = 0.0;
    }
    fft.forward(re, im);
    // Keep the low quefrencies: the vocal-tract envelope, not the harmonics.
    let lifter = 26;
    for q in 0..NFFT {
        let keep = q <= lifter || q >= NFFT - lifter;
        if !keep {
            re[q] = 0.0;
            im[q] = 0.0;
        }
    }
    fft.forward(re, im);
    let env = |k: usize| re[k];
    let hz = ANALYSIS_RATE as f32 / NFFT as f32;
    let peaks: Vec<usize> = (2..NBINS.min((3200.0 / hz) as usize))
        .filter(|&k| env(k) > env(k - 1) && env(k) >= env(k + 1))
        .collect();
    let f1_bin = peaks
        .iter()
        .copied()
        .filter(|&k| (250.0..1000.0).contains(&(k as f32 * hz)))
        .max_by(|&a, &b| env(a).total_cmp(&env(b)));
    let Some(f1) = f1_bin else {
        return (0.0, 0.0);
    };
    let f2 = peaks
        .iter()
        .copied()
        .filter(|&k| k as f32 * hz > (f1 as f32 * hz + 250.0).max(700.0))
        .max_by(|&a, &b| env(a).total_cmp(&env(b)))
        .map_or(0.0, |k| k as f32 * hz);
    (f1 as f32 * hz, f2)
}

/// Peak of the normalised autocorrelation for lags of 2.5–16 ms.
fn voicing(samples: &[f32], start: isize, len: usize) -> f32 {
    let get = |i: isize| {
        if i >= 0 {
            samples.get(i as usize).copied().unwrap_or(0.0)
        } else {
            0.0
        }
    };
    let x: Vec<f32> = (0..len as isize).map(|i| get(start + i)).collect();
    let e0: f32 = x.iter().map(|v| v * v).sum();
    if e0 < 1e-7 {
        return 0.0;
    }
    let (lo, hi) = (40usize, 256usize);
    let mut best = 0.0f32;
    for lag in (lo..hi.min(len / 2)).step_by(2) {
        let mut num = 0.0f32;
        let mut e1 = 0.0f32;
        let mut e2 = 0.0f32;
        for i in 0..len - lag {
            num += x[i] * x[i + lag];
            e1 += x[i] * x[i];
            e2 += x[i + lag] * x[i + lag];
        }
        let r = num / (e1 * e2).sqrt().max(1e-9);
        best = best.max(r);
    }
    best
}

struct MelBank {
    filters: Vec<(usize, Vec<f32>)>,
}

impl MelBank {
    fn new() -> Self {
        let mel = |f: f32| 2595.0 * (1.0 + f / 700.0).log10();
        let inv = |m: f32| 700.0 * (10f32.powf(m / 2595.0) - 1.0);
        let (lo, hi) = (mel(100.0), mel(7600.0));
        let hz_per_bin = ANALYSIS_RATE as f32 / NFFT as f32;
        let pts: Vec<f32> = (0..NMEL + 2)
            .map(|i| inv(lo + (hi - lo) * i as f32 / (NMEL + 1) as f32) / hz_per_bin)
            .collect();
        let filters = (0..NMEL)
            .map(|m| {
                let (a, c, b) = (pts[m], pts[m + 1], pts[m + 2]);
                let first = a.floor().max(0.0) as usize;
                let last = (b.ceil() as usize).min(NBINS - 1);
                let w = (first..=last)
                    .map(|k| {
                        let k = k as f32;
                        if k <= c {
                            ((k - a) / (c - a).max(1e-6)).max(0.0)
                        } else {
                            ((b - k) / (b - c).max(1e-6)).max(0.0)
                        }
                    })
                    .collect();
                (first, w)
            })
            .collect();
        Self { filters }
    }

    fn apply(&self, power: &[f32]) -> [f32; NMEL] {
        let mut out = [0f32; NMEL];
        for (o, (first, w)) in out.iter_mut().zip(&self.filters) {
            let e: f32 = w.iter().zip(&power[*first..]).map(|(a, b)| a * b).sum();
            *o = (e + 1e-8).ln();
        }
        out
    }
}

/// In-place iterative radix-2 complex FFT.
pub struct Fft {
    n: usize,
    rev: Vec<usize>,
    twiddle: Vec<(f32, f32)>,
}

impl Fft {
    pub fn new(n: usize) -> Self {
        debug_assert!(n.is_power_of_two());
        let bits = n.trailing_zeros();
        let rev = (0..n)
            .map(|i| i.reverse_bits() >> (usize::BITS - bits))
            .collect();
        let twiddle = (0..n / 2)
            .map(|k| {
                let a = -2.0 * std::f64::consts::PI * k as f64 / n as f64;
                (a.cos() as f32, a.sin() as f32)
            })
            .collect();
        Self { n, rev, twiddle }
    }

    pub fn forward(&self, re: &mut [f32], im: &mut [f32]) {
        let n = self.n;
        for i in 0..n {
            let j = self.rev[i];
            if j > i {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let mut len = 2;
        while len <= n {
            let step = n / len;
            for start in (0..n).step_by(len) {
                for k in 0..len / 2 {
                    let (wr, wi) = self.twiddle[k * step];
                    let (a, b) = (start + k, start + k + len / 2);
                    let tr = re[b] * wr - im[b] * wi;
                    let ti = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            len *= 2;
        }
    }
}

/// Feature vectors for alignment: normalised log energy and MFCCs, each
/// scaled to zero mean and unit variance over the utterance so a different
/// voice or channel matters less.
pub fn align_features(frames: &[Frame]) -> Vec<[f32; NCEP + 1]> {
    let mut v: Vec<[f32; NCEP + 1]> = frames
        .iter()
        .map(|f| {
            let mut a = [0f32; NCEP + 1];
            a[0] = f.db.max(-70.0);
            a[1..].copy_from_slice(&f.mfcc);
            a
        })
        .collect();
    if v.is_empty() {
        return v;
    }
    for d in 0..=NCEP {
        let n = v.len() as f32;
        let mean = v.iter().map(|a| a[d]).sum::<f32>() / n;
        let var = v.iter().map(|a| (a[d] - mean).powi(2)).sum::<f32>() / n;
        let sd = var.sqrt().max(1e-3);
        for a in &mut v {
            a[d] = (a[d] - mean) / sd;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_finds_a_tone_and_formants_track_a_vowel_like_spectrum() {
        let fft = Fft::new(64);
        let mut re: Vec<f32> = (0..64)
            .map(|i| (2.0 * std::f32::consts::PI * 5.0 * i as f32 / 64.0).cos())
            .collect();
        let mut im = vec![0f32; 64];
        fft.forward(&mut re, &mut im);
        let peak = (0..32)
            .max_by(|&a, &b| re[a].abs().total_cmp(&re[b].abs()))
            .unwrap();
        assert_eq!(peak, 5);

        // A pulse train through two resonances at 700 and 1200 Hz.
        let rate = ANALYSIS_RATE as f32;
        let mut s = vec![0f32; 8000];
        let mut y = [0f32; 4];
        let res = |f: f32, bw: f32| {
            let r = (-std::f32::consts::PI * bw / rate).exp();
            (
                2.0 * r * (2.0 * std::f32::consts::PI * f / rate).cos(),
                -r * r,
            )
        };
        let (a1, b1) = res(700.0, 80.0);
        let (a2, b2) = res(1200.0, 90.0);
        let mut z = [0f32; 2];
        for (i, out) in s.iter_mut().enumerate() {
            let x = if i % 133 == 0 { 1.0 } else { 0.0 };
            let v1 = x + a1 * y[0] + b1 * y[1];
            y[1] = y[0];
            y[0] = v1;
            let v2 = v1 + a2 * z[0] + b2 * z[1];
            z[1] = z[0];
            z[0] = v2;
            *out = v2 * 0.001;
        }
        let frames = analyse(&s);
        let mid = &frames[frames.len() / 2];
        assert!((mid.f1 - 700.0).abs() < 120.0, "f1 {}", mid.f1);
        assert!((mid.f2 - 1200.0).abs() < 200.0, "f2 {}", mid.f2);
        assert!(mid.voicing > 0.5, "voicing {}", mid.voicing);
    }
}
