//! Quality figures for a rendered talking-head video, measured with the
//! project's own face model (the face mesh by default, read as 68 contour
//! points) on frames decoded by ffmpeg: audio–mouth correlation and lag,
//! blinks, head motion, landmark jitter, background preservation, mouth
//! sharpness and the mouth figures (closure, edges, colour, teeth). These
//! are the CPU metrics of the reference survey (§4.4), reported against
//! targets T3–T12 and M1–M5.

use crate::error::{EngineError, Result};
use crate::face::{detect::to_dlib_box, Face, FaceAnalyzer, Roi};
use crate::geometry::{Point, Rect};
use crate::media::{decode_audio_file, load_portrait_file, PortraitLimits, ANALYSIS_RATE};
use image::{GrayImage, RgbImage};
use rayon::prelude::*;
use serde::Serialize;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

mod mouth;
pub use mouth::MouthFigures;

/// Landmarks that do not move with speech, blinks or brows: eye corners and nose.
const STABLE: [usize; 11] = [27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45];
/// Rigid points for the head-pose fit (stable points plus the jaw's ends).
const POSE: [usize; 13] = [0, 16, 27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45];

#[derive(Debug, Clone, Serialize)]
pub struct QualityReport {
    pub width: usize,
    pub height: usize,
    pub fps: f64,
    pub frames: usize,
    pub duration: f64,
    /// Share of frames in which the face was followed.
    pub face_tracked: f64,
    pub sync: SyncFigures,
    pub blinks: BlinkFigures,
    pub head: HeadFigures,
    /// Frame-to-frame landmark jitter of stable points after removing the
    /// head's motion, RMS pixels.
    pub jitter_px: f64,
    pub background: BackgroundFigures,
    pub sharpness: SharpnessFigures,
    pub mouth: MouthFigures,
    /// Per-frame measurements.
    pub series: Series,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncFigures {
    /// Peak normalised cross-correlation of mouth opening and the 2–7 Hz
    /// speech envelope over ±500 ms.
    pub r: f64,
    /// Lag of the peak; positive when the mouth follows the sound.
    pub lag_ms: f64,
    pub r_at_zero: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlinkFigures {
    pub count: usize,
    pub per_minute: f64,
    pub mean_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// Coefficient of variation of the intervals (0 would be a metronome).
    pub interval_cv: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HeadFigures {
    /// Largest deviation from the clip's median, degrees (after a 200 ms
    /// moving average: single-frame landmark noise is not head motion).
    pub roll_deg: f64,
    pub yaw_deg: f64,
    pub pitch_deg: f64,
    /// Largest shift of the stable points' centre, % of face width.
    pub translation_pct: f64,
    /// Share of head-motion energy below 2 Hz (stable-point trajectory and
    /// eye-line roll); none when the head does not move.
    pub low_band_share: Option<f64>,
    /// Standard deviation of the stable points' vertical position, pixels.
    pub vertical_std_px: f64,
    /// Inter-ocular distance over the first and last tenth of the clip.
    pub iod_start_px: f64,
    pub iod_end_px: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackgroundFigures {
    /// PSNR of the video's Y plane against the source's (converted as the
    /// engine does) outside the dilated face motion mask.
    pub psnr_db: f64,
    pub psnr_min_db: f64,
    pub ssim: f64,
    /// Mean absolute frame-to-frame luma difference outside the mask.
    pub flicker: f64,
    /// The mask (output pixels) outside which the figures are taken.
    pub mask: Rect,
}

#[derive(Debug, Clone, Serialize)]
pub struct SharpnessFigures {
    /// Laplacian variance of the open mouth over that of the source face.
    pub mouth_vs_source_face: f64,
    /// ... and over the source's own mouth region.
    pub mouth_vs_source_mouth: f64,
    pub open_frames: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Series {
    /// Inner-lip gap over mouth width.
    pub mouth_open: Vec<f64>,
    /// Eye aspect ratio (mean of both eyes).
    pub eye_open: Vec<f64>,
    pub roll_deg: Vec<f64>,
    pub yaw_deg: Vec<f64>,
    pub pitch_deg: Vec<f64>,
    /// Centre of the stable points.
    pub centre_x: Vec<f64>,
    pub centre_y: Vec<f64>,
    pub iod_px: Vec<f64>,
}

/// Measures `video` rendered from the portrait `source` (and `audio`, else
/// the video's own sound track).
pub fn measure(
    video: &Path,
    source: &Path,
    audio: Option<&Path>,
    faces: &FaceAnalyzer,
) -> Result<QualityReport> {
    measure_with_sheet(video, source, audio, faces, None)
}

/// [`measure`], and with `sheet` a contact sheet of mouth crops at 2x: the
/// source's mouth, then the most open, the most closed and a p/b/m frame.
pub fn measure_with_sheet(
    video: &Path,
    source: &Path,
    audio: Option<&Path>,
    faces: &FaceAnalyzer,
    sheet: Option<&Path>,
) -> Result<QualityReport> {
    let (w, h, fps) = probe(video)?;
    let portrait = load_portrait_file(source, &PortraitLimits::default())?;
    let src = if portrait.dimensions() == (w as u32, h as u32) {
        portrait
    } else {
        image::imageops::resize(
            &portrait,
            w as u32,
            h as u32,
            image::imageops::FilterType::Lanczos3,
        )
    };
    let src_face = faces.analyze(&src)?;
    // The measurements are defined on the classic 68-point layout.
    let src_lm = src_face.regions.layout68();
    // dlib's path follows a box fitted from the source's own box.
    let src_box = to_dlib_box(&src_face.rect);
    let mask = crate::animate::rig::motion_region(&src_face.regions, w as u32, h as u32)
        .map(|r| Rect::new(r.x - 8.0, r.y - 8.0, r.w + 16.0, r.h + 16.0))
        .unwrap_or(Rect::new(0.0, 0.0, w as f32, h as f32));
    // The source as the engine hands it to the encoder: its Y plane.
    let src_y = crate::animate::YuvFrame::from_rgb(&src).data[..w * h].to_vec();
    let src_gray = FaceAnalyzer::dlib_gray(&src);
    let face_var = laplacian_var(&src_gray, &Rect::bounding(&src_lm[17..]));
    let mouth_var_src = laplacian_var(&src_gray, &mouth_roi(&src_lm));

    // Decode and follow the face frame by frame.
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| io_err(format!("cannot run ffmpeg: {e}")))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| io_err("ffmpeg gave no output".into()))?;
    let frame_bytes = crate::animate::YuvFrame::byte_len(w, h);
    let mut buf = vec![0u8; frame_bytes];
    let mut landmarks: Vec<Option<Vec<Point>>> = Vec::new();
    // With the mesh, yaw and pitch come from its rigid points as the pixels
    // place them (`mesh_pose`).
    let mut mesh_poses: Vec<Option<(f64, f64)>> = Vec::new();
    let mut prev: Option<Face> = None;
    let mut search_roi: Option<Roi> = None;
    let mut prev_y: Option<Vec<u8>> = None;
    let mut bg: Vec<(f64, f64, f64)> = Vec::new();
    let mut sharp: Vec<f64> = Vec::new();
    let mut index = 0usize;
    // Background figures on about 60 frames spread over the clip.
    let estimate = probe_frames(video).unwrap_or(0).max(1);
    let step = (estimate / 60).max(1);
    // The speech, decoded once: the sync figures and the sheet's p/b/m frame.
    let speech = decode_audio_file(audio.unwrap_or(video), None).ok();
    let closures = speech.as_ref().map(closures).unwrap_or_default();
    let pauses = speech
        .as_ref()
        .map(|t| quiet_spans(&audio_envelope(t)))
        .unwrap_or_default();
    let mut crops = SheetFrames::new(&src_lm, pbm_frame(&closures, fps));
    let mut mouth = mouth::MouthMeter::new(&src, &src_lm, &closures, &pauses, fps);
    loop {
        if !read_full(&mut stdout, &mut buf)? {
            break;
        }
        let img = yuv_to_rgb(&buf, w, h);
        let gray = FaceAnalyzer::dlib_gray(&img);
        let tracked = track(
            faces,
            &img,
            prev.as_ref(),
            &mut search_roi,
            &src_face,
            &src_box,
        );
        let lm = tracked.as_ref().map(|f| f.regions.layout68());
        mouth.offer(index, &img, lm.as_deref());
        if sheet.is_some() {
            if let Some(l) = &lm {
                crops.offer(index, &img, l);
            }
        }
        mesh_poses.push(
            tracked
                .as_ref()
                .and_then(|f| mesh_pose(&src_face, &src_gray, f, &gray)),
        );
        if let Some(l) = &lm {
            if mouth_open(l) > 0.12 {
                sharp.push(laplacian_var(&gray, &mouth_roi(l)));
            }
        }
        let y = buf[..w * h].to_vec();
        if index.is_multiple_of(step) {
            let flick = prev_y
                .as_ref()
                .map(|p| mad_outside(p, &y, w, h, &mask))
                .unwrap_or(0.0);
            let (psnr, ssim) = rayon::join(
                || psnr_outside(&src_y, &y, w, h, &mask),
                || ssim_outside(&src_y, &y, w, h, &mask),
            );
            bg.push((psnr, ssim, flick));
        }
        prev_y = Some(y);
        prev = tracked.or(prev);
        landmarks.push(lm);
        index += 1;
    }
    let _ = child.wait();
    if let Some(path) = sheet {
        crops.write(path, &src, &src_lm)?;
    }
    let n = landmarks.len();
    if n == 0 {
        return Err(io_err(format!(
            "no frames decoded from {}",
            video.display()
        )));
    }

    // Per-frame series (gaps filled from the previous frame).
    let mut series = Series::default();
    let mut last: Option<&Vec<Point>> = None;
    let mut tracked = 0usize;
    let mut last_pose: Option<(f64, f64)> = None;
    for (l, mesh_pose) in landmarks.iter().zip(&mesh_poses) {
        if l.is_some() {
            tracked += 1;
        }
        if mesh_pose.is_some() {
            last_pose = *mesh_pose;
        }
        let Some(l) = l.as_ref().or(last) else {
            series.mouth_open.push(0.0);
            series.eye_open.push(0.0);
            series.roll_deg.push(0.0);
            series.yaw_deg.push(0.0);
            series.pitch_deg.push(0.0);
            series.centre_x.push(0.0);
            series.centre_y.push(0.0);
            series.iod_px.push(0.0);
            continue;
        };
        last = Some(l);
        series.mouth_open.push(mouth_open(l));
        series.eye_open.push((ear(l, 36) + ear(l, 42)) / 2.0);
        let e = l[45].minus(l[36]);
        series.roll_deg.push(f64::from(e.y.atan2(e.x)).to_degrees());
        let (yaw, pitch) = last_pose.unwrap_or_else(|| pose_angles(l, &src_lm));
        series.yaw_deg.push(yaw);
        series.pitch_deg.push(pitch);
        let c = centroid(l, &STABLE);
        series.centre_x.push(f64::from(c.x));
        series.centre_y.push(f64::from(c.y));
        series.iod_px.push(f64::from(
            centroid(l, &[36, 37, 38, 39, 40, 41]).dist(centroid(l, &[42, 43, 44, 45, 46, 47])),
        ));
    }

    let sync = match speech.as_ref().map(audio_envelope) {
        Some(env) => av_sync(&series.mouth_open, &env, fps),
        None => SyncFigures {
            r: 0.0,
            lag_ms: 0.0,
            r_at_zero: 0.0,
        },
    };
    let duration = n as f64 / fps;
    let blinks = blink_figures(&series.eye_open, fps, duration);
    let face_w = f64::from(src_lm[16].dist(src_lm[0])).max(1.0);
    let head = head_figures(&series, fps, face_w);
    let jitter_px = jitter(&landmarks);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let background = BackgroundFigures {
        psnr_db: mean(&bg.iter().map(|b| b.0).collect::<Vec<_>>()),
        psnr_min_db: bg.iter().map(|b| b.0).fold(f64::MAX, f64::min).min(99.0),
        ssim: mean(&bg.iter().map(|b| b.1).collect::<Vec<_>>()),
        flicker: mean(&bg.iter().skip(1).map(|b| b.2).collect::<Vec<_>>()),
        mask,
    };
    let mouth_var = mean(&sharp);
    let sharpness = SharpnessFigures {
        mouth_vs_source_face: mouth_var / face_var.max(1e-9),
        mouth_vs_source_mouth: mouth_var / mouth_var_src.max(1e-9),
        open_frames: sharp.len(),
    };
    Ok(QualityReport {
        width: w,
        height: h,
        fps,
        frames: n,
        duration,
        face_tracked: tracked as f64 / n as f64,
        sync,
        blinks,
        head,
        jitter_px,
        background,
        sharpness,
        mouth: mouth.figures(),
        series,
    })
}

impl QualityReport {
    /// A table of figures, each next to its target.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let mut row = |id: &str, what: &str, value: String, target: &str, ok: Option<bool>| {
            let mark = match ok {
                Some(true) => "ok",
                Some(false) => "MISS",
                None => "",
            };
            t.push_str(&format!(
                "{id:<4} {what:<38} {value:>18}   {target:<34} {mark}\n"
            ));
        };
        let s = &self.sync;
        row(
            "",
            "frames / face followed",
            format!("{} / {:.0} %", self.frames, self.face_tracked * 100.0),
            &format!("{}x{} at {:.2} fps", self.width, self.height, self.fps),
            None,
        );
        row(
            "T3",
            "A/V lag (mouth after sound)",
            format!("{:+.0} ms", s.lag_ms),
            "within ±40 ms (ATSC +15/-45)",
            Some(s.lag_ms.abs() <= 40.0),
        );
        row(
            "T4",
            "audio-mouth correlation r",
            format!("{:.2} (at 0: {:.2})", s.r, s.r_at_zero),
            ">= 0.8x real-video r (no anchor)",
            None,
        );
        let b = &self.blinks;
        row(
            "T11",
            "blinks per minute",
            format!("{:.1} ({})", b.per_minute, b.count),
            "15-26",
            Some((15.0..=26.0).contains(&b.per_minute)),
        );
        row(
            "T11",
            "blink duration mean [min-max]",
            format!("{:.0} [{:.0}-{:.0}] ms", b.mean_ms, b.min_ms, b.max_ms),
            "150-400 ms",
            Some(b.count == 0 || (b.min_ms >= 100.0 && b.max_ms <= 450.0)),
        );
        row(
            "T11",
            "blink interval variation (CV)",
            format!("{:.2}", b.interval_cv),
            "irregular (log-normal), CV > 0.2",
            Some(b.count < 3 || b.interval_cv > 0.2),
        );
        let hd = &self.head;
        row(
            "T12",
            "head roll / yaw / pitch (max dev)",
            format!(
                "{:.1} / {:.1} / {:.1} deg",
                hd.roll_deg, hd.yaw_deg, hd.pitch_deg
            ),
            "<= 3 deg each",
            Some(hd.roll_deg <= 3.0 && hd.yaw_deg <= 3.0 && hd.pitch_deg <= 3.0),
        );
        row(
            "T12",
            "head translation",
            format!("{:.1} % face width", hd.translation_pct),
            "<= 2 %",
            Some(hd.translation_pct <= 2.0),
        );
        row(
            "T12",
            "head motion energy below 2 Hz",
            hd.low_band_share
                .map(|v| format!("{:.0} %", v * 100.0))
                .unwrap_or_else(|| "no motion".into()),
            ">= 80 %",
            hd.low_band_share.map(|v| v >= 0.8),
        );
        row(
            "T10",
            "stable-landmark jitter",
            format!("{:.2} px RMS", self.jitter_px),
            "<= 0.3 px at 512 px, motion off",
            None,
        );
        let bg = &self.background;
        row(
            "T10",
            "background flicker",
            format!("{:.2} grey levels", bg.flicker),
            "<= 0.5",
            Some(bg.flicker <= 0.5),
        );
        row(
            "T8",
            "PSNR outside face mask (luma)",
            format!("{:.1} dB (min {:.1})", bg.psnr_db, bg.psnr_min_db),
            ">= 45 dB",
            Some(bg.psnr_db >= 45.0),
        );
        row(
            "T8",
            "SSIM outside face mask",
            format!("{:.4}", bg.ssim),
            ">= 0.995",
            Some(bg.ssim >= 0.995),
        );
        let sh = &self.sharpness;
        row(
            "T9",
            "mouth sharpness / source face",
            format!("{:.2} ({} frames)", sh.mouth_vs_source_face, sh.open_frames),
            ">= 0.8 (Laplacian variance)",
            if sh.open_frames > 0 {
                Some(sh.mouth_vs_source_face >= 0.8)
            } else {
                None
            },
        );
        row(
            "T9",
            "mouth sharpness / source mouth",
            format!("{:.2}", sh.mouth_vs_source_mouth),
            "(same region in the source)",
            None,
        );
        let m = &self.mouth;
        row(
            "M1",
            "lip gap at p/b/m (widest closure)",
            format!("{:.3} ({} closures)", m.pbm_gap_max, m.pbm_closures),
            &format!(
                "<= 0.04 (source {:.3}, open {:.3})",
                m.source_gap, m.open_gap
            ),
            (m.pbm_closures > 0).then_some(m.pbm_gap_max <= 0.04),
        );
        row(
            "M1",
            "lip gap in pauses >= 350 ms",
            format!("{:.3} ({} frames)", m.pause_gap_max, m.pause_frames),
            "<= 0.04",
            (m.pause_frames > 0).then_some(m.pause_gap_max <= 0.04),
        );
        row(
            "M2",
            "edge inside the mouth / lip edge",
            format!("{:.2}", m.edge_ratio),
            "<= 1.0 (Sobel p98)",
            (m.open_frames > 0).then_some(m.edge_ratio <= 1.0),
        );
        row(
            "M3",
            "mouth chroma (source face)",
            format!("{:.0} ({:.0})", m.chroma, m.source_chroma),
            "grey source: <= source + 2",
            (m.source_chroma < 12.0).then_some(m.chroma <= m.source_chroma + 2.0),
        );
        row(
            "M4",
            "inside sharpness / face around",
            format!("{:.2} ({} frames)", m.interior_sharpness, m.open_frames),
            "0.8-1.25 (re-blur ratio)",
            (m.open_frames > 0).then_some((0.8..=1.25).contains(&m.interior_sharpness)),
        );
        row(
            "M5",
            "frames with teeth below the lower lip",
            format!("{}", m.teeth_below_lip_frames),
            "0",
            Some(m.teeth_below_lip_frames == 0),
        );
        t
    }
}

fn io_err(msg: String) -> EngineError {
    EngineError::Io(std::io::Error::other(msg))
}

fn probe(video: &Path) -> Result<(usize, usize, f64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,avg_frame_rate",
            "-of",
            "default=nw=1",
        ])
        .arg(video)
        .output()
        .map_err(|e| io_err(format!("cannot run ffprobe: {e}")))?;
    if !out.status.success() {
        return Err(io_err(format!("ffprobe cannot read {}", video.display())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut w, mut h, mut fps) = (0usize, 0usize, 0.0f64);
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("width=") {
            w = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("height=") {
            h = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("avg_frame_rate=") {
            let mut it = v.trim().split('/');
            let a: f64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
            let b: f64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(1.0);
            fps = if b > 0.0 { a / b } else { 0.0 };
        }
    }
    if w == 0 || h == 0 || fps.is_nan() || fps <= 0.0 {
        return Err(io_err(format!("{} has no video stream", video.display())));
    }
    Ok((w, h, fps))
}

fn probe_frames(video: &Path) -> Option<usize> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_frames",
            "-of",
            "default=nw=1:nk=1",
        ])
        .arg(video)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Fills `buf`; false at a clean end of stream.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => return Ok(false),
            k => got += k,
        }
    }
    Ok(true)
}

