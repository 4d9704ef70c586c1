//! Phone inventory and which mouth shapes each phone allows. One inventory
//! serves every recogniser: CMU/ARPAbet names (PocketSphinx), IPA names (the
//! phoneme events of espeak-ng, in any of its languages) and the coarse
//! classes of the spectral recogniser all map onto it.

use super::Shape;

/// A set of mouth shapes, as a bit mask over `Shape::ALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ShapeSet(u16);

impl ShapeSet {
    pub const EMPTY: ShapeSet = ShapeSet(0);
    /// Every open shape the lips can take while the tongue does the work.
    pub const ANY: ShapeSet =
        ShapeSet::of(&[Shape::B, Shape::C, Shape::D, Shape::E, Shape::F, Shape::H]);

    pub const fn of(shapes: &[Shape]) -> Self {
        let mut bits = 0u16;
        let mut i = 0;
        while i < shapes.len() {
            bits |= 1 << shapes[i] as u16;
            i += 1;
        }
        ShapeSet(bits)
    }

    pub const fn one(shape: Shape) -> Self {
        ShapeSet(1 << shape as u16)
    }

    pub fn contains(self, s: Shape) -> bool {
        self.0 & (1 << s as u16) != 0
    }

    pub fn intersect(self, o: ShapeSet) -> ShapeSet {
        ShapeSet(self.0 & o.0)
    }

    pub fn union(self, o: ShapeSet) -> ShapeSet {
        ShapeSet(self.0 | o.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn iter(self) -> impl Iterator<Item = Shape> {
        Shape::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The only member, when there is exactly one.
    pub fn single(self) -> Option<Shape> {
        if self.len() == 1 {
            self.iter().next()
        } else {
            None
        }
    }
}

/// Phones, ARPAbet-named, plus a few vowels other languages need and the
/// non-speech classes the recognisers report.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phone {
    // Vowels.
    AA,
    AE,
    AH,
    AO,
    AW,
    AY,
    EH,
    ER,
    EY,
    IH,
    IY,
    OW,
    OY,
    UH,
    UW,
    /// Reduced central vowel.
    Schwa,
    /// Close-mid front unrounded monophthong (e, as in German, Spanish, French).
    E,
    /// Close-mid back rounded monophthong (o).
    O,
    /// Close front rounded (y, ʏ).
    Y,
    /// Mid front rounded (ø, œ).
    OE,
    // Consonants.
    B,
    CH,
    D,
    DH,
    F,
    G,
    HH,
    JH,
    K,
    L,
    M,
    N,
    NG,
    P,
    R,
    S,
    SH,
    T,
    TH,
    V,
    W,
    YY,
    Z,
    ZH,
    /// Trill, tap or uvular r: tongue or throat only, lips follow neighbours.
    RR,
    /// Bilabial approximant or fricative (β, ɸ): lips almost together.
    BH,
    // Non-speech.
    Sil,
    Breath,
    Noise,
    /// A stop closure found acoustically, place unknown: lips shut.
    Closure,
    /// A stop burst out of silence, place unknown: lips shut just before.
    Burst,
}

/// How a phone constrains the mouth over its duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Articulation {
    /// Any shape of the set, the whole time.
    Static(ShapeSet),
    /// Two sets in turn; the first holds for `first_share` of the phone.
    Glide {
        first: ShapeSet,
        second: ShapeSet,
        first_share: f32,
    },
    /// A stop: `closure` is held before the phone starts (the release),
    /// then `release` for the phone itself.
    Plosive {
        closure: ShapeSet,
        release: ShapeSet,
    },
    /// Silence: the pause rules decide.
    Pause,
}

impl Phone {
    pub fn is_vowel(self) -> bool {
        use Phone::*;
        matches!(
            self,
            AA | AE
                | AH
                | AO
                | AW
                | AY
                | EH
                | ER
                | EY
                | IH
                | IY
                | OW
                | OY
                | UH
                | UW
                | Schwa
                | E
                | O
                | Y
                | OE
        )
    }

    pub fn is_pause(self) -> bool {
        matches!(self, Phone::Sil)
    }

    /// P, B and M: the lips must meet.
    pub fn is_bilabial(self) -> bool {
        matches!(self, Phone::P | Phone::B | Phone::M)
    }

