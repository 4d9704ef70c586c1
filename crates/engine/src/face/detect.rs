//! Viola-Jones face detection with OpenCV Haar cascade XML files.
//!
//! Reads the OpenCV 4 cascade format (`opencv_storage/cascade`, stage type
//! BOOST, feature type HAAR) and reproduces `CascadeClassifier::detectMultiScale`:
//! the image is shrunk step by step while the window keeps the cascade's size,
//! each window is variance-normalised from integral images and run through the
//! stages, and the raw hits are merged like OpenCV's `groupRectangles`.
//! Matching OpenCV matters: the cascades were trained and tuned with exactly
//! this arithmetic, so the same boxes come out as with OpenCV itself.

use crate::error::{EngineError, Result};
use crate::geometry::Rect;
use image::GrayImage;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct DetectParams {
    /// Ratio between two pyramid levels (OpenCV `scaleFactor`). Values that
    /// are not above 1 would never finish; they are raised to 1.01 (NaN: 1.1).
    pub scale_factor: f32,
    /// Raw hits a box needs beyond one to be kept (OpenCV `minNeighbors`);
    /// 0 returns the raw, ungrouped hits.
    pub min_neighbors: u32,
    /// Smallest face side in pixels of the analysed image (the one given to
    /// `detect`, even when it is searched on a downscaled copy).
    pub min_size: u32,
}

impl Default for DetectParams {
    fn default() -> Self {
        Self {
            scale_factor: 1.1,
            min_neighbors: 3,
            min_size: 40,
        }
    }
}

/// Larger images are downscaled to this long side before detection: portraits
/// have big faces, and it keeps detection well under a second.
const MAX_ANALYSIS_SIDE: u32 = 800;
/// OpenCV's `GROUP_EPS`: hits whose corners differ by at most this fraction of
/// their size are one object.
const GROUP_EPS: f64 = 0.2;
/// OpenCV lowers every stage threshold by this when loading a cascade.
const THRESHOLD_EPS: f32 = 1e-5;
/// OpenCV's feature evaluator combines at most three rectangles per feature.
const MAX_FEATURE_RECTS: usize = 3;
/// Bounds on the cascade window, far beyond real cascades (20x20, 24x24), so
/// a corrupt file cannot ask for absurd allocations.
const MAX_WINDOW_SIDE: u32 = 512;

/// One weighted rectangle of a Haar feature, in window coordinates.
#[derive(Debug, Clone, Copy)]
struct WeightedRect {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    weight: f32,
}

/// Where a tree node sends a window: another node of the same tree or a leaf.
/// Both are absolute indexes into `HaarCascade::nodes` / `leaves`.
#[derive(Debug, Clone, Copy)]
enum Child {
    Node(usize),
    Leaf(usize),
}

#[derive(Debug, Clone, Copy)]
struct Node {
    feature: usize,
    threshold: f32,
    /// Taken when the feature value is below the threshold.
    left: Child,
    right: Child,
}

#[derive(Debug, Clone, Copy)]
struct Stage {
    threshold: f32,
    /// Root node indexes of this stage's trees, in `HaarCascade::roots`.
    first_tree: usize,
    tree_count: usize,
}

/// A boosted cascade of Haar-feature decision trees, as trained by OpenCV.
pub struct HaarCascade {
    win_w: u32,
    win_h: u32,
    stages: Vec<Stage>,
    /// Root node of every weak classifier, stage after stage.
    roots: Vec<usize>,
    nodes: Vec<Node>,
    leaves: Vec<f32>,
    features: Vec<Vec<WeightedRect>>,
}

impl std::fmt::Debug for HaarCascade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaarCascade")
            .field("window", &(self.win_w, self.win_h))
            .field("stages", &self.stages.len())
            .field("trees", &self.roots.len())
            .field("features", &self.features.len())
            .finish()
    }
}