/// The face in this frame, searched in the crop that follows the last
/// frame's face. The crop moves only when the face has moved by more than
/// 2 % of its size: re-centring it on every frame's own landmark noise fed
/// that noise back into the next fit (a still video measured 0.5 px).
/// Without a previous face, or when the followed face is implausible, the
/// detector runs.
fn track(
    faces: &FaceAnalyzer,
    img: &RgbImage,
    prev: Option<&Face>,
    search: &mut Option<Roi>,
    src_face: &Face,
    src_box: &Rect,
) -> Option<Face> {
    // The first frame starts from the source's own face: in a group the
    // largest face of a frame need not be the one that was animated.
    {
        let p = prev.unwrap_or(src_face);
        let follow = match (p.mesh.is_empty(), src_face.roi) {
            (false, Some(src_roi)) => {
                // The source's crop moved by the rigid points' similarity:
                // a crop refitted to each frame's whole mesh moves when the
                // jaw drops, and the mesh's bias moves with it.
                let t = Similarity::fit(
                    &pick(&src_face.mesh, &RIGID_MESH),
                    &pick(&p.mesh, &RIGID_MESH),
                );
                Some(Roi {
                    center: t.apply(src_roi.center),
                    size: src_roi.size * t.scale,
                    angle: src_roi.angle + t.sin.atan2(t.cos),
                })
            }
            (false, None) => FaceAnalyzer::roi_following(p),
            (true, _) => {
                // A similarity fit of the source's stable points moves its box.
                let t = Similarity::fit(
                    &pick(&src_face.regions.layout68(), &STABLE),
                    &pick(&p.regions.layout68(), &STABLE),
                );
                let size = src_box.w.max(src_box.h) * t.scale;
                Some(Roi {
                    center: t.apply(src_box.center()),
                    size,
                    angle: 0.0,
                })
            }
        };
        if let Some(follow) = follow {
            let roi = match *search {
                Some(r)
                    if r.center.dist(follow.center) < 0.02 * r.size
                        && (r.size - follow.size).abs() < 0.02 * r.size
                        && (r.angle - follow.angle).abs() < 0.02 =>
                {
                    r
                }
                _ => follow,
            };
            if let Ok(Some(f)) = faces.face_in(img, &roi) {
                if plausible(&f.regions.layout68(), &p.regions.layout68()) {
                    *search = Some(roi);
                    return Some(f);
                }
            }
        }
    }
    *search = None;
    faces.analyze(img).ok()
}

