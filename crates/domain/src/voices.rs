//! The TTS voice catalogue: Kling's voice ids, each bound to a language and
//! served by an espeak-ng voice and variant.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Zh,
    En,
}

impl Language {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "zh" => Some(Language::Zh),
            "en" => Some(Language::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::En => "en",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Voice {
    pub id: &'static str,
    pub language: Language,
    pub name: &'static str,
    /// espeak-ng voice and variant (`en-us+m3`).
    pub espeak: &'static str,
}

const fn v(
    id: &'static str,
    language: Language,
    name: &'static str,
    espeak: &'static str,
) -> Voice {
    Voice {
        id,
        language,
        name,
        espeak,
    }
}

/// Some voice ids exist in both languages, as in Kling's own list.
pub const VOICES: &[Voice] = &[
    v("oversea_male1", Language::En, "Oversea male", "en-us+m3"),
    v("uk_man2", Language::En, "UK man", "en-gb+m1"),
    v("uk_boy1", Language::En, "UK boy", "en-gb+m4"),
    v("uk_oldman3", Language::En, "UK old man", "en-gb+m7"),
    v(
        "commercial_lady_en_f-v1",
        Language::En,
        "Commercial lady",
        "en-us+f3",
    ),
    v("reader_en_m-v1", Language::En, "Reader", "en-us+m1"),
    v("calm_story1", Language::En, "Calm story", "en-us+m2"),
    v("genshin_vindi2", Language::En, "Sunny", "en-us+m4"),
    v("ai_kaiya", Language::En, "Kaiya", "en-us+f2"),
    v("genshin_vindi2", Language::Zh, "阳光少年", "cmn+m3"),
    v("zhinen_xuesheng", Language::Zh, "懂事小弟", "cmn+m4"),
    v("tiyuxi_xuedi", Language::Zh, "运动少年", "cmn+m1"),
    v("ai_shatang", Language::Zh, "青春少女", "cmn+f3"),
    v("genshin_klee2", Language::Zh, "温柔小妹", "cmn+f4"),
    v("ai_kaiya", Language::Zh, "阳光男生", "cmn+m2"),
    v("chengshu_jiejie", Language::Zh, "优雅贵妇", "cmn+f2"),
    v("you_pingjing", Language::Zh, "温柔姐姐", "cmn+f5"),
];

/// The voice with this id in this language; a known id in the other
/// language is still "not found", as Kling answers.
pub fn find(id: &str, language: Language) -> Option<&'static Voice> {
    VOICES.iter().find(|v| v.id == id && v.language == language)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_respects_language() {
        assert_eq!(
            find("oversea_male1", Language::En).map(|v| v.espeak),
            Some("en-us+m3")
        );
        assert!(find("oversea_male1", Language::Zh).is_none());
        assert!(find("genshin_vindi2", Language::Zh).is_some());
        assert!(find("nope", Language::En).is_none());
    }
}
