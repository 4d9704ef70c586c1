//! espeak-ng through its C library: speech with exact phoneme timing. The
//! library keeps global state and is not thread-safe, so every call goes
//! through one lock.

use super::phones::Phone;
use super::rules::TimedPhone;
use crate::error::{EngineError, Result};
use std::cell::RefCell;
use std::ffi::{c_int, c_uint, c_void, CString};
use std::sync::Mutex;

mod ffi {
    use std::ffi::{c_char, c_int, c_uint, c_void};

    pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
    pub const INITIALIZE_PHONEME_EVENTS: c_int = 0x0001;
    pub const INITIALIZE_PHONEME_IPA: c_int = 0x0002;
    pub const INITIALIZE_DONT_EXIT: c_int = 0x8000;
    pub const CHARS_UTF8: c_uint = 1;
    pub const POS_CHARACTER: c_int = 1;
    pub const PARAM_RATE: c_int = 1;
    pub const EVENT_LIST_TERMINATED: c_int = 0;
    pub const EVENT_WORD: c_int = 1;
    pub const EVENT_PHONEME: c_int = 7;

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub union EventId {
        pub number: c_int,
        pub name: *const c_char,
        pub string: [u8; 8],
    }

    /// `espeak_EVENT` from speak_lib.h.
    #[repr(C)]
    pub struct Event {
        pub kind: c_int,
        pub unique_identifier: c_uint,
        pub text_position: c_int,
        pub length: c_int,
        pub audio_position: c_int,
        pub sample: c_int,
        pub user_data: *mut c_void,
        pub id: EventId,
    }

    pub type SynthCallback = extern "C" fn(*mut i16, c_int, *mut Event) -> c_int;

    extern "C" {
        pub fn espeak_Initialize(
            output: c_int,
            buflength: c_int,
            path: *const c_char,
            options: c_int,
        ) -> c_int;
        pub fn espeak_SetSynthCallback(cb: SynthCallback);
        pub fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
        pub fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_int;
        #[allow(clippy::too_many_arguments)]
        pub fn espeak_Synth(
            text: *const c_void,
            size: usize,
            position: c_uint,
            position_type: c_int,
            end_position: c_uint,
            flags: c_uint,
            unique_identifier: *mut c_uint,
            user_data: *mut c_void,
        ) -> c_int;
        pub fn espeak_Synchronize() -> c_int;
    }
}

/// One phoneme event: the IPA name and when it starts, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct PhonemeEvent {
    pub name: String,
    pub start: f64,
}

/// One word event: where the word starts in the audio and in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct WordEvent {
    pub start: f64,
    /// Character offset of the word in the text (1-based, as espeak counts).
    pub text_position: usize,
    pub length: usize,
}

/// Synthesised speech and its timing.
#[derive(Debug, Clone)]
pub struct Synthesis {
    pub sample_rate: u32,
    pub samples: Vec<i16>,
    pub phonemes: Vec<PhonemeEvent>,
    pub words: Vec<WordEvent>,
}

impl Synthesis {
    pub fn duration(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }

    /// Samples as floats, full scale ±1.
    pub fn samples_f32(&self) -> Vec<f32> {
        self.samples
            .iter()
            .map(|&s| f32::from(s) / 32768.0)
            .collect()
    }

    /// The phones with their spans: each lasts until the next event, the
    /// last one until the end of the audio.
    pub fn timed_phones(&self) -> Vec<TimedPhone> {
        let end = self.duration();
        // Events that are no sound (language switches) are dropped first, so
        // the phone before them lasts until the next real one.
        let events: Vec<(&PhonemeEvent, Vec<Phone>)> = self
            .phonemes
            .iter()
            .map(|e| (e, Phone::from_ipa(&e.name)))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        let mut out = Vec::with_capacity(events.len());
        for (i, (ev, phones)) in events.iter().enumerate() {
            let next = events.get(i + 1).map_or(end, |n| n.0.start).min(end);
            if next <= ev.start {
                continue;
            }
            // A two-part name (a diphthong the inventory lacks) splits evenly.
            let n = phones.len().max(1) as f64;
            for (k, &p) in phones.iter().enumerate() {
                let a = ev.start + (next - ev.start) * k as f64 / n;
                let b = ev.start + (next - ev.start) * (k + 1) as f64 / n;
                out.push(TimedPhone {
                    phone: p,
                    start: a,
                    end: b,
                });
            }
        }
        out
    }
}

struct State {
    sample_rate: u32,
}

static ESPEAK: Mutex<Option<State>> = Mutex::new(None);

#[derive(Default)]
struct Collector {
    samples: Vec<i16>,
    phonemes: Vec<PhonemeEvent>,
    words: Vec<WordEvent>,
}

thread_local! {
    // Synchronous mode calls back on the synthesising thread, which holds
    // the lock: a thread-local is where the callback can reach its buffers.
    static COLLECT: RefCell<Collector> = RefCell::new(Collector::default());
}

