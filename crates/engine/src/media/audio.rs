//! Speech intake with symphonia: WAV, MP3, M4A/AAC, OGG (and FLAC), any rate,
//! mono or stereo. Decoding streams: the full-rate audio goes to a 16-bit WAV
//! for the encoder, and only a 16 kHz mono copy stays in memory for analysis,
//! so a long file costs little memory.

use super::mp4_guard::Presentation;
use crate::error::{EngineError, Result};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Sample rate of the in-memory analysis copy.
pub const ANALYSIS_RATE: u32 = 16_000;

/// A decoded speech track.
#[derive(Debug, Clone)]
pub struct AudioTrack {
    pub source_rate: u32,
    pub source_channels: u16,
    /// Exact duration of the decoded audio in seconds.
    pub duration: f64,
    /// Mono, `ANALYSIS_RATE` Hz, full scale ±1.
    pub analysis: Vec<f32>,
}

impl AudioTrack {
    /// Builds a track from mono samples already at `ANALYSIS_RATE` (tests, TTS).
    pub fn from_analysis(samples: Vec<f32>) -> Self {
        Self {
            source_rate: ANALYSIS_RATE,
            source_channels: 1,
            duration: samples.len() as f64 / f64::from(ANALYSIS_RATE),
            analysis: samples,
        }
    }
}

/// Resamples mono samples at `rate` to `ANALYSIS_RATE` exactly as decoding
/// does, so synthesised and decoded speech give the same analysis signal.
pub fn to_analysis_rate(samples: &[f32], rate: u32) -> Vec<f32> {
    let mut d = Downmixer::new(rate.max(1), 1);
    d.push(samples);
    d.finish()
}

/// Decodes `input`, writing a PCM copy to `wav_out` when given.
pub fn decode_audio_file(input: &Path, wav_out: Option<&Path>) -> Result<AudioTrack> {
    decode_audio_file_within(input, wav_out, None)
}

/// Like [`decode_audio_file`], but stops with [`EngineError::AudioDuration`]
/// as soon as more than `max_seconds` were decoded: a few MB of FLAC or
/// low-bitrate audio can hold hours, which must not be decoded in full.
pub fn decode_audio_file_within(
    input: &Path,
    wav_out: Option<&Path>,
    max_seconds: Option<f64>,
) -> Result<AudioTrack> {
    let mut file = File::open(input)
        .map_err(|e| EngineError::InvalidAudio(format!("cannot open {}: {e}", input.display())))?;
    let presentation = guard_mp4(&mut file)?;
    let mut hint = Hint::new();
    if let Some(ext) = input.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    decode_guarded(mss, hint, wav_out, presentation, max_seconds)
}

/// Decodes an in-memory file (for callers that hold the bytes, and fuzzing);
/// `extension` is a format hint such as `"mp3"`.
pub fn decode_audio_bytes(bytes: Vec<u8>, extension: Option<&str>) -> Result<AudioTrack> {
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let mut cursor = std::io::Cursor::new(bytes);
    let presentation = guard_mp4(&mut cursor)?;
    let mss = MediaSourceStream::new(Box::new(cursor), Default::default());
    decode_guarded(mss, hint, None, presentation, None)
}

/// symphonia has panicked on hostile files (found by fuzzing, e.g. a step of
/// zero in its ADTS reader); a panic there is a corrupt file, not a crash.
fn decode_guarded(
    mss: MediaSourceStream,
    hint: Hint,
    wav_out: Option<&Path>,
    presentation: Option<Presentation>,
    max_seconds: Option<f64>,
) -> Result<AudioTrack> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_stream(mss, hint, wav_out, presentation, max_seconds)
    }))
    .unwrap_or_else(|_| {
        Err(EngineError::InvalidAudio(
            "the audio data is corrupt: the decoder could not read it".into(),
        ))
    })
}

/// Refuses MP4/M4A files whose tables would make the demuxer over-allocate,
/// and reads the part of the track a player presents (symphonia ignores
/// edit lists, so AAC priming would otherwise shift the speech).
fn guard_mp4<R: std::io::Read + std::io::Seek>(src: &mut R) -> Result<Option<Presentation>> {
    let io = |e: std::io::Error| EngineError::InvalidAudio(format!("cannot read the audio: {e}"));
    let corrupt =
        |reason: String| EngineError::InvalidAudio(format!("the file is corrupt: {reason}"));
    let mut presentation = None;
    for start in super::mp4_guard::find_mp4(src).map_err(io)? {
        let found = super::mp4_guard::check_mp4(src, start)
            .map_err(io)?
            .map_err(corrupt)?;
        presentation = presentation.or(found);
    }
    Ok(presentation)
}

