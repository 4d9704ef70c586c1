//! Stage directions from a prompt in plain words: the mood of the face,
//! gestures (nod, shake, tilt, eyebrows...) with rough timing ("at the start",
//! "then", "finally"), and camera moves (zoom, push in, pull out, pan,
//! static). Parsing never fails: words it does not know are listed in
//! `ignored` and otherwise skipped, so any prompt renders.
//!
//! English is the reference vocabulary; a few common words in Spanish,
//! French, German and Chinese are understood too.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The face's mood. The first seven are the TTS emotion keys of the API
/// (`ttsEmotionKey` / `emotion`); `Serious` exists only in prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emotion {
    #[default]
    Neutral,
    Happy,
    Angry,
    Sad,
    Fearful,
    Disgusted,
    Surprised,
    Serious,
}

impl Emotion {
    /// The emotion keys a TTS request may carry.
    pub const TTS_KEYS: [Emotion; 7] = [
        Emotion::Neutral,
        Emotion::Happy,
        Emotion::Angry,
        Emotion::Sad,
        Emotion::Fearful,
        Emotion::Disgusted,
        Emotion::Surprised,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Emotion::Neutral => "neutral",
            Emotion::Happy => "happy",
            Emotion::Angry => "angry",
            Emotion::Sad => "sad",
            Emotion::Fearful => "fearful",
            Emotion::Disgusted => "disgusted",
            Emotion::Surprised => "surprised",
            Emotion::Serious => "serious",
        }
    }

    /// Lenient reading of an emotion key from an API or TTS request:
    /// case-insensitive, unknown keys give `None` (callers fall back to neutral).
    pub fn from_key(key: &str) -> Option<Emotion> {
        key.parse().ok()
    }
}

impl fmt::Display for Emotion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for Emotion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let k = s.trim().to_ascii_lowercase();
        let e = match k.as_str() {
            "neutral" | "" => Emotion::Neutral,
            "happy" | "joy" | "joyful" => Emotion::Happy,
            "angry" | "anger" => Emotion::Angry,
            "sad" | "sadness" => Emotion::Sad,
            "fearful" | "fear" | "afraid" => Emotion::Fearful,
            "disgusted" | "disgust" => Emotion::Disgusted,
            "surprised" | "surprise" => Emotion::Surprised,
            "serious" => Emotion::Serious,
            other => {
                return Err(format!(
                    "unknown emotion {other:?}; use neutral, happy, angry, sad, fearful, disgusted or surprised"
                ))
            }
        };
        Ok(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

/// A momentary movement of the head or face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "gesture", content = "side")]
pub enum Gesture {
    Nod,
    ShakeHead,
    /// Head tilted sideways; `None` lets the seed choose the side.
    Tilt(Option<Side>),
    /// Head turned to look to one side.
    Turn(Option<Side>),
    RaiseEyebrows,
    Frown,
    Wink,
    Blink,
}

/// A move of the virtual camera over the whole frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "move", content = "side")]
pub enum CameraMove {
    /// Slow zoom towards the face.
    ZoomIn,
    /// A quicker, closer move towards the face.
    PushIn,
    /// Starts close and widens to the full frame.
    PullOut,
    /// Sideways move across the frame (slightly zoomed so there is room).
    Pan(Side),
}

/// When something happens within the clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// All along (moods), or repeated every few seconds (gestures).
    Throughout,
    Start,
    Middle,
    End,
    /// Step `index` of `of` in a sequence ("first ..., then ..., finally ...").
    Step {
        index: u8,
        of: u8,
    },
}

impl When {
    /// The span of the clip (fractions 0..1) this timing covers.
    pub fn span(self) -> (f64, f64) {
        match self {
            When::Throughout => (0.0, 1.0),
            When::Start => (0.0, 0.3),
            When::Middle => (0.35, 0.65),
            When::End => (0.7, 1.0),
            When::Step { index, of } => {
                let of = f64::from(of.max(1));
                let i = f64::from(index).min(of - 1.0);
                (i / of, (i + 1.0) / of)
            }
        }
    }
}

/// One direction with its timing and strength (1 is normal).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timed<T> {
    pub what: T,
    pub when: When,
    pub strength: f32,
    /// How many times a gesture is done (moods ignore it).
    pub repeat: u8,
}

/// Everything a prompt asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Direction {
    pub moods: Vec<Timed<Emotion>>,
    pub gestures: Vec<Timed<Gesture>>,
    pub camera: Vec<Timed<CameraMove>>,
    /// "static": no idle head sway and no camera move.
    pub still: bool,
    /// Words that were not understood (for logs and API feedback).
    pub ignored: Vec<String>,
}