/// A new face agrees with the last one up to a similarity, within 8 % of
/// the inter-ocular distance.
fn plausible(lm: &[Point], prev: &[Point]) -> bool {
    if lm.len() != 68 || lm.iter().any(|p| !p.x.is_finite() || !p.y.is_finite()) {
        return false;
    }
    let (a, b) = (pick(prev, &STABLE), pick(lm, &STABLE));
    let t = Similarity::fit(&a, &b);
    let iod = prev[45].dist(prev[36]).max(1.0);
    let rms = (a
        .iter()
        .zip(&b)
        .map(|(p, q)| {
            let d = t.apply(*p).dist(*q);
            d * d
        })
        .sum::<f32>()
        / a.len() as f32)
        .sqrt();
    rms < 0.08 * iod
}

fn pick(l: &[Point], idx: &[usize]) -> Vec<Point> {
    idx.iter().filter_map(|&i| l.get(i).copied()).collect()
}

fn centroid(l: &[Point], idx: &[usize]) -> Point {
    crate::geometry::centroid(&pick(l, idx))
}

/// x -> scale * R * (x - from) + to.
struct Similarity {
    from: Point,
    to: Point,
    scale: f32,
    cos: f32,
    sin: f32,
}

impl Similarity {
    fn fit(src: &[Point], dst: &[Point]) -> Similarity {
        let n = src.len().min(dst.len()).max(1) as f32;
        let cs = src
            .iter()
            .fold(Point::default(), |a, p| a.plus(*p))
            .scale(1.0 / n);
        let cd = dst
            .iter()
            .fold(Point::default(), |a, p| a.plus(*p))
            .scale(1.0 / n);
        let (mut a, mut b, mut s2) = (0.0f32, 0.0f32, 0.0f32);
        for (p, q) in src.iter().zip(dst) {
            let (p, q) = (p.minus(cs), q.minus(cd));
            a += p.x * q.x + p.y * q.y;
            b += p.x * q.y - p.y * q.x;
            s2 += p.x * p.x + p.y * p.y;
        }
        let s2 = s2.max(1e-9);
        let (sc, ss) = (a / s2, b / s2);
        let scale = (sc * sc + ss * ss).sqrt().max(1e-6);
        Similarity {
            from: cs,
            to: cd,
            scale,
            cos: sc / scale,
            sin: ss / scale,
        }
    }

