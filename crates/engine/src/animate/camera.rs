//! The virtual camera: a crop of the rendered canvas scaled to the output
//! size, per YUV plane, with a separable Catmull-Rom filter (widened when
//! shrinking, so it neither blurs nor aliases). Renders with camera moves use
//! a canvas larger than the output, so even the closest framing is sampled
//! at (or above) the output's resolution and stays sharp.

use super::frame::YuvFrame;
use super::perform::CameraView;

/// Filter taps for one output coordinate: first source index and weights.
struct Taps {
    start: Vec<usize>,
    weights: Vec<f32>,
    width: usize,
}

fn catmull_rom(x: f32) -> f32 {
    let x = x.abs();
    if x < 1.0 {
        1.5 * x * x * x - 2.5 * x * x + 1.0
    } else if x < 2.0 {
        -0.5 * x * x * x + 2.5 * x * x - 4.0 * x + 2.0
    } else {
        0.0
    }
}

/// Taps mapping `n_out` output samples onto `n_src` source samples, where
/// output sample i (centre i + 0.5) lands at source position
/// `offset + (i + 0.5) * scale` (in source pixel-edge units).
fn taps(n_out: usize, n_src: usize, offset: f32, scale: f32) -> Taps {
    let stretch = scale.max(1.0);
    let support = 2.0 * stretch;
    let width = (2.0 * support).ceil() as usize + 1;
    let mut start = Vec::with_capacity(n_out);
    let mut weights = vec![0.0f32; n_out * width];
    let last = n_src.saturating_sub(1) as i64;
    for i in 0..n_out {
        let centre = offset + (i as f32 + 0.5) * scale - 0.5;
        let first = (centre - support).ceil() as i64;
        let s0 = first.clamp(0, (last - width as i64 + 1).max(0));
        start.push(s0 as usize);
        let row = &mut weights[i * width..(i + 1) * width];
        let mut sum = 0.0;
        for k in 0..width {
            let src = first + k as i64;
            let w = catmull_rom((src as f32 - centre) / stretch);
            // Off the edge: the edge pixel stands in.
            let idx = (src.clamp(0, last) - s0).clamp(0, width as i64 - 1) as usize;
            row[idx] += w;
            sum += w;
        }
        if sum.abs() > 1e-6 {
            row.iter_mut().for_each(|w| *w /= sum);
        }
    }
    Taps {
        start,
        weights,
        width,
    }
}

#[allow(clippy::too_many_arguments)]
fn resample_plane(
    src: &[u8],
    sw: usize,
    sh: usize,
    dst: &mut [u8],
    dw: usize,
    dh: usize,
    x_off: f32,
    y_off: f32,
    scale_x: f32,
    scale_y: f32,
) {
    let tx = taps(dw, sw, x_off, scale_x);
    let ty = taps(dh, sh, y_off, scale_y);
    let (y_first, y_last) = (
        ty.start.first().copied().unwrap_or(0),
        (ty.start.last().copied().unwrap_or(0) + ty.width).min(sh),
    );
    // Horizontal pass over the rows the vertical pass needs.
    let rows = y_last.saturating_sub(y_first);
    let mut mid = vec![0.0f32; rows * dw];
    for r in 0..rows {
        let line = &src[(y_first + r) * sw..(y_first + r + 1) * sw];
        let out = &mut mid[r * dw..(r + 1) * dw];
        for (x, o) in out.iter_mut().enumerate() {
            let s0 = tx.start[x];
            let w = &tx.weights[x * tx.width..(x + 1) * tx.width];
            let mut acc = 0.0;
            for (k, wk) in w.iter().enumerate() {
                if let Some(&v) = line.get(s0 + k) {
                    acc += wk * f32::from(v);
                }
            }
            *o = acc;
        }
    }
    let mut acc = vec![0.0f32; dw];
    for y in 0..dh {
        let s0 = ty.start[y];
        let w = &ty.weights[y * ty.width..(y + 1) * ty.width];
        let out = &mut dst[y * dw..(y + 1) * dw];
        acc.iter_mut().for_each(|a| *a = 0.0);
        for (k, wk) in w.iter().enumerate() {
            let r = s0 + k;
            if r < y_first || r >= y_last || *wk == 0.0 {
                continue;
            }
            let line = &mid[(r - y_first) * dw..(r - y_first + 1) * dw];
            for (a, v) in acc.iter_mut().zip(line) {
                *a += wk * v;
            }
        }
        for (o, a) in out.iter_mut().zip(&acc) {
            *o = a.round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// The output frame the camera sees of `canvas`.
pub fn shoot(canvas: &YuvFrame, view: &CameraView, out_w: usize, out_h: usize) -> YuvFrame {
    let (cw, ch) = (canvas.width, canvas.height);
    let zoom = view.zoom.max(1.0);
    let mut out = YuvFrame {
        width: out_w,
        height: out_h,
        data: vec![0; YuvFrame::byte_len(out_w, out_h)],
    };
    // Crop in canvas pixels.
    let crop_w = cw as f32 / zoom;
    let crop_h = ch as f32 / zoom;
    let x0 = (view.cx * cw as f32 - crop_w / 2.0).clamp(0.0, cw as f32 - crop_w);
    let y0 = (view.cy * ch as f32 - crop_h / 2.0).clamp(0.0, ch as f32 - crop_h);
    let (sx, sy) = (crop_w / out_w as f32, crop_h / out_h as f32);
    let (src_y, src_c) = canvas.data.split_at(cw * ch);
    let (src_u, src_v) = src_c.split_at((cw / 2) * (ch / 2));
    let (dst_y, dst_c) = out.data.split_at_mut(out_w * out_h);
    let (dst_u, dst_v) = dst_c.split_at_mut((out_w / 2) * (out_h / 2));
    resample_plane(src_y, cw, ch, dst_y, out_w, out_h, x0, y0, sx, sy);
    for (s, d) in [(src_u, &mut *dst_u), (src_v, &mut *dst_v)] {
        resample_plane(
            s,
            cw / 2,
            ch / 2,
            d,
            out_w / 2,
            out_h / 2,
            x0 / 2.0,
            y0 / 2.0,
            sx,
            sy,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> YuvFrame {
        let mut data = vec![128u8; YuvFrame::byte_len(w, h)];
        for y in 0..h {
            for x in 0..w {
                data[y * w + x] = ((x * 7 + y * 3) % 256) as u8;
            }
        }
        YuvFrame {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn identity_view_of_same_size_is_exact() {
        let f = ramp(64, 48);
        let g = shoot(&f, &CameraView::default(), 64, 48);
        assert_eq!(f.data, g.data);
    }

    #[test]
    fn zoomed_crop_at_canvas_resolution_is_a_copy() {
        // Canvas 2x the output, zoom 2: the crop is sampled 1:1.
        let f = ramp(128, 96);
        let view = CameraView {
            zoom: 2.0,
            cx: 0.5,
            cy: 0.5,
        };
        let g = shoot(&f, &view, 64, 48);
        for y in 0..48 {
            for x in 0..64 {
                assert_eq!(g.data[y * 64 + x], f.data[(y + 24) * 128 + x + 32]);
            }
        }
    }
}