/// Largest camera zoom any move may reach (keeps the face sharp and in frame).
pub const MAX_ZOOM: f32 = 1.3;

impl Direction {
    /// Reads a prompt. Never fails; an empty prompt gives an empty direction.
    pub fn parse(prompt: &str) -> Direction {
        parse(prompt)
    }

    pub fn is_empty(&self) -> bool {
        self.moods.is_empty() && self.gestures.is_empty() && self.camera.is_empty() && !self.still
    }

    /// The mood that holds for the whole clip, if the prompt set one.
    pub fn emotion(&self) -> Option<Emotion> {
        self.moods
            .iter()
            .rev()
            .find(|m| m.when == When::Throughout)
            .map(|m| m.what)
    }

    /// `self` is a default (say, an avatar's saved prompt) and `job` a prompt
    /// for one render: the job's camera and overall mood replace the
    /// default's when it sets them, gestures add up, and "static" wins.
    pub fn overridden_by(mut self, job: &Direction) -> Direction {
        if job.emotion().is_some() {
            self.moods.retain(|m| m.when != When::Throughout);
        }
        self.moods.extend(job.moods.iter().copied());
        self.gestures.extend(job.gestures.iter().copied());
        if !job.camera.is_empty() || job.still {
            self.camera = job.camera.clone();
        }
        self.still |= job.still;
        if self.still {
            self.camera.clear();
        }
        self.ignored.extend(job.ignored.iter().cloned());
        self
    }

    /// The zoom the camera reaches at most (1 when it does not move).
    pub fn max_zoom(&self) -> f32 {
        if self.still {
            return 1.0;
        }
        self.camera
            .iter()
            .map(|c| {
                let (from, to) = camera_zoom(c.what, c.strength);
                from.max(to)
            })
            .fold(1.0f32, f32::max)
    }

    /// A short human-readable account of what was understood.
    pub fn summary(&self) -> String {
        let when = |w: When| match w {
            When::Throughout => String::new(),
            When::Start => " at the start".into(),
            When::Middle => " in the middle".into(),
            When::End => " at the end".into(),
            When::Step { index, of } => format!(" (step {} of {of})", index + 1),
        };
        let mut parts: Vec<String> = Vec::new();
        for m in &self.moods {
            parts.push(format!("{}{}", m.what, when(m.when)));
        }
        for g in &self.gestures {
            let name = match g.what {
                Gesture::Nod => "nod".to_string(),
                Gesture::ShakeHead => "shake head".into(),
                Gesture::Tilt(s) => format!("tilt{}", side_word(s)),
                Gesture::Turn(s) => format!("turn{}", side_word(s)),
                Gesture::RaiseEyebrows => "raise eyebrows".into(),
                Gesture::Frown => "frown".into(),
                Gesture::Wink => "wink".into(),
                Gesture::Blink => "blink".into(),
            };
            let times = if g.repeat > 1 {
                format!(" x{}", g.repeat)
            } else {
                String::new()
            };
            parts.push(format!("{name}{times}{}", when(g.when)));
        }
        for c in &self.camera {
            let name = match c.what {
                CameraMove::ZoomIn => "zoom in".to_string(),
                CameraMove::PushIn => "push in".into(),
                CameraMove::PullOut => "pull out".into(),
                CameraMove::Pan(s) => format!("pan{}", side_word(Some(s))),
            };
            parts.push(format!("{name}{}", when(c.when)));
        }
        if self.still {
            parts.push("static".into());
        }
        if parts.is_empty() {
            "natural".into()
        } else {
            parts.join(", ")
        }
    }
}

fn side_word(s: Option<Side>) -> &'static str {
    match s {
        Some(Side::Left) => " left",
        Some(Side::Right) => " right",
        None => "",
    }
}

/// Zoom at the start and at the end of a camera move.
pub fn camera_zoom(m: CameraMove, strength: f32) -> (f32, f32) {
    let s = strength.clamp(0.3, 1.6);
    let z = |amount: f32| (1.0 + amount * s).min(MAX_ZOOM);
    match m {
        CameraMove::ZoomIn => (1.0, z(0.15)),
        CameraMove::PushIn => (1.0, z(0.25)),
        CameraMove::PullOut => (z(0.2), 1.0),
        CameraMove::Pan(_) => (z(0.12), z(0.12)),
    }
}

// ---------------------------------------------------------------------------
// Parsing

#[derive(Debug, Clone, Copy, PartialEq)]
enum Item {
    Mood(Emotion),
    Gesture(Gesture),
    Camera(CameraMove),
    Still,
}