    fn apply(&self, p: Point) -> Point {
        let r = p.minus(self.from);
        Point::new(
            self.to.x + self.scale * (self.cos * r.x - self.sin * r.y),
            self.to.y + self.scale * (self.sin * r.x + self.cos * r.y),
        )
    }
}

/// Inner-lip gap over mouth width.
fn mouth_open(l: &[Point]) -> f64 {
    let gap = (l[61].dist(l[67]) + l[62].dist(l[66]) + l[63].dist(l[65])) / 3.0;
    f64::from(gap / l[54].dist(l[48]).max(1.0))
}

/// Eye aspect ratio (Soukupová & Čech) of the eye starting at landmark `s`.
fn ear(l: &[Point], s: usize) -> f64 {
    let v = l[s + 1].dist(l[s + 5]) + l[s + 2].dist(l[s + 4]);
    f64::from(v / (2.0 * l[s].dist(l[s + 3]).max(1.0)))
}

fn mouth_roi(l: &[Point]) -> Rect {
    let r = Rect::bounding(&l[48..60]);
    Rect::new(r.x - 0.05 * r.w, r.y - 0.1 * r.h, r.w * 1.1, r.h * 1.2)
}

/// A generic face in 3-D for the rigid points (x right, y down, z towards
/// the camera; inter-ocular distance about 0.36).
fn model_point(i: usize) -> [f64; 3] {
    match i {
        0 => [-0.42, 0.34, -0.34],
        16 => [0.42, 0.34, -0.34],
        27 => [0.0, 0.3, -0.02],
        28 => [0.0, 0.37, 0.05],
        29 => [0.0, 0.45, 0.13],
        30 => [0.0, 0.53, 0.2],
        31 => [-0.095, 0.59, 0.07],
        33 => [0.0, 0.62, 0.14],
        35 => [0.095, 0.59, 0.07],
        36 => [-0.25, 0.31, -0.07],
        39 => [-0.108, 0.32, -0.04],
        42 => [0.108, 0.32, -0.04],
        45 => [0.25, 0.31, -0.07],
        _ => [0.0, 0.0, 0.0],
    }
}

/// Yaw and pitch (degrees) of `l` relative to the reference face `r`:
/// a least-squares fit of a small similarity (the 2-D part) plus depth
/// parallax (each rigid point shifts by its depth times the angle). Positive
/// yaw turns the nose to image right, positive pitch turns it down.
fn pose_angles(l: &[Point], r: &[Point]) -> (f64, f64) {
    let iod = f64::from(centroid(r, &[36, 39]).dist(centroid(r, &[42, 45]))).max(1.0);
    // Model depths are in units where the inter-ocular distance is 0.36.
    let depth: Vec<f64> = POSE
        .iter()
        .map(|&i| model_point(i)[2] / 0.36 * iod)
        .collect();
    let (Some(rp), Some(lp)) = (
        POSE.iter()
            .map(|&i| r.get(i).copied())
            .collect::<Option<Vec<_>>>(),
        POSE.iter()
            .map(|&i| l.get(i).copied())
            .collect::<Option<Vec<_>>>(),
    ) else {
        return (0.0, 0.0);
    };
    parallax_pose(&rp, &depth, &lp)
}

/// The fit behind both poses: reference points `r` with depths `toward`
/// the camera (pixels) move to `l`.
fn parallax_pose(r: &[Point], toward: &[f64], l: &[Point]) -> (f64, f64) {
    match parallax_fit(r, toward, l) {
        Some(fit) => fit.angles(),
        None => (0.0, 0.0),
    }
}

/// Scale-rotation, shift and the two small turns that carry `r` to `l`.
struct ParallaxFit {
    centre: Point,
    depth_mean: f64,
    x: [f64; 6],
}

impl ParallaxFit {
    fn angles(&self) -> (f64, f64) {
        (
            self.x[4].clamp(-1.0, 1.0).asin().to_degrees(),
            self.x[5].clamp(-1.0, 1.0).asin().to_degrees(),
        )
    }

    /// Distance from where the fit puts `p` (at depth `toward`) to `q`.
    fn residual(&self, p: Point, toward: f64, q: Point) -> f64 {
        let (px, py) = (
            f64::from(p.x - self.centre.x),
            f64::from(p.y - self.centre.y),
        );
        let z = toward - self.depth_mean;
        let x = &self.x;
        let dx = x[0] * px - x[1] * py + x[2] + x[4] * z;
        let dy = x[1] * px + x[0] * py + x[3] + x[5] * z;
        let (ex, ey) = (f64::from(q.x - p.x) - dx, f64::from(q.y - p.y) - dy);
        (ex * ex + ey * ey).sqrt()
    }
}

fn parallax_fit(r: &[Point], toward: &[f64], l: &[Point]) -> Option<ParallaxFit> {
    let depth_mean = toward.iter().sum::<f64>() / toward.len().max(1) as f64;
    let centre = r
        .iter()
        .fold(Point::default(), |a, q| a.plus(*q))
        .scale(1.0 / r.len().max(1) as f32);
    // Unknowns: a, b (scale-rotation), tx, ty, yaw, pitch.
    let mut ata = [[0.0f64; 6]; 6];
    let mut atb = [0.0f64; 6];
    for ((p, q), z) in r.iter().zip(l).zip(toward) {
        let (px, py) = (f64::from(p.x - centre.x), f64::from(p.y - centre.y));
        let z = z - depth_mean;
        let rows = [
            ([px, -py, 1.0, 0.0, z, 0.0], f64::from(q.x - p.x)),
            ([py, px, 0.0, 1.0, 0.0, z], f64::from(q.y - p.y)),
        ];
        for (row, rhs) in rows {
            for u in 0..6 {
                atb[u] += row[u] * rhs;
                for v in 0..6 {
                    ata[u][v] += row[u] * row[v];
                }
            }
        }
    }
    Some(ParallaxFit {
        centre,
        depth_mean,
        x: crate::geometry::solve_linear(ata, atb)?,
    })
}

/// Textured points that stay put while the face speaks, blinks or frowns:
/// the eye corners and the nose (bridge, tip, wings, base).
const RIGID_MESH: [usize; 12] = [33, 133, 362, 263, 168, 6, 195, 4, 1, 98, 327, 2];

