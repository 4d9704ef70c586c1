//! Validated inputs. A dialect turns its JSON into these at the edge; past
//! this point nothing is re-checked. Empty strings mean "absent", as in
//! Kling's own examples.

use crate::error::{DomainError, Result};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use bytes::Bytes;
use url::Url;

pub const MAX_IMAGE_BYTES: u64 = 10 * 1024 * 1024;
pub const MAX_SOUND_BYTES: u64 = 5 * 1024 * 1024;
pub const MAX_PROMPT_CHARS: usize = 2500;
pub const MAX_EXTERNAL_ID_CHARS: usize = 256;
pub const MAX_URL_CHARS: usize = 2048;
pub const MIN_AUDIO_SECONDS: f64 = 2.0;
pub const MAX_AUDIO_SECONDS: f64 = 300.0;

/// `None` for a missing or empty (all-whitespace) string.
pub fn present(s: Option<&str>) -> Option<&str> {
    s.filter(|v| !v.trim().is_empty())
}

/// Where a file comes from: a remote URL or bytes sent inline.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaSource {
    Url(Url),
    Inline(Bytes),
}

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl MediaSource {
    /// An `http(s)://` URL, or raw base64 (a `data:...;base64,` prefix and
    /// line breaks are tolerated) of at most `max_bytes` decoded bytes.
    pub fn parse(field: &str, raw: &str, max_bytes: u64) -> Result<Self> {
        let raw = raw.trim();
        let lower = raw.get(..8).unwrap_or(raw).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            if raw.len() > MAX_URL_CHARS {
                return Err(DomainError::invalid(
                    field,
                    format!("the URL is longer than {MAX_URL_CHARS} characters"),
                ));
            }
            let url = Url::parse(raw)
                .map_err(|e| DomainError::invalid(field, format!("not a valid URL: {e}")))?;
            return Ok(MediaSource::Url(url));
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            if scheme.len() < 12 && scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(DomainError::invalid(
                    field,
                    format!("{scheme}:// URLs are not accepted; send an http(s) URL or raw base64"),
                ));
            }
        }
        let data = match raw.split_once(";base64,") {
            Some((prefix, rest)) if prefix.starts_with("data:") => rest,
            _ => raw,
        };
        // A cheap bound before decoding: 4 base64 characters per 3 bytes.
        if (data.len() as u64) > max_bytes.saturating_mul(4) / 3 + 1024 {
            return Err(DomainError::invalid(
                field,
                format!(
                    "the file is larger than the limit of {} MB",
                    max_bytes / (1024 * 1024)
                ),
            ));
        }
        let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let bytes = BASE64
            .decode(&compact)
            .or_else(|_| BASE64_URL.decode(&compact))
            .map_err(|e| {
                DomainError::invalid(
                    field,
                    format!("neither an http(s) URL nor valid base64 ({e})"),
                )
            })?;
        if bytes.is_empty() {
            return Err(DomainError::invalid(field, "the file is empty"));
        }
        if bytes.len() as u64 > max_bytes {
            return Err(DomainError::invalid(
                field,
                format!(
                    "the file is {} bytes, more than the limit of {} MB",
                    bytes.len(),
                    max_bytes / (1024 * 1024)
                ),
            ));
        }
        Ok(MediaSource::Inline(Bytes::from(bytes)))
    }
}

/// The portrait: URL or base64, at most 10 MB.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInput(pub MediaSource);

impl ImageInput {
    pub fn parse(raw: Option<&str>) -> Result<Self> {
        let raw = present(raw).ok_or_else(|| {
            DomainError::invalid("image", "is required (an http(s) URL or raw base64)")
        })?;
        MediaSource::parse("image", raw, MAX_IMAGE_BYTES).map(ImageInput)
    }
}

/// A TTS audio id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioId(pub String);

/// The speech: a file (URL or base64, at most 5 MB) or a TTS audio id.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioInput {
    Sound(MediaSource),
    AudioId(AudioId),
}

