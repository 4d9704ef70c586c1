//! dlib's 68-point shape predictor (Kazemi & Sullivan 2014, an ensemble of
//! regression trees), read from dlib's own serialised `.dat` file and
//! evaluated exactly as `dlib::shape_predictor::operator()` does.
//!
//! File layout (`dlib/image_processing/shape_predictor.h`, `serialize.h`):
//! `int version (= 1)`, `matrix<float,0,1> initial_shape`,
//! `vector<vector<regression_tree>> forests` (a tree is
//! `vector<{ulong idx1, ulong idx2, float thresh}> splits` then
//! `vector<matrix<float,0,1>> leaf_values`), `vector<vector<ulong>> anchor_idx`,
//! `vector<vector<vector<float,2>>> deltas`.

use crate::error::{EngineError, Result};
use crate::geometry::{Point, Rect};
use image::GrayImage;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The API promises 68 iBUG points, so other dlib models (e.g. the 5-point one)
/// are refused at load rather than breaking callers that index landmarks.
const NUM_PARTS: usize = 68;

/// dlib's `float_details` exponent values that stand for inf, -inf and NaN.
const EXP_INF: i16 = 32000;
const EXP_NINF: i16 = 32001;

/// Read buffer; large enough that refills are rare, small enough not to matter.
const READ_BUF: usize = 1 << 16;
/// Upper bound for up-front reservations, so a forged length field in a stream
/// of unknown size cannot make us allocate much before the data runs out.
const MAX_RESERVE: usize = 1 << 16;

/// The loaded model: read-only after loading, so one instance can be shared.
/// Leaves take 65 MB (f32, as dlib keeps them); the rest is small.
pub struct ShapePredictor {
    /// Mean shape in the face box's unit square: x0, y0, x1, y1, ...
    initial_shape: Vec<f32>,
    cascades: Vec<Cascade>,
    /// Split nodes of every tree, tree after tree.
    splits: Vec<Split>,
    /// Leaf vectors of every tree, each `initial_shape.len()` long.
    leaves: Vec<f32>,
}

/// One level of the cascade: its feature pixels (relative to a landmark of the
/// initial shape) and the trees that read them.
struct Cascade {
    anchors: Vec<u32>,
    deltas: Vec<[f32; 2]>,
    trees: Vec<Tree>,
}

/// A complete binary tree stored breadth-first (children of `i` are `2i+1`, `2i+2`).
struct Tree {
    first_split: usize,
    num_splits: usize,
    /// Index of the tree's first leaf, counted in leaf vectors.
    first_leaf: usize,
}

#[derive(Clone, Copy)]
struct Split {
    idx1: u32,
    idx2: u32,
    thresh: f32,
}