impl HaarCascade {
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                EngineError::ModelMissing {
                    path: path.to_path_buf(),
                    hint: "install the Debian package opencv-data or set MOUTHPIECE_FACE_CASCADE"
                        .into(),
                }
            } else {
                EngineError::Io(e)
            }
        })?;
        let corrupt = |reason: String| EngineError::ModelCorrupt {
            path: path.to_path_buf(),
            reason,
        };
        let xml =
            std::str::from_utf8(&bytes).map_err(|e| corrupt(format!("not UTF-8 text: {e}")))?;
        parse_cascade(xml).map_err(corrupt)
    }

    /// Parses cascade XML held in memory; errors name the path `<memory>`.
    pub fn from_xml_str(xml: &str) -> Result<Self> {
        parse_cascade(xml).map_err(|reason| EngineError::ModelCorrupt {
            path: PathBuf::from("<memory>"),
            reason,
        })
    }

    /// Faces in `gray`, in its pixel coordinates, in no particular order.
    pub fn detect(&self, gray: &GrayImage, params: &DetectParams) -> Vec<Rect> {
        let (width, height) = gray.dimensions();
        if width == 0 || height == 0 {
            return Vec::new();
        }
        let long_side = width.max(height);
        let small;
        let analysed = if long_side > MAX_ANALYSIS_SIDE {
            let ratio = f64::from(MAX_ANALYSIS_SIDE) / f64::from(long_side);
            let w = ((f64::from(width) * ratio).round() as u32).max(1);
            let h = ((f64::from(height) * ratio).round() as u32).max(1);
            // Triangle filtering averages the pixels a shrunk pixel covers,
            // which plain bilinear sampling (used per pyramid level) does not.
            small = image::imageops::resize(gray, w, h, image::imageops::FilterType::Triangle);
            &small
        } else {
            gray
        };
        let back_x = width as f32 / analysed.width() as f32;
        let back_y = height as f32 / analysed.height() as f32;
        let min_size = (params.min_size as f32 / back_x.max(back_y)).round() as u32;

        let hits = self.detect_raw(
            analysed,
            sanitize_scale_factor(params.scale_factor),
            min_size,
        );
        let (analysed_w, analysed_h) = (analysed.width() as i32, analysed.height() as i32);
        group_rectangles(&hits, params.min_neighbors as usize, GROUP_EPS)
            .into_iter()
            // Rounding can push a box a pixel past the border; OpenCV clips.
            .filter_map(|r| r.clip(analysed_w, analysed_h))
            .map(|r| {
                Rect::new(
                    r.x as f32 * back_x,
                    r.y as f32 * back_y,
                    r.w as f32 * back_x,
                    r.h as f32 * back_y,
                )
            })
            .collect()
    }

    /// Every window the cascade accepts, before grouping (OpenCV's
    /// `detectMultiScaleNoGrouping`), in `img` coordinates.
    fn detect_raw(&self, img: &GrayImage, scale_factor: f64, min_size: u32) -> Vec<IRect> {
        let (width, height) = img.dimensions();
        let mut scales = Vec::new();
        let mut factor = 1.0f64;
        loop {
            let win_w = (f64::from(self.win_w) * factor).round_ties_even() as u32;
            let win_h = (f64::from(self.win_h) * factor).round_ties_even() as u32;
            if win_w > width || win_h > height {
                break;
            }
            if win_w >= min_size && win_h >= min_size {
                // OpenCV keeps scales as f32; its rounding follows from that.
                scales.push(factor as f32);
            }
            factor *= scale_factor;
        }
        // Work is spread over scales; the big early levels are stolen first.
        scales
            .par_iter()
            .map(|&scale| self.scan_level(img, scale))
            .collect::<Vec<_>>()
            .concat()
    }

    /// Slides the window over `img` shrunk by `scale`.
    fn scan_level(&self, img: &GrayImage, scale: f32) -> Vec<IRect> {
        let (width, height) = img.dimensions();
        let level_w = (width as f32 / scale).round_ties_even() as u32;
        let level_h = (height as f32 / scale).round_ties_even() as u32;
        if level_w < self.win_w || level_h < self.win_h {
            return Vec::new();
        }
        let level = resize_bilinear(img, level_w, level_h);
        let integral = Integral::new(&level);
        let nodes = self.place_nodes(integral.stride);
        let norm = WindowRect::new(1, 1, self.win_w - 2, self.win_h - 2, integral.stride);
        let norm_area = f64::from((self.win_w - 2) * (self.win_h - 2));

        // Same grid as OpenCV: every other pixel on fine levels.
        let step = if scale >= 2.0 { 1 } else { 2 };
        let hit_w = (self.win_w as f32 * scale).round_ties_even() as i32;
        let hit_h = (self.win_h as f32 * scale).round_ties_even() as i32;
        let mut hits = Vec::new();
        for y in (0..=level_h - self.win_h).step_by(step) {
            let mut x = 0;
            while x <= level_w - self.win_w {
                let base = y as usize * integral.stride + x as usize;
                match self.classify(&integral, base, &nodes, &norm, norm_area) {
                    Verdict::Object => hits.push(IRect {
                        x: (x as f32 * scale).round_ties_even() as i32,
                        y: (y as f32 * scale).round_ties_even() as i32,
                        w: hit_w,
                        h: hit_h,
                    }),
                    // The next window mostly overlaps one that failed the
                    // very first stage: OpenCV skips it too.
                    Verdict::FirstStageReject => x += step as u32,
                    Verdict::Reject => {}
                }
                x += step as u32;
            }
        }
        hits
    }

    /// The tree nodes with their feature's corners turned into offsets in an
    /// integral image of the given row stride: the hot loop then reads one
    /// array, in the order it walks it.
    fn place_nodes(&self, stride: usize) -> Vec<PlacedNode> {
        self.nodes
            .iter()
            .map(|node| {
                let rects = self
                    .features
                    .get(node.feature)
                    .map_or(&[][..], Vec::as_slice);
                let mut placed = PlacedNode {
                    rects: [WindowRect::default(); MAX_FEATURE_RECTS],
                    weights: [0.0; MAX_FEATURE_RECTS],
                    rect_count: rects.len().min(MAX_FEATURE_RECTS),
                    threshold: node.threshold,
                    left: node.left,
                    right: node.right,
                };
                let slots = placed.rects.iter_mut().zip(placed.weights.iter_mut());
                for ((slot, weight), r) in slots.zip(rects) {
                    *slot = WindowRect::new(r.x, r.y, r.w, r.h, stride);
                    *weight = r.weight;
                }
                placed
            })
            .collect()
    }

    /// Runs the cascade on the window whose top-left integral entry is `base`.
    fn classify(
        &self,
        integral: &Integral,
        base: usize,
        nodes: &[PlacedNode],
        norm: &WindowRect,
        norm_area: f64,
    ) -> Verdict {
        // Features are divided by the window's contrast (area * std dev of the
        // inner window), so lighting does not change the decision.
        let sum = f64::from(norm.sum(&integral.sum, base));
        let sq_sum = f64::from(norm.sum(&integral.sq_sum, base));
        let spread = norm_area * sq_sum - sum * sum;
        if spread <= 0.0 {
            return Verdict::Reject;
        }
        let inv_norm = (1.0 / spread.sqrt()) as f32;
        // OpenCV skips windows whose std dev is 10 grey levels or less.
        if norm_area * f64::from(inv_norm) >= 0.1 {
            return Verdict::Reject;
        }

        for (stage_index, stage) in self.stages.iter().enumerate() {
            let roots = self
                .roots
                .get(stage.first_tree..stage.first_tree + stage.tree_count)
                .unwrap_or_default();
            let mut total = 0.0f64;
            for &root in roots {
                total += f64::from(self.run_tree(nodes, root, &integral.sum, base, inv_norm));
            }
            if total < f64::from(stage.threshold) {
                return if stage_index == 0 {
                    Verdict::FirstStageReject
                } else {
                    Verdict::Reject
                };
            }
        }
        Verdict::Object
    }

    /// Walks one decision tree down to its leaf value. Loading checked that
    /// children only point forward, so this ends.
    fn run_tree(
        &self,
        nodes: &[PlacedNode],
        root: usize,
        sum: &[u32],
        base: usize,
        inv_norm: f32,
    ) -> f32 {
        let mut index = root;
        loop {
            let Some(node) = nodes.get(index) else {
                return 0.0;
            };
            let next = if node.feature_value(sum, base) * inv_norm < node.threshold {
                node.left
            } else {
                node.right
            };
            match next {
                Child::Node(i) => index = i,
                Child::Leaf(i) => return self.leaves.get(i).copied().unwrap_or(0.0),
            }
        }
    }
}

