//! Language identification that admits doubt. A cheap check over the tokens
//! (the common words of English, the other covered languages and Dutch)
//! answers most posts; everything else goes to whatlang, whose answer is kept
//! only when it says it is reliable. Short texts (fewer than three words) are
//! reported as unsure.

use crate::text::{Scratch, TokKind, fnv};

/// Languages the sentiment model was trained on (ISO 639-1).
pub const SENTIMENT_LANGS: [&str; 8] = ["en", "es", "fr", "de", "it", "pt", "ar", "hi"];
/// Languages the complaint and category models were trained on.
pub const COMPLAINT_LANGS: [&str; 1] = ["en"];

const EN_WORDS: &str = "\
    the and is are was were you your my i it this that with for have has not to of be will \
    just what why how can don't it's i'm we they our but from get got been would could \
    please thanks thank when me at on an all still now no they're you're can't didn't there \
    their about if do up out like who she his him them did had should may here only some \
    after than then too very by going tomorrow tonight today day night time see new dont its \
    gonna wanna lol doesn't won't";

/// Function and common words of other languages: (language, words).
const OTHER_WORDS: &[(&str, &str)] = &[
    (
        "es",
        "\
        el la los las que y en por para con una es muy pero gracias mi está del lo como más \
        esto hay porque de se su yo tu te le ya si cuando todo hoy bien así qué también este \
        esta nos nada ni estoy quiero mejor bueno buena buen día días año años soy ahora eso \
        ese esa siempre mañana puedo hace mucho muchas voy nuevo hacer cosas hasta fue pues \
        sí tener mismo eres tiempo puede sé jajaja jajajaja siento aquí creo estaba hola \
        están ganas alguien verdad noche después tienes ella otra otro aunque sólo nadie \
        tampoco tú unos entonces luego ayer decir donde",
    ),
    (
        "fr",
        "\
        le la les des est et je pas pour une avec mais très merci vous c'est j'ai ne du au \
        il sur qui ce que de en dans tu on ça plus tout bien elle nous sont ma fait aux \
        cette aussi encore quand sans faire ses ils même moins ont leur ans tous comme notre \
        après ici n'est peu bientôt être ces peut mieux d'une veut suis trop vraiment rien \
        jamais toujours alors donc chez quoi qu'il qu'on c'était avoir votre moi toi où",
    ),
    (
        "de",
        "\
        der die das und ist nicht ich mit für ein eine auf auch danke sie es zu den dem sich \
        von wir noch aber du im bei nach wie mal schon jetzt heute bin sind mir mich dich \
        dir kein nur oder wenn wird ja doch einen einem vom zum zur des aus mehr gegen keine \
        muss dann meine einfach ihr kann dass wieder macht bitte immer sehr vor hab liebe \
        schön viel ganz haben habe ach wohl können machen guten gute endlich über diese geht \
        wer voll neue unter wäre würde kommt euch leute ohne warum meinen leider denn beim \
        gar seine mein dafür natürlich eigentlich hast sicher nichts sehen gerade",
    ),
    (
        "it",
        "\
        il che di non per una sono con ma molto grazie ho è della gli del questo anche come \
        le io ci e la mi si lo ti più tutto oggi ancora sempre alla nel dei delle questa \
        cosa sei hai fa da fatto poi sul c'è sta perché perchè essere mio piace sia così \
        siamo sto tra quello può stato noi hanno sarà ciao senza dalla ecco buon degli sulla \
        altri mondo adesso vero nella cose vuole proprio voglio fanno suo detto già speriamo \
        invece però cui credo parla tutte ieri loro appena sembra nessuno tutti dopo dal \
        vita",
    ),
    (
        "pt",
        "\
        o que não de uma com para os muito obrigado está mas você é meu do da em um se eu \
        isso por e na mais pra tá ele ela já só minha ao as dos das nos tem vai quando hoje \
        bem tudo também sem esse essa essas desse foi tô melhor quero vou quem ter agora \
        ainda bom hj assim mesmo fazer sair vc tenho acho sou falando falar né mulher tão \
        deus ontem mãe até coisa pessoa faz depois ficar gosto nossa nao são olha fala \
        demais aí mim seu dele vontade pode estou vem certeza",
    ),
    (
        "nl",
        "\
        de het een en niet ik van met voor bedankt je is op dat zijn maar ook wel te naar \
        nog heb om als bij wat hij dit ze uit geen mijn",
    ),
    (
        // Hindi written in Latin letters, as most Hindi tweets are (words
        // that are also English, like "main", "par", "the", are left out).
        "hi",
        "\
        hai hain nahi nahin kya aur bhi mein ki ke ka ko tha thi kar karo yeh ye woh wo toh \
        ek tum hum mera meri apna apne kuch sab abhi kaise kyun bahut accha acha bhai yaar \
        ji raha rahi gaya diya liye aap koi aaj hota rahe desh mujhe agar kaam wala gya hua \
        baar karna aisa tere karte rha tak sath kisi kabhi teri tera sirf hoga apni lekin \
        ghar pata yaad aise hoti lagta aata chahiye dekh uske sabse gaye nhi kiya baat jaan \
        kal dil chal soch phir yar kab kaha sahi itna naam bada liya dete rhe gye krne hote \
        gayi kyu baad sakta hui khud laga pakka dekhne bana gyi tujhe jaye hogi bola apko \
        apki saath aapke apka jayega aisi jao tarah jaise duniya pta bolo ladki usse mei \
        aaya thik paisa aapko dekho hona krta",
    ),
    (
        // Arabic, standard and the common dialect words of tweets. Words
        // Persian shares ("من", "ما", "با") are left out, and a text with a
        // letter only Persian or Urdu spelling uses is never settled here.
        "ar",
        "\
        في على إلى الى عن مع هذا هذه ذلك التي الذي الله لا لم لن قد كان كل أن ان إن أنا انا \
        انت أنت هو هي نحن يا بس اللي مش ليش شو والله او أو بعد قبل كيف ليس غير عند حتى ثم \
        لكن اللهم يارب فيه فى وش ايش لو اذا إذا الا إلا هل ولا وين",
    ),
];