impl ShapePredictor {
    pub fn from_file(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => EngineError::ModelMissing {
                path: path.to_path_buf(),
                hint: "install Debian's libdlib-data or set MOUTHPIECE_SHAPE_PREDICTOR".into(),
            },
            _ => EngineError::Io(with_path(e, path)),
        })?;
        let size = file.metadata().ok().map(|m| m.len());
        Self::parse(file, size).map_err(|e| e.into_engine(path))
    }

    /// Reads a model from any byte stream (same format as the file).
    pub fn from_reader(reader: impl Read) -> Result<Self> {
        Self::parse(reader, None).map_err(|e| e.into_engine(Path::new("<reader>")))
    }

    /// 68 landmarks in image coordinates for the face inside `rect`.
    ///
    /// `rect` is read like a dlib `rectangle`: its corners are pixel centres
    /// `(x, y)` and `(x + w - 1, y + h - 1)`, so a dlib box `(l, t, r, b)` is
    /// `Rect::new(l, t, r - l + 1, b - t + 1)`. Coordinates are returned
    /// unrounded; dlib rounds them to the nearest integer.
    pub fn predict(&self, gray: &GrayImage, rect: &Rect) -> Vec<Point> {
        let to_img = Unnormalize::new(rect);
        let pixels = Pixels::new(gray);
        let mut shape = self.initial_shape.clone();
        let mut features = Vec::new();
        let mut reached = Vec::new();
        for cascade in &self.cascades {
            let [m00, m01, m10, m11] = similarity(&self.initial_shape, &shape);
            features.clear();
            features.extend(cascade.anchors.iter().zip(&cascade.deltas).map(|(&a, d)| {
                let a = a as usize * 2;
                // f32 arithmetic in dlib's order, then to pixels in f64 as dlib does.
                let x = (m00 * d[0] + m01 * d[1]) + shape[a];
                let y = (m10 * d[0] + m11 * d[1]) + shape[a + 1];
                let (px, py) = to_img.apply(x, y);
                pixels.at(px, py)
            }));
            // Features are fixed within a cascade, so walk every tree first:
            // the leaf loads that follow are then independent of each other.
            reached.clear();
            reached.extend(cascade.trees.iter().map(|t| self.leaf_offset(t, &features)));
            self.add_leaves(&mut shape, &reached);
        }
        shape
            .chunks_exact(2)
            .map(|p| {
                let (x, y) = to_img.apply(p[0], p[1]);
                Point::new(x as f32, y as f32)
            })
            .collect()
    }

    /// Walks one tree; returns the offset in `leaves` of the leaf vector reached.
    fn leaf_offset(&self, tree: &Tree, features: &[f32]) -> usize {
        let splits = &self.splits[tree.first_split..tree.first_split + tree.num_splits];
        let mut i = 0;
        // Feature indices were checked against the cascade's pixel count at load.
        while let Some(s) = splits.get(i) {
            let diff = features[s.idx1 as usize] - features[s.idx2 as usize];
            i = if diff > s.thresh {
                2 * i + 1
            } else {
                2 * i + 2
            };
        }
        (tree.first_leaf + i - splits.len()) * self.initial_shape.len()
    }

    /// `shape += leaf` for each reached leaf, in tree order.
    fn add_leaves(&self, shape: &mut [f32], reached: &[usize]) {
        let n = shape.len();
        let leaf = |at: usize| &self.leaves[at..at + n];
        // The leaves (65 MB in all) are mostly not in cache: four per pass keeps
        // four memory streams in flight, about 4x faster than one at a time.
        // Each element still adds the leaves in tree order, so sums match dlib.
        let mut quads = reached.chunks_exact(4);
        for q in &mut quads {
            let (a, b, c, d) = (leaf(q[0]), leaf(q[1]), leaf(q[2]), leaf(q[3]));
            for (k, s) in shape.iter_mut().enumerate() {
                *s = *s + a[k] + b[k] + c[k] + d[k];
            }
        }
        for &at in quads.remainder() {
            for (s, v) in shape.iter_mut().zip(leaf(at)) {
                *s += *v;
            }
        }
    }

    fn parse(reader: impl Read, size: Option<u64>) -> Result<Self, LoadError> {
        let mut d = Decoder::new(reader, size);
        let version = d.signed(4)?;
        if version != 1 {
            return Err(corrupt(format!(
                "unsupported shape_predictor version {version} (expected 1)"
            )));
        }
        let n = NUM_PARTS * 2;
        let mut initial_shape = Vec::with_capacity(n);
        let what = format!("initial shape of {NUM_PARTS} landmarks");
        d.column_into(&mut initial_shape, n, &what)?;

        let mut splits = Vec::new();
        let mut leaves = Vec::new();
        let num_cascades = d.len("forests", 2)?;
        let mut forests = Vec::with_capacity(num_cascades.min(MAX_RESERVE));
        for _ in 0..num_cascades {
            let num_trees = d.len("forest", 4)?;
            let mut trees = Vec::with_capacity(num_trees.min(MAX_RESERVE));
            for _ in 0..num_trees {
                trees.push(d.tree(n, &mut splits, &mut leaves)?);
            }
            forests.push(trees);
        }

        let anchor_sets = d.len("anchor_idx", 2)?;
        if anchor_sets != num_cascades {
            return Err(corrupt(format!(
                "{anchor_sets} anchor sets for {num_cascades} cascades"
            )));
        }
        let mut anchors = Vec::with_capacity(anchor_sets);
        for _ in 0..anchor_sets {
            let count = d.len("anchor_idx[i]", 2)?;
            let mut set = Vec::with_capacity(count.min(MAX_RESERVE));
            for _ in 0..count {
                let a = d.unsigned(8)?;
                if a >= NUM_PARTS as u64 {
                    return Err(corrupt(format!("anchor index {a} is not a landmark")));
                }
                set.push(a as u32);
            }
            anchors.push(set);
        }

        let delta_sets = d.len("deltas", 2)?;
        if delta_sets != num_cascades {
            return Err(corrupt(format!(
                "{delta_sets} delta sets for {num_cascades} cascades"
            )));
        }
        let mut cascades = Vec::with_capacity(num_cascades);
        for (trees, anchors) in forests.into_iter().zip(anchors) {
            let count = d.len("deltas[i]", 8)?;
            if count != anchors.len() {
                return Err(corrupt(format!(
                    "{count} pixel deltas for {} anchors",
                    anchors.len()
                )));
            }
            let mut deltas = Vec::with_capacity(count.min(MAX_RESERVE));
            for _ in 0..count {
                deltas.push([d.float()?, d.float()?]);
            }
            // Tree traversal indexes the feature vector without checks.
            let in_range = |s: &Split| (s.idx1 as usize) < count && (s.idx2 as usize) < count;
            for t in &trees {
                if !splits[t.first_split..t.first_split + t.num_splits]
                    .iter()
                    .all(in_range)
                {
                    return Err(corrupt(format!(
                        "a split reads a feature pixel beyond the {count} of its cascade"
                    )));
                }
            }
            cascades.push(Cascade {
                anchors,
                deltas,
                trees,
            });
        }

        splits.shrink_to_fit();
        leaves.shrink_to_fit();
        Ok(Self {
            initial_shape,
            cascades,
            splits,
            leaves,
        })
    }
}

