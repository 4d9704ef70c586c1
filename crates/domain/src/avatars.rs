//! Saved avatars (a portrait with a default prompt and voice), the built-in
//! template avatars made from the sample portraits, and uploaded assets.
//! Personal avatar ids have more than 8 digits, template ids 8 or fewer,
//! as on Kling, so one id space serves both.

use crate::account::Account;
use crate::clock::now_ms;
use crate::error::{DomainError, Result};
use crate::files::UrlSigner;
use crate::ids;
use crate::input::{MediaSource, MAX_IMAGE_BYTES};
use crate::media;
use crate::services::TaskService;
use crate::voices::{self, Language, Voice};
use bytes::Bytes;
use mouthpiece_engine::animate::Emotion;
use mouthpiece_engine::face::FaceAnalyzer;
use mouthpiece_storage::{
    AssetQuery, AssetRecord, Assets, AvatarRecord, Avatars, BlobStore, PublicIds,
};
use std::sync::Arc;

pub const MAX_NICKNAME_CHARS: usize = 30;
pub const MAX_AVATAR_PROMPT_CHARS: usize = 2000;
pub const SCENES: [&str; 7] = [
    "all",
    "social_media",
    "entertainment",
    "advertising_marketing",
    "business",
    "education",
    "virtual_idol",
];
pub const DEFAULT_SCENE: &str = "advertising_marketing";
pub const DEFAULT_PROMPT: &str = "Natural speaking";

/// A built-in avatar.
pub struct Template {
    pub id: &'static str,
    pub name: &'static str,
    pub prompt: &'static str,
    pub file: &'static str,
    pub bytes: &'static [u8],
    pub speaker: &'static str,
}

pub const TEMPLATES: &[Template] = &[
    Template {
        id: "10001",
        name: "Statesman",
        prompt: "A calm statesman speaking to the camera with measured gestures",
        file: "statesman.jpg",
        bytes: include_bytes!("../../../assets/samples/obama.jpg"),
        speaker: "reader_en_m-v1",
    },
    Template {
        id: "10002",
        name: "Orator",
        prompt: "An orator addressing an audience, confident and warm",
        file: "orator.jpg",
        bytes: include_bytes!("../../../assets/samples/obama-speech.jpg"),
        speaker: "oversea_male1",
    },
    Template {
        id: "10003",
        name: "Elder",
        prompt: "A senior speaker, friendly and serious",
        file: "elder.jpg",
        bytes: include_bytes!("../../../assets/samples/biden.jpg"),
        speaker: "uk_oldman3",
    },
    Template {
        id: "10004",
        name: "Astronaut",
        prompt: "An astronaut explaining a mission, enthusiastic",
        file: "astronaut.png",
        bytes: include_bytes!("../../../assets/samples/astronaut.png"),
        speaker: "calm_story1",
    },
];

pub fn is_template_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 8 && id.bytes().all(|b| b.is_ascii_digit())
}

pub fn template(id: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.id == id)
}

/// The voice for a useapi `speakerId`: English first, as ids repeat.
pub fn speaker(id: &str) -> Option<&'static Voice> {
    voices::find(id, Language::En).or_else(|| voices::find(id, Language::Zh))
}

/// `ttsSpeed`/`speed`: 0.8–2.0.
pub fn parse_speed(field: &str, v: Option<&serde_json::Value>) -> Result<Option<f64>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let n = match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) if s.trim().is_empty() => return Ok(None),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (0.8..=2.0).contains(&n) => Ok(Some((n * 10.0).round() / 10.0)),
        _ => Err(DomainError::invalid(
            field,
            "must be a number from 0.8 to 2.0",
        )),
    }
}

