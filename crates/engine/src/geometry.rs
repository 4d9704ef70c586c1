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
