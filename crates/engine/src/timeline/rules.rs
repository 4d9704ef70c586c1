//! Animation rules: timed phones in, mouth cues out. The rules follow Rhubarb
//! Lip Sync's published behaviour: each phone allows a set of shapes, the
//! least-effort path through those sets is taken (coarticulation), vowels
//! are anticipated up to 200 ms, the lips close before a bilabial release,
//! no shape is shorter than 70 ms nor an open or closed segment shorter
//! than 80 ms, tweens go one way (pop open, close slowly), and pauses hold,
//! relax or close depending on their length.
//!
//! Everything runs on a 10 ms grid.

use super::phones::{Articulation, Phone, ShapeSet};
use super::{Cue, MouthTimeline, Shape};

/// A phone and when it sounds, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedPhone {
    pub phone: Phone,
    pub start: f64,
    pub end: f64,
}

/// Lays `phone` over the given spans (seconds), cutting whatever phones
/// were there: acoustic evidence overriding a recogniser's guess.
pub fn overlay(phones: Vec<TimedPhone>, spans: &[(f64, f64)], phone: Phone) -> Vec<TimedPhone> {
    if spans.is_empty() {
        return phones;
    }
    let mut out: Vec<TimedPhone> = Vec::with_capacity(phones.len() + spans.len() * 2);
    for p in phones {
        let mut pieces = vec![(p.start, p.end)];
        for &(qs, qe) in spans {
            pieces = pieces
                .into_iter()
                .flat_map(|(a, b)| {
                    if qe <= a || qs >= b {
                        return vec![(a, b)];
                    }
                    let mut v = Vec::with_capacity(2);
                    if qs > a {
                        v.push((a, qs));
                    }
                    if qe < b {
                        v.push((qe, b));
                    }
                    v
                })
                .collect();
        }
        out.extend(pieces.into_iter().map(|(a, b)| TimedPhone {
            start: a,
            end: b,
            ..p
        }));
    }
    out.extend(
        spans
            .iter()
            .map(|&(start, end)| TimedPhone { phone, start, end }),
    );
    out.sort_by(|a, b| a.start.total_cmp(&b.start));
    out
}

/// Runs of at least `min_frames` inactive frames, in seconds.
pub fn quiet_spans(active: &[bool], min_frames: usize, frame: f64) -> Vec<(f64, f64)> {
    let mut quiet = Vec::new();
    let mut i = 0;
    while i < active.len() {
        if active[i] {
            i += 1;
            continue;
        }
        let s = i;
        while i < active.len() && !active[i] {
            i += 1;
        }
        if i - s >= min_frames {
            quiet.push((s as f64 * frame, i as f64 * frame));
        }
    }
    quiet
}

/// Grid step: 10 ms, in seconds.
pub const STEP: f64 = 0.01;
/// Shortest shape (7 steps = 70 ms); tweens excepted.
pub const MIN_SHAPE: i64 = 7;
/// Shortest open or closed segment (80 ms).
pub const MIN_SEGMENT: i64 = 8;
/// How far a segment may start early to reach `MIN_SEGMENT`.
pub const MAX_EARLY: i64 = 6;
/// Vowel anticipation reach (200 ms).
pub const ANTICIPATION: i64 = 20;
/// Bilabial occlusion before the release: clamp(previous / 2, 40, 120) ms.
pub const MIN_OCCLUSION: i64 = 4;
pub const MAX_OCCLUSION: i64 = 12;
/// Pauses shorter than this hold the previous shape.
pub const HOLD_PAUSE: i64 = 12;
/// Pauses at least this long close the mouth.
pub const CLOSE_PAUSE: i64 = 35;
/// Tween length bounds (40–80 ms).
pub const MIN_TWEEN: i64 = 4;
pub const MAX_TWEEN: i64 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Vowel,
    Consonant,
    /// Lips shut before a bilabial release, or during M.
    Closure,
    Pause,
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    start: i64,
    end: i64,
    set: ShapeSet,
    kind: Kind,
    /// A pause's full length, before a closure carved its end away: the
    /// pause rules judge the silence, not what is left of it.
    span: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    start: i64,
    end: i64,
    shape: Shape,
}

