//! Small 2-D types shared by face analysis and animation.

#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }
    pub fn plus(self, o: Point) -> Point {
        Point::new(self.x + o.x, self.y + o.y)
    }
    pub fn minus(self, o: Point) -> Point {
        Point::new(self.x - o.x, self.y - o.y)
    }
    pub fn scale(self, s: f32) -> Point {
        Point::new(self.x * s, self.y * s)
    }
    pub fn dist(self, o: Point) -> f32 {
        let d = self.minus(o);
        (d.x * d.x + d.y * d.y).sqrt()
    }
    pub fn lerp(self, o: Point, t: f32) -> Point {
        Point::new(self.x + (o.x - self.x) * t, self.y + (o.y - self.y) * t)
    }
}

/// 0 below `e0`, 1 above `e1`, smooth (3t^2 - 2t^3) between.
pub fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The Catmull-Rom spline through p1 (t = 0) and p2 (t = 1).
pub fn catmull_rom(p0: Point, p1: Point, p2: Point, p3: Point, t: f32) -> Point {
    let (t2, t3) = (t * t, t * t * t);
    let f = |a: f32, b: f32, c: f32, d: f32| {
        0.5 * (2.0 * b
            + (-a + c) * t
            + (2.0 * a - 5.0 * b + 4.0 * c - d) * t2
            + (-a + 3.0 * b - 3.0 * c + d) * t3)
    };
    Point::new(f(p0.x, p1.x, p2.x, p3.x), f(p0.y, p1.y, p2.y, p3.y))
}

/// A closed Catmull-Rom spline through `pts`, `steps` samples per segment.
pub fn smooth_closed(pts: &[Point], steps: usize) -> Vec<Point> {
    let n = pts.len();
    let mut out = Vec::with_capacity(n * steps);
    for i in 0..n {
        let (p0, p1) = (pts[(i + n - 1) % n], pts[i]);
        let (p2, p3) = (pts[(i + 1) % n], pts[(i + 2) % n]);
        for s in 0..steps {
            out.push(catmull_rom(p0, p1, p2, p3, s as f32 / steps as f32));
        }
    }
    out
}

/// Least squares h = c0 + c1 a + c2 a^2 through `pts`: [c0, c1, c2], or
/// None when they fix no parabola.
pub fn fit_quadratic(pts: &[(f32, f32)]) -> Option<[f32; 3]> {
    let mut m = [[0.0f64; 3]; 3];
    let mut r = [0.0f64; 3];
    for &(a, h) in pts {
        let v = [1.0, f64::from(a), f64::from(a) * f64::from(a)];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += v[i] * v[j];
            }
            r[i] += v[i] * f64::from(h);
        }
    }
    // The normal equations, by Cramer's rule.
    let det3 = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det3(m);
    if !d.is_finite() || d.abs() <= 1e-9 * (m[0][0] * m[1][1] * m[2][2]).abs() {
        return None;
    }
    let with = |col: usize| {
        let mut mm = m;
        for (row, v) in mm.iter_mut().zip(r) {
            row[col] = v;
        }
        (det3(mm) / d) as f32
    };
    Some([with(0), with(1), with(2)])
}

/// Least squares h = c0 + c1 a: [c0, c1], or None for a vertical set.
pub fn fit_line(pts: &[(f32, f32)]) -> Option<[f32; 2]> {
    let n = pts.len() as f64;
    let (mut sa, mut sa2, mut sh, mut sah) = (0.0f64, 0.0, 0.0, 0.0);
    for &(a, h) in pts {
        let (a, h) = (f64::from(a), f64::from(h));
        sa += a;
        sa2 += a * a;
        sh += h;
        sah += a * h;
    }
    let det = n * sa2 - sa * sa;
    if !det.is_finite() || det.abs() <= 1e-9 * (n * sa2).abs() {
        return None;
    }
    Some([
        ((sh * sa2 - sa * sah) / det) as f32,
        ((n * sah - sa * sh) / det) as f32,
    ])
}

/// The mean of the points (the origin for none).
pub fn centroid(points: &[Point]) -> Point {
    points
        .iter()
        .fold(Point::default(), |a, p| a.plus(*p))
        .scale(1.0 / points.len().max(1) as f32)
}

/// The polygon pushed out from its centroid by `px`.
pub fn grow_polygon(poly: &[Point], px: f32) -> Vec<Point> {
    let c = centroid(poly);
    poly.iter()
        .map(|p| {
            let d = p.minus(c);
            let len = d.dist(Point::default()).max(1e-3);
            p.plus(d.scale(px / len))
        })
        .collect()
}

/// Axis-aligned rectangle in pixel coordinates (top-left origin).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl Rect {
    pub const fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self { x, y, w, h }
    }
    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }
    pub fn center(&self) -> Point {
        Point::new(self.x + self.w * 0.5, self.y + self.h * 0.5)
    }
    pub fn right(&self) -> f32 {
        self.x + self.w
    }
    pub fn bottom(&self) -> f32 {
        self.y + self.h
    }
    pub fn intersection_area(&self, o: &Rect) -> f32 {
        let w = self.right().min(o.right()) - self.x.max(o.x);
        let h = self.bottom().min(o.bottom()) - self.y.max(o.y);
        if w <= 0.0 || h <= 0.0 {
            0.0
        } else {
            w * h
        }
    }
    /// Intersection over union.
    pub fn iou(&self, o: &Rect) -> f32 {
        let inter = self.intersection_area(o);
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
    pub fn scale(&self, s: f32) -> Rect {
        Rect::new(self.x * s, self.y * s, self.w * s, self.h * s)
    }
    pub fn bounding(points: &[Point]) -> Rect {
        let mut r = Rect::new(f32::MAX, f32::MAX, 0.0, 0.0);
        let (mut x1, mut y1) = (f32::MIN, f32::MIN);
        for p in points {
            r.x = r.x.min(p.x);
            r.y = r.y.min(p.y);
            x1 = x1.max(p.x);
            y1 = y1.max(p.y);
        }
        if points.is_empty() {
            return Rect::default();
        }
        r.w = x1 - r.x;
        r.h = y1 - r.y;
        r
    }
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; None
/// when `a` is singular (or the answer is not finite).
pub fn solve_linear<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let piv = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        let pivot_row = a[col];
        for row in col + 1..N {
            let f = a[row][col] / pivot_row[col];
            for (v, p) in a[row].iter_mut().zip(pivot_row.iter()).skip(col) {
                *v -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0f64; N];
    for row in (0..N).rev() {
        let s: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Even-odd rule: whether `p` lies inside the closed polygon `poly`.
pub fn point_in_polygon(p: Point, poly: &[Point]) -> bool {
    let mut inside = false;
    let n = poly.len();
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + n - 1) % n]);
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
    }
    inside
}