/// dlib's `unnormalizing_tform(rect)`: maps the unit square onto the box
/// whose corner pixels are `(l, t)` and `(r, b)`.
struct Unnormalize {
    l: f64,
    t: f64,
    w: f64,
    h: f64,
}

impl Unnormalize {
    fn new(rect: &Rect) -> Self {
        Self {
            l: f64::from(rect.x),
            t: f64::from(rect.y),
            w: f64::from(rect.w) - 1.0,
            h: f64::from(rect.h) - 1.0,
        }
    }

    fn apply(&self, x: f32, y: f32) -> (f64, f64) {
        (
            self.w * f64::from(x) + self.l,
            self.h * f64::from(y) + self.t,
        )
    }
}

/// Bounds-checked pixel reads; outside the image reads as 0, as in dlib.
struct Pixels<'a> {
    data: &'a [u8],
    width: usize,
    cols: f64,
    rows: f64,
}

impl<'a> Pixels<'a> {
    fn new(img: &'a GrayImage) -> Self {
        Self {
            data: img.as_raw(),
            width: img.width() as usize,
            cols: f64::from(img.width()),
            rows: f64::from(img.height()),
        }
    }

    fn at(&self, x: f64, y: f64) -> f32 {
        // dlib rounds to `point` with floor(v + 0.5). NaN fails every comparison.
        let (x, y) = ((x + 0.5).floor(), (y + 0.5).floor());
        if x >= 0.0 && y >= 0.0 && x < self.cols && y < self.rows {
            let i = y as usize * self.width + x as usize;
            self.data.get(i).map_or(0.0, |&v| f32::from(v))
        } else {
            0.0
        }
    }
}

/// The 2x2 part of dlib's `find_similarity_transform(from, to)` (Umeyama),
/// as f32 row-major. In 2-D its SVD has a closed form: with `cov = [[a, b],
/// [c, d]]`, `p = a + d` and `q = c - b`, the best rotation has angle
/// `atan2(q, p)` and the scale is `hypot(p, q) / sigma_from` (also when
/// `det(cov) < 0`, where dlib flips the smaller singular value), so
/// `scale * R = [[p, -q], [q, p]] / sigma_from`.
fn similarity(from: &[f32], to: &[f32]) -> [f32; 4] {
    let n = (from.len() / 2) as f64;
    let mean = |s: &[f32]| {
        let (x, y) = s.chunks_exact(2).fold((0.0, 0.0), |(x, y), p| {
            (x + f64::from(p[0]), y + f64::from(p[1]))
        });
        (x / n, y / n)
    };
    let (fx, fy) = mean(from);
    let (tx, ty) = mean(to);
    let (mut sigma, mut a, mut b, mut c, mut d) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (f, t) in from.chunks_exact(2).zip(to.chunks_exact(2)) {
        let (ux, uy) = (f64::from(f[0]) - fx, f64::from(f[1]) - fy);
        let (vx, vy) = (f64::from(t[0]) - tx, f64::from(t[1]) - ty);
        sigma += ux * ux + uy * uy;
        a += vx * ux;
        b += vx * uy;
        c += vy * ux;
        d += vy * uy;
    }
    if sigma == 0.0 {
        // All points coincide: dlib keeps scale 1, and the SVD of its zero
        // covariance gives no rotation.
        return [1.0, 0.0, 0.0, 1.0];
    }
    // dlib divides variance and covariance by n before the SVD; so do we.
    let (sigma, p, q) = (sigma / n, (a + d) / n, (c - b) / n);
    let k = 1.0 / sigma;
    [
        (k * p) as f32,
        (-k * q) as f32,
        (k * q) as f32,
        (k * p) as f32,
    ]
}

