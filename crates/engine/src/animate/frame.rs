//! Frame assembly. The portrait is converted to YUV 4:2:0 once; each frame is
//! a copy of it with only the face window re-rendered and re-converted, so
//! per-frame work is proportional to the face, not to the frame.

use super::camera::shoot;
use super::mouth::MouthPainter;
use super::perform::FrameState;
use super::rig::FaceRig;
use super::warp::{warp_triangles, RgbRegion};
use image::RgbImage;

/// Landmarks of the face's interior (brows to chin, without the jaw line):
/// the triangles touching them are sampled sharply.
const INNER_FACE: std::ops::Range<usize> = 17..super::rig::RIG_LANDMARKS;

/// A planar YUV 4:2:0 frame (BT.709, limited range), as fed to the encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct YuvFrame {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl YuvFrame {
    pub fn byte_len(width: usize, height: usize) -> usize {
        width * height + 2 * (width / 2) * (height / 2)
    }

    pub fn from_rgb(src: &RgbImage) -> Self {
        let (w, h) = (src.width() as usize, src.height() as usize);
        let mut f = YuvFrame {
            width: w,
            height: h,
            data: vec![0; Self::byte_len(w, h)],
        };
        let all = RgbRegion::from_image(src, 0, 0, w & !1, h & !1);
        f.write_region(&all);
        f
    }

    /// Converts an even-aligned RGB window into the frame's planes.
    pub fn write_region(&mut self, r: &RgbRegion) {
        let (w, h) = (self.width, self.height);
        let cw = w / 2;
        let (y_plane, chroma) = self.data.split_at_mut(w * h);
        let (u_plane, v_plane) = chroma.split_at_mut(cw * (h / 2));
        let rows = r.h & !1;
        let cols = r.w & !1;
        for ry in (0..rows).step_by(2) {
            for rx in (0..cols).step_by(2) {
                let (mut rs, mut gs, mut bs) = (0i32, 0i32, 0i32);
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let i = ((ry + dy) * r.w + rx + dx) * 3;
                    let (cr, cg, cb) = (
                        i32::from(r.data[i]),
                        i32::from(r.data[i + 1]),
                        i32::from(r.data[i + 2]),
                    );
                    let (fx, fy) = (r.x0 + rx + dx, r.y0 + ry + dy);
                    if fx < w && fy < h {
                        y_plane[fy * w + fx] = luma(cr, cg, cb);
                    }
                    rs += cr;
                    gs += cg;
                    bs += cb;
                }
                let (cx, cy) = ((r.x0 + rx) / 2, (r.y0 + ry) / 2);
                if cx < cw && cy < h / 2 {
                    let (u, v) = chroma_of((rs + 2) / 4, (gs + 2) / 4, (bs + 2) / 4);
                    u_plane[cy * cw + cx] = u;
                    v_plane[cy * cw + cx] = v;
                }
            }
        }
    }
}

// BT.709 limited range in 16.16 fixed point.
#[inline]
fn luma(r: i32, g: i32, b: i32) -> u8 {
    let y = (11966 * r + 40254 * g + 4064 * b + (16 << 16) + 32768) >> 16;
    y.clamp(0, 255) as u8
}

#[inline]
fn chroma_of(r: i32, g: i32, b: i32) -> (u8, u8) {
    let u = (-6596 * r - 22189 * g + 28784 * b + (128 << 16) + 32768) >> 16;
    let v = (28784 * r - 26145 * g - 2639 * b + (128 << 16) + 32768) >> 16;
    (u.clamp(0, 255) as u8, v.clamp(0, 255) as u8)
}

/// Renders frames of one portrait for any frame state. Immutable and shared
/// by all render threads.
pub struct FrameRenderer {
    source: RgbImage,
    base: YuvFrame,
    rig: FaceRig,
    painter: MouthPainter,
    window: RgbRegion,
    /// Output size; larger canvases are for camera moves.
    out: (usize, usize),
}

impl FrameRenderer {
    pub fn new(source: RgbImage, rig: FaceRig, painter: MouthPainter) -> Self {
        let base = YuvFrame::from_rgb(&source);
        let r = rig.region;
        // Even-aligned so chroma blocks never straddle the window's edge.
        let x0 = (r.x.max(0.0) as usize) & !1;
        let y0 = (r.y.max(0.0) as usize) & !1;
        let x1 = ((r.right().ceil() as usize + 2) & !1).min(source.width() as usize & !1);
        let y1 = ((r.bottom().ceil() as usize + 2) & !1).min(source.height() as usize & !1);
        let window = RgbRegion::from_image(
            &source,
            x0,
            y0,
            x1.saturating_sub(x0),
            y1.saturating_sub(y0),
        );
        let out = (base.width, base.height);
        Self {
            source,
            base,
            rig,
            painter,
            window,
            out,
        }
    }

    /// Renders on this (larger) canvas and lets the camera frame an output
    /// of `width`x`height` from it.
    pub fn with_output_size(mut self, width: usize, height: usize) -> Self {
        self.out = (width.max(2) & !1, height.max(2) & !1);
        self
    }

