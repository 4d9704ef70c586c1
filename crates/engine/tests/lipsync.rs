//! Lip-sync accuracy on real espeak-ng speech, scored against espeak's own
//! phoneme events. These need espeak-ng and PocketSphinx (scripts/setup.sh);
//! when either is missing they fail and say so, they never skip.

use mouthpiece_engine::media::AudioTrack;
use mouthpiece_engine::timeline::rules::TimedPhone;
use mouthpiece_engine::timeline::score::{reference_speech, score, Reference, Score};
use mouthpiece_engine::timeline::sphinx::SphinxModel;
use mouthpiece_engine::timeline::{align, auto, espeak, Hints, Method, MouthTimeline};

const FPS: f64 = 24.0;

/// Different sentences from the benchmark's, so the tests do not merely
/// confirm the numbers the code was tuned on.
fn sentences(lang: &str) -> &'static [&'static str] {
    match lang {
        "de" => &[
            "Am Montag backt meine Oma einen Pflaumenkuchen.",
            "Wir bleiben heute bis zum Abend im Park.",
            "Mein Bruder spielt gerne Fussball mit seinen Freunden.",
        ],
        "es" => &[
            "Mi hermano compra un mapa del mundo.",
            "Pepe bebe mucha agua por la mañana.",
            "Vamos a comer pescado con patatas.",
        ],
        _ => &[
            "Bob bought a map of the moon for his mom.",
            "Maybe we can swim in the pool before dinner.",
            "Paul put the apple pie by the window to cool.",
        ],
    }
}

const GAPS: [f64; 3] = [0.7, 0.25, 0.0];

fn speech(lang: &str, speaker: &str) -> Reference {
    reference_speech(sentences(lang), speaker, 160, &GAPS).unwrap_or_else(|e| {
        panic!("espeak-ng is required for these tests (install espeak-ng and libespeak-ng-dev: scripts/setup.sh): {e}")
    })
}

fn require_sphinx() {
    if let Err(e) = SphinxModel::discover() {
        panic!("PocketSphinx's English model is required (install pocketsphinx-en-us: scripts/setup.sh): {e}");
    }
}

fn run(r: &Reference, hints: &Hints, method: Method) -> (MouthTimeline, Score) {
    let audio = AudioTrack::from_analysis(r.samples.clone());
    let tl = auto::timeline_with(method, &audio, hints)
        .unwrap_or_else(|e| panic!("{method} failed: {e}"));
    tl.validate().unwrap();
    assert!((tl.duration - audio.duration).abs() < 1e-9);
    let s = score(&tl, &r.phones, FPS);
    eprintln!(
        "{method:<10} allowed {:.1}%  p/b/m closed {:.1}% of {}  long pauses closed {:.1}% of {} frames  short cues {}",
        s.allowed * 100.0,
        s.bilabial_closed * 100.0,
        s.bilabials,
        s.pause_closed * 100.0,
        s.pause_frames,
        s.too_short
    );
    (tl, s)
}

#[test]
fn espeak_reports_phonemes_words_and_audio() {
    let syn = espeak::synthesize("Hello world, this is a test.", "en-us", 175)
        .unwrap_or_else(|e| panic!("espeak-ng is required (scripts/setup.sh): {e}"));
    assert!(syn.sample_rate >= 16_000);
    assert!(
        syn.duration() > 1.0 && syn.duration() < 4.0,
        "{}",
        syn.duration()
    );
    assert!(syn.words.len() >= 6, "{:?}", syn.words);
    let phones = syn.timed_phones();
    assert!(phones.len() >= 15, "{phones:?}");
    assert!(phones.windows(2).all(|w| w[0].start <= w[1].start));
    assert!(espeak::synthesize("Hallo", "qqq-no-such-voice", 175).is_err());
}

#[test]
fn transcript_alignment_is_exact_on_espeak_own_audio() {
    // The audio is what espeak says for the text: the warp must be the
    // identity, so every phone lands where espeak put it.
    let text = "Please bring me a cup of warm milk and a blueberry muffin.";
    let syn = espeak::synthesize(text, "en-us", align::DEFAULT_RATE).unwrap();
    let samples =
        mouthpiece_engine::media::audio::to_analysis_rate(&syn.samples_f32(), syn.sample_rate);
    let truth: Vec<TimedPhone> = syn.timed_phones();
    let got = align::align(&samples, text, "en-us").unwrap();
    let speech: Vec<&TimedPhone> = truth.iter().filter(|p| !p.phone.is_pause()).collect();
    // A phone that espeak voiced too faintly to hear becomes part of a
    // pause; every other one must keep its start within 15 ms.
    let kept = speech
        .iter()
        .filter(|t| {
            got.iter()
                .any(|g| g.phone == t.phone && (g.start - t.start).abs() <= 0.015)
        })
        .count();
    assert!(
        kept as f64 >= 0.95 * speech.len() as f64,
        "only {kept} of {} phones kept their place\ntruth {truth:?}\ngot {got:?}",
        speech.len()
    );
}