impl Run {
    fn len(&self) -> i64 {
        self.end - self.start
    }
}

fn to_steps(t: f64) -> i64 {
    (t / STEP).round() as i64
}

/// Turns timed phones into a mouth timeline covering `[0, duration]`.
/// Phones may leave gaps (silence) and may overlap slightly; both are
/// tolerated.
pub fn animate(phones: &[TimedPhone], duration: f64) -> MouthTimeline {
    let total = to_steps(duration).max(1);
    let segments = normalise(phones, total);
    let mut rules = expand(&segments);
    anticipate(&mut rules);
    let shapes = choose(&rules);
    let mut runs = to_runs(&rules, &shapes);
    enforce_segments(&mut runs);
    enforce_min_shape(&mut runs);
    let runs = add_tweens(runs);
    let cues = runs.iter().map(|r| Cue {
        start: (r.start as f64 * STEP).min(duration),
        end: (r.end as f64 * STEP).min(duration),
        shape: r.shape,
    });
    let mut tl = MouthTimeline::from_cues(duration, cues);
    match tl.cues.last_mut() {
        Some(last) => last.end = duration,
        None => tl = MouthTimeline::rest(duration),
    }
    tl
}

/// Contiguous phone segments on the grid, gaps filled with silence.
fn normalise(phones: &[TimedPhone], total: i64) -> Vec<(Phone, i64, i64)> {
    let mut sorted: Vec<TimedPhone> = phones
        .iter()
        .copied()
        .filter(|p| p.start.is_finite() && p.end.is_finite())
        .collect();
    sorted.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut out: Vec<(Phone, i64, i64)> = Vec::new();
    let mut cursor = 0i64;
    let push = |out: &mut Vec<(Phone, i64, i64)>, p: Phone, s: i64, e: i64| {
        if e <= s {
            return;
        }
        match out.last_mut() {
            Some(last) if last.0 == p && p.is_pause() => last.2 = e,
            _ => out.push((p, s, e)),
        }
    };
    for p in sorted {
        let s = to_steps(p.start).clamp(0, total).max(cursor);
        let e = to_steps(p.end).clamp(0, total);
        if e <= s {
            continue;
        }
        if s > cursor {
            push(&mut out, Phone::Sil, cursor, s);
        }
        push(&mut out, p.phone, s, e);
        cursor = e;
    }
    if cursor < total {
        push(&mut out, Phone::Sil, cursor, total);
    }
    out
}

/// Appends a rule, trimming earlier rules it overlaps.
fn push_rule(rules: &mut Vec<Rule>, r: Rule) {
    if r.end <= r.start {
        return;
    }
    while let Some(last) = rules.last_mut() {
        if last.end <= r.start {
            break;
        }
        if last.start >= r.start {
            rules.pop();
        } else {
            last.end = r.start;
        }
    }
    rules.push(r);
}