/// One of the seven TTS emotion keys, exactly.
pub fn parse_emotion(field: &str, raw: Option<&str>) -> Result<Option<Emotion>> {
    let Some(raw) = crate::input::present(raw) else {
        return Ok(None);
    };
    Emotion::TTS_KEYS
        .iter()
        .copied()
        .find(|e| e.key() == raw.trim())
        .map(Some)
        .ok_or_else(|| {
            let keys: Vec<&str> = Emotion::TTS_KEYS.iter().map(|e| e.key()).collect();
            DomainError::invalid(field, format!("{raw:?} is not one of {}", keys.join(", ")))
        })
}

/// A validated `POST /avatars`; what is absent is filled in on create.
#[derive(Debug, Clone)]
pub struct NewAvatar {
    pub image: MediaSource,
    pub nickname: Option<String>,
    pub prompt: Option<String>,
    pub scene: Option<String>,
    pub speaker: Option<&'static Voice>,
    pub speed: Option<f64>,
    pub emotion: Option<Emotion>,
}

fn limited(field: &str, raw: Option<&str>, max: usize) -> Result<Option<String>> {
    let Some(s) = crate::input::present(raw) else {
        return Ok(None);
    };
    let n = s.chars().count();
    if n > max {
        return Err(DomainError::invalid(
            field,
            format!("is {n} characters long; the limit is {max}"),
        ));
    }
    Ok(Some(s.trim().to_string()))
}

pub fn parse_prompt(field: &str, raw: Option<&str>) -> Result<Option<String>> {
    limited(field, raw, MAX_AVATAR_PROMPT_CHARS)
}

impl NewAvatar {
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        image_url: Option<&str>,
        nickname: Option<&str>,
        prompt: Option<&str>,
        scene: Option<&str>,
        speaker_id: Option<&str>,
        speed: Option<&serde_json::Value>,
        emotion: Option<&str>,
    ) -> Result<Self> {
        let image = crate::input::present(image_url)
            .ok_or_else(|| DomainError::invalid("imageUrl", "is required"))?;
        let image = match MediaSource::parse("imageUrl", image, MAX_IMAGE_BYTES)? {
            u @ MediaSource::Url(_) => u,
            MediaSource::Inline(_) => {
                return Err(DomainError::invalid(
                    "imageUrl",
                    "must be an http(s) URL (upload the file with POST /assets)",
                ))
            }
        };
        let scene = match crate::input::present(scene) {
            None => None,
            Some(s) if SCENES.contains(&s.trim()) => Some(s.trim().to_string()),
            Some(s) => {
                return Err(DomainError::invalid(
                    "scene",
                    format!("{s:?} is not one of {}", SCENES.join(", ")),
                ))
            }
        };
        let speaker =
            match crate::input::present(speaker_id) {
                None => None,
                Some(id) => Some(speaker(id.trim()).ok_or_else(|| {
                    DomainError::invalid("ttsSpeaker", "Unable to locate speakerId")
                })?),
            };
        Ok(Self {
            image,
            nickname: limited("nickname", nickname, MAX_NICKNAME_CHARS)?,
            prompt: parse_prompt("prompt", prompt)?,
            scene,
            speaker,
            speed: parse_speed("ttsSpeed", speed)?,
            emotion: parse_emotion("ttsEmotionKey", emotion)?,
        })
    }
}

/// An avatar as shown: saved or template.
#[derive(Debug, Clone, PartialEq)]
pub struct Avatar {
    pub id: String,
    pub nickname: String,
    pub prompt: String,
    pub scene: String,
    pub image_url: String,
    pub speaker: String,
    pub speed: f64,
    pub emotion: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub template: bool,
}

/// What a video made with an avatar starts from.
pub struct AvatarDefaults {
    pub image: Bytes,
    pub prompt: String,
    pub speaker: String,
    pub speed: f64,
    pub emotion: Option<Emotion>,
}

/// An uploaded file.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    pub id: String,
    pub url: String,
    pub file_name: String,
    pub kind: AssetKind,
    pub mime: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub created_at: i64,
}

