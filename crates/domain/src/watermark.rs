//! The watermarked copy: a translucent band across the bottom of the frame
//! with "MOUTHPIECE" written on it (the text needs a TrueType font; without
//! one the band alone marks the video). A second encode; the audio is copied.

use std::path::Path;
use std::process::Command;

const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf",
];

pub fn filter() -> String {
    let band = "drawbox=x=0:y=ih*0.86:w=iw:h=ih*0.1:color=black@0.45:t=fill";
    match FONTS.iter().find(|f| Path::new(f).is_file()) {
        Some(font) => format!(
            "{band},drawtext=fontfile={font}:text=MOUTHPIECE:fontcolor=white@0.8:fontsize=h*0.06:x=(w-text_w)/2:y=h*0.91-text_h/2"
        ),
        None => format!("{band},drawbox=x=iw*0.3:y=ih*0.895:w=iw*0.4:h=ih*0.03:color=white@0.7:t=fill"),
    }
}

/// Writes a watermarked copy of `input` to `output`.
pub fn apply(input: &Path, output: &Path) -> Result<(), String> {
    let out = Command::new(mouthpiece_engine::encode::ffmpeg_binary())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(input)
        .args(["-vf", &filter()])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
        ])
        .args(["-c:a", "copy", "-movflags", "+faststart"])
        .arg(output)
        .output()
        .map_err(|e| format!("could not start ffmpeg for the watermark: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ffmpeg failed to watermark: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