    /// Shapes allowed for this phone lasting `seconds` (Rhubarb's rules).
    pub fn articulation(self, seconds: f64) -> Articulation {
        use Articulation::*;
        use Phone::*;
        use Shape as S;
        let one = ShapeSet::one;
        let set = ShapeSet::of;
        let glide = |a: Shape, b: Shape, share: f32| Glide {
            first: one(a),
            second: one(b),
            first_share: share,
        };
        match self {
            AO => Static(one(S::E)),
            AA => Static(one(S::D)),
            IY | IH => Static(one(S::B)),
            UW | UH | Y => Static(one(S::F)),
            EH | AE => Static(one(S::C)),
            AH if seconds < 0.2 => Static(one(S::C)),
            AH => Static(one(S::D)),
            Schwa => Static(set(&[S::B, S::C])),
            E => Static(set(&[S::B, S::C])),
            O | OE => Static(set(&[S::E, S::F])),
            EY => glide(S::C, S::B, 0.6),
            AY if seconds < 0.2 => glide(S::C, S::B, 0.6),
            AY => glide(S::D, S::B, 0.6),
            OW => glide(S::E, S::F, 0.6),
            AW if seconds < 0.3 => glide(S::C, S::E, 0.6),
            AW => glide(S::D, S::E, 0.6),
            OY => glide(S::E, S::B, 0.6),
            ER if seconds < 0.07 => Static(set(&[S::B, S::C])),
            ER => Static(one(S::E)),
            P | B => Plosive {
                closure: one(S::A),
                release: ShapeSet::ANY,
            },
            T | D => Plosive {
                closure: set(&[S::B, S::F]),
                release: ShapeSet::ANY,
            },
            K | G => Plosive {
                closure: set(&[S::B, S::C, S::E, S::F, S::H]),
                release: ShapeSet::ANY,
            },
            CH | JH => Static(set(&[S::B, S::F])),
            F | V => Static(one(S::G)),
            TH | DH | S | Z | SH | ZH => Static(set(&[S::B, S::F])),
            HH | RR => Static(ShapeSet::ANY),
            M => Static(one(S::A)),
            N => Static(set(&[S::B, S::C, S::F, S::H])),
            NG => Static(set(&[S::B, S::C, S::E, S::F])),
            L if seconds < 0.2 => Static(set(&[S::B, S::E, S::F, S::H])),
            L => Static(one(S::H)),
            R => Static(set(&[S::B, S::E, S::F])),
            YY => Static(set(&[S::B, S::C, S::F])),
            W => Static(one(S::F)),
            BH => Static(set(&[S::A, S::B])),
            Breath => Static(one(S::C)),
            Noise => Static(one(S::B)),
            Closure => Static(one(S::A)),
            Burst => Plosive {
                closure: one(S::A),
                release: ShapeSet::ANY,
            },
            Sil => Pause,
        }
    }

    /// Every shape that may be seen while this phone sounds, for scoring.
    pub fn acceptable(self, seconds: f64) -> ShapeSet {
        match self.articulation(seconds) {
            Articulation::Static(s) => s,
            Articulation::Glide { first, second, .. } => first.union(second),
            Articulation::Plosive { closure, release } => closure.union(release),
            Articulation::Pause => ShapeSet::of(&[Shape::X, Shape::A]),
        }
    }

    /// A CMU / PocketSphinx phone name (stress digits allowed).
    pub fn from_arpabet(name: &str) -> Option<Phone> {
        use Phone::*;
        let n = name.trim().trim_end_matches(|c: char| c.is_ascii_digit());
        Some(match n.to_ascii_uppercase().as_str() {
            "AA" => AA,
            "AE" => AE,
            "AH" => AH,
            "AO" => AO,
            "AW" => AW,
            "AY" => AY,
            "EH" => EH,
            "ER" => ER,
            "EY" => EY,
            "IH" => IH,
            "IY" => IY,
            "OW" => OW,
            "OY" => OY,
            "UH" => UH,
            "UW" => UW,
            "B" => B,
            "CH" => CH,
            "D" => D,
            "DH" => DH,
            "F" => F,
            "G" => G,
            "HH" => HH,
            "JH" => JH,
            "K" => K,
            "L" => L,
            "M" => M,
            "N" => N,
            "NG" => NG,
            "P" => P,
            "R" => R,
            "S" => S,
            "SH" => SH,
            "T" => T,
            "TH" => TH,
            "V" => V,
            "W" => W,
            "Y" => YY,
            "Z" => Z,
            "ZH" => ZH,
            "SIL" | "<SIL>" | "<S>" | "</S>" => Sil,
            "+BREATH+" => Breath,
            "+NSN+" | "+SPN+" | "+COUGH+" | "+SMACK+" | "+UH+" | "+UM+" | "+NOISE+" => Noise,
            _ => return None,
        })
    }