/// Letters of the Arabic block's extension for other languages (Persian پ
/// چ ژ ک گ ی, Urdu ٹ ڈ ڑ ں ہ ے, Kurdish, Pashto, Uyghur, Sindhi…), which
/// Arabic spelling does not use: a text with one is not settled as Arabic by
/// its function words.
fn other_arabic_script_letter(c: char) -> bool {
    matches!(c, '\u{0672}'..='\u{06D3}' | '\u{06D5}')
}

#[derive(Debug, Clone)]
pub struct LangId {
    /// Open-addressing table of function-word hashes: (hash, bits), bit `l`
    /// for `OTHER_WORDS[l]`, [`EN_BIT`] for English; hash 0 marks an empty slot.
    table: Vec<(u64, u16)>,
}

const EN_BIT: u16 = 0x8000;
const TABLE_BITS: u32 = 11;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LangGuess {
    /// ISO 639-1 where known (639-3 otherwise); `None` when unsure.
    pub code: Option<&'static str>,
    pub confidence: f32,
}

impl LangId {
    pub fn new() -> LangId {
        let mut id = LangId {
            table: vec![(0, 0); 1 << TABLE_BITS],
        };
        for w in EN_WORDS.split_whitespace() {
            id.insert(fnv(w.as_bytes()), EN_BIT);
        }
        for (li, (_, words)) in OTHER_WORDS.iter().enumerate() {
            for w in words.split_whitespace() {
                id.insert(fnv(w.as_bytes()), 1 << li);
            }
        }
        // Open addressing stays fast (and `insert` terminates) only with
        // free slots to spare.
        debug_assert!(id.table.iter().filter(|s| s.0 != 0).count() * 2 < id.table.len());
        id
    }