impl AudioInput {
    /// Exactly one of the two, empty strings counting as absent.
    pub fn parse(sound_file: Option<&str>, audio_id: Option<&str>) -> Result<Self> {
        match (present(sound_file), present(audio_id)) {
            (Some(_), Some(_)) => Err(DomainError::invalid(
                "audio",
                "send either audio_id or sound_file, not both",
            )),
            (None, None) => Err(DomainError::invalid(
                "audio",
                "one of audio_id or sound_file is required",
            )),
            (Some(s), None) => {
                MediaSource::parse("sound_file", s, MAX_SOUND_BYTES).map(AudioInput::Sound)
            }
            (None, Some(id)) => {
                let id = id.trim();
                if id.len() > 128
                    || !id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(DomainError::invalid(
                        "audio_id",
                        "is not an audio id from POST /v1/audio/tts",
                    ));
                }
                Ok(AudioInput::AudioId(AudioId(id.to_string())))
            }
        }
    }
}

/// What the avatar should do; at most 2500 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt(String);

impl Prompt {
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>> {
        let Some(p) = present(raw) else {
            return Ok(None);
        };
        let n = p.chars().count();
        if n > MAX_PROMPT_CHARS {
            return Err(DomainError::invalid(
                "prompt",
                format!("is {n} characters long; the limit is {MAX_PROMPT_CHARS}"),
            ));
        }
        Ok(Some(Prompt(p.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Output tier: `std` (720p, 24 fps) or `pro` (1080p, 48 fps). The
/// engine's own type: a request's mode reaches the renderer as it is.
pub use mouthpiece_engine::Mode;

/// A request's `mode`; absent or empty is `std`.
pub fn parse_mode(raw: Option<&str>) -> Result<Mode> {
    match present(raw).map(str::trim) {
        None | Some("std") => Ok(Mode::Std),
        Some("pro") => Ok(Mode::Pro),
        Some(other) => Err(DomainError::invalid(
            "mode",
            format!("{other:?} is not a mode; use \"std\" or \"pro\""),
        )),
    }
}

/// The caller's own id for a task, unique within the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalTaskId(String);

impl ExternalTaskId {
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>> {
        let Some(id) = present(raw) else {
            return Ok(None);
        };
        let n = id.chars().count();
        if n > MAX_EXTERNAL_ID_CHARS {
            return Err(DomainError::invalid(
                "external_task_id",
                format!("is {n} characters long; the limit is {MAX_EXTERNAL_ID_CHARS}"),
            ));
        }
        if id.chars().any(|c| c.is_control() || c == '/') {
            return Err(DomainError::invalid(
                "external_task_id",
                "must not contain control characters or '/'",
            ));
        }
        Ok(Some(ExternalTaskId(id.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where status changes are POSTed: an http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUrl(Url);

impl CallbackUrl {
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>> {
        let Some(u) = present(raw) else {
            return Ok(None);
        };
        if u.len() > MAX_URL_CHARS {
            return Err(DomainError::invalid(
                "callback_url",
                format!("is longer than {MAX_URL_CHARS} characters"),
            ));
        }
        let url = Url::parse(u.trim())
            .map_err(|e| DomainError::invalid("callback_url", format!("not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(DomainError::invalid(
                "callback_url",
                "must be an http(s) URL with a host",
            ));
        }
        Ok(Some(CallbackUrl(url)))
    }

    pub fn url(&self) -> &Url {
        &self.0
    }
}

/// A validated avatar request, whatever dialect it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct AvatarRequest {
    pub image: ImageInput,
    pub audio: AudioInput,
    pub prompt: Option<Prompt>,
    pub mode: Mode,
    pub watermark: bool,
    pub callback_url: Option<CallbackUrl>,
    pub external_task_id: Option<ExternalTaskId>,
    /// The dialect that accepted it, which also formats its callbacks.
    pub dialect: &'static str,
    /// What some dialects keep with a task and show back.
    pub origin: RequestOrigin,
    /// Emotion and saved avatar prompt (useapi.net avatars).
    pub performance: Performance,
    /// The linked account (useapi.net) the task runs under, with its cap.
    pub linked: Option<LinkedSlot>,
}

/// How the avatar performs beyond the request's prompt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Performance {
    pub emotion: Option<mouthpiece_engine::animate::Emotion>,
    /// The saved avatar's own prompt; the request's prompt overrides its mood.
    pub avatar_prompt: Option<String>,
}

/// A linked account's email and how many tasks may run under it at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedSlot {
    pub email: String,
    pub max_jobs: u32,
}

/// Kept with a task as given, shown back by the dialects that have them:
/// a sub-account (profile) of the account, the caller's opaque
/// correlation value, the request as the caller sent it, and the model
/// name it asked for (dialects with aliases echo the name they were sent).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestOrigin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

/// A time window in Unix ms, both ends required (Kling's `/account/costs`
/// `start_time`/`end_time`), start not after end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl TimeWindow {
    pub fn parse(start: Option<&str>, end: Option<&str>) -> Result<Self> {
        let ms = |field: &str, v: Option<&str>| -> Result<i64> {
            let v = present(v).ok_or_else(|| DomainError::invalid(field, "is required"))?;
            v.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    DomainError::invalid(field, format!("{v:?} is not Unix milliseconds"))
                })
        };
        let (start_ms, end_ms) = (ms("start_time", start)?, ms("end_time", end)?);
        if start_ms > end_ms {
            return Err(DomainError::invalid(
                "end_time",
                "must not be before start_time",
            ));
        }
        Ok(Self { start_ms, end_ms })
    }
}

/// Paging, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u32,
    pub size: u32,
}

impl Page {
    /// `number` in 1..=max_number (default 1), `size` in 1..=max_size.
    pub fn parse(
        number: Option<&str>,
        size: Option<&str>,
        (number_field, max_number): (&str, u32),
        (size_field, max_size, default_size): (&str, u32, u32),
    ) -> Result<Self> {
        let int = |field: &str, raw: Option<&str>, default: u32, max: u32| -> Result<u32> {
            let Some(raw) = present(raw) else {
                return Ok(default);
            };
            match raw.trim().parse::<i64>() {
                Ok(v) if (1..=i64::from(max)).contains(&v) => Ok(v as u32),
                _ => Err(DomainError::invalid(
                    field,
                    format!("{raw:?} is out of range: use an integer from 1 to {max}"),
                )),
            }
        };
        Ok(Page {
            number: int(number_field, number, 1, max_number)?,
            size: int(size_field, size, default_size, max_size)?,
        })
    }

    pub fn offset(self) -> u64 {
        u64::from(self.number.saturating_sub(1)) * u64::from(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_strings_are_absent() {
        assert_eq!(ExternalTaskId::parse(Some("")).unwrap(), None);
        assert_eq!(CallbackUrl::parse(Some("  ")).unwrap(), None);
        assert_eq!(Prompt::parse(Some("")).unwrap(), None);
        assert_eq!(parse_mode(Some("")).unwrap(), Mode::Std);
    }

    #[test]
    fn audio_is_exactly_one() {
        assert!(AudioInput::parse(Some("AAAA"), Some("x")).is_err());
        assert!(AudioInput::parse(None, Some("")).is_err());
        assert!(matches!(
            AudioInput::parse(Some(""), Some("abc")).unwrap(),
            AudioInput::AudioId(_)
        ));
    }

    #[test]
    fn media_sources() {
        assert!(matches!(
            MediaSource::parse("image", "https://a.b/c.png", 10).unwrap(),
            MediaSource::Url(_)
        ));
        assert!(MediaSource::parse("image", "ftp://a.b/c.png", 10).is_err());
        assert_eq!(
            MediaSource::parse("image", "aGVsbG8=", 10).unwrap(),
            MediaSource::Inline(Bytes::from_static(b"hello"))
        );
        assert_eq!(
            MediaSource::parse("image", "data:image/png;base64,aGVs\nbG8", 10).unwrap(),
            MediaSource::Inline(Bytes::from_static(b"hello"))
        );
        assert!(MediaSource::parse("image", "not base64 at all!", 100).is_err());
        assert!(MediaSource::parse("image", "aGVsbG8=", 3).is_err());
    }

    #[test]
    fn pages() {
        let p = Page::parse(
            Some("2"),
            Some("10"),
            ("pageNum", 1000),
            ("pageSize", 500, 30),
        )
        .unwrap();
        assert_eq!((p.number, p.size, p.offset()), (2, 10, 10));
        assert_eq!(
            Page::parse(None, None, ("pageNum", 1000), ("pageSize", 500, 30))
                .unwrap()
                .size,
            30
        );
        assert!(Page::parse(None, Some("501"), ("pageNum", 1000), ("pageSize", 500, 30)).is_err());
        assert!(Page::parse(Some("0"), None, ("pageNum", 1000), ("pageSize", 500, 30)).is_err());
        assert!(Page::parse(Some("x"), None, ("pageNum", 1000), ("pageSize", 500, 30)).is_err());
    }
}