/// Why a model could not be read, before we know which path to blame.
enum LoadError {
    Corrupt(String),
    Io(io::Error),
}

impl LoadError {
    fn into_engine(self, path: &Path) -> EngineError {
        match self {
            LoadError::Corrupt(reason) => EngineError::ModelCorrupt {
                path: PathBuf::from(path),
                reason,
            },
            LoadError::Io(e) => EngineError::Io(with_path(e, path)),
        }
    }
}

fn corrupt(reason: String) -> LoadError {
    LoadError::Corrupt(reason)
}

/// `EngineError::Io` carries no path, so name the file in the message.
fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// One-pass reader for dlib's serialisation primitives over a buffered stream.
struct Decoder<R> {
    src: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Stream offset of `buf[0]`.
    offset: u64,
    size: Option<u64>,
}

impl<R: Read> Decoder<R> {
    fn new(src: R, size: Option<u64>) -> Self {
        Self {
            src,
            buf: vec![0; READ_BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
            offset: 0,
            size,
        }
    }

    fn position(&self) -> u64 {
        self.offset + self.pos as u64
    }

    #[inline]
    fn peek(&mut self) -> Result<u8, LoadError> {
        if self.pos == self.end {
            self.refill()?;
        }
        Ok(self.buf[self.pos])
    }

    #[inline]
    fn byte(&mut self) -> Result<u8, LoadError> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    #[cold]
    fn refill(&mut self) -> Result<(), LoadError> {
        self.offset += self.end as u64;
        self.pos = 0;
        self.end = 0;
        loop {
            match self.src.read(&mut self.buf) {
                Ok(0) => {
                    return Err(corrupt(format!(
                        "file ends early at byte {} (truncated?)",
                        self.offset
                    )))
                }
                Ok(n) => {
                    self.end = n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LoadError::Io(e)),
            }
        }
    }

    /// dlib `unpack_int` magnitude: a control byte (size in the low nibble,
    /// sign in 0x80), then `size` little-endian bytes.
    fn magnitude(&mut self, size: u8, max_bytes: u8) -> Result<u64, LoadError> {
        if size == 0 || size > max_bytes {
            return Err(corrupt(format!(
                "bad integer header at byte {}",
                self.position().saturating_sub(1)
            )));
        }
        let mut v = 0u64;
        for i in 0..size {
            v |= u64::from(self.byte()?) << (8 * i);
        }
        Ok(v)
    }

    /// An unsigned integer of `max_bytes` bytes (the sign bit makes it invalid, as in dlib).
    fn unsigned(&mut self, max_bytes: u8) -> Result<u64, LoadError> {
        let c = self.byte()?;
        self.magnitude(c & 0x8F, max_bytes)
    }

    /// A signed integer of `max_bytes` bytes, wrapping like dlib's C++ does.
    fn signed(&mut self, max_bytes: u8) -> Result<i64, LoadError> {
        let c = self.byte()?;
        let v = self.magnitude(c & 0x0F, max_bytes)?;
        let v = match max_bytes {
            2 => i64::from(v as u16 as i16),
            4 => i64::from(v as u32 as i32),
            _ => v as i64,
        };
        Ok(if c & 0x80 != 0 { v.wrapping_neg() } else { v })
    }

    /// A `std::vector` length, refused if the rest of the file cannot hold that
    /// many items of at least `min_item_bytes` each.
    fn len(&mut self, what: &str, min_item_bytes: u64) -> Result<usize, LoadError> {
        let n = self.unsigned(8)?;
        let fits = match self.size {
            Some(size) => n <= size.saturating_sub(self.position()) / min_item_bytes,
            None => true,
        };
        match usize::try_from(n) {
            Ok(n) if fits => Ok(n),
            _ => Err(corrupt(format!(
                "{what} claims {n} items at byte {}, more than the file holds",
                self.position()
            ))),
        }
    }

    /// A float in dlib's `float_details` form: int64 mantissa, int16 exponent.
    fn float(&mut self) -> Result<f32, LoadError> {
        // dlib's older text encoding starts with an ASCII byte, which always
        // has a bit in 0x70; binary control bytes never do.
        if self.peek()? & 0x70 != 0 {
            return Err(corrupt(format!(
                "float at byte {} uses dlib's old text encoding, which is not supported",
                self.position()
            )));
        }
        let mantissa = self.signed(8)?;
        let exponent = self.signed(2)? as i16;
        let v = match exponent {
            e if e < EXP_INF => ldexp(mantissa as f32, e),
            EXP_INF => f32::INFINITY,
            EXP_NINF => f32::NEG_INFINITY,
            _ => f32::NAN,
        };
        if v.is_finite() {
            Ok(v)
        } else {
            Err(corrupt(format!(
                "non-finite number before byte {}",
                self.position()
            )))
        }
    }

    /// A `matrix<float,0,1>` with `len` entries, appended to `out`; the
    /// length is checked before any entry is read.
    fn column_into(&mut self, out: &mut Vec<f32>, len: usize, what: &str) -> Result<(), LoadError> {
        let at = self.position();
        let (mut rows, mut cols) = (self.signed(8)?, self.signed(8)?);
        // Current dlib writes negated sizes to mark its newer format.
        if rows < 0 || cols < 0 {
            rows = rows.wrapping_neg();
            cols = cols.wrapping_neg();
        }
        if cols != 1 || rows != len as i64 {
            return Err(corrupt(format!(
                "{what} at byte {at} is a {rows}x{cols} matrix, expected {len}x1"
            )));
        }
        if self
            .size
            .is_some_and(|s| s.saturating_sub(self.position()) / 4 < len as u64)
        {
            return Err(corrupt(format!(
                "{what} at byte {at} runs past the end of the file (truncated?)"
            )));
        }
        out.reserve(len.min(MAX_RESERVE));
        for _ in 0..len {
            out.push(self.float()?);
        }
        Ok(())
    }

    /// One `regression_tree`, its splits and leaves appended to the shared pools.
    fn tree(
        &mut self,
        shape_len: usize,
        splits: &mut Vec<Split>,
        leaves: &mut Vec<f32>,
    ) -> Result<Tree, LoadError> {
        let num_splits = self.len("splits", 8)?;
        let first_split = splits.len();
        splits.reserve(num_splits.min(MAX_RESERVE));
        for _ in 0..num_splits {
            let (idx1, idx2) = (self.unsigned(8)?, self.unsigned(8)?);
            let thresh = self.float()?;
            match (u32::try_from(idx1), u32::try_from(idx2)) {
                (Ok(idx1), Ok(idx2)) => splits.push(Split { idx1, idx2, thresh }),
                _ => return Err(corrupt("split feature index out of range".into())),
            }
        }
        let num_leaves = self.len("leaf_values", 4)?;
        // Traversal assumes a full tree: 2^k leaves under 2^k - 1 splits.
        if num_leaves != num_splits + 1 || !num_leaves.is_power_of_two() {
            return Err(corrupt(format!(
                "tree with {num_splits} splits has {num_leaves} leaves"
            )));
        }
        let first_leaf = leaves.len() / shape_len;
        for _ in 0..num_leaves {
            self.column_into(leaves, shape_len, "leaf value")?;
        }
        Ok(Tree {
            first_split,
            num_splits,
            first_leaf,
        })
    }
}

/// `std::ldexp` for a float mantissa: exact in f64, then one rounding to f32.
fn ldexp(m: f32, e: i16) -> f32 {
    if m == 0.0 {
        return m;
    }
    // |m| <= 2^63, so beyond ±400 the f32 result is 0 or inf either way.
    let e = i32::from(e).clamp(-400, 400);
    let scale = f64::from_bits(((e + 1023) as u64) << 52);
    (f64::from(m) * scale) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    const MODEL: &str = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";

    fn model() -> &'static ShapePredictor {
        static SP: OnceLock<ShapePredictor> = OnceLock::new();
        SP.get_or_init(|| match ShapePredictor::from_file(Path::new(MODEL)) {
            Ok(sp) => sp,
            Err(e) => panic!("cannot load {MODEL} ({e}); install Debian's libdlib-data"),
        })
    }