fn decode_stream(
    mss: MediaSourceStream,
    hint: Hint,
    wav_out: Option<&Path>,
    presentation: Option<Presentation>,
    max_seconds: Option<f64>,
) -> Result<AudioTrack> {
    let bad = |e: SymError| EngineError::InvalidAudio(describe(e));
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions {
                // Trims encoder delay and padding where the container says how much.
                enable_gapless: true,
                ..FormatOptions::default()
            },
            &MetadataOptions::default(),
        )
        .map_err(bad)?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| EngineError::InvalidAudio("the file has no audio track".into()))?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(bad)?;

    let mut writer: Option<hound::WavWriter<BufWriter<File>>> = None;
    let mut resampler: Option<Downmixer> = None;
    let mut sample_buf: Option<SampleBuffer<f32>> = None;
    let mut frames: u64 = 0;
    // Decoded frames so far, kept or not, and the kept window in frames.
    let mut position: u64 = 0;
    let mut window = (0u64, u64::MAX);
    let (mut rate, mut channels) = (0u32, 0u16);
    let mut decode_errors = 0usize;

    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(bad(e)),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged packet inside an otherwise good file: skip it, as players do.
            Err(SymError::DecodeError(_)) => {
                decode_errors += 1;
                if decode_errors > 100 && frames == 0 {
                    return Err(EngineError::InvalidAudio(
                        "the audio data is corrupt: no packet could be decoded".into(),
                    ));
                }
                continue;
            }
            Err(e) => return Err(bad(e)),
        };
        let spec = *decoded.spec();
        if rate == 0 {
            rate = spec.rate;
            channels = u16::try_from(spec.channels.count()).unwrap_or(u16::MAX);
            if rate == 0 || channels == 0 || channels > 8 {
                return Err(EngineError::InvalidAudio(format!(
                    "unsupported stream layout: {rate} Hz, {channels} channels"
                )));
            }
            if let Some(path) = wav_out {
                let spec = hound::WavSpec {
                    channels,
                    sample_rate: rate,
                    bits_per_sample: 16,
                    sample_format: hound::SampleFormat::Int,
                };
                writer = Some(hound::WavWriter::create(path, spec).map_err(wav_err)?);
            }
            resampler = Some(Downmixer::new(rate, channels));
            if let Some(p) = presentation {
                let to_frames = |s: f64| (s * f64::from(rate)).round() as u64;
                let skip = to_frames(p.skip_seconds);
                let keep = p.keep_seconds.map_or(u64::MAX, to_frames);
                window = (skip, skip.saturating_add(keep));
            }
        } else if spec.rate != rate || spec.channels.count() != usize::from(channels) {
            return Err(EngineError::InvalidAudio(
                "the stream changes sample rate or channel count midway".into(),
            ));
        }
        let needed = decoded.capacity() as u64;
        let buf = match &mut sample_buf {
            Some(b) if b.capacity() as u64 >= needed * u64::from(channels) => b,
            _ => sample_buf.insert(SampleBuffer::<f32>::new(needed, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        let all = buf.samples();
        let ch = usize::from(channels);
        let count = (all.len() / ch) as u64;
        let from = window.0.clamp(position, position + count) - position;
        let to = window.1.clamp(position, position + count) - position;
        position += count;
        let samples = &all[from as usize * ch..to as usize * ch];
        frames += to - from;
        if let Some(max) = max_seconds {
            let seconds = frames as f64 / f64::from(rate);
            if seconds > max {
                return Err(EngineError::AudioDuration {
                    seconds,
                    limit: format!("it must not last more than {max:.0} s"),
                });
            }
        }
        if let Some(w) = &mut writer {
            for &s in samples {
                let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
                w.write_sample(v).map_err(wav_err)?;
            }
        }
        if let Some(r) = &mut resampler {
            r.push(samples);
        }
    }
    if let Some(w) = writer {
        w.finalize().map_err(wav_err)?;
    }
    let analysis = resampler.map(Downmixer::finish).unwrap_or_default();
    if frames == 0 || rate == 0 {
        return Err(EngineError::InvalidAudio(
            "the file contains no audio samples".into(),
        ));
    }
    Ok(AudioTrack {
        source_rate: rate,
        source_channels: channels,
        duration: frames as f64 / f64::from(rate),
        analysis,
    })
}

fn wav_err(e: hound::Error) -> EngineError {
    EngineError::Io(std::io::Error::other(e.to_string()))
}

fn describe(e: SymError) -> String {
    match e {
        SymError::Unsupported(what) => {
            format!("unsupported audio format ({what}); use WAV, MP3, M4A/AAC or OGG")
        }
        SymError::IoError(io) => format!("the audio file is truncated or unreadable ({io})"),
        SymError::DecodeError(what) => format!("the audio data is corrupt ({what})"),
        SymError::SeekError(_) => "the audio file is corrupt (bad seek)".into(),
        SymError::LimitError(what) => format!("the audio file exceeds a decoder limit ({what})"),
        SymError::ResetRequired => "the audio stream changes format midway".into(),
    }
}

/// Streams interleaved samples into a mono `ANALYSIS_RATE` signal, averaging
/// each output sample's input span (a box filter is plenty for analysis).
struct Downmixer {
    channels: usize,
    step: f64,
    acc: f64,
    count: u32,
    pos: f64,
    last: f64,
    out: Vec<f32>,
}

impl Downmixer {
    fn new(rate: u32, channels: u16) -> Self {
        Self {
            channels: usize::from(channels.max(1)),
            step: f64::from(ANALYSIS_RATE) / f64::from(rate),
            acc: 0.0,
            count: 0,
            pos: 0.0,
            last: 0.0,
            out: Vec::new(),
        }
    }

    fn push(&mut self, interleaved: &[f32]) {
        let inv = 1.0 / self.channels as f64;
        for frame in interleaved.chunks_exact(self.channels) {
            let m: f64 = frame.iter().map(|&s| f64::from(s)).sum::<f64>() * inv;
            self.acc += m;
            self.count += 1;
            self.pos += self.step;
            // Emit one output sample each time we cross an output sample boundary.
            while self.pos >= 1.0 {
                self.pos -= 1.0;
                // Upsampling emits several outputs per input: repeat the last value.
                if self.count > 0 {
                    self.last = self.acc / f64::from(self.count);
                }
                self.out.push(self.last as f32);
                self.acc = 0.0;
                self.count = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<f32> {
        if self.count > 0 && self.pos > 0.5 {
            self.out.push((self.acc / f64::from(self.count)) as f32);
        }
        self.out
    }
}
