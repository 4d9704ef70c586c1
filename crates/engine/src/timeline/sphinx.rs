//! English phone recognition with PocketSphinx (the 5prealpha C library
//! Debian ships) in all-phone mode: a phone loop weighted by the phone
//! language model, no dictionary, no words. Long audio is cut at quiet
//! points and the pieces are decoded in parallel, one decoder each.

use super::phones::Phone;
use super::rules::TimedPhone;
use crate::error::{EngineError, Result};
use crate::media::ANALYSIS_RATE;
use rayon::prelude::*;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    extern "C" {
        pub fn ps_args() -> *const c_void;
        pub fn cmd_ln_parse_r(
            inout: *mut c_void,
            defn: *const c_void,
            argc: c_int,
            argv: *mut *mut c_char,
            strict: c_int,
        ) -> *mut c_void;
        pub fn cmd_ln_free_r(cmdln: *mut c_void) -> c_int;
        pub fn ps_init(config: *mut c_void) -> *mut c_void;
        pub fn ps_free(ps: *mut c_void) -> c_int;
        pub fn ps_start_utt(ps: *mut c_void) -> c_int;
        pub fn ps_process_raw(
            ps: *mut c_void,
            data: *const i16,
            n_samples: usize,
            no_search: c_int,
            full_utt: c_int,
        ) -> c_int;
        pub fn ps_end_utt(ps: *mut c_void) -> c_int;
        pub fn ps_seg_iter(ps: *mut c_void) -> *mut c_void;
        pub fn ps_seg_next(seg: *mut c_void) -> *mut c_void;
        pub fn ps_seg_word(seg: *mut c_void) -> *const c_char;
        pub fn ps_seg_frames(seg: *mut c_void, out_sf: *mut c_int, out_ef: *mut c_int);
        pub fn err_set_logfp(stream: *mut c_void);
    }
}

/// Where the English acoustic model and phone language model live.
#[derive(Debug, Clone)]
pub struct SphinxModel {
    pub hmm: PathBuf,
    pub phone_lm: PathBuf,
}

/// Default location of Debian's pocketsphinx-en-us.
pub const DEFAULT_MODEL_DIR: &str = "/usr/share/pocketsphinx/model/en-us";

impl SphinxModel {
    /// `MOUTHPIECE_SPHINX_MODEL` (a directory holding `en-us/` and
    /// `en-us-phone.lm.bin`) or the Debian location.
    pub fn discover() -> Result<Self> {
        let dir = std::env::var_os("MOUTHPIECE_SPHINX_MODEL")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL_DIR));
        Self::in_dir(&dir)
    }

    pub fn in_dir(dir: &Path) -> Result<Self> {
        let m = Self {
            hmm: dir.join("en-us"),
            phone_lm: dir.join("en-us-phone.lm.bin"),
        };
        for (p, what) in [
            (m.hmm.join("mdef"), "acoustic model"),
            (m.phone_lm.clone(), "phone language model"),
        ] {
            if !p.is_file() {
                return Err(EngineError::ModelMissing {
                    path: p,
                    hint: format!("the PocketSphinx English {what}; install pocketsphinx-en-us (scripts/setup.sh)"),
                });
            }
        }
        Ok(m)
    }
}

/// Decoder settings. The language weight trades phone insertions against
/// deletions; the beams are wide because the phone loop is small.
const ARGS: &[(&str, &str)] = &[
    ("-allphone_ci", "yes"),
    ("-lw", "1.0"),
    ("-beam", "1e-20"),
    ("-pbeam", "1e-20"),
    ("-remove_noise", "no"),
    // Its voice-activity filter drops frames, which would shift the times.
    ("-remove_silence", "no"),
    ("-backtrace", "no"),
];

/// ps_init touches process-wide logging state: serialise it.
static INIT: Mutex<()> = Mutex::new(());
static QUIET: Once = Once::new();