    /// An IPA phone name as espeak-ng reports it with
    /// `espeakINITIALIZE_PHONEME_IPA`, in any language. Length, stress,
    /// nasality and secondary articulation marks are ignored; an empty name
    /// or `_` is a pause. Returns one or two phones (a few diphthongs that
    /// the inventory lacks are split), or none for a language-switch marker.
    pub fn from_ipa(name: &str) -> Vec<Phone> {
        use Phone::*;
        // "(en)", "(fr)": espeak switching language for a word, not a sound.
        if name.starts_with('(') && name.ends_with(')') {
            return Vec::new();
        }
        let base: String = name
            .chars()
            .filter(|c| {
                !matches!(
                    c,
                    'ː' | 'ˑ'
                        | 'ˈ'
                        | 'ˌ'
                        | '-'
                        | '\''
                        | ','
                        | '.'
                        | '\u{303}'
                        | '\u{329}'
                        | '\u{32f}'
                        | '\u{361}'
                        | '\u{325}'
                        | '\u{30a}'
                        | '\u{31e}'
                        | '\u{31d}'
                        | '\u{308}'
                        | 'ʲ'
                        | 'ʰ'
                        | 'ʷ'
                        | 'ˠ'
                        | 'ˤ'
                        | '#'
                        | ';'
                        | ':'
                )
            })
            .collect();
        let b = base.as_str();
        if b.is_empty() || b.chars().all(|c| c == '_' || c == '|') {
            return vec![Sil];
        }
        let whole = match b {
            "aɪ" | "aj" | "ai" | "ʌɪ" | "ɑɪ" | "äɪ" => Some(AY),
            "aʊ" | "aw" | "au" | "ɑʊ" => Some(AW),
            "eɪ" | "ej" | "ei" | "ɛɪ" => Some(EY),
            "oʊ" | "əʊ" | "ou" | "ow" | "ɔʊ" => Some(OW),
            "ɔɪ" | "ɔø" | "ɔʏ" | "oj" | "oi" | "ɔj" => Some(OY),
            "tʃ" | "tɕ" | "ʈʂ" | "c" | "cç" => Some(CH),
            "dʒ" | "dʑ" | "ɖʐ" | "ɟ" | "ɟʝ" => Some(JH),
            "ts" | "tθ" => Some(T),
            "dz" => Some(D),
            "pf" => Some(P),
            "ɜ" | "ɝ" | "ɚ" | "ɜɹ" => Some(ER),
            _ => None,
        };
        if let Some(p) = whole {
            return vec![p];
        }
        let mut out: Vec<Phone> = Vec::new();
        for ch in b.chars() {
            let p = match ch {
                'i' | 'ɨ' | 'ɯ' => IY,
                'ɪ' => IH,
                'e' => E,
                'ɛ' | 'ɞ' => EH,
                'æ' => AE,
                'a' | 'ɑ' | 'ä' | 'ɶ' => AA,
                'ɐ' | 'ʌ' => AH,
                'ə' | 'ɘ' => Schwa,
                'ɒ' | 'ɔ' => AO,
                'o' | 'ɤ' => O,
                'ʊ' => UH,
                'u' | 'ʉ' => UW,
                'y' | 'ʏ' => Y,
                'ø' | 'œ' | 'ɵ' => OE,
                'p' => P,
                'b' => B,
                't' | 'ʈ' => T,
                'd' | 'ɖ' => D,
                'k' | 'q' => K,
                'g' | 'ɡ' | 'ɢ' => G,
                'm' | 'ɱ' => M,
                'n' | 'ɲ' | 'ɳ' => N,
                'ŋ' | 'ɴ' => NG,
                'f' => F,
                'v' | 'ʋ' => V,
                'θ' => TH,
                'ð' => DH,
                's' => S,
                'z' => Z,
                'ʃ' | 'ɕ' | 'ʂ' | 'ç' => SH,
                'ʒ' | 'ʑ' | 'ʐ' | 'ʝ' => ZH,
                'h' | 'ɦ' | 'x' | 'χ' | 'ħ' | 'ʔ' | 'ɣ' | 'ʕ' => HH,
                'l' | 'ɫ' | 'ɭ' | 'ʎ' | 'ɬ' | 'ɮ' | 'ʟ' => L,
                'ɹ' | 'ɻ' => R,
                'r' | 'ɾ' | 'ʁ' | 'ʀ' | 'ɽ' => RR,
                'j' => YY,
                'w' | 'ɥ' | 'ʍ' => W,
                'β' | 'ɸ' => BH,
                '_' | '|' => Sil,
                _ => continue,
            };
            if out.last() != Some(&p) {
                out.push(p);
            }
        }
        // Keep at most two phones: a vowel-vowel pair is a diphthong, and a
        // consonant cluster in one event is rare and short.
        out.truncate(2);
        if out.is_empty() {
            out.push(Noise);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipa_and_arpabet_names_map_onto_one_inventory() {
        assert_eq!(Phone::from_ipa("aɪ"), vec![Phone::AY]);
        assert_eq!(Phone::from_ipa("ɑ̃"), vec![Phone::AA]);
        assert_eq!(Phone::from_ipa("ɜː"), vec![Phone::ER]);
        assert_eq!(Phone::from_ipa("ɡ"), vec![Phone::G]);
        assert_eq!(Phone::from_ipa("rʲ"), vec![Phone::RR]);
        assert_eq!(Phone::from_ipa("ɐ̃ʊ̃"), vec![Phone::AH, Phone::UH]);
        assert_eq!(Phone::from_ipa(""), vec![Phone::Sil]);
        assert_eq!(Phone::from_ipa("(cmn)"), vec![]);
        assert_eq!(Phone::from_arpabet("AH0"), Some(Phone::AH));
        assert_eq!(Phone::from_arpabet("SIL"), Some(Phone::Sil));
        assert_eq!(Phone::from_arpabet("+NSN+"), Some(Phone::Noise));
        assert!(Phone::M.acceptable(0.1).contains(Shape::A));
        assert!(!Phone::AA.acceptable(0.1).contains(Shape::A));
        assert_eq!(ShapeSet::of(&[Shape::B, Shape::F]).len(), 2);
    }
}
