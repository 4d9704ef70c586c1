//! `mouthpiece bench-lipsync`: how well the mouth timeline follows speech.
//! espeak-ng speaks test sentences in several languages with a voice variant
//! and rate unlike the aligner's own voice, its phoneme events are the
//! ground truth, and every timeline source is scored against them: the
//! automatic choice without the text, the same with the text, and the
//! spectral and loudness paths for comparison. Figures are printed, never
//! asserted (the tests assert).

use anyhow::{Context, Result};
use mouthpiece_engine::media::AudioTrack;
use mouthpiece_engine::timeline::score::{reference_speech, score, Reference, Score};
use mouthpiece_engine::timeline::{auto, Hints, Method};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct LipsyncBenchArgs {
    /// Languages (espeak-ng voice names) to test.
    #[arg(long, value_delimiter = ',', default_value = "en-us,de,es,fr")]
    languages: Vec<String>,
    /// espeak-ng voice variant of the test speaker ("" for the plain voice).
    #[arg(long, default_value = "f3")]
    variant: String,
    /// Speaking rate of the test speaker, words per minute.
    #[arg(long, default_value_t = 150)]
    rate: u32,
    /// Video frame rate the closure figures are measured at.
    #[arg(long, default_value_t = 24.0)]
    fps: f64,
    /// Length of the clip used for the timing figures, in seconds.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Also write all figures as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Test sentences, rich in bilabials, with pauses of several lengths after them.
pub fn sentences(language: &str) -> &'static [&'static str] {
    match language.split(['-', '+']).next().unwrap_or("") {
        "de" => &[
            "Guten Morgen, mein Name ist Paul und ich baue Maschinen.",
            "Bitte bring mir ein Butterbrot mit Marmelade.",
            "Im Sommer schwimmen wir oft im blauen Meer.",
            "Peter und Maria besuchen morgen ihre Mutter in Bremen.",
            "Das Problem ist kompliziert, aber wir probieren es immer wieder.",
        ],
        "es" => &[
            "Buenos días, me llamo Pablo y vivo en Madrid.",
            "Mi madre compra pan y manzanas en el mercado.",
            "Por favor, ponme un poco más de patatas.",
            "Mañana vamos a la playa con mis primos.",
            "El problema parece imposible, pero podemos probar otra vez.",
        ],
        "fr" => &[
            "Bonjour, je m'appelle Pierre et je habite à Paris.",
            "Ma mère prépare une bonne soupe aux pommes de terre.",
            "Nous partons demain matin pour la montagne.",
            "Le petit bateau bleu passe sous le pont.",
            "Parfois le problème paraît simple, mais il faut beaucoup de patience.",
        ],
        _ => &[
            "Hello there, my name is Barbara and I build robots.",
            "Please bring me a cup of warm milk and a blueberry muffin.",
            "My mother made a big pumpkin pie for the party.",
            "We will meet by the old bridge at about five.",
            "Maybe the problem is simple, but people must keep an open mind.",
        ],
    }
}

/// Silences after each sentence: long, short, long, medium, none.
pub const GAPS: [f64; 5] = [0.6, 0.2, 0.9, 0.4, 0.0];

struct Row {
    language: String,
    transcript: bool,
    method: Method,
    seconds: f64,
    score: Score,
}

/// User + system CPU time of this process so far: with other work on the
/// machine it shows the cost that wall time hides.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn run_one(reference: &Reference, hints: &Hints, method: Method, fps: f64) -> Result<(Score, f64)> {
    let audio = AudioTrack::from_analysis(reference.samples.clone());
    let started = Instant::now();
    let tl = auto::timeline_with(method, &audio, hints)?;
    let secs = started.elapsed().as_secs_f64();
    Ok((score(&tl, &reference.phones, fps), secs))
}

fn print_row(r: &Row) {
    let s = &r.score;
    println!(
        "{:<6} {:<8} {:<11} {:>7.1}%  {:>6.1}% ({:>3})  {:>6.1}% ({:>4})  {:>5}  {:>6.3} s",
        r.language,
        if r.transcript { "yes" } else { "no" },
        r.method.name(),
        s.allowed * 100.0,
        s.bilabial_closed * 100.0,
        s.bilabials,
        s.pause_closed * 100.0,
        s.pause_frames,
        s.too_short,
        r.seconds
    );
}