/// Word forms that may follow a stem ("smil" + "ing", "nod" + "ding").
const SUFFIXES: &[&str] = &[
    "", "s", "es", "ed", "d", "ing", "ding", "ting", "ning", "ling", "ly", "y", "ily", "ness",
    "ful", "fully", "ingly", "edly", "e", "er", "ers",
];

fn stem(token: &str, stems: &[&str]) -> bool {
    stems.iter().any(|s| {
        token
            .strip_prefix(s)
            .is_some_and(|rest| SUFFIXES.contains(&rest))
    })
}

const NEGATIONS: &[&str] = &[
    "no", "not", "don't", "dont", "never", "without", "avoid", "stop", "nor", "neither", "sin",
    "sans", "ohne", "kein", "keine", "nicht", "pas", "不", "别", "不要",
];

const FILLER: &[&str] = &[
    "a",
    "an",
    "the",
    "and",
    "or",
    "but",
    "with",
    "while",
    "his",
    "her",
    "their",
    "its",
    "he",
    "she",
    "they",
    "it",
    "is",
    "are",
    "be",
    "to",
    "of",
    "in",
    "on",
    "at",
    "for",
    "from",
    "by",
    "as",
    "so",
    "very",
    "then",
    "first",
    "finally",
    "lastly",
    "end",
    "start",
    "beginning",
    "middle",
    "speak",
    "speaks",
    "speaking",
    "talk",
    "talks",
    "talking",
    "say",
    "says",
    "saying",
    "head",
    "face",
    "camera",
    "left",
    "right",
    "up",
    "down",
    "slowly",
    "slightly",
    "gently",
    "little",
    "bit",
    "more",
    "some",
    "that",
    "this",
    "look",
    "looks",
    "looking",
    "person",
    "avatar",
    "presenter",
    "video",
    "shot",
    "s",
    "t",
    "i",
    "you",
    "we",
    "me",
    "my",
    "your",
    "all",
    "time",
    "whole",
    "clip",
    "way",
    "into",
    "out",
    "over",
    "after",
    "before",
    "when",
    "once",
    "twice",
    "times",
    "several",
    "few",
    "keep",
    "keeps",
    "always",
    "throughout",
    "again",
    "mouth",
    "eyes",
    "eye",
    "like",
    "do",
    "does",
    "make",
    "makes",
    "should",
    "will",
    "can",
    "please",
    "just",
    "also",
    "same",
    "too",
    "lot",
    "big",
    "strongly",
    "really",
    "quite",
    "raise",
    "raises",
    "raised",
    "raising",
    "lift",
    "lifts",
    "lifted",
    "lifting",
    "furrow",
    "furrowed",
    "knit",
    "knitted",
    "lower",
    "lowered",
    "in",
    "back",
    "away",
    "along",
    "slow",
    "fast",
    "quickly",
    "softly",
    "subtle",
    "subtly",
    "wide",
    "widely",
    "hand",
    "hands",
];

fn parse(prompt: &str) -> Direction {
    let mut d = Direction::default();
    let lower = prompt.to_lowercase();
    let clauses = split_clauses(&lower);
    let sequential = clauses.len() > 1 && clauses.iter().any(|c| c.sequence_word);
    // Only clauses that asked for something count as steps of a sequence.
    let mut found: Vec<(Vec<(Item, usize)>, ClauseInfo)> = Vec::new();
    for clause in &clauses {
        let tokens = tokenize(&clause.text);
        let info = clause_info(&tokens, &clause.text);
        let items = items_of(&tokens, &clause.text, &mut d.ignored);
        if !items.is_empty() {
            found.push((items, info));
        }
    }
    let steps = found
        .iter()
        .filter(|(items, info)| {
            info.when.is_none() && items.iter().any(|(i, _)| !matches!(i, Item::Still))
        })
        .count();
    let mut step = 0u8;
    for (items, info) in &found {
        let when = match info.when {
            Some(w) => w,
            None if sequential
                && steps > 1
                && items.iter().any(|(i, _)| !matches!(i, Item::Still)) =>
            {
                let w = When::Step {
                    index: step,
                    of: steps.min(255) as u8,
                };
                step = step.saturating_add(1);
                w
            }
            None => When::Throughout,
        };
        for &(item, _) in items {
            match item {
                Item::Mood(e) => d.moods.push(Timed {
                    what: e,
                    when,
                    strength: info.strength,
                    repeat: 1,
                }),
                Item::Gesture(g) => d.gestures.push(Timed {
                    what: g,
                    when,
                    strength: info.strength,
                    repeat: info.repeat,
                }),
                Item::Camera(c) => d.camera.push(Timed {
                    what: c,
                    when,
                    strength: info.strength,
                    repeat: 1,
                }),
                Item::Still => d.still = true,
            }
        }
    }
    if d.still {
        d.camera.clear();
    }
    // A neutral mood next to others adds nothing.
    if d.moods.iter().any(|m| m.what != Emotion::Neutral) {
        d.moods.retain(|m| m.what != Emotion::Neutral);
    }
    d.ignored.sort();
    d.ignored.dedup();
    d
}

