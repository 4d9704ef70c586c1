//! Chooses how to time the mouth: the transcript when there is one, phone
//! recognition for English, spectral classes for any other language, and
//! loudness as the last resort. A stage that fails hands over to the next.

use super::phones::Phone;
use super::rules::{self, TimedPhone};
use super::{align, espeak, loudness, spectral, sphinx, MouthTimeline};
use crate::error::Result;
use crate::media::AudioTrack;
use std::fmt;
use std::str::FromStr;

/// Silent stretches at least this long (10 ms frames) are pauses even where
/// the recogniser heard something.
const QUIET_PAUSE_FRAMES: usize = 15;

/// Where the phone timing came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The transcript, spoken by espeak-ng and warped onto the audio.
    Transcript,
    /// PocketSphinx phone recognition (English).
    Sphinx,
    /// Spectral and energy classes (any language).
    Spectral,
    /// The speech envelope alone.
    Loudness,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::Transcript,
        Method::Sphinx,
        Method::Spectral,
        Method::Loudness,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Transcript => "transcript",
            Method::Sphinx => "sphinx",
            Method::Spectral => "spectral",
            Method::Loudness => "loudness",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Method::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown method {s:?}; use transcript, sphinx, spectral or loudness")
            })
    }
}

/// What is known about the speech besides its sound.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// What is said, when known.
    pub text: Option<String>,
    /// Language code ("en", "de", "fr-fr", ...); `None` or "auto" means English.
    pub language: Option<String>,
}

impl Hints {
    pub fn new(text: Option<&str>, language: Option<&str>) -> Self {
        Self {
            text: text.map(str::to_owned).filter(|t| !t.trim().is_empty()),
            language: language.map(str::to_owned),
        }
    }

    pub fn is_english(&self) -> bool {
        let l = espeak::voice_for(self.language.as_deref());
        l == "en" || l.starts_with("en-") || l.starts_with("en_")
    }

    /// The order in which methods are tried.
    pub fn plan(&self) -> Vec<Method> {
        let mut plan = Vec::with_capacity(4);
        if self.text.is_some() {
            plan.push(Method::Transcript);
        }
        if self.is_english() {
            plan.push(Method::Sphinx);
        }
        plan.push(Method::Spectral);
        plan.push(Method::Loudness);
        plan
    }
}

/// Phone timings by one method (loudness has none).
pub fn phones(method: Method, samples: &[f32], hints: &Hints) -> Result<Vec<TimedPhone>> {
    match method {
        Method::Transcript => {
            let text = hints
                .text
                .as_deref()
                .ok_or_else(|| crate::EngineError::Speech("no transcript was given".into()))?;
            align::align(samples, text, &espeak::voice_for(hints.language.as_deref()))
        }
        Method::Sphinx => {
            let phones = sphinx::recognize(samples, &sphinx::SphinxModel::discover()?)?;
            // The recogniser often mistakes a bilabial for another stop or
            // a nasal; a closure heard in the signal shuts the lips anyway.
            let a = spectral::analyse(samples);
            let step = super::dsp::HOP as f64 / f64::from(crate::media::ANALYSIS_RATE);
            let spans: Vec<(f64, f64)> = spectral::closures(&a)
                .into_iter()
                .map(|(s, e)| (s as f64 * step, e as f64 * step))
                .collect();
            // Silence is silence, whatever noise model the decoder chose.
            let quiet = rules::quiet_spans(&a.active, QUIET_PAUSE_FRAMES, step);
            let phones = rules::overlay(phones, &quiet, Phone::Sil);
            Ok(rules::overlay(phones, &spans, Phone::Closure))
        }
        Method::Spectral => Ok(spectral::recognize(samples)),
        Method::Loudness => Ok(Vec::new()),
    }
}

/// The mouth timeline by one method.
pub fn timeline_with(method: Method, audio: &AudioTrack, hints: &Hints) -> Result<MouthTimeline> {
    if method == Method::Loudness {
        return Ok(loudness::timeline(&audio.analysis, audio.duration));
    }
    let phones = phones(method, &audio.analysis, hints)?;
    Ok(rules::animate(&phones, audio.duration))
}

/// The best timeline available for the hints, and the method that made it.
pub fn automatic(audio: &AudioTrack, hints: &Hints) -> (MouthTimeline, Method) {
    for method in hints.plan() {
        match timeline_with(method, audio, hints) {
            Ok(tl) => {
                tracing::info!(%method, cues = tl.cues.len(), "mouth timeline");
                return (tl, method);
            }
            Err(e) => {
                tracing::warn!(%method, error = %e, "mouth timeline method failed; trying the next")
            }
        }
    }
    (
        loudness::timeline(&audio.analysis, audio.duration),
        Method::Loudness,
    )
}