pub fn run(a: LipsyncBenchArgs) -> Result<()> {
    println!(
        "lip-sync accuracy on espeak-ng speech (speaker variant {:?}, {} wpm; truth = espeak phoneme events; frames at {} fps)",
        a.variant, a.rate, a.fps
    );
    println!(
        "{:<6} {:<8} {:<11} {:>8}  {:>13}  {:>14}  {:>5}  {:>8}",
        "lang", "text", "method", "allowed", "p/b/m closed", "pauses closed", "short", "time"
    );
    let mut rows: Vec<Row> = Vec::new();
    for lang in &a.languages {
        let speaker = if a.variant.is_empty() {
            lang.clone()
        } else {
            format!("{lang}+{}", a.variant)
        };
        let reference =
            reference_speech(sentences(lang), &speaker, a.rate, &GAPS).with_context(|| {
                format!(
                    "synthesising {lang} test speech (is espeak-ng installed? scripts/setup.sh)"
                )
            })?;
        let blind = Hints::new(None, Some(lang));
        let told = Hints::new(Some(&reference.text), Some(lang));
        let auto_blind = blind.plan()[0];
        let mut plan: Vec<(bool, Method, &Hints)> = vec![(false, auto_blind, &blind)];
        for m in [Method::Sphinx, Method::Spectral, Method::Loudness] {
            let applies = m != Method::Sphinx || blind.is_english();
            if m != auto_blind && applies {
                plan.push((false, m, &blind));
            }
        }
        plan.push((true, Method::Transcript, &told));
        for (transcript, method, hints) in plan {
            match run_one(&reference, hints, method, a.fps) {
                Ok((score, seconds)) => {
                    let row = Row {
                        language: lang.clone(),
                        transcript,
                        method,
                        seconds,
                        score,
                    };
                    print_row(&row);
                    rows.push(row);
                }
                Err(e) => println!("{lang:<6} {method}: failed: {e:#}"),
            }
        }
    }

    println!(
        "allowed: 10 ms speech frames showing a shape the true phone allows (closure before a stop counts);\n\
         p/b/m closed: bilabials with a closed mouth within one frame of the phone;\n\
         pauses closed: frames inside pauses of 350 ms or more showing a closed mouth;\n\
         short: cues under their minimum (70 ms, tweens 40 ms)"
    );

    // Timing on a long clip: the English sentences repeated until it lasts
    // at least `seconds` (sentence by sentence, so it barely overshoots).
    let english = sentences("en");
    let per_sentence: Vec<f64> = english
        .iter()
        .map(|s| reference_speech(&[s], "en-us", a.rate, &[]).map(|r| r.duration))
        .collect::<Result<_, _>>()?;
    let mut long: Vec<&str> = Vec::new();
    let mut gaps: Vec<f64> = Vec::new();
    let mut secs = 0.0;
    let mut k = 0;
    while secs < a.seconds {
        let i = k % english.len();
        long.push(english[i]);
        gaps.push(GAPS[i]);
        secs += per_sentence[i] + GAPS[i];
        k += 1;
    }
    let reference = reference_speech(&long, "en-us", a.rate, &gaps)?;
    let audio = AudioTrack::from_analysis(reference.samples.clone());
    println!(
        "\ntimeline computation time for a {:.1} s English clip ({} threads):",
        reference.duration,
        rayon::current_num_threads()
    );
    let told = Hints::new(Some(&reference.text), Some("en"));
    let blind = Hints::new(None, Some("en"));
    let mut timings = Vec::new();
    for (label, method, hints) in [
        ("transcript (espeak + DTW)", Method::Transcript, &told),
        ("sphinx (no text)", Method::Sphinx, &blind),
        ("spectral (no text)", Method::Spectral, &blind),
        ("loudness", Method::Loudness, &blind),
    ] {
        let (cpu0, started) = (cpu_seconds(), Instant::now());
        let result = auto::timeline_with(method, &audio, hints);
        let t = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        match result {
            Ok(tl) => {
                println!(
                    "  {label:<26} {t:>6.3} s wall, {cpu:>6.3} s CPU  ({} cues)",
                    tl.cues.len()
                );
                timings.push((method, t));
            }
            Err(e) => println!("  {label:<26} failed: {e:#}"),
        }
    }
    if let Some(path) = &a.json {
        let out = serde_json::json!({
            "rows": rows.iter().map(|r| serde_json::json!({
                "language": r.language,
                "transcript": r.transcript,
                "method": r.method,
                "seconds": r.seconds,
                "score": r.score,
            })).collect::<Vec<_>>(),
            "timing_clip_seconds": reference.duration,
            "timings": timings.iter().map(|(m, t)| serde_json::json!({"method": m, "seconds": t})).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&out)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
