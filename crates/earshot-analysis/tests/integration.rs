//! Behaviour of the shipped engine (embedded models).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use earshot_analysis::Engine;
use earshot_analysis::data::{Split, Task, read_labelled};
use earshot_analysis::eval::evaluate;
use earshot_core::{Analyzer, Sentiment, UrgencyKind};

#[test]
fn a_cancelled_flight_is_a_negative_cancellation_complaint() {
    let a = Engine::builtin().analyze("@united my flight was cancelled and nobody helps");
    assert_eq!(a.sentiment, Sentiment::Negative);
    assert!(a.complaint, "{a:?}");
    assert_eq!(a.top_category(), Some("cancelled"), "{a:?}");
    assert!(a.sentiment_score < -0.3);
    assert!(!a.evidence.is_empty());
    assert!(
        a.model.starts_with("earshot-linear/sentiment-v1"),
        "{}",
        a.model
    );
}

#[test]
fn the_top_category_names_the_words_behind_it() {
    let e = Engine::builtin();
    let a = e.analyze("@united lost my bag again, 3 days and no update");
    let top = &a.categories[0];
    assert_eq!(top.name, "lost_damaged_item", "{a:?}");
    assert!(top.terms.iter().any(|t| t == "bag"), "{top:?}");
    assert!(top.terms.len() <= 3, "{top:?}");
    // Function words and handles are true of the post but explain nothing.
    assert!(!top.terms.iter().any(|t| t == "my"), "{top:?}");
    let s = e.analyze("@sprintcare is the worst customer service");
    assert!(
        !s.categories[0].terms.iter().any(|t| t.starts_with('@')),
        "{s:?}"
    );
    // A matched taxonomy keyword comes first.
    let k = e.analyze("@AmericanAir flight delayed 4 hours, missed my connection");
    assert_eq!(k.categories[0].name, "late_delayed", "{k:?}");
    assert_eq!(k.categories[0].terms[0], "delayed", "{k:?}");
}

#[test]
fn a_matched_keyword_lists_its_category_even_without_model_support() {
    // No labelled billing examples exist, so the model gives billing_refund
    // nothing; its keyword still lists it, last, with the word.
    let a = Engine::builtin().analyze("@comcast charged me twice this month and I want a refund");
    assert!(a.complaint, "{a:?}");
    let last = a.categories.last().unwrap();
    assert_eq!(last.name, "billing_refund", "{a:?}");
    assert_eq!(last.terms, ["charged"], "{a:?}");
    assert!(last.score < earshot_analysis::CATEGORY_MIN_SCORE, "{a:?}");
    assert_ne!(
        a.top_category(),
        Some("billing_refund"),
        "the ranking is the model's"
    );
    // Scored runners-up between the top and the cued one carry a score only.
    let n = a.categories.len();
    assert!(n >= 3, "{a:?}");
    assert!(
        a.categories[1..n - 1].iter().all(|c| c.terms.is_empty()),
        "{a:?}"
    );
}

#[test]
fn cached_word_sums_score_exactly_like_the_full_features() {
    // `analyze` takes the character n-grams from a per-thread cache of
    // per-word sums; the training path lists every n-gram. Same numbers.
    let texts = [
        "@united lost my bag again, 3 days and no update",
        "@united lost my bag again, 3 days and no update",
        "Loving the new update, thanks team!!! 😍",
        "worst service ever. cancelled my flight twice #neveragain",
        "ok",
    ];
    let base = Engine::builtin();
    let other = base.with_taxonomy(&earshot_analysis::taxonomy::Taxonomy::default());
    // The same models with the sentiment weights negated: a cache kept
    // across engines would score one with the other's sums.
    let s = base.sentiment_model();
    let negated: Vec<f32> = s
        .raw()
        .iter()
        .map(|&w| -f32::from(w) * s.header.scale)
        .collect();
    let flipped = Engine::from_models(
        earshot_analysis::model::LinearModel::from_f32(s.header.clone(), &negated),
        base.complaint_model().clone(),
        base.category_model().clone(),
        &earshot_analysis::taxonomy::Taxonomy::default(),
    );
    for e in [&base, &other, &flipped, &base, &flipped] {
        for t in texts {
            let a = e.analyze(t);
            let p = e.sentiment_probs_reported(t);
            assert!(
                (a.sentiment_score - (p[2] - p[0])).abs() < 1e-5,
                "{t}: {a:?} vs {p:?}"
            );
            if a.language.as_deref().is_none_or(|l| l == "en") {
                assert!(
                    (a.complaint_score - e.complaint_prob(t)).abs() < 1e-5,
                    "{t}: {a:?}"
                );
            }
        }
    }
}