/// Yaw and pitch (degrees) of `face` relative to `reference`. The mesh's
/// rigid points are placed by the pixels: each is refined by matching the
/// source's patch around it, since the mesh's own regression drags upper
/// face points with the jaw (about 1.5 degrees of false pitch on a still
/// head). The reference mesh's depths are the 3-D model. None without meshes.
fn mesh_pose(
    reference: &Face,
    ref_gray: &GrayImage,
    face: &Face,
    gray: &GrayImage,
) -> Option<(f64, f64)> {
    let mut r = Vec::with_capacity(RIGID_MESH.len());
    let mut l = Vec::with_capacity(RIGID_MESH.len());
    let mut toward = Vec::with_capacity(RIGID_MESH.len());
    // The mesh's guess moved by the similarity of all rigid points.
    let t = Similarity::fit(
        &pick(&reference.mesh, &RIGID_MESH),
        &pick(&face.mesh, &RIGID_MESH),
    );
    // Lids sweep over the corners' patches in a blink.
    let (now, before) = (face.regions.layout68(), reference.regions.layout68());
    let closing = |s: usize| ear(&now, s) < 0.9 * ear(&before, s);
    let (right_closing, left_closing) = (closing(36), closing(42));
    for &i in &RIGID_MESH {
        if (right_closing && (i == 33 || i == 133)) || (left_closing && (i == 362 || i == 263)) {
            continue;
        }
        let src = *reference.mesh.get(i)?;
        let guess = t.apply(src);
        let Some(found) = match_patch(ref_gray, src, gray, guess) else {
            continue;
        };
        r.push(src);
        l.push(found);
        // Mesh depth grows away from the camera.
        toward.push(-f64::from(*reference.depth.get(i)?));
    }
    if r.len() < 6 {
        return None;
    }
    // One refit without the points the first fit explains worst (a patch
    // caught by a blink or a nostril's shadow).
    let first = parallax_fit(&r, &toward, &l)?;
    let res: Vec<f64> = (0..r.len())
        .map(|k| first.residual(r[k], toward[k], l[k]))
        .collect();
    let cut = (2.5 * median(&res)).max(0.3);
    let keep: Vec<usize> = (0..r.len()).filter(|&k| res[k] <= cut).collect();
    if keep.len() < 6 || keep.len() == r.len() {
        return Some(first.angles());
    }
    let refit = parallax_fit(
        &pick(&r, &keep),
        &keep.iter().map(|&k| toward[k]).collect::<Vec<_>>(),
        &pick(&l, &keep),
    )?;
    Some(refit.angles())
}

/// Where the source's patch around `src` lies in `frame`, searched within
/// a few pixels of `guess` (zero-mean SSD, sub-pixel by a 2-D quadratic); None
/// on flat texture or when the best match is at the search's edge.
fn match_patch(source: &GrayImage, src: Point, frame: &GrayImage, guess: Point) -> Option<Point> {
    const R: i32 = 7;
    const S: i32 = 4;
    let sample = |g: &GrayImage, x: f32, y: f32| -> Option<f32> {
        let (w, h) = (g.width() as f32, g.height() as f32);
        if x < 0.0 || y < 0.0 || x >= w - 1.0 || y >= h - 1.0 {
            return None;
        }
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as u32, y0 as u32);
        let p = |dx: u32, dy: u32| f32::from(g.get_pixel(x0 + dx, y0 + dy).0[0]);
        Some(
            (p(0, 0) * (1.0 - fx) + p(1, 0) * fx) * (1.0 - fy)
                + (p(0, 1) * (1.0 - fx) + p(1, 1) * fx) * fy,
        )
    };
    let patch = |g: &GrayImage, c: Point| -> Option<Vec<f32>> {
        let mut v = Vec::with_capacity(((2 * R + 1) * (2 * R + 1)) as usize);
        for dy in -R..=R {
            for dx in -R..=R {
                v.push(sample(g, c.x + dx as f32, c.y + dy as f32)?);
            }
        }
        let m = v.iter().sum::<f32>() / v.len() as f32;
        Some(v.into_iter().map(|x| x - m).collect())
    };
    let reference = patch(source, src)?;
    let var = reference.iter().map(|x| x * x).sum::<f32>() / reference.len() as f32;
    if var < 25.0 {
        return None;
    }
    let side = (2 * S + 1) as usize;
    let mut cost = vec![f32::INFINITY; side * side];
    for (k, c) in cost.iter_mut().enumerate() {
        let (dx, dy) = ((k % side) as i32 - S, (k / side) as i32 - S);
        if let Some(p) = patch(frame, Point::new(guess.x + dx as f32, guess.y + dy as f32)) {
            *c = p
                .iter()
                .zip(&reference)
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
        }
    }
    let best = (0..cost.len()).min_by(|&a, &b| cost[a].total_cmp(&cost[b]))?;
    let (bx, by) = (best % side, best / side);
    if bx == 0 || by == 0 || bx == side - 1 || by == side - 1 || !cost[best].is_finite() {
        return None;
    }
    // A 2-D quadratic through the 3x3 costs: textures with slanted
    // structure have slanted valleys, which axis-wise parabolas misplace.
    let at = |x: i32, y: i32| {
        f64::from(cost[(by as i32 + y) as usize * side + (bx as i32 + x) as usize])
    };
    let (gx, gy) = ((at(1, 0) - at(-1, 0)) / 2.0, (at(0, 1) - at(0, -1)) / 2.0);
    let hxx = at(1, 0) - 2.0 * at(0, 0) + at(-1, 0);
    let hyy = at(0, 1) - 2.0 * at(0, 0) + at(0, -1);
    let hxy = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / 4.0;
    let det = hxx * hyy - hxy * hxy;
    let (ox, oy) = if det > 1e-9 && hxx > 0.0 {
        (
            ((-(hyy * gx - hxy * gy)) / det).clamp(-1.0, 1.0) as f32,
            ((-(hxx * gy - hxy * gx)) / det).clamp(-1.0, 1.0) as f32,
        )
    } else {
        (0.0, 0.0)
    };
    Some(Point::new(
        guess.x + (bx as i32 - S) as f32 + ox,
        guess.y + (by as i32 - S) as f32 + oy,
    ))
}

/// The mouth crops a contact sheet shows, cut while the video is decoded
/// (the frames themselves are not kept).
struct SheetFrames {
    /// Crop size, from the source's mouth width.
    cw: u32,
    ch: u32,
    pbm_index: Option<usize>,
    open: Option<(f64, RgbImage)>,
    closed: Option<(f64, RgbImage)>,
    pbm: Option<RgbImage>,
}

impl SheetFrames {
    fn new(src_lm: &[Point], pbm_index: Option<usize>) -> Self {
        let width = src_lm[54].dist(src_lm[48]).max(8.0);
        SheetFrames {
            cw: (1.8 * width).round() as u32,
            ch: (1.2 * width).round() as u32,
            pbm_index,
            open: None,
            closed: None,
            pbm: None,
        }
    }

    /// The mouth of `img`, centred on the landmarks' mouth, at 1x.
    fn crop(&self, img: &RgbImage, l: &[Point]) -> RgbImage {
        let c = centroid(l, &[48, 51, 54, 57]);
        let (x0, y0) = (c.x - self.cw as f32 / 2.0, c.y - self.ch as f32 / 2.0);
        RgbImage::from_fn(self.cw, self.ch, |x, y| {
            let (sx, sy) = (x0 + x as f32, y0 + y as f32);
            if sx < 0.0 || sy < 0.0 || sx >= img.width() as f32 || sy >= img.height() as f32 {
                image::Rgb([0, 0, 0])
            } else {
                *img.get_pixel(sx as u32, sy as u32)
            }
        })
    }

    fn offer(&mut self, index: usize, img: &RgbImage, l: &[Point]) {
        if l.len() != 68 {
            return;
        }
        let m = mouth_open(l);
        if self.open.as_ref().is_none_or(|o| m > o.0) {
            self.open = Some((m, self.crop(img, l)));
        }
        if self.closed.as_ref().is_none_or(|c| m < c.0) {
            self.closed = Some((m, self.crop(img, l)));
        }
        if self.pbm_index == Some(index) {
            self.pbm = Some(self.crop(img, l));
        }
    }