struct Decoder(*mut c_void);

// SAFETY: a decoder is used by one thread at a time (it is moved, not shared).
unsafe impl Send for Decoder {}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: created by ps_init and freed once.
        unsafe { ffi::ps_free(self.0) };
    }
}

fn fail(msg: impl std::fmt::Display) -> EngineError {
    EngineError::Speech(format!("pocketsphinx: {msg}"))
}

impl Decoder {
    fn new(model: &SphinxModel) -> Result<Self> {
        let path = |p: &Path| {
            p.to_str()
                .map(str::to_owned)
                .ok_or_else(|| fail(format!("model path {} is not UTF-8", p.display())))
        };
        let mut args: Vec<String> = vec![
            "-hmm".into(),
            path(&model.hmm)?,
            "-allphone".into(),
            path(&model.phone_lm)?,
            "-samprate".into(),
            ANALYSIS_RATE.to_string(),
        ];
        // MOUTHPIECE_SPHINX_ARGS="-name value ..." overrides decoder
        // settings, for tuning on other voices.
        let extra: Vec<String> = std::env::var("MOUTHPIECE_SPHINX_ARGS")
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let overrides: Vec<(&str, &str)> = extra
            .chunks_exact(2)
            .map(|kv| (kv[0].as_str(), kv[1].as_str()))
            .collect();
        for &(k, v) in ARGS.iter().chain(&overrides) {
            if let Some(i) = args.iter().position(|a| a == k) {
                args[i + 1] = v.into();
            } else {
                args.push(k.into());
                args.push(v.into());
            }
        }
        let owned: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_str()))
            .collect::<std::result::Result<_, _>>()
            .map_err(fail)?;
        let mut argv: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        let _guard = INIT
            .lock()
            .map_err(|_| fail("an earlier initialisation panicked"))?;
        QUIET.call_once(|| {
            // SAFETY: a null stream turns the library's logging off.
            unsafe { ffi::err_set_logfp(std::ptr::null_mut()) }
        });
        // SAFETY: argv points at live NUL-terminated strings for the call.
        let config = unsafe {
            ffi::cmd_ln_parse_r(
                std::ptr::null_mut(),
                ffi::ps_args(),
                argv.len() as c_int,
                argv.as_mut_ptr(),
                1,
            )
        };
        if config.is_null() {
            return Err(fail("the decoder configuration was rejected"));
        }
        // SAFETY: ps_init keeps its own reference to the configuration.
        let ps = unsafe {
            let ps = ffi::ps_init(config);
            ffi::cmd_ln_free_r(config);
            ps
        };
        if ps.is_null() {
            return Err(fail(format!(
                "could not load the model in {}",
                model.hmm.display()
            )));
        }
        Ok(Decoder(ps))
    }

    /// Decodes one utterance; times are relative to its first sample.
    fn decode(&mut self, pcm: &[i16]) -> Result<Vec<TimedPhone>> {
        // SAFETY: the decoder is live and the buffer valid for the call.
        let rc = unsafe {
            if ffi::ps_start_utt(self.0) < 0 {
                return Err(fail("could not start an utterance"));
            }
            let n = ffi::ps_process_raw(self.0, pcm.as_ptr(), pcm.len(), 0, 1);
            let end = ffi::ps_end_utt(self.0);
            n.min(end)
        };
        if rc < 0 {
            return Err(fail("decoding failed"));
        }
        let mut out = Vec::new();
        // SAFETY: the iterator is walked to its end, which frees it.
        unsafe {
            let mut seg = ffi::ps_seg_iter(self.0);
            while !seg.is_null() {
                let word = ffi::ps_seg_word(seg);
                let (mut sf, mut ef) = (0 as c_int, 0 as c_int);
                ffi::ps_seg_frames(seg, &mut sf, &mut ef);
                if !word.is_null() {
                    let name = CStr::from_ptr(word).to_string_lossy();
                    let phone = Phone::from_arpabet(&name).unwrap_or(Phone::Noise);
                    out.push(TimedPhone {
                        phone,
                        start: f64::from(sf) / 100.0,
                        end: f64::from(ef + 1) / 100.0,
                    });
                }
                seg = ffi::ps_seg_next(seg);
            }
        }
        Ok(out)
    }
}

