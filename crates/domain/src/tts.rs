//! Built-in TTS with espeak-ng. The audio is kept (30 days by default) with
//! the mouth timeline made from espeak's own phoneme events, so a render of
//! that audio (`audio_id`) uses exact lip-sync timing instead of analysing
//! the sound.

use crate::clock::now_ms;
use crate::error::{DomainError, Result};
use crate::files::UrlSigner;
use crate::ids;
use crate::input::present;
use crate::voices::{self, Language, Voice};
use bytes::Bytes;
use mouthpiece_engine::timeline::{espeak, rules, MouthTimeline};
use mouthpiece_storage::{AudioRecord, AudioStore, BlobStore, PublicIds};
use std::sync::Arc;

pub const MAX_TEXT_CHARS: usize = 1000;
/// espeak-ng's words per minute at speed 1.0.
const BASE_RATE: f64 = 175.0;

/// A validated TTS request.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsRequest {
    pub text: String,
    pub voice: &'static Voice,
    /// 0.8–2.0, one decimal.
    pub speed: f64,
}

impl TtsRequest {
    /// `voice_language` defaults to `zh`; an id unknown in that language is
    /// "Voice id not found"; the speed is clamped to 0.8–2.0.
    pub fn parse(
        text: Option<&str>,
        voice_id: Option<&str>,
        language: Option<&str>,
        speed: Option<f64>,
    ) -> Result<Self> {
        let text = present(text).ok_or_else(|| DomainError::invalid("text", "is required"))?;
        let n = text.chars().count();
        if n > MAX_TEXT_CHARS {
            return Err(DomainError::invalid(
                "text",
                format!("is {n} characters long; the limit is {MAX_TEXT_CHARS}"),
            ));
        }
        let voice_id =
            present(voice_id).ok_or_else(|| DomainError::invalid("voice_id", "is required"))?;
        let language = match present(language) {
            None => Language::Zh,
            Some(l) => Language::parse(l).ok_or_else(|| {
                DomainError::invalid(
                    "voice_language",
                    format!("{l:?} is not supported; use \"zh\" or \"en\""),
                )
            })?,
        };
        let voice =
            voices::find(voice_id.trim(), language).ok_or_else(|| DomainError::InvalidInput {
                field: "voice_id".into(),
                reason: "Voice id not found".into(),
            })?;
        let speed = match speed {
            Some(s) if s.is_finite() => ((s.clamp(0.8, 2.0)) * 10.0).round() / 10.0,
            Some(_) => return Err(DomainError::invalid("voice_speed", "must be a number")),
            None => 1.0,
        };
        Ok(Self {
            text: text.trim().to_string(),
            voice,
            speed,
        })
    }
}

/// A stored TTS result.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsAudio {
    pub task_id: String,
    pub audio_id: String,
    pub url: String,
    pub duration: f64,
    pub created_at: i64,
}

#[derive(Clone)]
pub struct TtsService {
    audio: Arc<dyn AudioStore>,
    ids: Arc<dyn PublicIds>,
    blobs: Arc<dyn BlobStore>,
    signer: UrlSigner,
    retention_ms: i64,
}

impl TtsService {
    pub fn new(
        audio: Arc<dyn AudioStore>,
        ids: Arc<dyn PublicIds>,
        blobs: Arc<dyn BlobStore>,
        signer: UrlSigner,
        retention_ms: i64,
    ) -> Self {
        Self {
            audio,
            ids,
            blobs,
            signer,
            retention_ms,
        }
    }

    pub async fn synthesize(&self, account_id: &str, req: TtsRequest) -> Result<TtsAudio> {
        let text = req.text.clone();
        let espeak_voice = req.voice.espeak;
        let rate = (BASE_RATE * req.speed).round() as u32;
        let (wav, duration, timeline) =
            tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, f64, MouthTimeline)> {
                let synth = espeak::synthesize(&text, espeak_voice, rate)
                    .map_err(|e| DomainError::Internal(format!("speech synthesis failed: {e}")))?;
                if synth.samples.is_empty() {
                    return Err(DomainError::invalid("text", "produced no speech"));
                }
                let duration = synth.duration();
                let timeline = rules::animate(&synth.timed_phones(), duration);
                Ok((
                    wav_bytes(&synth.samples, synth.sample_rate)?,
                    duration,
                    timeline,
                ))
            })
            .await
            .map_err(DomainError::internal)??;

        let task_id = ids::public_id(&*self.ids).await?;
        let audio_id = ids::uuid();
        let key = format!("audio/{audio_id}.wav");
        self.blobs.put(&key, Bytes::from(wav)).await?;
        let now = now_ms();
        let expires_at = now.saturating_add(self.retention_ms);
        let record = AudioRecord {
            id: audio_id.clone(),
            account_id: account_id.to_string(),
            blob_key: key.clone(),
            duration,
            timeline: serde_json::to_string(&timeline).ok(),
            text: req.text,
            voice_id: req.voice.id.to_string(),
            language: req.voice.language.as_str().to_string(),
            created_at: now,
            expires_at,
        };
        if let Err(e) = self.audio.insert_audio(&record).await {
            let _ = self.blobs.delete(&key).await;
            return Err(e.into());
        }
        Ok(TtsAudio {
            task_id,
            url: self.signer.url(&key, expires_at / 1000),
            audio_id,
            duration,
            created_at: now,
        })
    }
}

fn wav_bytes(samples: &[i16], rate: u32) -> Result<Vec<u8>> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::with_capacity(samples.len() * 2 + 44));
    {
        let mut w = hound::WavWriter::new(&mut cursor, spec).map_err(DomainError::internal)?;
        for s in samples {
            w.write_sample(*s).map_err(DomainError::internal)?;
        }
        w.finalize().map_err(DomainError::internal)?;
    }
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        let r =
            TtsRequest::parse(Some("hi"), Some("oversea_male1"), Some("en"), Some(5.0)).unwrap();
        assert_eq!(r.speed, 2.0);
        let r =
            TtsRequest::parse(Some("hi"), Some("oversea_male1"), Some("en"), Some(0.1)).unwrap();
        assert_eq!(r.speed, 0.8);
        let e = TtsRequest::parse(Some("hi"), Some("oversea_male1"), Some("zh"), None).unwrap_err();
        assert_eq!(e.to_string(), "invalid voice_id: Voice id not found");
        assert!(TtsRequest::parse(
            Some(&"a".repeat(1001)),
            Some("oversea_male1"),
            Some("en"),
            None
        )
        .is_err());
        assert!(TtsRequest::parse(Some(""), Some("oversea_male1"), Some("en"), None).is_err());
        assert!(TtsRequest::parse(Some("hi"), Some("oversea_male1"), Some("fr"), None).is_err());
        // zh by default.
        assert!(TtsRequest::parse(Some("你好"), Some("genshin_vindi2"), None, None).is_ok());
    }
}