    /// The source's mouth, then the crops kept, side by side at 2x with a
    /// grey bar between them.
    fn write(&self, path: &Path, src: &RgbImage, src_lm: &[Point]) -> Result<()> {
        let source = self.crop(src, src_lm);
        let tiles: Vec<&RgbImage> = [
            Some(&source),
            self.open.as_ref().map(|o| &o.1),
            self.closed.as_ref().map(|c| &c.1),
            self.pbm.as_ref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let (tw, th) = (self.cw * 2, self.ch * 2);
        let gap = 6u32;
        let n = tiles.len() as u32;
        let mut out = RgbImage::from_pixel(n * tw + (n - 1) * gap, th, image::Rgb([128, 128, 128]));
        for (k, t) in tiles.into_iter().enumerate() {
            let big = image::imageops::resize(t, tw, th, image::imageops::FilterType::Lanczos3);
            image::imageops::replace(&mut out, &big, i64::from(k as u32 * (tw + gap)), 0);
        }
        out.save(path)
            .map_err(|e| io_err(format!("cannot write {}: {e}", path.display())))
    }
}

/// The p/b/m closures (shape A) of the speech's own timeline, in seconds.
fn closures(track: &crate::media::AudioTrack) -> Vec<(f64, f64)> {
    let (timeline, _) = crate::timeline::automatic(track, &crate::timeline::Hints::default());
    timeline
        .cues
        .iter()
        .filter(|c| c.shape == crate::timeline::Shape::A)
        .map(|c| (c.start, c.end))
        .collect()
}

/// The middle frame of the longest closure.
fn pbm_frame(closures: &[(f64, f64)], fps: f64) -> Option<usize> {
    let (a, b) = closures
        .iter()
        .max_by(|x, y| (x.1 - x.0).total_cmp(&(y.1 - y.0)))?;
    Some((((a + b) / 2.0) * fps).floor() as usize)
}

/// Quiet spans of the 10 ms envelope, in seconds: below 8 % of the
/// speech's loud level (about -22 dB).
fn quiet_spans(env: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted = env.to_vec();
    sorted.sort_by(f64::total_cmp);
    let Some(&loud) = sorted.get(sorted.len() * 95 / 100) else {
        return Vec::new();
    };
    let limit = 0.08 * loud;
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    for (i, &v) in env.iter().chain(std::iter::once(&f64::MAX)).enumerate() {
        match (v < limit, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s as f64 * 0.01, i as f64 * 0.01));
                start = None;
            }
            _ => {}
        }
    }
    spans
}

// ---------------------------------------------------------------------------
// Audio and sync

/// Speech envelope: RMS per 10 ms hop at `ANALYSIS_RATE`.
fn audio_envelope(track: &crate::media::AudioTrack) -> Vec<f64> {
    let hop = (ANALYSIS_RATE / 100) as usize;
    track
        .analysis
        .chunks(hop)
        .map(|c| {
            (c.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / c.len() as f64).sqrt()
        })
        .collect()
}

#[derive(Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    /// Butterworth (Q = 1/sqrt 2) low- or high-pass at `f` Hz.
    fn new(f: f64, fs: f64, high: bool) -> Biquad {
        let w0 = 2.0 * std::f64::consts::PI * (f / fs).min(0.49);
        let (s, c) = w0.sin_cos();
        let alpha = s / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        let b = if high {
            [(1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0]
        } else {
            [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0]
        };
        Biquad {
            b: b.map(|v| v / a0),
            a: [-2.0 * c / a0, (1.0 - alpha) / a0],
        }
    }

    fn run(&self, x: &[f64]) -> Vec<f64> {
        let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
        x.iter()
            .map(|&v| {
                let y = self.b[0] * v + self.b[1] * x1 + self.b[2] * x2
                    - self.a[0] * y1
                    - self.a[1] * y2;
                x2 = x1;
                x1 = v;
                y2 = y1;
                y1 = y;
                y
            })
            .collect()
    }
}

/// Zero-phase 2–7 Hz band-pass (forward and backward), so the filter adds
/// no lag of its own.
fn band_pass(x: &[f64], fs: f64) -> Vec<f64> {
    if x.len() < 8 {
        return x.to_vec();
    }
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let pad = ((fs * 1.0) as usize).min(x.len() - 1);
    // Mirror padding keeps the edges quiet.
    let mut v: Vec<f64> = Vec::with_capacity(x.len() + 2 * pad);
    v.extend(x[1..=pad].iter().rev().map(|a| a - mean));
    v.extend(x.iter().map(|a| a - mean));
    v.extend(
        x[x.len() - 1 - pad..x.len() - 1]
            .iter()
            .rev()
            .map(|a| a - mean),
    );
    let mut filters = vec![Biquad::new(2.0, fs, true)];
    if fs > 14.5 {
        filters.push(Biquad::new(7.0, fs, false));
    }
    for f in &filters {
        v = f.run(&v);
        v.reverse();
        v = f.run(&v);
        v.reverse();
    }
    v[pad..pad + x.len()].to_vec()
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 3 {
        return 0.0;
    }
    let ma = a[..n].iter().sum::<f64>() / n as f64;
    let mb = b[..n].iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (a[i] - ma, b[i] - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa <= 1e-18 || sbb <= 1e-18 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// Peak correlation of mouth opening with the band-passed envelope over
/// lags of ±500 ms in 5 ms steps.
fn av_sync(mouth: &[f64], env: &[f64], fps: f64) -> SyncFigures {
    let m = band_pass(mouth, fps);
    let e = band_pass(env, 100.0);
    // Hop k covers [10k, 10k + 10) ms: its centre is at 10k + 5 ms.
    let env_at = |t: f64| -> Option<f64> {
        let x = t * 100.0 - 0.5;
        if x < 0.0 || x > (e.len() - 1) as f64 {
            return None;
        }
        let i = x.floor() as usize;
        let j = (i + 1).min(e.len() - 1);
        let f = x - i as f64;
        Some(e[i] * (1.0 - f) + e[j] * f)
    };
    let corr_at = |lag_ms: f64| {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, &v) in m.iter().enumerate() {
            if let Some(x) = env_at(i as f64 / fps - lag_ms / 1000.0) {
                a.push(v);
                b.push(x);
            }
        }
        pearson(&a, &b)
    };
    let mut best = (f64::MIN, 0.0);
    let mut lag = -500.0;
    while lag <= 500.0 + 1e-9 {
        let r = corr_at(lag);
        if r > best.0 {
            best = (r, lag);
        }
        lag += 5.0;
    }
    SyncFigures {
        r: best.0.max(-1.0),
        lag_ms: best.1,
        r_at_zero: corr_at(0.0),
    }
}

// ---------------------------------------------------------------------------
// Blinks, head, jitter

fn blink_figures(ear_series: &[f64], fps: f64, duration: f64) -> BlinkFigures {
    let n = ear_series.len();
    // The open-eye level: a running upper quartile over ±2 s.
    let half = (2.0 * fps) as usize;
    let open: Vec<f64> = (0..n)
        .map(|i| {
            let mut w: Vec<f64> =
                ear_series[i.saturating_sub(half)..(i + half + 1).min(n)].to_vec();
            w.sort_by(f64::total_cmp);
            w[(w.len() * 3) / 4]
        })
        .collect();
    let closure: Vec<f64> = ear_series
        .iter()
        .zip(&open)
        .map(|(e, o)| if *o > 1e-6 { 1.0 - e / o } else { 0.0 })
        .collect();
    // An event: closure above 15 % that somewhere passes 35 %.
    let mut events: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < n {
        if closure[i] > 0.15 {
            let a = i;
            let mut peak: f64 = 0.0;
            while i < n && closure[i] > 0.15 {
                peak = peak.max(closure[i]);
                i += 1;
            }
            if peak > 0.35 {
                match events.last_mut() {
                    Some(last) if a <= last.1 + 1 => last.1 = i,
                    _ => events.push((a, i)),
                }
            }
        } else {
            i += 1;
        }
    }
    let frame_ms = 1000.0 / fps;
    // One frame more than the frames seen below the line: the blink starts
    // and ends between frames.
    let durations: Vec<f64> = events
        .iter()
        .map(|(a, b)| (b - a + 1) as f64 * frame_ms)
        .collect();
    let starts: Vec<f64> = events.iter().map(|e| e.0 as f64 / fps).collect();
    let intervals: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let cv = if intervals.len() >= 2 {
        let m = mean(&intervals);
        let var = intervals.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / intervals.len() as f64;
        var.sqrt() / m.max(1e-9)
    } else {
        0.0
    };
    BlinkFigures {
        count: events.len(),
        per_minute: events.len() as f64 * 60.0 / duration.max(1e-9),
        mean_ms: mean(&durations),
        min_ms: if durations.is_empty() {
            0.0
        } else {
            durations.iter().copied().fold(f64::MAX, f64::min)
        },
        max_ms: durations.iter().copied().fold(0.0, f64::max),
        interval_cv: cv,
    }
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn max_dev(v: &[f64]) -> f64 {
    let m = median(v);
    v.iter().map(|x| (x - m).abs()).fold(0.0, f64::max)
}

fn std_dev(v: &[f64]) -> f64 {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n).sqrt()
}

/// Share of the detrended signal's power at or below `cut` Hz (plain DFT).
fn low_band(x: &[f64], fs: f64, cut: f64) -> (f64, f64) {
    let n = x.len();
    if n < 8 {
        return (0.0, 0.0);
    }
    // Remove the linear trend: it is not motion energy.
    let nf = n as f64;
    let mt = (nf - 1.0) / 2.0;
    let mx = x.iter().sum::<f64>() / nf;
    let (mut sxt, mut stt) = (0.0, 0.0);
    for (i, v) in x.iter().enumerate() {
        sxt += (i as f64 - mt) * (v - mx);
        stt += (i as f64 - mt) * (i as f64 - mt);
    }
    let slope = sxt / stt.max(1e-12);
    let d: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, v)| v - mx - slope * (i as f64 - mt))
        .collect();
    let (mut low, mut all) = (0.0, 0.0);
    for k in 1..=n / 2 {
        let (mut re, mut im) = (0.0, 0.0);
        let w = 2.0 * std::f64::consts::PI * k as f64 / nf;
        for (i, v) in d.iter().enumerate() {
            let (s, c) = (w * i as f64).sin_cos();
            re += v * c;
            im -= v * s;
        }
        let p = re * re + im * im;
        all += p;
        if k as f64 * fs / nf <= cut {
            low += p;
        }
    }
    (low, all)
}