    fn insert(&mut self, h: u64, bit: u16) {
        let mask = self.table.len() - 1;
        let mut i = (h >> (64 - TABLE_BITS)) as usize;
        loop {
            let slot = &mut self.table[i];
            if slot.0 == h || slot.0 == 0 {
                *slot = (h, slot.1 | bit);
                return;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn lookup(&self, h: u64) -> u16 {
        let mask = self.table.len() - 1;
        let mut i = (h >> (64 - TABLE_BITS)) as usize;
        loop {
            match self.table.get(i) {
                Some(&(x, bits)) if x == h => return bits,
                Some(&(0, _)) | None => return 0,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Whether the token hash is one of the English function words ("my",
    /// "for", "the"): true of a word, but no reason for a decision.
    pub fn is_english_function_word(&self, hash: u64) -> bool {
        self.lookup(hash) & EN_BIT != 0
    }

    pub fn detect(&self, text: &str, s: &Scratch) -> LangGuess {
        self.by_function_words(s)
            .unwrap_or_else(|| Self::by_whatlang(text))
    }

    /// The cheap answer from function words and the script, or `None` when
    /// only a character-statistics detector can tell.
    pub fn by_function_words(&self, s: &Scratch) -> Option<LangGuess> {
        let mut words = 0usize;
        let mut en_hits = 0usize;
        let mut non_ascii_letters = false;
        let mut not_arabic = false;
        let mut other_hits = [0usize; OTHER_WORDS.len()];
        // A word several languages share counts a fraction for each, so
        // the words only one language has decide between close relatives.
        let mut other_score = [0f32; OTHER_WORDS.len()];
        for t in &s.toks {
            if t.kind == TokKind::Word {
                words += 1;
                let bits = self.lookup(t.hash);
                if bits != 0 {
                    if bits & EN_BIT != 0 {
                        en_hits += 1;
                    }
                    let shared = (bits & !EN_BIT).count_ones().max(1) as f32;
                    for (l, (c, sc)) in other_hits.iter_mut().zip(&mut other_score).enumerate() {
                        if bits & (1 << l) != 0 {
                            *c += 1;
                            *sc += 1.0 / shared;
                        }
                    }
                }
                let text = s.tok_text(t);
                if !text.is_ascii() {
                    non_ascii_letters = true;
                    not_arabic |= text.chars().any(other_arabic_script_letter);
                }
            }
        }
        if !non_ascii_letters && en_hits >= 2 && en_hits * 5 >= words {
            return Some(LangGuess {
                code: Some("en"),
                confidence: (0.7 + 0.05 * en_hits as f32).min(0.99),
            });
        }
        let (best, second) = other_score.iter().enumerate().fold(
            ((0usize, 0f32), 0f32),
            |((bl, bs), ss), (l, &sc)| {
                if sc > bs {
                    ((l, sc), bs)
                } else {
                    ((bl, bs), ss.max(sc))
                }
            },
        );
        let best_hits = other_hits[best.0];
        let code = OTHER_WORDS[best.0].0;
        if best_hits >= 2
            && best.1 + 1e-3 >= second + 1.0
            && best_hits > en_hits
            && !(code == "ar" && not_arabic)
        {
            return Some(LangGuess {
                code: Some(code),
                confidence: (0.5 + 0.1 * (best.1 - second)).min(0.95),
            });
        }
        if code == "ar" && best_hits == 1 && !not_arabic && words >= 3 {
            // Arabic script with none of the letters only its other
            // languages use, and an Arabic function word: Arabic, less sure.
            return Some(LangGuess {
                code: Some("ar"),
                confidence: 0.6,
            });
        }
        let best = (best.0, best_hits);
        if !non_ascii_letters && en_hits >= 3 && en_hits >= 3 * best.1 {
            // Mostly English function words with a stray one that other
            // languages share ("Del Rey", "la", "die"): English, less sure.
            return Some(LangGuess {
                code: Some("en"),
                confidence: 0.6,
            });
        }
        if !non_ascii_letters && (best.1 == 0 || (best.1 == 1 && en_hits >= 2)) {
            // Plain ASCII with no function word of another language: English
            // if it has one English function word, otherwise unsure.
            return Some(if en_hits >= 1 {
                LangGuess {
                    code: Some("en"),
                    confidence: 0.6,
                }
            } else {
                LangGuess {
                    code: None,
                    confidence: 0.3,
                }
            });
        }
        if words < 3 {
            return Some(LangGuess {
                code: None,
                confidence: 0.0,
            });
        }
        None
    }

    /// whatlang's answer, kept only when it says it is reliable.
    fn by_whatlang(text: &str) -> LangGuess {
        // whatlang's cost grows with length; the first 200 bytes are plenty.
        let mut cut = text.len().min(200);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        match whatlang::detect(&text[..cut]) {
            Some(info) if info.is_reliable() => LangGuess {
                code: Some(iso639_1(info.lang())),
                confidence: info.confidence() as f32,
            },
            Some(info) => LangGuess {
                code: None,
                confidence: info.confidence() as f32,
            },
            None => LangGuess {
                code: None,
                confidence: 0.0,
            },
        }
    }
}

impl Default for LangId {
    fn default() -> Self {
        LangId::new()
    }
}

fn iso639_1(l: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match l {
        Eng => "en",
        Spa => "es",
        Por => "pt",
        Fra => "fr",
        Deu => "de",
        Ita => "it",
        Ara => "ar",
        Hin => "hi",
        Nld => "nl",
        Rus => "ru",
        Jpn => "ja",
        Kor => "ko",
        Cmn => "zh",
        Tur => "tr",
        Pol => "pl",
        Swe => "sv",
        Dan => "da",
        Nob => "nb",
        Fin => "fi",
        Ukr => "uk",
        Ind => "id",
        Vie => "vi",
        Tha => "th",
        Heb => "he",
        Ell => "el",
        Ces => "cs",
        Ron => "ro",
        Hun => "hu",
        Cat => "ca",
        Pes => "fa",
        Urd => "ur",
        Ben => "bn",
        other => other.code(),
    }
}