impl AssetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Image => "image",
            AssetKind::Video => "video",
            AssetKind::Audio => "audio",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "image" => Some(AssetKind::Image),
            "video" => Some(AssetKind::Video),
            "audio" => Some(AssetKind::Audio),
            _ => None,
        }
    }
}

/// Which uploads to list (useapi's `GET /assets/uploaded`).
#[derive(Debug, Clone)]
pub struct AssetFilter {
    pub kind: Option<AssetKind>,
    pub name_contains: Option<String>,
    pub newest_first: bool,
    /// 1-based.
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    Image,
    Video,
    Audio,
}

pub const ASSET_TYPES: [&str; 11] = [
    "image/png",
    "image/jpeg",
    "video/mp4",
    "video/quicktime",
    "audio/wav",
    "audio/wave",
    "audio/mpeg",
    "audio/mp4",
    "audio/flac",
    "audio/aac",
    "audio/ogg",
];

#[derive(Clone)]
pub struct AvatarService {
    avatars: Arc<dyn Avatars>,
    assets: Arc<dyn Assets>,
    ids: Arc<dyn PublicIds>,
    blobs: Arc<dyn BlobStore>,
    signer: UrlSigner,
    retention_ms: i64,
}

impl AvatarService {
    pub fn new(
        avatars: Arc<dyn Avatars>,
        assets: Arc<dyn Assets>,
        ids: Arc<dyn PublicIds>,
        blobs: Arc<dyn BlobStore>,
        signer: UrlSigner,
        retention_ms: i64,
    ) -> Self {
        Self {
            avatars,
            assets,
            ids,
            blobs,
            signer,
            retention_ms,
        }
    }

    /// URLs of saved avatars (kept until deleted) stay valid for at least
    /// the retention; the expiry is rounded up to a whole day so the URL a
    /// client sees does not change from one listing to the next.
    fn url(&self, key: &str) -> String {
        const DAY_S: i64 = 24 * 3600;
        let until = now_ms().saturating_add(self.retention_ms) / 1000;
        let expires = until.saturating_add(DAY_S - 1) / DAY_S * DAY_S;
        self.signer.url(key, expires)
    }

    fn view(&self, r: AvatarRecord) -> Avatar {
        Avatar {
            image_url: self.url(&r.image_key),
            id: r.id,
            nickname: r.nickname,
            prompt: r.prompt,
            scene: r.scene,
            speaker: r.tts_speaker,
            speed: r.tts_speed,
            emotion: r.tts_emotion,
            created_at: r.created_at,
            updated_at: r.updated_at,
            template: false,
        }
    }

    /// Saves an avatar. The image is cropped around its face (head and
    /// shoulders) when a face is found; a missing nickname, prompt, scene
    /// and voice are filled in.
    pub async fn create(
        &self,
        tasks: &TaskService,
        analyzer: Option<Arc<FaceAnalyzer>>,
        account: &Account,
        email: &str,
        new: NewAvatar,
    ) -> Result<Avatar> {
        let bytes = tasks
            .bytes_of("imageUrl", &new.image, MAX_IMAGE_BYTES)
            .await?;
        let image = media::check_image(bytes)
            .await
            .map_err(|e| rename(e, "imageUrl"))?;
        let (bytes, ext) = match analyzer {
            Some(a) => {
                let original = image.bytes.clone();
                tokio::task::spawn_blocking(move || face_crop(&a, &original))
                    .await
                    .map_err(DomainError::internal)??
                    .map_or((image.bytes, image.ext), |b| (b, "png"))
            }
            None => (image.bytes, image.ext),
        };
        let id = ids::public_id(&*self.ids).await?;
        let key = format!("avatars/{}/{id}.{ext}", account.id);
        self.blobs.put(&key, bytes).await?;
        let count = self.avatars.avatars(&account.id).await?.len();
        let prompt = new.prompt.unwrap_or_else(|| DEFAULT_PROMPT.to_string());
        let voice = new.speaker.unwrap_or_else(|| fitting_voice(&prompt));
        let now = now_ms();
        let rec = AvatarRecord {
            id,
            account_id: account.id.clone(),
            email: email.to_string(),
            nickname: new
                .nickname
                .unwrap_or_else(|| format!("Avatar {}", count + 1)),
            prompt,
            scene: new.scene.unwrap_or_else(|| DEFAULT_SCENE.to_string()),
            image_key: key,
            tts_speaker: voice.id.to_string(),
            tts_speed: new.speed.unwrap_or(1.0),
            tts_emotion: new.emotion.unwrap_or_default().key().to_string(),
            created_at: now,
            updated_at: now,
        };
        self.avatars.insert_avatar(&rec).await?;
        Ok(self.view(rec))
    }