/// Centred moving average over `k` frames.
fn moving_average(v: &[f64], k: usize) -> Vec<f64> {
    let h = k / 2;
    (0..v.len())
        .map(|i| {
            let w = &v[i.saturating_sub(h)..(i + h + 1).min(v.len())];
            w.iter().sum::<f64>() / w.len() as f64
        })
        .collect()
}

fn head_figures(s: &Series, fps: f64, face_w: f64) -> HeadFigures {
    let n = s.centre_x.len();
    // Landmark noise is white and large next to small turns: ranges are
    // taken after a ~200 ms moving average, which keeps motion below 2 Hz.
    let k = ((fps * 0.2).round() as usize).max(1) | 1;
    let smooth = |v: &[f64]| moving_average(v, k);
    let (cx_s, cy_s) = (smooth(&s.centre_x), smooth(&s.centre_y));
    let cx = median(&cx_s);
    let cy = median(&cy_s);
    let shift = cx_s
        .iter()
        .zip(&cy_s)
        .map(|(x, y)| ((x - cx).powi(2) + (y - cy).powi(2)).sqrt())
        .fold(0.0, f64::max);
    // The spectrum of the least noisy motion signals: the stable points'
    // trajectory (turns and nods move it) and the eye line's roll (in px at
    // half the inter-ocular distance). Long clips are decimated.
    let dec = (n / 3000).max(1);
    let take = |v: &[f64]| v.iter().step_by(dec).copied().collect::<Vec<_>>();
    let fs = fps / dec as f64;
    let half_iod = median(&s.iod_px) / 2.0;
    let roll_px: Vec<f64> = s
        .roll_deg
        .iter()
        .map(|r| r.to_radians() * half_iod)
        .collect();
    let (mut low, mut all) = (0.0, 0.0);
    for v in [&s.centre_x, &s.centre_y, &roll_px] {
        let (l, a) = low_band(&take(v), fs, 2.0);
        low += l;
        all += a;
    }
    let tenth = (n / 10).max(1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    HeadFigures {
        roll_deg: max_dev(&smooth(&s.roll_deg)),
        yaw_deg: max_dev(&smooth(&s.yaw_deg)),
        pitch_deg: max_dev(&smooth(&s.pitch_deg)),
        translation_pct: 100.0 * shift / face_w,
        // Below half a pixel there is only landmark noise to analyse.
        low_band_share: (all > 0.0 && (shift > 0.5 || max_dev(&smooth(&roll_px)) > 0.5))
            .then(|| low / all),
        vertical_std_px: std_dev(&s.centre_y),
        iod_start_px: mean(&s.iod_px[..tenth.min(n)]),
        iod_end_px: mean(&s.iod_px[n.saturating_sub(tenth)..]),
    }
}

/// RMS residual of stable points between consecutive frames after a
/// similarity fit (the head's own motion removed).
fn jitter(lms: &[Option<Vec<Point>>]) -> f64 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for w in lms.windows(2) {
        if let (Some(a), Some(b)) = (&w[0], &w[1]) {
            let (pa, pb) = (pick(a, &STABLE), pick(b, &STABLE));
            let t = Similarity::fit(&pa, &pb);
            for (p, q) in pa.iter().zip(&pb) {
                let d = f64::from(t.apply(*p).dist(*q));
                sum += d * d;
                n += 1;
            }
        }
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f64).sqrt()
    }
}

// ---------------------------------------------------------------------------
// Pixels

/// BT.709 limited-range 4:2:0 to RGB (what the encoder was given).
fn yuv_to_rgb(f: &[u8], w: usize, h: usize) -> RgbImage {
    let (yp, c) = f.split_at(w * h);
    let (up, vp) = c.split_at((w / 2) * (h / 2));
    let cw = w / 2;
    let mut out = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let ci = (y / 2).min(h / 2 - 1) * cw + (x / 2).min(cw - 1);
            let l = 1.164_383_6 * (f32::from(yp[y * w + x]) - 16.0);
            let u = f32::from(up.get(ci).copied().unwrap_or(128)) - 128.0;
            let v = f32::from(vp.get(ci).copied().unwrap_or(128)) - 128.0;
            let o = (y * w + x) * 3;
            out[o] = (l + 1.792_741 * v).round().clamp(0.0, 255.0) as u8;
            out[o + 1] = (l - 0.213_249 * u - 0.532_909 * v)
                .round()
                .clamp(0.0, 255.0) as u8;
            out[o + 2] = (l + 2.112_402 * u).round().clamp(0.0, 255.0) as u8;
        }
    }
    RgbImage::from_raw(w as u32, h as u32, out).unwrap_or_else(|| RgbImage::new(w as u32, h as u32))
}

fn inside(mask: &Rect, x: usize, y: usize) -> bool {
    let (x, y) = (x as f32, y as f32);
    x >= mask.x && x < mask.right() && y >= mask.y && y < mask.bottom()
}

fn psnr_outside(a: &[u8], b: &[u8], w: usize, h: usize, mask: &Rect) -> f64 {
    let (mut se, mut n) = (0.0f64, 0usize);
    for y in 0..h {
        for x in 0..w {
            if inside(mask, x, y) {
                continue;
            }
            let d = f64::from(a[y * w + x]) - f64::from(b[y * w + x]);
            se += d * d;
            n += 1;
        }
    }
    if n == 0 || se == 0.0 {
        return 99.0;
    }
    (10.0 * (255.0f64 * 255.0 / (se / n as f64)).log10()).min(99.0)
}