#[test]
fn praise_is_positive_and_not_a_complaint() {
    let a = Engine::builtin()
        .analyze("@AmazonHelp thank you so much, the package arrived early and it's perfect :)");
    assert_eq!(a.sentiment, Sentiment::Positive, "{a:?}");
    assert!(!a.complaint, "{a:?}");
    assert!(a.categories.is_empty());
}

#[test]
fn negation_flips_the_reading() {
    let e = Engine::builtin();
    let good = e.sentiment_probs("the service was good");
    let not_good = e.sentiment_probs("the service was not good at all");
    assert!(not_good[0] > good[0], "{good:?} {not_good:?}");
}

#[test]
fn urgency_signals_report_their_trigger_words() {
    let e = Engine::builtin();
    let a = e.analyze("This is the third time. I'm switching to Verizon and cancel my account, my lawyer will hear about this");
    let churn: Vec<_> = a
        .urgency
        .iter()
        .filter(|u| u.kind == UrgencyKind::ChurnIntent)
        .collect();
    assert_eq!(churn.len(), 1, "{a:?}");
    assert_eq!(churn[0].trigger, "switching to verizon");
    assert!(
        a.urgency
            .iter()
            .any(|u| u.kind == UrgencyKind::LegalThreat && u.trigger == "lawyer")
    );
    let s = e.analyze("Got food poisoning from your chicken wrap, everyone retweet this #fail");
    assert!(s.has_urgency(UrgencyKind::Safety), "{s:?}");
    assert!(s.has_urgency(UrgencyKind::PublicShaming), "{s:?}");
    let q = e.analyze("@delta when will my bag be delivered?");
    assert!(q.is_question());
    assert_eq!(
        q.urgency
            .iter()
            .find(|u| u.kind == UrgencyKind::Question)
            .unwrap()
            .trigger,
        "when will my bag be delivered?"
    );
    assert!(e.analyze("Lovely weather today").urgency.is_empty());
}

#[test]
fn uncovered_languages_are_not_judged() {
    let a = Engine::builtin()
        .analyze("今日は配達が遅れていますが、いつ届きますか。とても困っています。");
    assert_eq!(a.language.as_deref(), Some("ja"), "{a:?}");
    assert!(
        a.not_judged.iter().any(|n| n.starts_with("sentiment:")),
        "{a:?}"
    );
    assert_eq!(a.sentiment_confidence, 0.0);
    assert!(!a.complaint);
}

#[test]
fn covered_non_english_languages_get_sentiment_but_no_complaint_reading() {
    let a = Engine::builtin().analyze("El servicio es muy malo y nadie me ayuda con mi pedido");
    assert_eq!(a.language.as_deref(), Some("es"), "{a:?}");
    assert!(a.sentiment_confidence > 0.0);
    assert!(
        a.not_judged.iter().any(|n| n.starts_with("complaint:")),
        "{a:?}"
    );
}