fn expand(segments: &[(Phone, i64, i64)]) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::with_capacity(segments.len() + 8);
    for (i, &(phone, s, e)) in segments.iter().enumerate() {
        let dur = e - s;
        let kind = if phone.is_vowel() {
            Kind::Vowel
        } else if phone == Phone::M || phone == Phone::Closure {
            Kind::Closure
        } else {
            Kind::Consonant
        };
        match phone.articulation(dur as f64 * STEP) {
            Articulation::Pause => push_rule(
                &mut rules,
                Rule {
                    start: s,
                    end: e,
                    set: ShapeSet::EMPTY,
                    kind: Kind::Pause,
                    span: dur,
                },
            ),
            Articulation::Static(set) => push_rule(
                &mut rules,
                Rule {
                    start: s,
                    end: e,
                    set,
                    kind,
                    span: 0,
                },
            ),
            Articulation::Glide {
                first,
                second,
                first_share,
            } => {
                let mid = s + ((dur as f32 * first_share).round() as i64).clamp(1, dur.max(1));
                push_rule(
                    &mut rules,
                    Rule {
                        start: s,
                        end: mid,
                        set: first,
                        kind,
                        span: 0,
                    },
                );
                push_rule(
                    &mut rules,
                    Rule {
                        start: mid,
                        end: e,
                        set: second,
                        kind,
                        span: 0,
                    },
                );
            }
            Articulation::Plosive { closure, release } => {
                let prev = i
                    .checked_sub(1)
                    .map_or(0, |j| segments[j].2 - segments[j].1);
                let occlusion = (prev / 2).clamp(MIN_OCCLUSION, MAX_OCCLUSION);
                let closed = closure == ShapeSet::one(Shape::A);
                // Only closed lips may reach back into a pause: a tongue
                // stop after silence keeps the mouth at rest until it sounds.
                let after_pause = i > 0 && segments[i - 1].0.is_pause();
                if after_pause && !closed {
                    push_rule(
                        &mut rules,
                        Rule {
                            start: s,
                            end: e,
                            set: release,
                            kind: Kind::Consonant,
                            span: 0,
                        },
                    );
                    continue;
                }
                // Never cut into a closure that is already there (e.g. "mp").
                let start = (s - occlusion).max(0);
                let start = match rules.last() {
                    Some(last) if last.kind == Kind::Closure && last.end > start => last.end.min(s),
                    _ => start,
                };
                push_rule(
                    &mut rules,
                    Rule {
                        start,
                        end: s,
                        set: closure,
                        kind: if closed {
                            Kind::Closure
                        } else {
                            Kind::Consonant
                        },
                        span: 0,
                    },
                );
                push_rule(
                    &mut rules,
                    Rule {
                        start: s,
                        end: e,
                        set: release,
                        kind: Kind::Consonant,
                        span: 0,
                    },
                );
            }
        }
    }
    rules
}

/// Lets each vowel's shapes spread back over the consonants before it, up
/// to `ANTICIPATION`, while they allow them: the lips get ready early.
fn anticipate(rules: &mut Vec<Rule>) {
    let mut i = rules.len();
    while i > 0 {
        i -= 1;
        if rules[i].kind != Kind::Vowel {
            continue;
        }
        let target = rules[i].set;
        let reach = rules[i].start - ANTICIPATION;
        let mut j = i;
        while j > 0 {
            j -= 1;
            let r = rules[j];
            if r.kind != Kind::Consonant || r.end <= reach {
                break;
            }
            let both = r.set.intersect(target);
            if both.is_empty() {
                break;
            }
            if r.start < reach {
                rules[j].end = reach;
                rules.insert(
                    j + 1,
                    Rule {
                        start: reach,
                        end: r.end,
                        set: both,
                        kind: r.kind,
                        span: 0,
                    },
                );
                break;
            }
            rules[j].set = both;
        }
    }
}

/// Rough articulatory coordinates: open, spread (−round), press, teeth, tongue.
fn coords(s: Shape) -> [f32; 5] {
    match s {
        Shape::X => [0.0, 0.0, 0.0, 0.0, 0.0],
        Shape::A => [0.0, 0.0, 1.0, 0.0, 0.0],
        Shape::B => [0.15, 0.3, 0.0, 0.0, 0.0],
        Shape::C => [0.45, 0.15, 0.0, 0.0, 0.0],
        Shape::D => [0.85, 0.05, 0.0, 0.0, 0.0],
        Shape::E => [0.35, -0.45, 0.0, 0.0, 0.0],
        Shape::F => [0.15, -1.0, 0.0, 0.0, 0.0],
        Shape::G => [0.1, 0.1, 0.0, 1.0, 0.0],
        Shape::H => [0.5, 0.05, 0.0, 0.0, 1.0],
    }
}

/// How much work moving the mouth from `a` to `b` takes.
pub fn effort(a: Shape, b: Shape) -> f32 {
    let (x, y) = (coords(a), coords(b));
    let w = [1.0, 0.6, 0.5, 0.6, 0.3];
    (0..5).map(|i| w[i] * (x[i] - y[i]).abs()).sum()
}

/// A small standing cost per shape: among equally easy shapes prefer the
/// neutral ones, and never rest (X) in the middle of speech.
fn preference(s: Shape) -> f32 {
    match s {
        Shape::X => 1.0,
        Shape::B => 0.0,
        Shape::H | Shape::G => 0.04,
        _ => 0.02,
    }
}