/// Recognises the phones of English speech (mono, `ANALYSIS_RATE`).
/// Only the stretches with sound are decoded (silence costs as much as
/// speech to search), shared out over the worker threads.
pub fn recognize(samples: &[f32], model: &SphinxModel) -> Result<Vec<TimedPhone>> {
    let pcm: Vec<i16> = samples
        .iter()
        .map(|&s| (s * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    let active = super::loudness::envelope(samples).voiced;
    let regions = sounding_regions(&active, pcm.len());
    let workers = share_out(&regions, rayon::current_num_threads());
    let mut decoders = Vec::with_capacity(workers.len());
    for _ in &workers {
        decoders.push(Decoder::new(model)?);
    }
    let results: Vec<Result<Vec<TimedPhone>>> = decoders
        .into_par_iter()
        .zip(workers.par_iter())
        .map(|(mut d, regions)| {
            // One utterance per worker, its regions joined end to end, so
            // the cepstral mean is taken over plenty of speech.
            let mut joined: Vec<i16> = Vec::new();
            let mut map: Vec<(f64, f64, f64)> = Vec::with_capacity(regions.len());
            let rate = f64::from(ANALYSIS_RATE);
            for &(a, b) in regions {
                let at = joined.len() as f64 / rate;
                joined.extend_from_slice(&pcm[a..b]);
                map.push((at, joined.len() as f64 / rate, a as f64 / rate));
            }
            let phones = d.decode(&joined)?;
            Ok(phones
                .into_iter()
                .filter_map(|p| {
                    let &(from, to, orig) = map
                        .iter()
                        .find(|(from, to, _)| p.start >= *from && p.start < *to)?;
                    let end = p.end.min(to);
                    (end > p.start).then_some(TimedPhone {
                        start: p.start - from + orig,
                        end: end - from + orig,
                        ..p
                    })
                })
                .collect::<Vec<_>>())
        })
        .collect();
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// Sample ranges with sound: active 10 ms hops, gaps under 300 ms bridged,
/// 150 ms of context either side.
fn sounding_regions(active: &[bool], n_samples: usize) -> Vec<(usize, usize)> {
    let hop = (ANALYSIS_RATE / 100) as usize;
    let (bridge, pad) = (30usize, 15usize);
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, &a) in active.iter().enumerate() {
        if !a {
            continue;
        }
        match runs.last_mut() {
            Some(r) if i <= r.1 + bridge => r.1 = i + 1,
            _ => runs.push((i, i + 1)),
        }
    }
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (a, b) in runs {
        let s = a.saturating_sub(pad) * hop;
        let e = ((b + pad) * hop).min(n_samples);
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = e,
            _ if e > s => out.push((s, e)),
            _ => {}
        }
    }
    out
}

/// Contiguous groups of regions of about equal total length, one per worker.
fn share_out(regions: &[(usize, usize)], workers: usize) -> Vec<Vec<(usize, usize)>> {
    let total: usize = regions.iter().map(|(a, b)| b - a).sum();
    let workers = workers.clamp(1, regions.len().max(1));
    let target = total.div_ceil(workers).max(1);
    let mut groups: Vec<Vec<(usize, usize)>> = vec![Vec::new()];
    let mut filled = 0usize;
    for &r in regions {
        if filled >= target && groups.len() < workers {
            groups.push(Vec::new());
            filled = 0;
        }
        filled += r.1 - r.0;
        if let Some(g) = groups.last_mut() {
            g.push(r);
        }
    }
    groups.retain(|g| !g.is_empty());
    groups
}