    pub async fn personal(&self, account: &Account) -> Result<Vec<Avatar>> {
        Ok(self
            .avatars
            .avatars(&account.id)
            .await?
            .into_iter()
            .map(|r| self.view(r))
            .collect())
    }

    /// The templates, their portraits stored on first use.
    pub async fn templates(&self) -> Result<Vec<Avatar>> {
        let mut out = Vec::with_capacity(TEMPLATES.len());
        for t in TEMPLATES {
            let key = format!("templates/{}", t.file);
            if self.blobs.size(&key).await?.is_none() {
                self.blobs.put(&key, Bytes::from_static(t.bytes)).await?;
            }
            out.push(Avatar {
                id: t.id.into(),
                nickname: t.name.into(),
                prompt: t.prompt.into(),
                scene: DEFAULT_SCENE.into(),
                image_url: self.url(&key),
                speaker: t.speaker.into(),
                speed: 1.0,
                emotion: "neutral".into(),
                created_at: 0,
                updated_at: 0,
                template: true,
            });
        }
        Ok(out)
    }

    /// A saved avatar of the account or a template, for a video.
    pub async fn defaults(&self, account: &Account, id: &str) -> Result<AvatarDefaults> {
        let id = id.trim();
        let not_found = || DomainError::NotFound {
            what: format!("avatar {id:?}"),
        };
        if is_template_id(id) {
            let t = template(id).ok_or_else(not_found)?;
            return Ok(AvatarDefaults {
                image: Bytes::from_static(t.bytes),
                prompt: t.prompt.into(),
                speaker: t.speaker.into(),
                speed: 1.0,
                emotion: None,
            });
        }
        let r = self
            .avatars
            .avatar(&account.id, id)
            .await?
            .ok_or_else(not_found)?;
        let image = match self.blobs.get(&r.image_key).await {
            Ok(b) => b,
            Err(mouthpiece_storage::StorageError::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        Ok(AvatarDefaults {
            image,
            prompt: r.prompt,
            speaker: r.tts_speaker,
            speed: r.tts_speed,
            emotion: Emotion::from_key(&r.tts_emotion),
        })
    }

    pub async fn delete(&self, account: &Account, id: &str) -> Result<()> {
        let id = id.trim();
        let rec =
            self.avatars
                .avatar(&account.id, id)
                .await?
                .ok_or_else(|| DomainError::NotFound {
                    what: format!("avatar {id:?}"),
                })?;
        self.avatars.delete_avatar(&account.id, id).await?;
        if let Err(e) = self.blobs.delete(&rec.image_key).await {
            tracing::warn!(error = %e, avatar = id, "could not remove a deleted avatar's image");
        }
        Ok(())
    }

    /// Stores an upload after checking its declared type and limits:
    /// images ≤ 10 MB and ≥ 300 px, videos ≤ 100 MB, audio ≤ 20 MB and ≤ 30 s.
    /// Stores an upload under the account and linked `email`.
    pub async fn upload(
        &self,
        account: &Account,
        email: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<Asset> {
        let ct = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !ASSET_TYPES.contains(&ct.as_str()) {
            return Err(DomainError::invalid(
                "Content-Type",
                format!(
                    "Content-Type {content_type} is not supported. Valid values: {}",
                    ASSET_TYPES.join(", ")
                ),
            ));
        }
        let too_big =
            |mb: u64| DomainError::invalid("body", format!("the {ct} file is larger than {mb} MB"));
        if body.is_empty() {
            return Err(DomainError::invalid(
                "body",
                "is empty: send the file as the raw body",
            ));
        }
        let (mut width, mut height, mut duration_ms) = (None, None, None);
        let (kind, ext) = if ct.starts_with("image/") {
            if body.len() as u64 > MAX_IMAGE_BYTES {
                return Err(too_big(10));
            }
            let img = media::check_image(body.clone())
                .await
                .map_err(|e| rename(e, "body"))?;
            (width, height) = (Some(img.width), Some(img.height));
            (AssetKind::Image, img.ext)
        } else if ct.starts_with("video/") {
            if body.len() > 100 * 1024 * 1024 {
                return Err(too_big(100));
            }
            let ext = if ct == "video/mp4" { "mp4" } else { "mov" };
            let v = media::check_video(body.clone(), ext).await?;
            (width, height) = (Some(v.width), Some(v.height));
            duration_ms = Some((v.duration * 1000.0).round() as u64);
            (AssetKind::Video, ext)
        } else {
            if body.len() > 20 * 1024 * 1024 {
                return Err(too_big(20));
            }
            let a = media::check_audio_within("body", body.clone(), 30.0).await?;
            if a.duration > 30.0 {
                return Err(DomainError::invalid(
                    "body",
                    format!("the audio is {:.1} s long; the limit is 30 s", a.duration),
                ));
            }
            duration_ms = Some((a.duration * 1000.0).round() as u64);
            (AssetKind::Audio, a.ext)
        };
        let id = ids::public_id(&*self.ids).await?;
        let file_name = format!("{}.{ext}", ids::token(15).to_ascii_lowercase());
        let key = format!("assets/{}/{file_name}", account.id);
        self.blobs.put(&key, body).await?;
        let record = AssetRecord {
            id,
            account_id: account.id.clone(),
            email: email.to_string(),
            file_name,
            kind: kind.as_str().into(),
            mime: ct,
            blob_key: key,
            width: width.map(i64::from),
            height: height.map(i64::from),
            duration_ms: duration_ms.and_then(|d| i64::try_from(d).ok()),
            created_at: now_ms(),
        };
        if let Err(e) = self.assets.insert_asset(&record).await {
            // No row, no listing: the bytes would be unreachable.
            let _ = self.blobs.delete(&record.blob_key).await;
            return Err(e.into());
        }
        Ok(self.asset_view(record))
    }

    fn asset_view(&self, r: AssetRecord) -> Asset {
        let dim = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
        // Valid until the janitor removes the upload: the same URL every
        // time the upload is shown.
        let expires = r.created_at.saturating_add(self.retention_ms) / 1000;
        Asset {
            url: self.signer.url(&r.blob_key, expires),
            kind: AssetKind::parse(&r.kind).unwrap_or(AssetKind::Image),
            width: dim(r.width),
            height: dim(r.height),
            duration_ms: r.duration_ms.and_then(|v| u64::try_from(v).ok()),
            id: r.id,
            file_name: r.file_name,
            mime: r.mime,
            created_at: r.created_at,
        }
    }

    /// A page of the account's uploads under `email`.
    pub async fn uploads(
        &self,
        account: &Account,
        email: &str,
        filter: &AssetFilter,
    ) -> Result<Vec<Asset>> {
        let limit = filter.page_size.clamp(1, 100);
        let query = AssetQuery {
            email: email.to_string(),
            kind: filter.kind.map(|k| k.as_str().to_string()),
            name_contains: filter.name_contains.clone().filter(|s| !s.is_empty()),
            newest_first: filter.newest_first,
            offset: filter.page.max(1).saturating_sub(1).saturating_mul(limit),
            limit,
        };
        let rows = self.assets.assets(&account.id, &query).await?;
        Ok(rows.into_iter().map(|r| self.asset_view(r)).collect())
    }

    /// Deletes uploads (records and bytes); returns the ids that were the
    /// account's. Avatars made from an upload keep their own copy.
    pub async fn delete_uploads(
        &self,
        account: &Account,
        email: &str,
        ids: &[String],
    ) -> Result<Vec<String>> {
        let gone = self.assets.delete_assets(&account.id, email, ids).await?;
        for a in &gone {
            if let Err(e) = self.blobs.delete(&a.blob_key).await {
                tracing::warn!(key = %a.blob_key, error = %e, "a deleted upload's bytes stay behind");
            }
        }
        Ok(gone.into_iter().map(|a| a.id).collect())
    }
}

fn rename(e: DomainError, field: &str) -> DomainError {
    match e {
        DomainError::InvalidInput { reason, .. } => DomainError::invalid(field, reason),
        other => other,
    }
}

/// No voice classifier: a voice whose description fits words of the prompt,
/// else the default English voice.
fn fitting_voice(prompt: &str) -> &'static Voice {
    let p = prompt.to_ascii_lowercase();
    let id = if ["woman", "female", "lady", "girl", "she "]
        .iter()
        .any(|w| p.contains(w))
    {
        "commercial_lady_en_f-v1"
    } else if ["old", "senior", "elder"].iter().any(|w| p.contains(w)) {
        "uk_oldman3"
    } else {
        "oversea_male1"
    };
    speaker(id).unwrap_or(&voices::VOICES[0])
}

/// Head-and-shoulders crop around the largest face (3:4, face ~40 % of the
/// width), as a PNG; `None` when no face is found or the crop would fall
/// under 300 px, in which case the image is kept whole.
fn face_crop(analyzer: &FaceAnalyzer, bytes: &[u8]) -> Result<Option<Bytes>> {
    let img = mouthpiece_engine::media::image::decode_portrait(bytes, &Default::default())
        .map_err(|e| DomainError::invalid("imageUrl", e.to_string()))?;
    let Ok(face) = analyzer.analyze(&img) else {
        return Err(DomainError::invalid(
            "imageUrl",
            "no face was found in the image",
        ));
    };
    let (iw, ih) = (img.width() as f32, img.height() as f32);
    let r = face.rect;
    let w = (r.w * 2.5).min(iw).min(ih * 0.75);
    let h = (w * 4.0 / 3.0).min(ih);
    let cx = r.x + r.w / 2.0;
    let cy = r.y + r.h * 0.7;
    let x = (cx - w / 2.0).clamp(0.0, (iw - w).max(0.0));
    let y = (cy - h / 2.0).clamp(0.0, (ih - h).max(0.0));
    if w < 300.0 || h < 300.0 || (w >= iw * 0.95 && h >= ih * 0.95) {
        return Ok(None);
    }
    let crop = image::imageops::crop_imm(&img, x as u32, y as u32, w as u32, h as u32).to_image();
    let mut out = std::io::Cursor::new(Vec::new());
    crop.write_to(&mut out, image::ImageFormat::Png)
        .map_err(DomainError::internal)?;
    Ok(Some(Bytes::from(out.into_inner())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_ids_are_short_and_known() {
        for t in TEMPLATES {
            assert!(is_template_id(t.id), "{}", t.id);
            assert!(speaker(t.speaker).is_some(), "{}", t.speaker);
        }
        assert!(!is_template_id("123456789012"));
    }

    #[test]
    fn emotions_and_speeds_are_checked() {
        assert_eq!(
            parse_emotion("e", Some("happy")).unwrap(),
            Some(Emotion::Happy)
        );
        assert!(parse_emotion("e", Some("serious")).is_err());
        assert_eq!(
            parse_speed("s", Some(&serde_json::json!("1.5"))).unwrap(),
            Some(1.5)
        );
        assert!(parse_speed("s", Some(&serde_json::json!(2.5))).is_err());
    }
}