fn sanitize_scale_factor(factor: f32) -> f64 {
    if factor.is_nan() {
        1.1
    } else {
        f64::from(factor).max(1.01)
    }
}

enum Verdict {
    Object,
    FirstStageReject,
    Reject,
}

/// Integer box in analysis-image pixels, as OpenCV handles them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IRect {
    x: i32,
    y: i32,
    w: i32,
    h: i32,
}

impl IRect {
    /// The part inside a `width` x `height` image, if any.
    fn clip(self, width: i32, height: i32) -> Option<IRect> {
        let (x0, y0) = (self.x.max(0), self.y.max(0));
        let (x1, y1) = ((self.x + self.w).min(width), (self.y + self.h).min(height));
        (x1 > x0 && y1 > y0).then_some(IRect {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        })
    }
}

/// A rectangle as four offsets (relative to the window's top-left entry) into
/// an integral image: sum = d - b - c + a. `u32` keeps the hot node table
/// small; real offsets stay below (window side + 1) * (level width + 1).
#[derive(Debug, Clone, Copy, Default)]
struct WindowRect {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
}

impl WindowRect {
    fn new(x: u32, y: u32, w: u32, h: u32, stride: usize) -> Self {
        // An offset that does not fit (impossible for validated cascades)
        // becomes u32::MAX, which `sum` reads as 0.
        let offset =
            |x: u32, y: u32| u32::try_from(y as usize * stride + x as usize).unwrap_or(u32::MAX);
        Self {
            a: offset(x, y),
            b: offset(x + w, y),
            c: offset(x, y + h),
            d: offset(x + w, y + h),
        }
    }

    /// Pixel sum (or squared sum). Tables wrap modulo 2^32 like OpenCV's, which
    /// is exact because a window's sum itself fits easily.
    #[inline]
    fn sum(&self, table: &[u32], base: usize) -> u32 {
        let at = |offset: u32| table.get(base + offset as usize).copied().unwrap_or(0);
        at(self.d)
            .wrapping_sub(at(self.b))
            .wrapping_sub(at(self.c))
            .wrapping_add(at(self.a))
    }
}

/// A tree node ready for one pyramid level (see `HaarCascade::place_nodes`).
struct PlacedNode {
    rects: [WindowRect; MAX_FEATURE_RECTS],
    weights: [f32; MAX_FEATURE_RECTS],
    rect_count: usize,
    threshold: f32,
    left: Child,
    right: Child,
}

impl PlacedNode {
    /// The weighted rectangle sums, before contrast normalisation.
    #[inline]
    fn feature_value(&self, sum: &[u32], base: usize) -> f32 {
        let mut value = 0.0f32;
        for (rect, weight) in self.rects.iter().zip(self.weights).take(self.rect_count) {
            value += weight * rect.sum(sum, base) as f32;
        }
        value
    }
}

/// Integral and squared integral images, (w+1) x (h+1) with a zero first row
/// and column, as OpenCV's `integral`.
struct Integral {
    stride: usize,
    sum: Vec<u32>,
    sq_sum: Vec<u32>,
}

impl Integral {
    fn new(img: &GrayImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let stride = w + 1;
        let mut sum = vec![0u32; stride * (h + 1)];
        let mut sq_sum = vec![0u32; stride * (h + 1)];
        if w > 0 {
            let mut sum_rows = sum.chunks_exact_mut(stride);
            let mut sq_rows = sq_sum.chunks_exact_mut(stride);
            if let (Some(mut sum_above), Some(mut sq_above)) = (sum_rows.next(), sq_rows.next()) {
                for (pixels, (sum_row, sq_row)) in
                    img.as_raw().chunks_exact(w).zip(sum_rows.zip(sq_rows))
                {
                    let (mut row_sum, mut row_sq) = (0u32, 0u32);
                    let cells = sum_row
                        .iter_mut()
                        .zip(sq_row.iter_mut())
                        .zip(sum_above.iter().zip(sq_above.iter()))
                        .skip(1);
                    for (&p, ((s, q), (s_above, q_above))) in pixels.iter().zip(cells) {
                        let p = u32::from(p);
                        row_sum = row_sum.wrapping_add(p);
                        row_sq = row_sq.wrapping_add(p * p);
                        *s = s_above.wrapping_add(row_sum);
                        *q = q_above.wrapping_add(row_sq);
                    }
                    sum_above = sum_row;
                    sq_above = sq_row;
                }
            }
        }
        Self {
            stride,
            sum,
            sq_sum,
        }
    }
}