fn mad_outside(a: &[u8], b: &[u8], w: usize, h: usize, mask: &Rect) -> f64 {
    let (mut s, mut n) = (0u64, 0u64);
    for y in 0..h {
        for x in 0..w {
            if !inside(mask, x, y) {
                s += u64::from(a[y * w + x].abs_diff(b[y * w + x]));
                n += 1;
            }
        }
    }
    s as f64 / n.max(1) as f64
}

/// Mean SSIM over 8x8 windows (stride 4) that lie wholly outside the mask.
fn ssim_outside(a: &[u8], b: &[u8], w: usize, h: usize, mask: &Rect) -> f64 {
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    let ys: Vec<usize> = (0..h.saturating_sub(8)).step_by(4).collect();
    let (sum, n) = ys
        .par_iter()
        .map(|&y0| {
            let (mut sum, mut n) = (0.0f64, 0usize);
            for x0 in (0..w.saturating_sub(8)).step_by(4) {
                let r = Rect::new(x0 as f32, y0 as f32, 8.0, 8.0);
                if r.intersection_area(mask) > 0.0 {
                    continue;
                }
                let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
                for y in y0..y0 + 8 {
                    for x in x0..x0 + 8 {
                        let (p, q) = (f64::from(a[y * w + x]), f64::from(b[y * w + x]));
                        sa += p;
                        sb += q;
                        saa += p * p;
                        sbb += q * q;
                        sab += p * q;
                    }
                }
                let k = 64.0;
                let (ma, mb) = (sa / k, sb / k);
                let va = saa / k - ma * ma;
                let vb = sbb / k - mb * mb;
                let cov = sab / k - ma * mb;
                sum += ((2.0 * ma * mb + C1) * (2.0 * cov + C2))
                    / ((ma * ma + mb * mb + C1) * (va + vb + C2));
                n += 1;
            }
            (sum, n)
        })
        .reduce(|| (0.0, 0), |x, y| (x.0 + y.0, x.1 + y.1));
    if n == 0 {
        1.0
    } else {
        sum / n as f64
    }
}

/// Variance of the 4-neighbour Laplacian inside `r`.
fn laplacian_var(g: &GrayImage, r: &Rect) -> f64 {
    let (w, h) = (g.width() as i64, g.height() as i64);
    let x0 = (r.x.floor() as i64).clamp(1, w - 2);
    let x1 = (r.right().ceil() as i64).clamp(1, w - 2);
    let y0 = (r.y.floor() as i64).clamp(1, h - 2);
    let y1 = (r.bottom().ceil() as i64).clamp(1, h - 2);
    let px = |x: i64, y: i64| f64::from(g.get_pixel(x as u32, y as u32).0[0]);
    let mut v = Vec::new();
    for y in y0..=y1 {
        for x in x0..=x1 {
            v.push(px(x - 1, y) + px(x + 1, y) + px(x, y - 1) + px(x, y + 1) - 4.0 * px(x, y));
        }
    }
    let s = std_dev(&v);
    s * s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_pass_keeps_4hz_and_drops_drift() {
        let fs = 100.0;
        let x: Vec<f64> = (0..1000)
            .map(|i| {
                let t = i as f64 / fs;
                (2.0 * std::f64::consts::PI * 4.0 * t).sin() + 0.1 * t
            })
            .collect();
        let y = band_pass(&x, fs);
        let r = pearson(
            &y[100..900],
            &x[100..900]
                .iter()
                .enumerate()
                .map(|(i, _)| (2.0 * std::f64::consts::PI * 4.0 * (i + 100) as f64 / fs).sin())
                .collect::<Vec<_>>(),
        );
        assert!(r > 0.98, "r {r}");
    }

    #[test]
    fn sync_finds_a_known_lag() {
        // Envelope: syllable bumps; mouth: the same 80 ms later.
        let fs = 100.0;
        let env: Vec<f64> = (0..2000)
            .map(|i| {
                let t = i as f64 / fs;
                ((2.0 * std::f64::consts::PI * 3.7 * t).sin() * (0.5 + 0.5 * (1.3 * t).sin()))
                    .max(0.0)
            })
            .collect();
        let fps = 25.0;
        let mouth: Vec<f64> = (0..500)
            .map(|i| {
                let t = i as f64 / fps - 0.08;
                let k = ((t * fs - 0.5).max(0.0) as usize).min(env.len() - 1);
                env[k]
            })
            .collect();
        let s = av_sync(&mouth, &env, fps);
        assert!((s.lag_ms - 80.0).abs() <= 15.0, "lag {}", s.lag_ms);
        assert!(s.r > 0.9);
    }

    #[test]
    fn blinks_are_counted() {
        let fps = 24.0;
        let mut e = vec![0.3; 24 * 30];
        for start in [50, 130, 240, 300, 420, 600] {
            for (k, v) in [0.22, 0.08, 0.06, 0.15, 0.26].iter().enumerate() {
                e[start + k] = *v;
            }
        }
        let b = blink_figures(&e, fps, 30.0);
        assert_eq!(b.count, 6);
        assert!((b.per_minute - 12.0).abs() < 1e-9);
        assert!(b.mean_ms > 150.0 && b.mean_ms < 350.0, "{}", b.mean_ms);
        assert!(b.interval_cv > 0.2);
    }

    #[test]
    fn a_shifted_patch_is_found_to_a_tenth_of_a_pixel() {
        let texture = |x: f32, y: f32| -> u8 {
            (128.0
                + 50.0 * (x * 0.31).sin() * (y * 0.23).cos()
                + 30.0 * ((x + 2.0 * y) * 0.17).sin()) as u8
        };
        let (dx, dy) = (1.3f32, -0.6f32);
        let src = GrayImage::from_fn(80, 80, |x, y| image::Luma([texture(x as f32, y as f32)]));
        let frame = GrayImage::from_fn(80, 80, |x, y| {
            image::Luma([texture(x as f32 - dx, y as f32 - dy)])
        });
        let at = Point::new(40.0, 40.0);
        let found = match_patch(&src, at, &frame, at).unwrap();
        assert!(
            (found.x - 41.3).abs() < 0.1 && (found.y - 39.4).abs() < 0.1,
            "{found:?}"
        );
        // A flat patch gives nothing rather than a guess.
        let flat = GrayImage::from_pixel(80, 80, image::Luma([90]));
        assert!(match_patch(&flat, at, &flat, at).is_none());
    }

    #[test]
    fn pose_of_a_turned_model() {
        let place = |yaw: f64, pitch: f64| -> Vec<Point> {
            (0..68)
                .map(|i| {
                    let m = model_point(i);
                    let x = m[0] * yaw.cos() + m[2] * yaw.sin();
                    let z = -m[0] * yaw.sin() + m[2] * yaw.cos();
                    let y = m[1] * pitch.cos() + z * pitch.sin();
                    Point::new((300.0 + 400.0 * x) as f32, (100.0 + 400.0 * y) as f32)
                })
                .collect()
        };
        let r = place(0.0, 0.0);
        let (yaw, pitch) = pose_angles(&r, &r);
        assert!(yaw.abs() < 1e-6 && pitch.abs() < 1e-6);
        let (yaw, pitch) = pose_angles(&place(0.05, 0.0), &r);
        assert!(
            (yaw - 0.05f64.to_degrees()).abs() < 0.3 && pitch.abs() < 0.3,
            "{yaw} {pitch}"
        );
        let (yaw, pitch) = pose_angles(&place(0.0, -0.04), &r);
        assert!(
            (pitch + 0.04f64.to_degrees()).abs() < 0.3 && yaw.abs() < 0.3,
            "{yaw} {pitch}"
        );
    }
}