extern "C" fn on_synth(wav: *mut i16, numsamples: c_int, events: *mut ffi::Event) -> c_int {
    COLLECT.with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return 1;
        };
        if !wav.is_null() && numsamples > 0 {
            // SAFETY: espeak passes `numsamples` valid samples at `wav`.
            let s = unsafe { std::slice::from_raw_parts(wav, numsamples as usize) };
            c.samples.extend_from_slice(s);
        }
        let mut p = events;
        // SAFETY: the list is terminated by an event of kind 0.
        unsafe {
            while !p.is_null() && (*p).kind != ffi::EVENT_LIST_TERMINATED {
                let e = &*p;
                let t = f64::from(e.audio_position.max(0)) / 1000.0;
                match e.kind {
                    ffi::EVENT_PHONEME => {
                        let raw = e.id.string;
                        let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                        c.phonemes.push(PhonemeEvent {
                            name: String::from_utf8_lossy(&raw[..len]).into_owned(),
                            start: t,
                        });
                    }
                    ffi::EVENT_WORD => c.words.push(WordEvent {
                        start: t,
                        text_position: e.text_position.max(0) as usize,
                        length: e.length.max(0) as usize,
                    }),
                    _ => {}
                }
                p = p.add(1);
            }
        }
        0
    })
}

fn unavailable(msg: impl std::fmt::Display) -> EngineError {
    EngineError::Speech(format!("espeak-ng: {msg}"))
}

/// Speaks `text` with the espeak-ng voice `voice` (a language code such as
/// "en-us", "de", "fr") at `rate` words per minute (80–450; espeak's
/// default is 175), returning the audio and its phoneme and word events.
pub fn synthesize(text: &str, voice: &str, rate: u32) -> Result<Synthesis> {
    let mut guard = ESPEAK
        .lock()
        .map_err(|_| unavailable("an earlier synthesis panicked"))?;
    if guard.is_none() {
        let options = ffi::INITIALIZE_PHONEME_EVENTS
            | ffi::INITIALIZE_PHONEME_IPA
            | ffi::INITIALIZE_DONT_EXIT;
        // SAFETY: plain C call; a null path means the default data directory.
        let rate_hz = unsafe {
            ffi::espeak_Initialize(ffi::AUDIO_OUTPUT_SYNCHRONOUS, 0, std::ptr::null(), options)
        };
        if rate_hz <= 0 {
            return Err(unavailable(
                "the library could not start (is espeak-ng-data installed? run scripts/setup.sh)",
            ));
        }
        // SAFETY: `on_synth` matches the callback signature.
        unsafe { ffi::espeak_SetSynthCallback(on_synth) };
        *guard = Some(State {
            sample_rate: rate_hz as u32,
        });
    }
    let sample_rate = guard.as_ref().map_or(22_050, |s| s.sample_rate);
    // "de-DE" has no voice of its own: fall back to "de".
    let primary = voice.split(['-', '_']).next().unwrap_or(voice);
    let mut found = false;
    for name in [voice, primary] {
        let name_c = CString::new(name.replace('\0', "")).map_err(unavailable)?;
        // SAFETY: a valid NUL-terminated string.
        if unsafe { ffi::espeak_SetVoiceByName(name_c.as_ptr()) } == 0 {
            found = true;
            break;
        }
    }
    if !found {
        return Err(unavailable(format!("no voice for language {voice:?}")));
    }
    // SAFETY: plain C call.
    unsafe { ffi::espeak_SetParameter(ffi::PARAM_RATE, rate.clamp(80, 450) as c_int, 0) };
    let text_c = CString::new(text.replace('\0', " ")).map_err(unavailable)?;
    COLLECT.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            *c = Collector::default();
        }
    });
    let bytes = text_c.as_bytes_with_nul().len();
    // SAFETY: the text outlives the synchronous call; no user data is used.
    let err = unsafe {
        let e = ffi::espeak_Synth(
            text_c.as_ptr() as *const c_void,
            bytes,
            0,
            ffi::POS_CHARACTER,
            0,
            ffi::CHARS_UTF8,
            std::ptr::null_mut::<c_uint>(),
            std::ptr::null_mut(),
        );
        ffi::espeak_Synchronize();
        e
    };
    let collected = COLLECT.with(|c| c.try_borrow_mut().map(|mut c| std::mem::take(&mut *c)).ok());
    drop(guard);
    if err != 0 {
        return Err(unavailable(format!("synthesis failed with code {err}")));
    }
    let c = collected.ok_or_else(|| unavailable("synthesis callback was re-entered"))?;
    Ok(Synthesis {
        sample_rate,
        samples: c.samples,
        phonemes: c.phonemes,
        words: c.words,
    })
}

/// The espeak-ng voice for a language hint: "auto" and English variants
/// become "en-us", anything else is passed through.
pub fn voice_for(language: Option<&str>) -> String {
    match language.map(|l| l.trim().to_ascii_lowercase()) {
        None => "en-us".into(),
        Some(l) if l.is_empty() || l == "auto" || l == "en" || l == "english" => "en-us".into(),
        Some(l) => l,
    }
}