/// Bilinear resize reproducing OpenCV's `INTER_LINEAR_EXACT`, which its
/// cascade pyramid uses: pixel-centre sampling, weights quantised to 1/256 and
/// a single rounding at the end, all in integers.
fn resize_bilinear(src: &GrayImage, dst_w: u32, dst_h: u32) -> GrayImage {
    let (src_w, src_h) = src.dimensions();
    if (src_w, src_h) == (dst_w, dst_h) {
        return src.clone();
    }
    // Per output column (or row): first source index, second one, weight of
    // the second in 1/256.
    let taps = |dst_len: u32, src_len: u32| -> Vec<(usize, usize, u32)> {
        let scale = 1.0 / (f64::from(dst_len) / f64::from(src_len));
        let last = src_len.saturating_sub(1) as usize;
        (0..dst_len)
            .map(|d| {
                let f = (f64::from(d) + 0.5) * scale - 0.5;
                let i = f.floor();
                if i < 0.0 {
                    (0, 0, 0)
                } else if i as usize >= last {
                    (last, last, 0)
                } else {
                    let w1 = ((f - i) * 256.0).round_ties_even() as u32;
                    (i as usize, i as usize + 1, w1.min(256))
                }
            })
            .collect()
    };
    let xs = taps(dst_w, src_w);
    let ys = taps(dst_h, src_h);
    let raw = src.as_raw();
    let stride = src_w as usize;
    let px = |x: usize, y: usize| u32::from(raw.get(y * stride + x).copied().unwrap_or(0));
    let mut out = Vec::with_capacity(dst_w as usize * dst_h as usize);
    for &(y0, y1, wy) in &ys {
        for &(x0, x1, wx) in &xs {
            let top = px(x0, y0) * (256 - wx) + px(x1, y0) * wx;
            let bottom = px(x0, y1) * (256 - wx) + px(x1, y1) * wx;
            let value = (top * (256 - wy) + bottom * wy + (1 << 15)) >> 16;
            out.push(value.min(255) as u8);
        }
    }
    GrayImage::from_raw(dst_w, dst_h, out).unwrap_or_else(|| GrayImage::new(dst_w, dst_h))
}

/// OpenCV's `groupRectangles`: clusters of similar hits are averaged, clusters
/// with `threshold` hits or fewer dropped, and boxes lying inside a better
/// supported box removed.
fn group_rectangles(rects: &[IRect], threshold: usize, eps: f64) -> Vec<IRect> {
    if threshold == 0 || rects.is_empty() {
        return rects.to_vec();
    }
    let (labels, class_count) = partition(rects, |a, b| similar(a, b, eps));
    let mut sums = vec![(0i64, 0i64, 0i64, 0i64); class_count];
    let mut counts = vec![0usize; class_count];
    for (r, &label) in rects.iter().zip(&labels) {
        if let (Some(s), Some(n)) = (sums.get_mut(label), counts.get_mut(label)) {
            s.0 += i64::from(r.x);
            s.1 += i64::from(r.y);
            s.2 += i64::from(r.w);
            s.3 += i64::from(r.h);
            *n += 1;
        }
    }
    let mean: Vec<IRect> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &n)| {
            let inv = 1.0 / n.max(1) as f32;
            let avg = |v: i64| (v as f32 * inv).round_ties_even() as i32;
            IRect {
                x: avg(s.0),
                y: avg(s.1),
                w: avg(s.2),
                h: avg(s.3),
            }
        })
        .collect();

    let mut kept = Vec::new();
    for (i, (r1, &n1)) in mean.iter().zip(&counts).enumerate() {
        if n1 <= threshold {
            continue;
        }
        let swallowed = mean.iter().zip(&counts).enumerate().any(|(j, (r2, &n2))| {
            if j == i || n2 <= threshold {
                return false;
            }
            let dx = (f64::from(r2.w) * eps).round_ties_even() as i32;
            let dy = (f64::from(r2.h) * eps).round_ties_even() as i32;
            r1.x >= r2.x - dx
                && r1.y >= r2.y - dy
                && r1.x + r1.w <= r2.x + r2.w + dx
                && r1.y + r1.h <= r2.y + r2.h + dy
                && (n2 > n1.max(3) || n1 < 3)
        });
        if !swallowed {
            kept.push(*r1);
        }
    }
    kept
}

/// OpenCV's `SimilarRects`.
fn similar(a: &IRect, b: &IRect, eps: f64) -> bool {
    let delta = eps * f64::from(a.w.min(b.w) + a.h.min(b.h)) * 0.5;
    let close = |u: i32, v: i32| f64::from((u - v).abs()) <= delta;
    close(a.x, b.x) && close(a.y, b.y) && close(a.x + a.w, b.x + b.w) && close(a.y + a.h, b.y + b.h)
}

/// Equivalence classes of the transitive closure of `same` (union-find), with
/// classes numbered in order of first appearance like OpenCV's `partition`.
fn partition<T>(items: &[T], same: impl Fn(&T, &T) -> bool) -> (Vec<usize>, usize) {
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while let Some(&p) = parent.get(i) {
            if p == i {
                break;
            }
            // Path halving keeps the trees flat.
            let grand = parent.get(p).copied().unwrap_or(p);
            if let Some(slot) = parent.get_mut(i) {
                *slot = grand;
            }
            i = grand;
        }
        i
    }
    let mut parent: Vec<usize> = (0..items.len()).collect();
    for (i, a) in items.iter().enumerate() {
        for (j, b) in items.iter().enumerate().skip(i + 1) {
            if same(a, b) {
                let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                if ri != rj {
                    if let Some(slot) = parent.get_mut(rj) {
                        *slot = ri;
                    }
                }
            }
        }
    }
    let mut class_of_root = vec![usize::MAX; items.len()];
    let mut count = 0;
    let labels = (0..items.len())
        .map(|i| {
            let root = find(&mut parent, i);
            match class_of_root.get_mut(root) {
                Some(c) if *c == usize::MAX => {
                    *c = count;
                    count += 1;
                    *c
                }
                Some(c) => *c,
                None => 0,
            }
        })
        .collect();
    (labels, count)
}

/// Side of dlib's HOG box relative to the Haar (alt2) box of the same face.
const DLIB_BOX_SCALE: f32 = 0.94;
/// dlib's box centre lies this fraction of the Haar box height lower (same x):
/// HOG boxes start at the brows and reach the chin, Haar boxes take in more
/// forehead.
const DLIB_BOX_SHIFT_Y: f32 = 0.08;