struct Clause {
    text: String,
    /// Introduced by "then", "after that", "finally"...: part of a sequence.
    sequence_word: bool,
}

fn split_clauses(text: &str) -> Vec<Clause> {
    // Punctuation ends a clause; so do sequencing words.
    let mut pieces: Vec<String> = Vec::new();
    let mut cur = String::new();
    for ch in text.chars() {
        if matches!(
            ch,
            ',' | '.' | ';' | ':' | '!' | '?' | '\n' | '，' | '。' | '；' | '！' | '？' | '、'
        ) {
            pieces.push(std::mem::take(&mut cur));
        } else {
            cur.push(ch);
        }
    }
    pieces.push(cur);
    const SEQ: &[&str] = &[
        "and then",
        "then",
        "after that",
        "afterwards",
        "afterward",
        "finally",
        "lastly",
        "next",
        "eventually",
        "以后",
        "然后",
        "最后",
        "puis",
        "luego",
        "dann",
        "danach",
        "zuletzt",
        "finalmente",
        "enfin",
    ];
    let mut out = Vec::new();
    for p in pieces {
        // Split "smile then nod" into "smile" / "then nod".
        let mut rest = p.trim().to_string();
        loop {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let cut = words
                .iter()
                .enumerate()
                .skip(1)
                .find(|(_, w)| SEQ.contains(&w.trim_matches(|c: char| !c.is_alphanumeric())))
                .map(|(i, _)| i);
            let (head, tail) = match cut {
                Some(i) => (words[..i].join(" "), Some(words[i..].join(" "))),
                None => (rest.clone(), None),
            };
            let seq = SEQ.iter().any(|s| {
                let h = head.trim_start();
                if s.is_ascii() {
                    h.starts_with(&format!("{s} ")) || h == *s
                } else {
                    h.contains(s)
                }
            });
            if !head.trim().is_empty() {
                out.push(Clause {
                    text: head,
                    sequence_word: seq,
                });
            }
            match tail {
                Some(t) => rest = t,
                None => break,
            }
        }
    }
    out
}

fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .flat_map(|w| {
            // "zoom-in" and "close-up" are phrases; keep the hyphen-free pieces.
            let w = w.trim_matches(|c: char| c == '\'' || c == '-');
            if w.contains('-') {
                w.split('-').map(str::to_string).collect::<Vec<_>>()
            } else {
                vec![w.to_string()]
            }
        })
        .filter(|w| !w.is_empty())
        .collect()
}

struct ClauseInfo {
    when: Option<When>,
    strength: f32,
    repeat: u8,
}

fn clause_info(tokens: &[String], text: &str) -> ClauseInfo {
    let has = |w: &str| tokens.iter().any(|t| t == w);
    let phrase = |p: &str| contains_phrase(tokens, p);
    let when = if has("finally")
        || has("lastly")
        || phrase("at the end")
        || phrase("in the end")
        || phrase("end with")
        || phrase("towards the end")
        || phrase("toward the end")
        || has("eventually")
        || has("zuletzt")
        || has("finalmente")
        || has("enfin")
        || text.contains("最后")
    {
        Some(When::End)
    } else if phrase("at first")
        || has("first")
        || has("initially")
        || phrase("at the start")
        || phrase("at the beginning")
        || phrase("to begin")
        || phrase("start by")
        || phrase("begin by")
        || phrase("starts by")
        || phrase("begins by")
        || text.contains("开始")
    {
        Some(When::Start)
    } else if phrase("in the middle") || has("halfway") || has("midway") || phrase("half way") {
        Some(When::Middle)
    } else if has("throughout")
        || has("always")
        || has("constantly")
        || has("continuously")
        || has("keep")
        || has("keeps")
        || phrase("all the time")
        || phrase("the whole time")
        || phrase("while speaking")
        || phrase("while talking")
    {
        Some(When::Throughout)
    } else {
        None
    };
    let soft = [
        "slow", "slightly", "gently", "subtle", "subtly", "softly", "slowly", "little", "bit",
        "mild", "mildly", "faint", "light", "lightly",
    ];
    let strong = [
        "very",
        "big",
        "strongly",
        "broadly",
        "wide",
        "widely",
        "really",
        "lot",
        "extremely",
        "huge",
        "fast",
        "quickly",
        "deeply",
        "vigorously",
    ];
    let mut strength = 1.0f32;
    if tokens.iter().any(|t| soft.contains(&t.as_str())) {
        strength = 0.6;
    }
    if tokens.iter().any(|t| strong.contains(&t.as_str())) {
        strength = 1.35;
    }
    let repeat = if has("twice") || phrase("two times") || phrase("2 times") {
        2
    } else if has("thrice")
        || phrase("three times")
        || phrase("3 times")
        || has("repeatedly")
        || has("several")
        || phrase("a few times")
        || phrase("few times")
    {
        3
    } else {
        1
    };
    ClauseInfo {
        when,
        strength,
        repeat,
    }
}