#[test]
fn english_with_a_word_other_languages_share_is_still_english() {
    // "del", "los" and "van" are function words elsewhere too; the English
    // ones decide (these used to be left open after a slow second opinion).
    let e = Engine::builtin();
    for text in [
        "Lana Del Rey tickets for Hammersmith Apollo tonight sold out today, gutted",
        "Bears suffer a 2-1 loss at SDSU tonight next up No. 4 UCLA on Sunday in Los Angeles",
        "Snow White director Rupert Sanders may direct Tom Cruise in Van Helsing tomorrow night",
    ] {
        assert_eq!(e.analyze(text).language.as_deref(), Some("en"), "{text}");
    }
    // ... but a Spanish sentence with one English-looking word stays Spanish.
    let es = e.analyze("no me gusta nada el servicio de la empresa, es muy malo");
    assert_eq!(es.language.as_deref(), Some("es"), "{es:?}");
}

#[test]
fn hindi_in_latin_letters_is_hindi_and_not_read_as_english() {
    let a =
        Engine::builtin().analyze("@flipkart mera order abhi tak nahi aaya, worst service yaar");
    assert_eq!(a.language.as_deref(), Some("hi"), "{a:?}");
    // Sentiment covers Hindi; the English complaint model does not claim it.
    assert!(a.sentiment_confidence > 0.0, "{a:?}");
    assert!(
        a.not_judged.iter().any(|n| n.starts_with("complaint:")),
        "{a:?}"
    );
}

#[test]
fn arabic_is_settled_by_its_function_words_but_persian_is_not_taken_for_it() {
    let id = earshot_analysis::lang::LangId::new();
    let mut s = earshot_analysis::text::Scratch::default();
    // Arabic: "the service is very bad and no one answers me" (two function words).
    earshot_analysis::text::tokenize("الخدمة سيئة جدا ولا أحد يرد على", &mut s);
    let g = id.by_function_words(&s).expect("settled without whatlang");
    assert_eq!(g.code, Some("ar"));
    // Persian shares the script, and this sentence ends with an Arabic
    // function word (على), but Persian spells with ی and ک: never settled
    // as Arabic by the word lists; the full detector decides.
    earshot_analysis::text::tokenize("این سرویس خیلی بد است و هیچ کسی جواب نمی دهد على", &mut s);
    assert_ne!(id.by_function_words(&s).and_then(|g| g.code), Some("ar"));
    let fa = Engine::builtin().analyze("این سرویس خیلی بد است و هیچ کسی جواب نمی دهد");
    assert_ne!(fa.language.as_deref(), Some("ar"), "{fa:?}");
}

#[test]
fn short_texts_leave_the_language_open() {
    let a = Engine::builtin().analyze("ok");
    assert_eq!(a.language, None);
}

#[test]
fn the_engine_is_safe_to_share_between_threads() {
    let e = Engine::builtin();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let e = e.clone();
            std::thread::spawn(move || {
                e.analyze(&format!("worst delay ever, flight {i} late again"))
                    .sentiment
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Sentiment::Negative);
    }
}

#[test]
fn streaming_keeps_line_order_with_several_threads() {
    let e = Engine::builtin();
    let input: String = (0..40_000)
        .map(|i| {
            if i % 2 == 0 {
                "great service thanks!\n"
            } else {
                "terrible, still waiting\n"
            }
        })
        .collect();
    let mut out = Vec::new();
    let n = earshot_analysis::stream::analyze_lines(&e, input.as_bytes(), &mut out, 3).unwrap();
    assert_eq!(n, 40_000);
    let lines: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
    assert_eq!(lines.len(), 40_000);
    assert!(lines[0].contains("\"positive\"") && lines[39_999].contains("\"negative\""));
}