    /// dlib's rgb -> unsigned char assignment (`pixel.h`): the plain channel mean.
    fn dlib_gray(rgb: &image::RgbImage) -> GrayImage {
        GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
            let [r, g, b] = rgb.get_pixel(x, y).0;
            image::Luma([((u32::from(r) + u32::from(g) + u32::from(b)) / 3) as u8])
        })
    }

    fn sample(name: &str) -> GrayImage {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../assets/samples")
            .join(name);
        match image::open(&path) {
            Ok(img) => dlib_gray(&img.to_rgb8()),
            Err(e) => panic!("cannot read sample {}: {e}", path.display()),
        }
    }

    struct Golden {
        image: &'static str,
        /// dlib `rectangle` (left, top, right, bottom) from `get_frontal_face_detector()`.
        ltrb: [i32; 4],
        /// (landmark, x, y) as printed by `dlib::shape_predictor` (integer pixels).
        points: [(usize, i32, i32); 8],
    }

    // Rects: dlib 19.24's (Debian libdlib-dev) `get_frontal_face_detector()`
    // on its own decode. Points: dlib's shape predictor on the pixels the
    // `image` crate decodes, grayed as above. libjpeg decodes the JPEGs a grey
    // level differently here and there, which moves some landmarks by up to
    // 3 px, so dlib was given the same pixels to test the port itself.
    const GOLDEN: [Golden; 4] = [
        Golden {
            image: "astronaut.png",
            ltrb: [179, 83, 266, 170],
            points: [
                (8, 221, 178),
                (30, 225, 127),
                (36, 195, 101),
                (45, 255, 104),
                (48, 201, 140),
                (54, 245, 141),
                (62, 223, 144),
                (66, 223, 150),
            ],
        },
        Golden {
            image: "obama.jpg",
            ltrb: [366, 136, 624, 394],
            points: [
                (8, 495, 426),
                (30, 496, 274),
                (36, 424, 218),
                (45, 567, 216),
                (48, 432, 322),
                (54, 555, 319),
                (62, 496, 321),
                (66, 495, 346),
            ],
        },
        Golden {
            image: "biden.jpg",
            ltrb: [439, 233, 749, 542],
            points: [
                (8, 561, 566),
                (30, 596, 401),
                (36, 513, 321),
                (45, 673, 358),
                (48, 520, 458),
                (54, 626, 480),
                (62, 579, 468),
                (66, 577, 467),
            ],
        },
        Golden {
            image: "obama-speech.jpg",
            ltrb: [164, 302, 474, 611],
            points: [
                (8, 286, 639),
                (30, 280, 440),
                (36, 231, 373),
                (45, 397, 389),
                (48, 244, 523),
                (54, 353, 529),
                (62, 287, 508),
                (66, 288, 548),
            ],
        },
    ];

    #[test]
    fn model_structure() {
        let sp = model();
        assert_eq!(sp.initial_shape.len(), 136);
        assert_eq!(sp.cascades.len(), 15);
        for c in &sp.cascades {
            assert_eq!(c.trees.len(), 500);
            assert_eq!(c.anchors.len(), 500);
        }
        assert_eq!(sp.leaves.len(), 15 * 500 * 16 * 136);
    }

    #[test]
    fn matches_dlib_on_samples() {
        let sp = model();
        for g in &GOLDEN {
            let gray = sample(g.image);
            let [l, t, r, b] = g.ltrb.map(|v| v as f32);
            let pts = sp.predict(&gray, &Rect::new(l, t, r - l + 1.0, b - t + 1.0));
            assert_eq!(pts.len(), 68, "{}", g.image);
            for &(i, x, y) in &g.points {
                let d = pts[i].dist(Point::new(x as f32, y as f32));
                assert!(
                    d <= 1.0,
                    "{} landmark {i}: ours {:?}, dlib ({x}, {y}), {d:.2} px apart",
                    g.image,
                    pts[i]
                );
            }
        }
    }

    #[test]
    fn truncated_file_is_corrupt() {
        let mut head = Vec::new();
        let read = File::open(MODEL).and_then(|f| f.take(1 << 20).read_to_end(&mut head));
        if let Err(e) = read {
            panic!("cannot read {MODEL} ({e}); install Debian's libdlib-data");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("truncated.dat");
        std::fs::write(&path, &head).expect("write temp file");
        // Knowing the file size, the loader notices the shortfall at the first
        // length that cannot fit; from a stream it finds out at the end.
        match ShapePredictor::from_file(&path) {
            Err(EngineError::ModelCorrupt { path: p, .. }) => assert_eq!(p, path),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a 1 MB prefix loaded as a model"),
        }
        match ShapePredictor::from_reader(&head[..]) {
            Err(EngineError::ModelCorrupt { reason, .. }) => {
                assert!(reason.contains("ends early"), "{reason}")
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a 1 MB prefix loaded as a model"),
        }
    }

    #[test]
    fn missing_file_is_model_missing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = ShapePredictor::from_file(&dir.path().join("nope.dat")).err();
        assert!(
            matches!(err, Some(EngineError::ModelMissing { .. })),
            "{err:?}"
        );
    }

    /// Version 1 and an all-zero 68-point initial shape, in dlib's encoding.
    fn header() -> Vec<u8> {
        let mut v = vec![0x01, 0x01, 0x81, 0x88, 0x81, 0x01];
        for _ in 0..136 {
            v.extend([0x01, 0x00, 0x01, 0x00]); // mantissa 0, exponent 0
        }
        v
    }

    #[test]
    fn forged_lengths_are_refused() {
        // 2^64 - 1 cascades: refused outright when the file size is known...
        let mut bytes = header();
        bytes.extend([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("forged.dat");
        std::fs::write(&path, &bytes).expect("write temp file");
        match ShapePredictor::from_file(&path) {
            Err(EngineError::ModelCorrupt { reason, .. }) => {
                assert!(reason.contains("more than the file holds"), "{reason}")
            }
            other => panic!("expected ModelCorrupt, got {:?}", other.err()),
        }
        // ...and a stream of unknown size runs out of bytes before allocating much.
        assert!(matches!(
            ShapePredictor::from_reader(&bytes[..]),
            Err(EngineError::ModelCorrupt { .. })
        ));
        // A leaf longer than the shape, a non-finite float, a bad version.
        let mut leaf = header();
        leaf.extend([
            0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x01, 0x01, 0x81, 0x90, 0x81, 0x01,
        ]);
        let mut inf = vec![
            0x01, 0x01, 0x81, 0x88, 0x81, 0x01, 0x01, 0x01, 0x02, 0x00, 0x7d,
        ];
        inf.extend(&header()[6..]);
        for bad in [
            leaf,
            inf,
            vec![0x01, 0x02],
            vec![],
            vec![0x01, 0x01, 0x81, 0x0a, 0x81, 0x01],
        ] {
            assert!(matches!(
                ShapePredictor::from_reader(&bad[..]),
                Err(EngineError::ModelCorrupt { .. })
            ));
        }
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let mut head = Vec::new();
        if let Err(e) = File::open(MODEL).and_then(|f| f.take(64 << 10).read_to_end(&mut head)) {
            panic!("cannot read {MODEL} ({e}); install Debian's libdlib-data");
        }
        // Deterministic byte flips all over the first 64 KB; every prefix is
        // incomplete, so each must end in an error rather than a panic.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..200 {
            let mut bytes = head.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let i = (state % bytes.len() as u64) as usize;
                bytes[i] = (state >> 32) as u8;
            }
            assert!(ShapePredictor::from_reader(&bytes[..]).is_err());
        }
    }

    #[test]
    fn any_rect_is_safe() {
        let sp = model();
        let gray = sample("astronaut.png");
        let rects = [
            Rect::new(-60.0, -40.0, 120.0, 120.0),
            Rect::new(450.0, 470.0, 200.0, 200.0),
            Rect::new(5000.0, -5000.0, 10.0, 10.0),
            Rect::new(0.0, 0.0, 0.0, 0.0),
            Rect::new(10.0, 10.0, -50.0, -50.0),
            Rect::new(f32::NAN, 0.0, f32::INFINITY, 1e30),
            Rect::new(-1e30, -1e30, 2e30, 2e30),
        ];
        for r in &rects {
            assert_eq!(sp.predict(&gray, r).len(), 68, "{r:?}");
        }
        // Partly outside: the box still steers the shape, inside the box's corners.
        let pts = sp.predict(&gray, &rects[0]);
        assert!(pts
            .iter()
            .all(|p| p.x > -90.0 && p.x < 90.0 && p.y > -70.0 && p.y < 110.0));
        for img in [GrayImage::new(0, 0), GrayImage::new(1, 1)] {
            assert_eq!(sp.predict(&img, &Rect::new(0.0, 0.0, 1.0, 1.0)).len(), 68);
        }
    }
}