fn contains_phrase(tokens: &[String], phrase: &str) -> bool {
    let p: Vec<&str> = phrase.split(' ').collect();
    tokens
        .windows(p.len())
        .any(|w| w.iter().zip(&p).all(|(a, b)| a == b))
}

fn side_near(tokens: &[String], i: usize) -> Option<Side> {
    let lo = i.saturating_sub(3);
    let hi = (i + 6).min(tokens.len());
    tokens[lo..hi].iter().find_map(|t| match t.as_str() {
        "left" | "izquierda" | "gauche" | "links" => Some(Side::Left),
        "right" | "derecha" | "droite" | "rechts" => Some(Side::Right),
        _ => None,
    })
}

fn negated(tokens: &[String], i: usize) -> bool {
    let lo = i.saturating_sub(3);
    tokens[lo..i]
        .iter()
        .any(|t| NEGATIONS.contains(&t.as_str()))
}

/// Recognised items of one clause, with the index of the word that named them.
fn items_of(tokens: &[String], text: &str, ignored: &mut Vec<String>) -> Vec<(Item, usize)> {
    let mut items: Vec<(Item, usize)> = Vec::new();
    let mut used = vec![false; tokens.len()];
    let next = |i: usize, words: &[&str]| {
        tokens
            .iter()
            .skip(i + 1)
            .take(2)
            .any(|t| words.contains(&t.as_str()))
    };
    let clause_has = |words: &[&str]| tokens.iter().any(|t| words.contains(&t.as_str()));
    for (i, t) in tokens.iter().enumerate() {
        let w = t.as_str();
        let item = if stem(
            w,
            &[
                "smil",
                "grin",
                "happ",
                "happi",
                "joy",
                "cheer",
                "glad",
                "delight",
                "laugh",
                "excit",
                "enthusiastic",
                "pleas",
                "upbeat",
                "cheerful",
                "sonríe",
                "sonrie",
                "sonriendo",
                "sonrisa",
                "sonreír",
                "sonreir",
                "feliz",
                "alegr",
                "sourir",
                "souri",
                "heureu",
                "joyeu",
                "lächel",
                "lachel",
                "fröhlich",
                "frohlich",
                "glücklich",
                "glucklich",
            ],
        ) && !stem(w, &["unhapp", "unhappi"])
            && w != "pleasant"
        {
            Some(Item::Mood(Emotion::Happy))
        } else if stem(
            w,
            &[
                "sad",
                "unhapp",
                "unhappi",
                "sorrow",
                "gloom",
                "upset",
                "melanchol",
                "melancholic",
                "depress",
                "somber",
                "sombre",
                "disappoint",
                "grie",
                "griev",
                "mournful",
                "trist",
                "traurig",
                "tristesse",
                "tristeza",
            ],
        ) {
            Some(Item::Mood(Emotion::Sad))
        } else if stem(
            w,
            &[
                "surpris",
                "shock",
                "amaz",
                "astonish",
                "stun",
                "startl",
                "wow",
                "sorprend",
                "überrasch",
                "uberrasch",
                "étonn",
                "etonn",
            ],
        ) {
            Some(Item::Mood(Emotion::Surprised))
        } else if stem(
            w,
            &[
                "angr", "angri", "anger", "furious", "furious", "rage", "enrag", "annoy",
                "irritat", "frustrat", "outrag", "mad", "enoj", "enfad", "colère", "colere",
                "fâch", "fach", "wütend", "wutend", "ärger", "arger", "zornig",
            ],
        ) && !(w == "mad" && clause_has(&["made"]))
        {
            Some(Item::Mood(Emotion::Angry))
        } else if stem(
            w,
            &[
                "fear",
                "afraid",
                "scar",
                "frighten",
                "terrifi",
                "terrified",
                "nervous",
                "anxious",
                "anxi",
                "worri",
                "worried",
                "panic",
                "miedo",
                "asustad",
                "peur",
                "angst",
                "ängstlich",
            ],
        ) && w != "scarf"
        {
            Some(Item::Mood(Emotion::Fearful))
        } else if stem(
            w,
            &[
                "disgust",
                "gross",
                "repuls",
                "revolt",
                "contempt",
                "sneer",
                "asco",
                "dégoût",
                "degout",
                "ekel",
                "angeekelt",
            ],
        ) {
            Some(Item::Mood(Emotion::Disgusted))
        } else if stem(
            w,
            &[
                "serious", "stern", "solemn", "grave", "earnest", "strict", "focus", "determin",
                "severe", "serio", "sérieux", "serieux", "ernst",
            ],
        ) {
            Some(Item::Mood(Emotion::Serious))
        } else if stem(
            w,
            &["neutral", "calm", "relax", "natural", "normal", "plain"],
        ) {
            Some(Item::Mood(Emotion::Neutral))
        } else if stem(
            w,
            &[
                "nod", "asient", "asentir", "hoch", "nick", "nicken", "nickt",
            ],
        ) {
            Some(Item::Gesture(Gesture::Nod))
        } else if (stem(w, &["shak", "shake", "shook"]) && !clause_has(&["hand", "hands"]))
            || (w == "head" && next(i, &["shake", "shaking", "shakes"]))
        {
            Some(Item::Gesture(Gesture::ShakeHead))
        } else if stem(w, &["tilt", "cock", "lean", "inclin"]) {
            Some(Item::Gesture(Gesture::Tilt(side_near(tokens, i))))
        } else if stem(w, &["turn"])
            || (stem(w, &["look", "glanc", "glance"]) && side_near(tokens, i).is_some())
        {
            Some(Item::Gesture(Gesture::Turn(side_near(tokens, i))))
        } else if stem(w, &["eyebrow", "brow", "ceja", "sourcil", "augenbraue"]) {
            if clause_has(&[
                "furrow", "furrowed", "furrows", "knit", "knitted", "lower", "lowered", "frown",
                "frowning",
            ]) {
                Some(Item::Gesture(Gesture::Frown))
            } else {
                Some(Item::Gesture(Gesture::RaiseEyebrows))
            }
        } else if stem(w, &["frown", "scowl"]) {
            Some(Item::Gesture(Gesture::Frown))
        } else if stem(w, &["wink", "winking"]) {
            Some(Item::Gesture(Gesture::Wink))
        } else if stem(w, &["blink"]) {
            Some(Item::Gesture(Gesture::Blink))
        } else if stem(w, &["zoom", "zooming"]) {
            if next(i, &["out", "back", "away"]) {
                Some(Item::Camera(CameraMove::PullOut))
            } else {
                Some(Item::Camera(CameraMove::ZoomIn))
            }
        } else if (w == "close" && next(i, &["up", "in", "closer"]))
            || w == "closeup"
            || w == "closer"
        {
            Some(Item::Camera(CameraMove::ZoomIn))
        } else if (stem(w, &["push", "dolly", "track", "mov"])
            && next(i, &["in", "closer", "forward"]))
            || stem(w, &["push"])
        {
            Some(Item::Camera(CameraMove::PushIn))
        } else if stem(w, &["pull"])
            || (stem(w, &["dolly", "track", "mov"]) && next(i, &["out", "back", "away"]))
            || w == "widen"
        {
            Some(Item::Camera(CameraMove::PullOut))
        } else if stem(w, &["pan"]) {
            Some(Item::Camera(CameraMove::Pan(
                side_near(tokens, i).unwrap_or(Side::Right),
            )))
        } else if stem(
            w,
            &[
                "static",
                "still",
                "stationary",
                "motionless",
                "tripod",
                "steady",
                "locked",
                "fixed",
                "immobile",
                "estático",
                "estatico",
                "fixe",
                "statisch",
            ],
        ) {
            Some(Item::Still)
        } else {
            None
        };
        let Some(item) = item else {
            continue;
        };
        used[i] = true;
        if negated(tokens, i) {
            // "no head movement" / "don't move" means static; other negated
            // items are simply not done.
            continue;
        }
        items.push((item, i));
    }
    // "no movement", "don't move", "without moving".
    for (i, t) in tokens.iter().enumerate() {
        if stem(t, &["mov", "move", "movement", "motion", "sway"]) && negated(tokens, i) {
            used[i] = true;
            items.push((Item::Still, i));
        }
    }
    // Chinese has no spaces: look for a few words directly.
    const ZH: &[(&str, Item)] = &[
        ("微笑", Item::Mood(Emotion::Happy)),
        ("开心", Item::Mood(Emotion::Happy)),
        ("高兴", Item::Mood(Emotion::Happy)),
        ("悲伤", Item::Mood(Emotion::Sad)),
        ("难过", Item::Mood(Emotion::Sad)),
        ("惊讶", Item::Mood(Emotion::Surprised)),
        ("生气", Item::Mood(Emotion::Angry)),
        ("愤怒", Item::Mood(Emotion::Angry)),
        ("严肃", Item::Mood(Emotion::Serious)),
        ("点头", Item::Gesture(Gesture::Nod)),
        ("摇头", Item::Gesture(Gesture::ShakeHead)),
        ("歪头", Item::Gesture(Gesture::Tilt(None))),
        ("挑眉", Item::Gesture(Gesture::RaiseEyebrows)),
        ("放大", Item::Camera(CameraMove::ZoomIn)),
        ("推近", Item::Camera(CameraMove::PushIn)),
        ("拉远", Item::Camera(CameraMove::PullOut)),
        ("静止", Item::Still),
        ("固定镜头", Item::Still),
    ];
    for (word, item) in ZH {
        if text.contains(word)
            && !text.contains(&format!("不{word}"))
            && !text.contains(&format!("别{word}"))
        {
            items.push((*item, usize::MAX));
        }
    }
    for (i, t) in tokens.iter().enumerate() {
        let known = used[i]
            || FILLER.contains(&t.as_str())
            || NEGATIONS.contains(&t.as_str())
            || t.chars().all(|c| c.is_ascii_digit())
            || !t.is_ascii();
        if !known && t.len() > 1 {
            ignored.push(t.clone());
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gestures(d: &Direction) -> Vec<Gesture> {
        d.gestures.iter().map(|g| g.what).collect()
    }

    #[test]
    fn empty_and_unknown_prompts_are_fine() {
        assert!(Direction::parse("").is_empty());
        let d = Direction::parse("flibbertigibbet the quasar wobbles gloriously");
        assert!(d.moods.is_empty() && d.gestures.is_empty() && d.camera.is_empty());
        assert!(d.ignored.contains(&"flibbertigibbet".to_string()));
        // Odd characters never panic.
        let d = Direction::parse("🙂 \u{0} ,,, ;; -- ' \" é ß 漢字 ...then... finally");
        assert!(d.camera.is_empty());
    }

    #[test]
    fn emotions_and_synonyms() {
        assert_eq!(Direction::parse("Smile!").emotion(), Some(Emotion::Happy));
        assert_eq!(
            Direction::parse("smiling warmly").emotion(),
            Some(Emotion::Happy)
        );
        assert_eq!(
            Direction::parse("a happy presenter").emotion(),
            Some(Emotion::Happy)
        );
        assert_eq!(
            Direction::parse("looks unhappy").emotion(),
            Some(Emotion::Sad)
        );
        assert_eq!(Direction::parse("sad").emotion(), Some(Emotion::Sad));
        assert_eq!(
            Direction::parse("Surprised!").emotion(),
            Some(Emotion::Surprised)
        );
        assert_eq!(
            Direction::parse("angry and furious").emotion(),
            Some(Emotion::Angry)
        );
        assert_eq!(
            Direction::parse("serious tone").emotion(),
            Some(Emotion::Serious)
        );
        assert_eq!(Direction::parse("scared").emotion(), Some(Emotion::Fearful));
        assert_eq!(
            Direction::parse("disgusted").emotion(),
            Some(Emotion::Disgusted)
        );
        assert_eq!(
            Direction::parse("Natural speaking").emotion(),
            Some(Emotion::Neutral)
        );
        assert_eq!(Direction::parse("sonríe").emotion(), Some(Emotion::Happy));
        assert_eq!(
            Direction::parse("微笑着说话").emotion(),
            Some(Emotion::Happy)
        );
        assert_eq!(Direction::parse("don't smile").emotion(), None);
    }

    #[test]
    fn gestures_with_sides_and_negation() {
        let d = Direction::parse("nod, shake head, tilt head to the left, raise eyebrows");
        assert_eq!(
            gestures(&d),
            vec![
                Gesture::Nod,
                Gesture::ShakeHead,
                Gesture::Tilt(Some(Side::Left)),
                Gesture::RaiseEyebrows
            ]
        );
        assert_eq!(
            gestures(&Direction::parse("nodding along")),
            vec![Gesture::Nod]
        );
        assert_eq!(
            gestures(&Direction::parse("he shakes his head")),
            vec![Gesture::ShakeHead]
        );
        assert!(gestures(&Direction::parse("shake hands")).is_empty());
        assert_eq!(
            gestures(&Direction::parse("eyebrows raised")),
            vec![Gesture::RaiseEyebrows]
        );
        assert_eq!(
            gestures(&Direction::parse("furrowed brows")),
            vec![Gesture::Frown]
        );
        assert!(gestures(&Direction::parse("do not nod")).is_empty());
        let d = Direction::parse("nod twice");
        assert_eq!(d.gestures[0].repeat, 2);
    }

    #[test]
    fn timing_words() {
        let d = Direction::parse("Speak calmly and finally nod");
        let nod = d.gestures[0];
        assert_eq!(nod.what, Gesture::Nod);
        assert_eq!(nod.when, When::End);
        let d = Direction::parse("smile at the start");
        assert_eq!(d.moods[0].when, When::Start);
        assert_eq!(d.emotion(), None, "not a whole-clip mood");
        let d = Direction::parse("first raise eyebrows, then nod, then smile");
        assert_eq!(d.gestures[0].when, When::Start);
        assert_eq!(d.gestures[1].when, When::Step { index: 0, of: 2 });
        assert_eq!(d.moods[0].when, When::Step { index: 1, of: 2 });
        let d = Direction::parse("nod then shake head");
        assert_eq!(d.gestures[0].when, When::Step { index: 0, of: 2 });
        assert_eq!(d.gestures[1].when, When::Step { index: 1, of: 2 });
        let d = Direction::parse("keep nodding");
        assert_eq!(d.gestures[0].when, When::Throughout);
        assert_eq!(When::End.span(), (0.7, 1.0));
    }

    #[test]
    fn camera_moves_and_static() {
        let cam = |p: &str| {
            Direction::parse(p)
                .camera
                .iter()
                .map(|c| c.what)
                .collect::<Vec<_>>()
        };
        assert_eq!(cam("zoom in"), vec![CameraMove::ZoomIn]);
        assert_eq!(cam("slow zoom-in on the face"), vec![CameraMove::ZoomIn]);
        assert_eq!(cam("zoom out"), vec![CameraMove::PullOut]);
        assert_eq!(cam("push in"), vec![CameraMove::PushIn]);
        assert_eq!(cam("pull out"), vec![CameraMove::PullOut]);
        assert_eq!(cam("pan left"), vec![CameraMove::Pan(Side::Left)]);
        assert_eq!(cam("close-up"), vec![CameraMove::ZoomIn]);
        let d = Direction::parse("static camera");
        assert!(d.still && d.camera.is_empty());
        let d = Direction::parse("zoom in, static");
        assert!(d.still && d.camera.is_empty(), "static wins");
        assert!(Direction::parse("no head movement").still);
        assert!(Direction::parse("zoom in").max_zoom() > 1.1);
        assert!(Direction::parse("zoom in").max_zoom() <= MAX_ZOOM);
        assert_eq!(Direction::parse("smile").max_zoom(), 1.0);
        let slow = Direction::parse("slowly zoom in").max_zoom();
        let fast = Direction::parse("zoom in").max_zoom();
        assert!(slow < fast);
    }

    #[test]
    fn defaults_are_overridden_by_the_job() {
        let avatar = Direction::parse("smile, zoom in, nod");
        let job = Direction::parse("sad, static");
        let d = avatar.overridden_by(&job);
        assert_eq!(d.emotion(), Some(Emotion::Sad));
        assert!(d.still && d.camera.is_empty());
        assert_eq!(gestures(&d), vec![Gesture::Nod]);
        let d = Direction::parse("smile").overridden_by(&Direction::parse(""));
        assert_eq!(d.emotion(), Some(Emotion::Happy));
    }

    #[test]
    fn emotion_keys() {
        for e in Emotion::TTS_KEYS {
            assert_eq!(Emotion::from_key(e.key()), Some(e));
        }
        assert_eq!(Emotion::from_key("HAPPY"), Some(Emotion::Happy));
        assert_eq!(Emotion::from_key("ecstatic"), None);
        assert!("ecstatic".parse::<Emotion>().is_err());
    }

    #[test]
    fn summary_reads_back() {
        let s = Direction::parse("smile and nod twice at the end, zoom in").summary();
        assert!(
            s.contains("happy") && s.contains("nod x2") && s.contains("zoom in"),
            "{s}"
        );
        assert_eq!(Direction::parse("").summary(), "natural");
    }
}