/// Maps a Haar detection box to the box dlib's shape predictor was trained on
/// (dlib's HOG detector boxes), so landmarks land where they should.
///
/// Fitted on 83 faces found by both this detector (alt2 cascade) and dlib's
/// `get_frontal_face_detector` (the samples, their flipped, scaled, rotated,
/// cropped and darkened versions, and a group photo): mean IoU with dlib's own
/// box 0.82 (0.76 unmapped), and 68-point landmarks from the mapped box differ
/// from those of dlib's box by 2.2 % of the eye distance on average (3.0 %
/// unmapped). In dlib terms the result is `rectangle(x, y, x + w - 1, y + h - 1)`.
pub fn to_dlib_box(r: &Rect) -> Rect {
    let centre = r.center();
    let (w, h) = (r.w * DLIB_BOX_SCALE, r.h * DLIB_BOX_SCALE);
    Rect::new(
        centre.x - w * 0.5,
        centre.y + r.h * DLIB_BOX_SHIFT_Y - h * 0.5,
        w,
        h,
    )
}

// ---------------------------------------------------------------- XML loading

type ParseResult<T> = std::result::Result<T, String>;
type XmlNode<'a, 'input> = roxmltree::Node<'a, 'input>;

fn parse_cascade(xml: &str) -> ParseResult<HaarCascade> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("invalid XML: {e}"))?;
    let storage = doc.root_element();
    if storage.tag_name().name() != "opencv_storage" {
        return Err(format!(
            "root element is <{}>, expected <opencv_storage>",
            storage.tag_name().name()
        ));
    }
    let cascade = storage
        .children()
        .find(|n| n.is_element())
        .ok_or("no cascade inside <opencv_storage>")?;
    if cascade.attribute("type_id") == Some("opencv-haar-classifier") {
        return Err(
            "old OpenCV 1.x cascade format is not supported; use an OpenCV 4 cascade".into(),
        );
    }

    let stage_type = text(child(cascade, "stageType")?);
    if stage_type.trim() != "BOOST" {
        return Err(format!(
            "stageType {stage_type:?} is not supported (only BOOST)"
        ));
    }
    let feature_type = text(child(cascade, "featureType")?);
    if feature_type.trim() != "HAAR" {
        return Err(format!(
            "featureType {feature_type:?} is not supported (only HAAR)"
        ));
    }
    let win_w: u32 = scalar(child(cascade, "width")?, "width")?;
    let win_h: u32 = scalar(child(cascade, "height")?, "height")?;
    // The variance window is inset by one pixel on each side.
    if !(3..=MAX_WINDOW_SIDE).contains(&win_w) || !(3..=MAX_WINDOW_SIDE).contains(&win_h) {
        return Err(format!("window size {win_w}x{win_h} is out of range"));
    }
    if let Some(params) = opt_child(cascade, "featureParams") {
        if let Some(cats) = opt_child(params, "maxCatCount") {
            let cats: u32 = scalar(cats, "maxCatCount")?;
            if cats != 0 {
                return Err(format!(
                    "maxCatCount {cats}: categorical features are not supported"
                ));
            }
        }
    }

    let features = parse_features(child(cascade, "features")?, win_w, win_h)?;
    let mut out = HaarCascade {
        win_w,
        win_h,
        stages: Vec::new(),
        roots: Vec::new(),
        nodes: Vec::new(),
        leaves: Vec::new(),
        features,
    };
    for (si, stage) in items(child(cascade, "stages")?).enumerate() {
        parse_stage(&mut out, stage).map_err(|e| format!("stage {si}: {e}"))?;
    }
    if out.stages.is_empty() {
        return Err("cascade has no stages".into());
    }
    if let Some(n) = opt_child(cascade, "stageNum") {
        let declared: usize = scalar(n, "stageNum")?;
        if declared != out.stages.len() {
            return Err(format!(
                "stageNum says {declared} stages but {} are present (truncated file?)",
                out.stages.len()
            ));
        }
    }
    Ok(out)
}

fn parse_stage(out: &mut HaarCascade, stage: XmlNode) -> ParseResult<()> {
    let threshold: f32 = scalar(child(stage, "stageThreshold")?, "stageThreshold")?;
    if !threshold.is_finite() {
        return Err("stageThreshold is not finite".into());
    }
    let first_tree = out.roots.len();
    for (wi, weak) in items(child(stage, "weakClassifiers")?).enumerate() {
        parse_tree(out, weak).map_err(|e| format!("weak classifier {wi}: {e}"))?;
    }
    let tree_count = out.roots.len() - first_tree;
    if tree_count == 0 {
        return Err("no weak classifiers".into());
    }
    if let Some(n) = opt_child(stage, "maxWeakCount") {
        let declared: usize = scalar(n, "maxWeakCount")?;
        if declared != tree_count {
            return Err(format!(
                "maxWeakCount says {declared} weak classifiers but {tree_count} are present"
            ));
        }
    }
    out.stages.push(Stage {
        threshold: threshold - THRESHOLD_EPS,
        first_tree,
        tree_count,
    });
    Ok(())
}

/// One weak classifier: `internalNodes` holds "left right featureIdx threshold"
/// per node; a child > 0 is a node of this tree, a child <= 0 is leaf -child.
fn parse_tree(out: &mut HaarCascade, weak: XmlNode) -> ParseResult<()> {
    let node_text = text(child(weak, "internalNodes")?);
    let tokens: Vec<&str> = node_text.split_whitespace().collect();
    let node_count = tokens.len() / 4;
    if node_count == 0 || node_count * 4 != tokens.len() {
        return Err(format!(
            "internalNodes has {} numbers, expected a non-zero multiple of 4",
            tokens.len()
        ));
    }
    let leaves = numbers::<f32>(&text(child(weak, "leafValues")?), "leafValues")?;
    if leaves.iter().any(|v| !v.is_finite()) {
        return Err("leafValues are not all finite".into());
    }
    if leaves.len() != node_count + 1 {
        return Err(format!(
            "{} leaf values for {node_count} nodes, expected {}",
            leaves.len(),
            node_count + 1
        ));
    }
    let first_node = out.nodes.len();
    let first_leaf = out.leaves.len();
    for (ni, fields) in tokens.chunks_exact(4).enumerate() {
        let &[left, right, feature, threshold] = fields else {
            return Err(format!("node {ni} is incomplete"));
        };
        let link = |token: &str| -> ParseResult<Child> {
            let v: i64 = parse_token(token, "node child")?;
            if v > 0 {
                // Forward-only links make every walk end.
                let v = v as usize;
                if v <= ni || v >= node_count {
                    return Err(format!("node {ni} links to node {v}"));
                }
                Ok(Child::Node(first_node + v))
            } else {
                let leaf = v.unsigned_abs() as usize;
                if leaf > node_count {
                    return Err(format!("node {ni} links to missing leaf {leaf}"));
                }
                Ok(Child::Leaf(first_leaf + leaf))
            }
        };
        let (left, right) = (link(left)?, link(right)?);
        let feature: usize = parse_token(feature, "featureIdx")?;
        if feature >= out.features.len() {
            return Err(format!(
                "featureIdx {feature} but only {} features",
                out.features.len()
            ));
        }
        let threshold: f32 = parse_token(threshold, "node threshold")?;
        if !threshold.is_finite() {
            return Err(format!("node {ni} threshold is not finite"));
        }
        out.nodes.push(Node {
            feature,
            threshold,
            left,
            right,
        });
    }
    out.roots.push(first_node);
    out.leaves.extend(leaves);
    Ok(())
}