/// Picks one shape per rule: the least-effort path through each run of
/// speech between pauses that break it (pauses of 120 ms or more).
fn choose(rules: &[Rule]) -> Vec<Shape> {
    let mut shapes = vec![Shape::X; rules.len()];
    let is_break = |r: &Rule| r.kind == Kind::Pause && r.span >= HOLD_PAUSE;
    let mut i = 0;
    while i < rules.len() {
        if is_break(&rules[i]) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < rules.len() && !is_break(&rules[j]) {
            j += 1;
        }
        let chunk: Vec<usize> = (i..j).filter(|&k| rules[k].kind != Kind::Pause).collect();
        let picked = least_effort(&chunk.iter().map(|&k| rules[k].set).collect::<Vec<_>>());
        for (&k, s) in chunk.iter().zip(picked) {
            shapes[k] = s;
        }
        i = j;
    }
    // Pauses: short ones hold, medium ones relax, long and edge ones close.
    let n = rules.len();
    for k in 0..n {
        let r = rules[k];
        if r.kind != Kind::Pause {
            continue;
        }
        let len = r.span;
        let prev = (0..k)
            .rev()
            .find(|&q| rules[q].kind != Kind::Pause)
            .map(|q| shapes[q]);
        let next = (k + 1..n)
            .find(|&q| rules[q].kind != Kind::Pause)
            .map(|q| shapes[q]);
        shapes[k] = match (prev, next) {
            (Some(p), Some(_)) if len < HOLD_PAUSE => p,
            (Some(_), Some(nx)) if len < CLOSE_PAUSE => {
                if nx == Shape::B {
                    Shape::X
                } else {
                    Shape::B
                }
            }
            _ => Shape::X,
        };
    }
    shapes
}

/// Viterbi over the allowed sets, starting from a closed mouth.
fn least_effort(sets: &[ShapeSet]) -> Vec<Shape> {
    if sets.is_empty() {
        return Vec::new();
    }
    let options: Vec<Vec<Shape>> = sets
        .iter()
        .map(|s| {
            let v: Vec<Shape> = s.iter().collect();
            if v.is_empty() {
                ShapeSet::ANY.iter().collect()
            } else {
                v
            }
        })
        .collect();
    let mut cost: Vec<f32> = options[0]
        .iter()
        .map(|&s| effort(Shape::X, s) + preference(s))
        .collect();
    let mut back: Vec<Vec<usize>> = vec![vec![0; options[0].len()]];
    for t in 1..options.len() {
        let mut nc = Vec::with_capacity(options[t].len());
        let mut nb = Vec::with_capacity(options[t].len());
        for &s in &options[t] {
            let (best, arg) = options[t - 1]
                .iter()
                .enumerate()
                .map(|(k, &p)| (cost[k] + effort(p, s), k))
                .fold((f32::INFINITY, 0), |a, b| if b.0 < a.0 { b } else { a });
            nc.push(best + preference(s));
            nb.push(arg);
        }
        cost = nc;
        back.push(nb);
    }
    let mut k = cost
        .iter()
        .enumerate()
        .fold(
            (0, f32::INFINITY),
            |a, (i, &c)| if c < a.1 { (i, c) } else { a },
        )
        .0;
    let mut out = vec![Shape::X; options.len()];
    for t in (0..options.len()).rev() {
        out[t] = options[t][k];
        k = back[t][k];
    }
    out
}

fn to_runs(rules: &[Rule], shapes: &[Shape]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for (r, &shape) in rules.iter().zip(shapes) {
        if r.end <= r.start {
            continue;
        }
        match runs.last_mut() {
            Some(last) if last.shape == shape && last.end == r.start => last.end = r.end,
            _ => runs.push(Run {
                start: r.start,
                end: r.end,
                shape,
            }),
        }
    }
    runs
}

fn merge_equal(runs: &mut Vec<Run>) {
    let mut out: Vec<Run> = Vec::with_capacity(runs.len());
    for r in runs.drain(..) {
        if r.end <= r.start {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.shape == r.shape => last.end = r.end,
            _ => out.push(r),
        }
    }
    *runs = out;
}