    /// Output width.
    pub fn width(&self) -> usize {
        self.out.0
    }

    /// Output height.
    pub fn height(&self) -> usize {
        self.out.1
    }

    /// Canvas pixels per output pixel (1 unless rendering for camera moves).
    pub fn canvas_scale(&self) -> f32 {
        self.base.width as f32 / self.out.0.max(1) as f32
    }

    pub fn rig(&self) -> &FaceRig {
        &self.rig
    }

    /// Centre of the face in fractions of the frame (for camera framing).
    pub fn face_centre(&self) -> (f32, f32) {
        let lm = &self.rig.source[..super::rig::LANDMARKS.min(self.rig.source.len())];
        let c = lm
            .iter()
            .fold(crate::geometry::Point::default(), |a, p| a.plus(*p))
            .scale(1.0 / lm.len().max(1) as f32);
        (
            c.x / self.base.width.max(1) as f32,
            c.y / self.base.height.max(1) as f32,
        )
    }

    pub fn source(&self) -> &RgbImage {
        &self.source
    }

    /// The face window with the state applied, in RGB (canvas coordinates).
    pub fn render_window(&self, state: &FrameState) -> RgbRegion {
        let mut win = self.window.clone();
        let def = self.rig.deform_full(state);
        warp_triangles(
            &self.source,
            &self.rig.source,
            &def.points,
            &self.rig.triangles,
            INNER_FACE,
            &mut win,
        );
        self.painter
            .paint(&self.source, &self.rig, &def, state, &mut win);
        win
    }

    /// A full output frame for `state`.
    pub fn render(&self, state: &FrameState) -> YuvFrame {
        let mut frame = self.base.clone();
        frame.write_region(&self.render_window(state));
        if self.out == (frame.width, frame.height) && state.camera.is_identity() {
            return frame;
        }
        shoot(&frame, &state.camera, self.out.0, self.out.1)
    }

    /// A full RGB canvas frame without the camera (for previews and tests).
    pub fn render_rgb(&self, state: &FrameState) -> RgbImage {
        let win = self.render_window(state);
        let mut img = self.source.clone();
        for y in 0..win.h {
            for x in 0..win.w {
                let i = (y * win.w + x) * 3;
                img.put_pixel(
                    (win.x0 + x) as u32,
                    (win.y0 + y) as u32,
                    image::Rgb([win.data[i], win.data[i + 1], win.data[i + 2]]),
                );
            }
        }
        img
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::animate::direction::Emotion;
    use crate::animate::perform::{CameraView, Expression, HeadPose};
    use crate::animate::rig::tests::{mean_face, regions};

    fn renderer() -> FrameRenderer {
        let img = RgbImage::from_fn(400, 480, |x, y| {
            image::Rgb([
                (x * 7 % 256) as u8,
                (y * 5 % 256) as u8,
                ((x + y) % 256) as u8,
            ])
        });
        let face = regions(&mean_face());
        let rig = FaceRig::new(&face, 400, 480).expect("rig");
        let painter = MouthPainter::new(&img, &face);
        FrameRenderer::new(img, rig, painter)
    }

    fn busy_state() -> FrameState {
        let mut s = FrameState::default();
        s.mouth.open = 0.9;
        s.blink = [1.0, 0.6];
        s.expression = Expression::of(Emotion::Surprised);
        s.head = HeadPose {
            roll: 0.05,
            yaw: -0.05,
            pitch: 0.05,
            shift_x: 0.02,
            shift_y: 0.02,
        };
        s
    }

    #[test]
    fn pixels_outside_the_ring_never_change() {
        let r = renderer();
        let img = r.render_rgb(&busy_state());
        let reg = r.rig().region;
        let mut changed_inside = 0;
        for (x, y, p) in img.enumerate_pixels() {
            let (fx, fy) = (x as f32, y as f32);
            let inside = fx >= reg.x - 1.0
                && fx <= reg.right() + 1.0
                && fy >= reg.y - 1.0
                && fy <= reg.bottom() + 1.0;
            if !inside {
                assert_eq!(p, r.source().get_pixel(x, y), "({x}, {y}) changed");
            } else if p != r.source().get_pixel(x, y) {
                changed_inside += 1;
            }
        }
        assert!(changed_inside > 1000, "the face did move");
    }

    #[test]
    fn camera_frames_have_the_output_size_and_identity_is_free() {
        let r = renderer().with_output_size(200, 240);
        let mut s = busy_state();
        s.camera = CameraView {
            zoom: 1.2,
            cx: 0.5,
            cy: 0.4,
        };
        let f = r.render(&s);
        assert_eq!((f.width, f.height), (200, 240));
        assert_eq!(f.data.len(), YuvFrame::byte_len(200, 240));
        let plain = renderer();
        let a = plain.render(&FrameState::default());
        let b = plain.render(&FrameState::default());
        assert_eq!(a, b);
        assert_eq!((a.width, a.height), (400, 480));
    }
}