/// The shipped sentiment model on a slice of the public TweetEval val set
/// (skipped where ../shared/data is absent).
#[test]
fn shipped_sentiment_model_clears_a_floor_on_tweeteval_val() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/tweeteval/val_text.txt");
    if !p.exists() {
        eprintln!("skipped: {} not found", p.display());
        return;
    }
    let (rows, _) = read_labelled(&p, Task::Sentiment, "text", None, Split::All).unwrap();
    let r = evaluate(&Engine::builtin(), Task::Sentiment, &rows[..1000], 0);
    assert!(r.macro_recall >= 0.62, "{}", r.macro_recall);
    // The temperature and the English factor keep confidence honest on
    // English posts (expected calibration error 0.024 on all 2,000 rows).
    let c = r.calibration.unwrap();
    assert!(c.ece < 0.06, "{c:?}");
    let n: usize = c.bins.iter().map(|b| b.n).sum();
    assert_eq!(n, 1000);
}

#[test]
fn corrections_are_read_for_their_task_only() {
    let dir = std::env::temp_dir().join(format!("earshot-corr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("c.jsonl");
    std::fs::write(&f, "{\"task\":\"sentiment\",\"text\":\"meh ok\",\"label\":\"neutral\"}\n{\"task\":\"category\",\"text\":\"charged twice\",\"label\":\"billing_refund\"}\n").unwrap();
    let s = earshot_analysis::data::read_corrections(&f, Task::Sentiment).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].label, "neutral");
    let c = earshot_analysis::data::read_corrections(&f, Task::Category).unwrap();
    assert_eq!(c[0].label, "billing_refund");
}

#[test]
fn the_fused_packed_path_agrees_with_the_per_model_path() {
    let e = Engine::builtin();
    for t in [
        "@united my flight was cancelled and nobody helps",
        "@AmazonHelp thank you so much, the package arrived early and it's perfect :)",
        "@sprintcare why is my bill $40 higher this month? I never changed my plan",
        "Waiting on hold for 45 minutes with @comcast, this is ridiculous #fail",
        "ok",
    ] {
        let a = e.analyze(t);
        let p = e.sentiment_probs_reported(t);
        assert!(
            (a.sentiment_score - (p[2] - p[0])).abs() < 1e-4,
            "{t}: {a:?} {p:?}"
        );
        assert!(
            (a.complaint_score - e.complaint_prob(t)).abs() < 1e-4,
            "{t}: {a:?}"
        );
    }
}

/// Sentiment probabilities carry the factor fitted out of fold for the
/// detected language (`language_sharpness`); a post of unsure language
/// keeps the temperature, and no prediction changes.
#[test]
fn sentiment_confidence_is_calibrated_per_language() {
    let e = Engine::builtin();
    let sharp = &e.sentiment_model().header.language_sharpness;
    let es = "Hoy el servicio fue muy malo y nadie me ayudó con mi problema";
    assert_eq!(e.language(es), Some("es"));
    let a = sharp["es"];
    assert!(a < 1.0, "the model is over-confident in Spanish: {a}");
    let raw = e.sentiment_probs(es);
    let reported = e.sentiment_probs_reported(es);
    let z: f32 = raw.iter().map(|p| p.powf(a)).sum();
    for (r, p) in reported.iter().zip(raw) {
        assert!((r - p.powf(a) / z).abs() < 1e-6, "{reported:?} {raw:?}");
    }
    let argmax = |p: [f32; 3]| (0..3).fold(0, |b, j| if p[j] > p[b] { j } else { b });
    assert_eq!(argmax(raw), argmax(reported));
    let top = reported[argmax(reported)];
    assert!(top < raw[argmax(raw)]);
    // analyze reports the calibrated confidence
    let an = e.analyze(es);
    assert!((an.sentiment_confidence - top).abs() < 1e-4, "{an:?}");
    // English has its own factor (fitted on training rows, so the dev rows
    // that chose the temperature measure it out of sample).
    assert!(sharp.contains_key("en"));
    // A post of unsure language keeps the temperature.
    let unsure = "@united 2 hours";
    assert_eq!(e.language(unsure), None);
    assert_eq!(
        e.sentiment_probs(unsure),
        e.sentiment_probs_reported(unsure)
    );
}