fn parse_features(list: XmlNode, win_w: u32, win_h: u32) -> ParseResult<Vec<Vec<WeightedRect>>> {
    let features: Vec<_> = items(list)
        .enumerate()
        .map(|(fi, feature)| {
            parse_feature(feature, win_w, win_h).map_err(|e| format!("feature {fi}: {e}"))
        })
        .collect::<ParseResult<_>>()?;
    if features.is_empty() {
        return Err("cascade has no features".into());
    }
    Ok(features)
}

fn parse_feature(feature: XmlNode, win_w: u32, win_h: u32) -> ParseResult<Vec<WeightedRect>> {
    if let Some(t) = opt_child(feature, "tilted") {
        let tilted: i32 = scalar(t, "tilted")?;
        if tilted != 0 {
            // Frontal face cascades only use upright features; tilted ones
            // would need a rotated integral image.
            return Err("tilted (45 degree) Haar features are not supported".into());
        }
    }
    let rects = items(child(feature, "rects")?)
        .map(|r| {
            let v = numbers::<f32>(&text(r), "rect")?;
            let [x, y, w, h, weight] = v[..] else {
                return Err(format!("rect has {} numbers, expected 5", v.len()));
            };
            let coords = [x, y, w, h];
            if coords
                .iter()
                .any(|c| c.fract() != 0.0 || *c < 0.0 || *c > MAX_WINDOW_SIDE as f32)
            {
                return Err(format!("rect {x} {y} {w} {h} is not a pixel rectangle"));
            }
            let [x, y, w, h] = coords.map(|c| c as u32);
            if w == 0 || h == 0 || x + w > win_w || y + h > win_h {
                return Err(format!(
                    "rect {x} {y} {w} {h} leaves the {win_w}x{win_h} window"
                ));
            }
            if !weight.is_finite() {
                return Err("rect weight is not finite".into());
            }
            Ok(WeightedRect { x, y, w, h, weight })
        })
        .collect::<ParseResult<Vec<_>>>()?;
    if rects.is_empty() || rects.len() > MAX_FEATURE_RECTS {
        return Err(format!(
            "{} rects, expected 1 to {MAX_FEATURE_RECTS}",
            rects.len()
        ));
    }
    Ok(rects)
}

/// The `<_>` entries of an OpenCV sequence.
fn items<'a, 'input>(list: XmlNode<'a, 'input>) -> impl Iterator<Item = XmlNode<'a, 'input>> {
    list.children().filter(|n| n.is_element())
}

fn opt_child<'a, 'input>(node: XmlNode<'a, 'input>, name: &str) -> Option<XmlNode<'a, 'input>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

fn child<'a, 'input>(node: XmlNode<'a, 'input>, name: &str) -> ParseResult<XmlNode<'a, 'input>> {
    opt_child(node, name).ok_or_else(|| format!("missing <{name}> in <{}>", node.tag_name().name()))
}