#[test]
fn english_without_text_uses_sphinx_closes_bilabials_and_rests_in_pauses() {
    require_sphinx();
    let r = speech("en", "en-us+m3");
    let hints = Hints::new(None, Some("auto"));
    assert_eq!(hints.plan()[0], Method::Sphinx);
    let audio = AudioTrack::from_analysis(r.samples.clone());
    let (_, chosen) = mouthpiece_engine::timeline::automatic(&audio, &hints);
    assert_eq!(
        chosen,
        Method::Sphinx,
        "the English path must be PocketSphinx"
    );
    let (_, s) = run(&r, &hints, Method::Sphinx);
    let (_, base) = run(&r, &hints, Method::Loudness);
    assert_eq!(s.too_short, 0, "no shape may be shorter than its minimum");
    assert!(
        s.bilabial_closed >= 0.85,
        "p/b/m closed only {:.2}",
        s.bilabial_closed
    );
    assert!(
        s.pause_closed >= 0.95,
        "long pauses closed only {:.2}",
        s.pause_closed
    );
    assert!(
        s.allowed > base.allowed + 0.2,
        "{:.2} vs loudness {:.2}",
        s.allowed,
        base.allowed
    );
}

#[test]
fn other_languages_use_the_spectral_path_and_beat_loudness() {
    for (lang, speaker) in [("de", "de+f2"), ("es", "es+m2")] {
        let r = speech(lang, speaker);
        let hints = Hints::new(None, Some(lang));
        assert_eq!(hints.plan()[0], Method::Spectral);
        let (_, s) = run(&r, &hints, Method::Spectral);
        let (_, base) = run(&r, &hints, Method::Loudness);
        assert_eq!(
            s.too_short, 0,
            "{lang}: a shape is shorter than its minimum"
        );
        assert!(
            s.allowed > base.allowed + 0.1,
            "{lang}: {:.2} vs {:.2}",
            s.allowed,
            base.allowed
        );
        assert!(
            s.bilabial_closed >= 0.5,
            "{lang}: p/b/m closed only {:.2}",
            s.bilabial_closed
        );
        assert!(s.bilabial_closed > base.bilabial_closed + 0.3, "{lang}");
        assert!(
            s.pause_closed >= 0.9,
            "{lang}: long pauses closed only {:.2}",
            s.pause_closed
        );
    }
}

#[test]
fn giving_the_transcript_improves_the_match() {
    require_sphinx();
    for (lang, speaker) in [("en", "en-us+f2"), ("de", "de+m3"), ("es", "es+f4")] {
        let r = speech(lang, speaker);
        let blind = Hints::new(None, Some(lang));
        let told = Hints::new(Some(&r.text), Some(lang));
        assert_eq!(told.plan()[0], Method::Transcript);
        let (_, without) = run(&r, &blind, blind.plan()[0]);
        let (_, with) = run(&r, &told, Method::Transcript);
        assert_eq!(with.too_short, 0, "{lang}");
        assert!(
            with.allowed > without.allowed + 0.1,
            "{lang}: with text {:.2}, without {:.2}",
            with.allowed,
            without.allowed
        );
        assert!(with.allowed >= 0.8, "{lang}: {:.2}", with.allowed);
        assert!(
            with.bilabial_closed >= 0.9,
            "{lang}: p/b/m closed {:.2}",
            with.bilabial_closed
        );
        assert!(
            with.pause_closed >= 0.9,
            "{lang}: long pauses closed {:.2}",
            with.pause_closed
        );
    }
}

#[test]
fn failing_stages_fall_back() {
    // An unknown voice makes the transcript stage fail; spectral takes over.
    let r = speech("es", "es");
    let audio = AudioTrack::from_analysis(r.samples.clone());
    let hints = Hints::new(Some(&r.text), Some("zz-unknown"));
    let (tl, method) = mouthpiece_engine::timeline::automatic(&audio, &hints);
    assert_eq!(method, Method::Spectral);
    tl.validate().unwrap();
    // Silence has nothing to align or recognise, and still gives a timeline.
    let quiet = AudioTrack::from_analysis(vec![0.0; 16_000]);
    let (tl, _) = mouthpiece_engine::timeline::automatic(&quiet, &Hints::new(Some("hello"), None));
    assert!(tl.cues.iter().all(|c| c.shape.is_closed()), "{:?}", tl.cues);
}