/// Open and closed segments must last `MIN_SEGMENT` to register: a short
/// one starts up to `MAX_EARLY` earlier, or ends later, taking time from
/// neighbours that can spare it.
fn enforce_segments(runs: &mut Vec<Run>) {
    let mut i = 0;
    while i < runs.len() {
        let closed = runs[i].shape.is_closed();
        let mut j = i;
        while j + 1 < runs.len() && runs[j + 1].shape.is_closed() == closed {
            j += 1;
        }
        let len = runs[j].end - runs[i].start;
        let inner = i > 0 && j + 1 < runs.len();
        if len < MIN_SEGMENT && inner {
            let need = MIN_SEGMENT - len;
            let early = need
                .min(MAX_EARLY)
                .min((runs[i - 1].len() - MIN_SHAPE).max(0));
            runs[i - 1].end -= early;
            runs[i].start -= early;
            let late = (need - early).min((runs[j + 1].len() - MIN_SHAPE).max(0));
            runs[j].end += late;
            runs[j + 1].start += late;
        }
        i = j + 1;
    }
    merge_equal(runs);
}

/// No shape shorter than `MIN_SHAPE`. A short closure grows at the expense
/// of its neighbours (the lips must visibly meet); other short shapes are
/// absorbed by the neighbour that looks most like them.
fn enforce_min_shape(runs: &mut Vec<Run>) {
    loop {
        merge_equal(runs);
        if runs.len() < 2 {
            return;
        }
        let Some(i) = (0..runs.len())
            .filter(|&i| runs[i].len() < MIN_SHAPE)
            .min_by_key(|&i| runs[i].len())
        else {
            return;
        };
        let has_prev = i > 0;
        let has_next = i + 1 < runs.len();
        if runs[i].shape == Shape::A {
            let mut need = MIN_SHAPE - runs[i].len();
            if has_prev {
                let take = need.min((runs[i - 1].len() - MIN_SHAPE).max(0));
                runs[i - 1].end -= take;
                runs[i].start -= take;
                need -= take;
            }
            if has_next && need > 0 {
                let take = need.min((runs[i + 1].len() - MIN_SHAPE).max(0));
                runs[i + 1].start += take;
                runs[i].end += take;
                need -= take;
            }
            if need > 0 {
                // The neighbours are short too: the closure swallows the
                // shorter one rather than vanish.
                let victim = match (has_prev, has_next) {
                    (true, true) => {
                        if runs[i - 1].len() <= runs[i + 1].len() {
                            i - 1
                        } else {
                            i + 1
                        }
                    }
                    (true, false) => i - 1,
                    _ => i + 1,
                };
                runs[victim].shape = Shape::A;
            }
            continue;
        }
        let target = match (has_prev, has_next) {
            (true, true) => {
                let (p, n) = (runs[i - 1], runs[i + 1]);
                let s = runs[i].shape;
                let (ep, en) = (effort(s, p.shape), effort(s, n.shape));
                if (ep - en).abs() < 1e-3 {
                    if p.len() >= n.len() {
                        i - 1
                    } else {
                        i + 1
                    }
                } else if ep < en {
                    i - 1
                } else {
                    i + 1
                }
            }
            (true, false) => i - 1,
            _ => i + 1,
        };
        let short = runs.remove(i);
        let t = if target > i { target - 1 } else { target };
        runs[t].start = runs[t].start.min(short.start);
        runs[t].end = runs[t].end.max(short.end);
    }
}

/// When a tween goes between two shapes, relative to the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TweenTiming {
    /// Taken from the end of the first shape: the second arrives on time.
    Early,
    Centred,
    /// Taken from the start of the second shape.
    Late,
}

/// The in-between shape for a transition, if one is drawn. Tweens only
/// soften closing and rounding moves; mouths pop open without them.
pub fn tween(from: Shape, to: Shape) -> Option<(Shape, TweenTiming)> {
    use Shape::*;
    use TweenTiming::*;
    Some(match (from, to) {
        (D, A) | (D, G) => (C, Early),
        (D, B) => (C, Centred),
        // Closing into a pause starts before the silence so it is closed.
        (D, X) => (C, Early),
        (C, F) | (F, C) | (D, F) => (E, Centred),
        (H, F) => (E, Late),
        (F, H) => (E, Early),
        _ => return None,
    })
}