/// All text directly inside an element (comments may split it).
fn text(node: XmlNode) -> String {
    node.children()
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_token<T: std::str::FromStr>(token: &str, what: &str) -> ParseResult<T> {
    token
        .parse()
        .map_err(|_| format!("{what}: {token:?} is not a valid number"))
}

fn numbers<T: std::str::FromStr>(s: &str, what: &str) -> ParseResult<Vec<T>> {
    s.split_whitespace().map(|t| parse_token(t, what)).collect()
}

fn scalar<T: std::str::FromStr>(node: XmlNode, what: &str) -> ParseResult<T> {
    let v = numbers(&text(node), what)?;
    match <[T; 1]>::try_from(v) {
        Ok([x]) => Ok(x),
        Err(v) => Err(format!("{what} has {} values, expected 1", v.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALT2: &str = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml";
    const DEFAULT: &str = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";

    fn cascade(path: &str) -> HaarCascade {
        match HaarCascade::from_file(Path::new(path)) {
            Ok(c) => c,
            Err(e) => panic!("cannot load {path} (Debian package opencv-data): {e}"),
        }
    }

    fn sample_gray(name: &str) -> GrayImage {
        let path = format!("{}/../../assets/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        match image::open(&path) {
            Ok(img) => image::imageops::grayscale(&img.to_rgb8()),
            Err(e) => panic!("cannot read sample image {path}: {e}"),
        }
    }

    fn assert_close(found: &Rect, expected: &Rect, tolerance: f32) {
        let worst = [
            found.x - expected.x,
            found.y - expected.y,
            found.w - expected.w,
            found.h - expected.h,
        ]
        .iter()
        .fold(0.0f32, |m, d| m.max(d.abs()));
        assert!(
            worst <= tolerance,
            "box {found:?} differs from {expected:?} by {worst} px"
        );
    }

    /// Exactly one face, close to the box OpenCV 4.14's `detectMultiScale`
    /// finds on the same grey image (scale 1.1, 3 neighbours, min size 40),
    /// and once mapped, overlapping the box of dlib's HOG detector.
    fn check_sample(name: &str, opencv: Rect, tolerance: f32, dlib: Rect) {
        let faces = cascade(ALT2).detect(&sample_gray(name), &DetectParams::default());
        assert_eq!(faces.len(), 1, "{name}: expected one face, got {faces:?}");
        assert_close(&faces[0], &opencv, tolerance);
        let iou = to_dlib_box(&faces[0]).iou(&dlib);
        assert!(iou > 0.7, "{name}: IoU with dlib's box {iou}");
        // The mapping must be an improvement over the raw Haar box.
        assert!(iou > faces[0].iou(&dlib), "{name}: mapping made IoU worse");
    }

    #[test]
    fn astronaut_face_matches_opencv_exactly_and_dlib_after_mapping() {
        // 512 px: no internal downscale, so OpenCV's box is reproduced exactly.
        check_sample(
            "astronaut.png",
            Rect::new(176.0, 66.0, 97.0, 97.0),
            0.0,
            Rect::new(179.0, 83.0, 88.0, 88.0),
        );
    }

    #[test]
    fn large_samples_find_the_face_through_the_internal_downscale() {
        // OpenCV ran at full resolution; we analyse at most 800 px.
        check_sample(
            "obama.jpg",
            Rect::new(355.0, 102.0, 276.0, 276.0),
            4.0,
            Rect::new(366.0, 136.0, 259.0, 259.0),
        );
        check_sample(
            "obama-speech.jpg",
            Rect::new(136.0, 240.0, 344.0, 344.0),
            20.0,
            Rect::new(164.0, 302.0, 311.0, 310.0),
        );
        check_sample(
            "biden.jpg",
            Rect::new(430.0, 203.0, 325.0, 325.0),
            5.0,
            Rect::new(439.0, 233.0, 311.0, 310.0),
        );
        check_sample(
            "astronaut.webp",
            Rect::new(175.0, 64.0, 99.0, 99.0),
            0.0,
            Rect::new(179.0, 83.0, 88.0, 88.0),
        );
    }

    #[test]
    fn no_face_on_coffee() {
        let faces =
            cascade(ALT2).detect(&sample_gray("coffee-no-face.png"), &DetectParams::default());
        assert!(faces.is_empty(), "false positives: {faces:?}");
    }

    #[test]
    fn stump_cascade_with_24px_window_matches_opencv() {
        let faces =
            cascade(DEFAULT).detect(&sample_gray("astronaut.png"), &DetectParams::default());
        assert_eq!(faces.len(), 1, "{faces:?}");
        assert_close(&faces[0], &Rect::new(177.0, 65.0, 96.0, 96.0), 0.0);
    }

    #[test]
    fn min_size_is_in_input_pixels() {
        // obama.jpg is analysed at 0.7x; its face is 276 px (194 analysed).
        let c = cascade(ALT2);
        let gray = sample_gray("obama.jpg");
        let with_min = |min_size| DetectParams {
            min_size,
            ..DetectParams::default()
        };
        // Read as analysed pixels, 250 would exclude the face.
        assert_eq!(c.detect(&gray, &with_min(250)).len(), 1);
        assert!(c.detect(&gray, &with_min(360)).is_empty());
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let c = cascade(ALT2);
        let params = DetectParams::default();
        assert!(c.detect(&GrayImage::new(0, 0), &params).is_empty());
        assert!(c.detect(&GrayImage::new(10, 300), &params).is_empty());
        assert!(
            c.detect(&GrayImage::new(64, 64), &params).is_empty(),
            "flat image"
        );
        let weird = DetectParams {
            scale_factor: f32::NAN,
            min_neighbors: 0,
            min_size: 0,
        };
        assert!(c.detect(&GrayImage::new(64, 64), &weird).is_empty());
        let too_small_step = DetectParams {
            scale_factor: 0.5,
            ..DetectParams::default()
        };
        assert!(c
            .detect(&GrayImage::new(64, 64), &too_small_step)
            .is_empty());
    }

    #[test]
    fn missing_file_is_model_missing() {
        let err = HaarCascade::from_file(Path::new("/nonexistent/cascade.xml")).err();
        assert!(
            matches!(err, Some(EngineError::ModelMissing { .. })),
            "{err:?}"
        );
    }

    fn expect_corrupt(xml: &str, reason_part: &str) {
        match HaarCascade::from_xml_str(xml) {
            Err(EngineError::ModelCorrupt { reason, .. }) => assert!(
                reason.contains(reason_part),
                "reason {reason:?} should mention {reason_part:?}"
            ),
            Err(e) => panic!("expected ModelCorrupt, got {e}"),
            Ok(c) => panic!("corrupt XML accepted: {c:?}"),
        }
    }

    #[test]
    fn truncated_real_cascade_is_model_corrupt() {
        let xml = match std::fs::read_to_string(ALT2) {
            Ok(x) => x,
            Err(e) => panic!("cannot read {ALT2} (Debian package opencv-data): {e}"),
        };
        for cut in [xml.len() / 2, xml.len() - 30, 100] {
            let end = (0..=cut)
                .rev()
                .find(|&i| xml.is_char_boundary(i))
                .unwrap_or(0);
            expect_corrupt(&xml[..end], "invalid XML");
        }
        expect_corrupt("", "invalid XML");
        expect_corrupt("<opencv_storage/>", "no cascade");
    }

    /// A one-stage, one-tree cascade with a depth-2 tree like alt2's.
    const TINY: &str = r#"<?xml version="1.0"?>
<opencv_storage>
<cascade type_id="opencv-cascade-classifier"><stageType>BOOST</stageType>
  <featureType>HAAR</featureType>
  <height>4</height>
  <width>4</width>
  <featureParams><maxCatCount>0</maxCatCount></featureParams>
  <stageNum>1</stageNum>
  <stages>
    <_>
      <maxWeakCount>1</maxWeakCount>
      <stageThreshold>-1.</stageThreshold>
      <weakClassifiers>
        <_>
          <internalNodes>
            0 1 0 5.0e-01 -1 -2 1 -2.5e-01</internalNodes>
          <leafValues>
            -1. 5.e-01 1.</leafValues></_></weakClassifiers></_></stages>
  <features>
    <_>
      <rects>
        <_>
          0 0 4 4 -1.</_>
        <_>
          0 0 2 4 2.</_></rects></_>
    <_>
      <rects>
        <_>
          0 1 4 2 1.</_></rects>
      <tilted>0</tilted></_></features></cascade>
</opencv_storage>
"#;

    #[test]
    fn tiny_cascade_parses() {
        let c = match HaarCascade::from_xml_str(TINY) {
            Ok(c) => c,
            Err(e) => panic!("valid cascade rejected: {e}"),
        };
        assert_eq!(
            (
                c.win_w,
                c.win_h,
                c.stages.len(),
                c.nodes.len(),
                c.leaves.len()
            ),
            (4, 4, 1, 2, 3)
        );
        assert!(matches!(c.nodes[0].left, Child::Leaf(0)));
        assert!(matches!(c.nodes[0].right, Child::Node(1)));
        assert!(matches!(c.nodes[1].right, Child::Leaf(2)));
        assert!((c.stages[0].threshold - (-1.0 - THRESHOLD_EPS)).abs() < 1e-9);
    }

    #[test]
    fn malformed_cascades_are_model_corrupt() {
        let cases = [
            ("<featureType>HAAR", "<featureType>LBP", "featureType"),
            ("<stageType>BOOST", "<stageType>GAB", "stageType"),
            ("<width>4</width>", "<width>x</width>", "width"),
            ("0 1 0 5.0e-01", "0 1 7 5.0e-01", "featureIdx 7"),
            ("0 1 0 5.0e-01", "1 0 0 5.0e-01 0", "multiple of 4"),
            ("-1 -2 1", "-1 -5 1", "missing leaf"),
            ("-1 -2 1", "-1 1 1", "links to node 1"),
            ("-1. 5.e-01 1.", "-1. 5.e-01", "leaf values"),
            ("-1. 5.e-01 1.", "-1. abc 1.", "not a valid number"),
            ("-1. 5.e-01 1.", "-1. 5.e-01 inf", "not all finite"),
            ("<stageThreshold>-1.", "<stageThreshold>NaN", "not finite"),
            ("0 0 4 4 -1.", "0 0 5 4 -1.", "leaves the 4x4 window"),
            ("0 0 4 4 -1.", "0 0 4 -4 -1.", "not a pixel rectangle"),
            ("0 0 4 4 -1.", "0 0 4 -1.", "expected 5"),
            ("<tilted>0</tilted>", "<tilted>1</tilted>", "tilted"),
            ("<maxCatCount>0", "<maxCatCount>256", "categorical"),
            ("<stageNum>1", "<stageNum>2", "truncated"),
            ("<maxWeakCount>1", "<maxWeakCount>3", "maxWeakCount"),
            ("<stageThreshold>-1.</stageThreshold>", "", "stageThreshold"),
            (
                r#"type_id="opencv-cascade-classifier""#,
                r#"type_id="opencv-haar-classifier""#,
                "old OpenCV 1.x",
            ),
        ];
        for (from, to, reason) in cases {
            assert!(TINY.contains(from), "test case {from:?} does not apply");
            expect_corrupt(&TINY.replacen(from, to, 1), reason);
        }
    }

    #[test]
    fn integral_matches_brute_force() {
        let img = GrayImage::from_fn(7, 5, |x, y| image::Luma([(x * 37 + y * 91) as u8]));
        let ii = Integral::new(&img);
        for (x, y, w, h) in [(0, 0, 7, 5), (1, 2, 3, 2), (6, 4, 1, 1)] {
            let r = WindowRect::new(x, y, w, h, ii.stride);
            let pixels: Vec<u32> = (y..y + h)
                .flat_map(|yy| (x..x + w).map(move |xx| (xx, yy)))
                .map(|(xx, yy)| u32::from(img.get_pixel(xx, yy)[0]))
                .collect();
            assert_eq!(r.sum(&ii.sum, 0), pixels.iter().sum::<u32>());
            assert_eq!(
                r.sum(&ii.sq_sum, 0),
                pixels.iter().map(|p| p * p).sum::<u32>()
            );
        }
    }

    #[test]
    fn resize_keeps_flat_images_flat_and_samples_pixel_centres() {
        let flat = GrayImage::from_pixel(9, 6, image::Luma([77]));
        assert!(resize_bilinear(&flat, 4, 3).pixels().all(|p| p[0] == 77));
        // Halving a 0/200 column pattern lands between the columns.
        let stripes =
            GrayImage::from_fn(4, 1, |x, _| image::Luma([if x % 2 == 0 { 0 } else { 200 }]));
        assert_eq!(resize_bilinear(&stripes, 2, 1).as_raw(), &vec![100, 100]);
    }

    #[test]
    fn grouping_merges_neighbours_and_drops_lonely_hits() {
        let r = |x, y, s| IRect { x, y, w: s, h: s };
        let hits = [
            r(100, 100, 50),
            r(102, 101, 52),
            r(98, 99, 48),
            r(101, 100, 50),
            r(300, 300, 50),
        ];
        assert_eq!(group_rectangles(&hits, 3, GROUP_EPS), vec![r(100, 100, 50)]);
        assert_eq!(group_rectangles(&hits, 0, GROUP_EPS).len(), hits.len());
        // A small supported box inside a better supported big one goes.
        let mut nested = vec![r(20, 20, 30); 4];
        nested.extend(vec![r(10, 10, 60); 6]);
        assert_eq!(group_rectangles(&nested, 2, GROUP_EPS), vec![r(10, 10, 60)]);
    }

    #[test]
    fn dlib_box_is_smaller_and_lower() {
        let d = to_dlib_box(&Rect::new(100.0, 200.0, 100.0, 100.0));
        assert_close(&d, &Rect::new(103.0, 211.0, 94.0, 94.0), 1e-3);
    }
}
