//! Piecewise-affine warp: each mesh triangle maps its destination pixels back
//! into the source portrait. Triangles that do not move are skipped, so their
//! pixels stay exactly as in the source. Moving triangles inside the face
//! (brows, eyes, nose, lips) are sampled with a Catmull-Rom cubic: bilinear sampling at sub-pixel offsets
//! blurs lips and teeth visibly (at a half-pixel shift it removes the finest
//! detail entirely). The band from the jaw line out (neck, hair, the halo)
//! moves least and takes the cheaper bilinear.

use crate::geometry::Point;
use image::RgbImage;
use std::sync::LazyLock;

/// Catmull-Rom weights of the four taps for each 8-bit sub-pixel fraction.
static CUBIC: LazyLock<[[f32; 4]; 256]> = LazyLock::new(|| {
    let mut table = [[0f32; 4]; 256];
    for (i, row) in table.iter_mut().enumerate() {
        let t = i as f32 / 256.0;
        let (t2, t3) = (t * t, t * t * t);
        *row = [
            (-t3 + 2.0 * t2 - t) / 2.0,
            (3.0 * t3 - 5.0 * t2 + 2.0) / 2.0,
            (-3.0 * t3 + 4.0 * t2 + t) / 2.0,
            (t3 - t2) / 2.0,
        ];
    }
    table
});

/// An RGB window of the frame being built, in frame coordinates.
#[derive(Debug, Clone)]
pub struct RgbRegion {
    pub x0: usize,
    pub y0: usize,
    pub w: usize,
    pub h: usize,
    pub data: Vec<u8>,
}

impl RgbRegion {
    /// A copy of `src` inside the window.
    pub fn from_image(src: &RgbImage, x0: usize, y0: usize, w: usize, h: usize) -> Self {
        let stride = src.width() as usize * 3;
        let raw = src.as_raw();
        let mut data = Vec::with_capacity(w * h * 3);
        for y in y0..y0 + h {
            let row = y * stride;
            data.extend_from_slice(&raw[row + x0 * 3..row + (x0 + w) * 3]);
        }
        Self { x0, y0, w, h, data }
    }

    pub fn reset_from(&mut self, pristine: &RgbRegion) {
        self.data.copy_from_slice(&pristine.data);
    }

    #[inline]
    pub fn put(&mut self, x: usize, y: usize, rgb: [u8; 3]) {
        if x >= self.x0 && y >= self.y0 && x < self.x0 + self.w && y < self.y0 + self.h {
            let i = ((y - self.y0) * self.w + (x - self.x0)) * 3;
            self.data[i..i + 3].copy_from_slice(&rgb);
        }
    }

    #[inline]
    pub fn get(&self, x: usize, y: usize) -> [u8; 3] {
        if x >= self.x0 && y >= self.y0 && x < self.x0 + self.w && y < self.y0 + self.h {
            let i = ((y - self.y0) * self.w + (x - self.x0)) * 3;
            [self.data[i], self.data[i + 1], self.data[i + 2]]
        } else {
            [0, 0, 0]
        }
    }
}