fn add_tweens(runs: Vec<Run>) -> Vec<Run> {
    let mut runs = runs;
    let mut out: Vec<Run> = Vec::with_capacity(runs.len() * 2);
    for i in 0..runs.len() {
        if i + 1 < runs.len() {
            let (a, b) = (runs[i], runs[i + 1]);
            if let Some((shape, timing)) = tween(a.shape, b.shape) {
                // Take time only from shapes that keep their minimum.
                let spare_a = (a.len() - MIN_SHAPE).max(0);
                let spare_b = (b.len() - MIN_SHAPE).max(0);
                let (from_a, from_b) = match timing {
                    TweenTiming::Early => (spare_a.min(MAX_TWEEN), 0),
                    TweenTiming::Late => (0, spare_b.min(MAX_TWEEN)),
                    TweenTiming::Centred => {
                        let half = MAX_TWEEN / 2;
                        (spare_a.min(half), spare_b.min(half))
                    }
                };
                if from_a + from_b >= MIN_TWEEN {
                    let boundary = a.end;
                    runs[i].end = boundary - from_a;
                    runs[i + 1].start = boundary + from_b;
                    out.push(runs[i]);
                    out.push(Run {
                        start: boundary - from_a,
                        end: boundary + from_b,
                        shape,
                    });
                    continue;
                }
            }
        }
        out.push(runs[i]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(phone: Phone, start: f64, end: f64) -> TimedPhone {
        TimedPhone { phone, start, end }
    }

    fn check_durations(tl: &MouthTimeline) {
        tl.validate().unwrap();
        let n = tl.cues.len();
        for (i, c) in tl.cues.iter().enumerate() {
            let d = c.end - c.start;
            let is_tween = i > 0
                && i + 1 < n
                && tween(tl.cues[i - 1].shape, tl.cues[i + 1].shape).map(|t| t.0) == Some(c.shape);
            let min = if is_tween { 0.04 } else { 0.07 };
            // The last cue may be cut by the end of the audio.
            if i + 1 < n {
                assert!(
                    d >= min - 1e-6,
                    "cue {i} {c:?} shorter than {min}: {:?}",
                    tl.cues
                );
            }
        }
    }

    #[test]
    fn bilabial_closes_before_release_and_vowels_open() {
        // "a pa ma", with a long pause at the end.
        let phones = [
            tp(Phone::Sil, 0.0, 0.3),
            tp(Phone::AA, 0.3, 0.5),
            tp(Phone::P, 0.5, 0.56),
            tp(Phone::AA, 0.56, 0.8),
            tp(Phone::M, 0.8, 0.86),
            tp(Phone::AA, 0.86, 1.1),
            tp(Phone::Sil, 1.1, 1.6),
        ];
        let tl = animate(&phones, 1.6);
        check_durations(&tl);
        assert_eq!(tl.shape_at(0.1), Shape::X);
        assert_eq!(tl.shape_at(0.47), Shape::A, "{:?}", tl.cues);
        assert_eq!(tl.shape_at(0.83), Shape::A, "{:?}", tl.cues);
        assert_eq!(tl.shape_at(0.7), Shape::D);
        assert_eq!(tl.shape_at(1.3), Shape::X);
    }

    #[test]
    fn short_pauses_hold_and_tiny_phones_do_not_flicker() {
        let phones = [
            tp(Phone::AA, 0.0, 0.2),
            tp(Phone::Sil, 0.2, 0.28),
            tp(Phone::IY, 0.28, 0.3),
            tp(Phone::UW, 0.3, 0.32),
            tp(Phone::AA, 0.32, 0.6),
        ];
        let tl = animate(&phones, 0.6);
        check_durations(&tl);
        assert_eq!(tl.shape_at(0.24), Shape::D);
    }

    #[test]
    fn vowels_are_anticipated_over_compatible_consonants() {
        // "s u": S allows B or F; the coming U (F) is chosen early.
        let phones = [
            tp(Phone::Sil, 0.0, 0.2),
            tp(Phone::S, 0.2, 0.35),
            tp(Phone::UW, 0.35, 0.6),
            tp(Phone::Sil, 0.6, 1.0),
        ];
        let tl = animate(&phones, 1.0);
        check_durations(&tl);
        assert_eq!(tl.shape_at(0.25), Shape::F, "{:?}", tl.cues);
    }
}