/// Bilinear sample of `src` at a continuous position (pixel centres at integers).
#[inline]
pub fn sample_bilinear(src: &RgbImage, x: f32, y: f32) -> [u8; 3] {
    let (w, h) = (src.width() as i64, src.height() as i64);
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let xi = x.floor() as i64;
    let yi = y.floor() as i64;
    let fx = x - xi as f32;
    let fy = y - yi as f32;
    let x1 = (xi + 1).min(w - 1);
    let y1 = (yi + 1).min(h - 1);
    let raw = src.as_raw();
    let stride = w as usize * 3;
    let at = |xx: i64, yy: i64| yy as usize * stride + xx as usize * 3;
    let (a, b, c, d) = (at(xi, yi), at(x1, yi), at(xi, y1), at(x1, y1));
    let mut out = [0u8; 3];
    for k in 0..3 {
        let top = f32::from(raw[a + k]) * (1.0 - fx) + f32::from(raw[b + k]) * fx;
        let bot = f32::from(raw[c + k]) * (1.0 - fx) + f32::from(raw[d + k]) * fx;
        out[k] = (top * (1.0 - fy) + bot * fy).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// Catmull-Rom sample of `src` at a continuous position (bilinear at the
/// border, where the 4x4 neighbourhood would leave the image).
pub fn sample_cubic(src: &RgbImage, x: f32, y: f32) -> [u8; 3] {
    let (w, h) = (src.width() as usize, src.height() as usize);
    let (xf, yf) = (x.floor(), y.floor());
    if !(xf >= 1.0 && yf >= 1.0 && (xf as usize) + 2 < w && (yf as usize) + 2 < h) {
        return sample_bilinear(src, x, y);
    }
    let (xi, yi) = (xf as usize, yf as usize);
    let frac = |v: f32| (((v * 256.0) as usize).min(255)) & 0xff;
    let (wx, wy) = (&CUBIC[frac(x - xf)], &CUBIC[frac(y - yf)]);
    let raw = src.as_raw();
    let stride = w * 3;
    let mut out = [0f32; 3];
    for (r, &wr) in wy.iter().enumerate() {
        let start = (yi - 1 + r) * stride + (xi - 1) * 3;
        let Some(row) = raw.get(start..start + 12) else {
            return sample_bilinear(src, x, y);
        };
        for (k, o) in out.iter_mut().enumerate() {
            *o += wr
                * (wx[0] * f32::from(row[k])
                    + wx[1] * f32::from(row[3 + k])
                    + wx[2] * f32::from(row[6 + k])
                    + wx[3] * f32::from(row[9 + k]));
        }
    }
    out.map(|v| (v + 0.5) as u8)
}

/// Affine map taking the destination triangle onto the source triangle.
fn affine_dst_to_src(d: [Point; 3], s: [Point; 3]) -> Option<[f32; 6]> {
    let det = (d[1].x - d[0].x) * (d[2].y - d[0].y) - (d[2].x - d[0].x) * (d[1].y - d[0].y);
    if det.abs() < 1e-6 {
        return None;
    }
    let inv = 1.0 / det;
    // Solve for the coefficients of u = a*x + b*y + c (and likewise v).
    let solve = |s0: f32, s1: f32, s2: f32| {
        let a = ((s1 - s0) * (d[2].y - d[0].y) - (s2 - s0) * (d[1].y - d[0].y)) * inv;
        let b = ((s2 - s0) * (d[1].x - d[0].x) - (s1 - s0) * (d[2].x - d[0].x)) * inv;
        let c = s0 - a * d[0].x - b * d[0].y;
        (a, b, c)
    };
    let (a, b, c) = solve(s[0].x, s[1].x, s[2].x);
    let (e, f, g) = solve(s[0].y, s[1].y, s[2].y);
    Some([a, b, c, e, f, g])
}

/// Warps every moving triangle into `out`. Triangles with a corner among
/// the `detail` control points get the cubic sampler.
pub fn warp_triangles(
    src: &RgbImage,
    from: &[Point],
    to: &[Point],
    tris: &[[usize; 3]],
    detail: std::ops::Range<usize>,
    out: &mut RgbRegion,
) {
    for t in tris {
        let s = [from[t[0]], from[t[1]], from[t[2]]];
        let d = [to[t[0]], to[t[1]], to[t[2]]];
        let moved = s
            .iter()
            .zip(&d)
            .any(|(a, b)| (a.x - b.x).abs() > 1e-3 || (a.y - b.y).abs() > 1e-3);
        if !moved {
            continue;
        }
        if t.iter().any(|i| detail.contains(i)) {
            warp_triangle::<true>(src, s, d, out);
        } else {
            warp_triangle::<false>(src, s, d, out);
        }
    }
}

/// Fills the destination triangle row by row: each row's inside span is
/// solved from the three edge equations, then source positions advance by a
/// constant step along the span and are sampled in fixed point.
fn warp_triangle<const CUBIC_SAMPLING: bool>(
    src: &RgbImage,
    s: [Point; 3],
    d: [Point; 3],
    out: &mut RgbRegion,
) {
    let Some(m) = affine_dst_to_src(d, s) else {
        return;
    };
    let area = (d[1].x - d[0].x) * (d[2].y - d[0].y) - (d[2].x - d[0].x) * (d[1].y - d[0].y);
    let sign = if area >= 0.0 { 1.0 } else { -1.0 };
    // A hair of tolerance so shared edges leave no gaps between triangles.
    let eps = -1e-3 * area.abs().sqrt().max(1.0);
    let min_y = d.iter().map(|p| p.y).fold(f32::MAX, f32::min);
    let max_y = d.iter().map(|p| p.y).fold(f32::MIN, f32::max);
    let y_lo = (min_y.ceil() as i64).max(out.y0 as i64);
    let y_hi = (max_y.floor() as i64).min((out.y0 + out.h) as i64 - 1);
    let x_min = out.x0 as f32;
    let x_max = (out.x0 + out.w) as f32 - 1.0;
    // Edge k: sign * ((b.x - a.x) * (y - a.y) - (b.y - a.y) * (x - a.x)) >= eps,
    // i.e. ea * x + eb(y) >= eps.
    let edges = [(d[0], d[1]), (d[1], d[2]), (d[2], d[0])];
    let (sw, sh) = (src.width() as i32, src.height() as i32);
    let raw = src.as_raw();
    let stride = sw as usize * 3;
    let cubic = &*CUBIC;
    for y in y_lo..=y_hi {
        let py = y as f32;
        let (mut lo, mut hi) = (x_min, x_max);
        for (a, b) in edges {
            let ea = -sign * (b.y - a.y);
            let eb = sign * ((b.x - a.x) * (py - a.y) + (b.y - a.y) * a.x);
            if ea > 1e-12 {
                lo = lo.max((eps - eb) / ea);
            } else if ea < -1e-12 {
                hi = hi.min((eps - eb) / ea);
            } else if eb < eps {
                hi = lo - 1.0;
            }
        }
        if hi < lo {
            continue;
        }
        let (xs, xe) = (lo.ceil() as i64, hi.floor() as i64);
        if xe < xs {
            continue;
        }
        let row = (y as usize - out.y0) * out.w;
        // Source position in 16.16 fixed point, stepped along the span: no
        // float work per pixel. Drift over a span stays far below 1/100 px.
        const ONE: f32 = 65536.0;
        let mut sx = ((m[0] * xs as f32 + m[1] * py + m[2]) * ONE) as i64;
        let mut sy = ((m[3] * xs as f32 + m[4] * py + m[5]) * ONE) as i64;
        let (dx, dy) = ((m[0] * ONE) as i64, (m[3] * ONE) as i64);
        let (max_x, max_y) = (i64::from(sw - 1) << 16, i64::from(sh - 1) << 16);
        let dst = &mut out.data
            [(row + (xs as usize - out.x0)) * 3..(row + (xe as usize - out.x0) + 1) * 3];
        for o in dst.chunks_exact_mut(3) {
            let (cx, cy) = (sx.clamp(0, max_x), sy.clamp(0, max_y));
            // Stepped first, so an early `continue` keeps the span in step.
            sx += dx;
            sy += dy;
            let (xi, yi) = ((cx >> 16) as usize, (cy >> 16) as usize);
            let ax = ((cx >> 8) & 0xff) as usize;
            let ay = ((cy >> 8) & 0xff) as usize;
            let inside = xi >= 1 && yi >= 1 && xi + 2 < sw as usize && yi + 2 < sh as usize;
            if CUBIC_SAMPLING && inside {
                let (wx, wy) = (&cubic[ax], &cubic[ay]);
                // Vertical pass over the 4x4 neighbourhood's 12 bytes per
                // row (4 pixels of RGB), laid out so it vectorises.
                let base = (yi - 1) * stride + (xi - 1) * 3;
                let mut col = [0f32; 12];
                for (r, &wr) in wy.iter().enumerate() {
                    let start = base + r * stride;
                    let row: &[u8; 12] = match raw[start..start + 12].try_into() {
                        Ok(row) => row,
                        Err(_) => continue,
                    };
                    for (c, &v) in col.iter_mut().zip(row.iter()) {
                        *c += wr * f32::from(v);
                    }
                }
                for k in 0..3 {
                    let v = wx[0] * col[k]
                        + wx[1] * col[3 + k]
                        + wx[2] * col[6 + k]
                        + wx[3] * col[9 + k];
                    // `as` saturates: overshoot of the cubic's lobes clips.
                    o[k] = (v + 0.5) as u8;
                }
            } else if inside {
                // Bilinear from two 2-pixel row slices: one bounds check each.
                let p00 = yi * stride + xi * 3;
                let (Some(top), Some(bot)) = (
                    raw.get(p00..p00 + 6),
                    raw.get(p00 + stride..p00 + stride + 6),
                ) else {
                    continue;
                };
                let (ax, ay) = (ax as u32, ay as u32);
                let (wx0, wy0) = (256 - ax, 256 - ay);
                for k in 0..3 {
                    let t = u32::from(top[k]) * wx0 + u32::from(top[3 + k]) * ax;
                    let b = u32::from(bot[k]) * wx0 + u32::from(bot[3 + k]) * ax;
                    o[k] = ((t * wy0 + b * ay + 32768) >> 16) as u8;
                }
            } else {
                // At the border: bilinear, whose weight is zero past the last
                // column/row, so it stays in bounds.
                let (ax, ay) = (ax as u32, ay as u32);
                let step_x = if xi + 1 < sw as usize { 3 } else { 0 };
                let step_y = if yi + 1 < sh as usize { stride } else { 0 };
                let p00 = yi * stride + xi * 3;
                let (p10, p01) = (p00 + step_x, p00 + step_y);
                let p11 = p01 + step_x;
                let (wx0, wy0) = (256 - ax, 256 - ay);
                for k in 0..3 {
                    let top = u32::from(raw[p00 + k]) * wx0 + u32::from(raw[p10 + k]) * ax;
                    let bot = u32::from(raw[p01 + k]) * wx0 + u32::from(raw[p11 + k]) * ax;
                    o[k] = ((top * wy0 + bot * ay + 32768) >> 16) as u8;
                }
            }
        }
    }
}
