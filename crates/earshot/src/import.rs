//! `earshot import FILE`: JSONL in Earshot's mention shape, and CSV exports
//! with known column mappings (the Twitter US Airline Sentiment CSV and the
//! Customer Support on Twitter CSV). Records are ingested in batches; a bad
//! record is reported with its line and field and skipped, never half-written.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use earshot_core::error::Error;
use earshot_core::mention::{Author, MentionInput, NewMention, ReachMetrics};
use earshot_core::source::SourceKind;

/// The file layouts `import` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One mention object per line, as POST /api/v1/mentions takes.
    Jsonl,
    /// Twitter US Airline Sentiment export (tweet_id, name, text, tweet_created, …).
    Airline,
    /// Customer Support on Twitter export (tweet_id, author_id, inbound, created_at, text, …).
    Twcs,
}

/// One record read from a file: its line number and the mention or the error.
pub struct Record {
    pub line: u64,
    pub mention: Result<NewMention, Error>,
}

/// Guesses the format from the extension and the CSV header.
pub fn detect(path: &Path) -> Result<Format> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    if ext == "jsonl" || ext == "ndjson" || ext == "json" {
        return Ok(Format::Jsonl);
    }
    let mut first = String::new();
    BufReader::new(
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
    )
    .read_line(&mut first)?;
    let header = first.trim_start_matches('\u{feff}');
    if header.starts_with('{') {
        Ok(Format::Jsonl)
    } else if header.contains("airline_sentiment") && header.contains("tweet_created") {
        Ok(Format::Airline)
    } else if header.contains("inbound") && header.contains("author_id") {
        Ok(Format::Twcs)
    } else {
        bail!(
            "cannot tell the format of {}: pass --format jsonl|airline|twcs",
            path.display()
        )
    }
}

/// Reads all records of a file in the given format.
pub fn read(reader: impl Read, format: Format) -> Result<Vec<Record>> {
    match format {
        Format::Jsonl => read_jsonl(reader),
        Format::Airline => read_csv(reader, airline_row),
        Format::Twcs => read_csv(reader, twcs_row),
    }
}

fn read_jsonl(reader: impl Read) -> Result<Vec<Record>> {
    let now = Utc::now();
    let mut out = Vec::new();
    for (i, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.context("reading the file")?;
        if line.trim().is_empty() {
            continue;
        }
        let mention = earshot_web::error::parse_json::<MentionInput>(line.as_bytes())
            .map_err(|e| e.0)
            .and_then(|m| m.validate(now));
        out.push(Record {
            line: i as u64 + 1,
            mention,
        });
    }
    Ok(out)
}

type RowMapper = fn(&HashMap<&str, &str>) -> Result<MentionInput, Error>;

fn read_csv(reader: impl Read, map: RowMapper) -> Result<Vec<Record>> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = csv.headers().context("reading the CSV header")?.clone();
    let now = Utc::now();
    let mut out = Vec::new();
    for row in csv.records() {
        let (line, mention) = match row {
            Ok(row) => {
                let line = row.position().map_or(0, |p| p.line());
                let fields: HashMap<&str, &str> = headers.iter().zip(row.iter()).collect();
                (line, map(&fields).and_then(|m| m.validate(now)))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                (line, Err(Error::invalid_field("row", e.to_string())))
            }
        };
        out.push(Record { line, mention });
    }
    Ok(out)
}

fn field<'a>(row: &HashMap<&str, &'a str>, name: &str) -> Result<&'a str, Error> {
    row.get(name)
        .copied()
        .ok_or_else(|| Error::invalid_field(name, "column missing"))
}

fn parse_time(name: &str, value: &str, formats: &[&str]) -> Result<DateTime<Utc>, Error> {
    formats
        .iter()
        .find_map(|f| DateTime::parse_from_str(value.trim(), f).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| Error::invalid_field(name, format!("{value:?} is not a timestamp")))
}

fn blank_none(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// `tweet_id, airline_sentiment, …, name, …, text, tweet_coord, tweet_created, …`
fn airline_row(row: &HashMap<&str, &str>) -> Result<MentionInput, Error> {
    let id = field(row, "tweet_id")?;
    let handle = field(row, "name")?;
    Ok(MentionInput {
        source: SourceKind::Import,
        external_id: format!("twitter:{id}"),
        author: Author {
            handle: handle.to_string(),
            profile_url: Some(format!("https://twitter.com/{handle}")),
            ..Author::default()
        },
        text: field(row, "text")?.to_string(),
        created_at: parse_time(
            "tweet_created",
            field(row, "tweet_created")?,
            &["%Y-%m-%d %H:%M:%S %z"],
        )?,
        url: Some(format!("https://twitter.com/{handle}/status/{id}")),
        language: None,
        thread_id: None,
        parent_id: None,
        metrics: ReachMetrics {
            reposts: field(row, "retweet_count")?.trim().parse().unwrap_or(0),
            ..ReachMetrics::default()
        },
    })
}

/// Customer tweets only (`inbound = True`); the brands' answers are replies,
/// not mentions.
fn twcs_row(row: &HashMap<&str, &str>) -> Result<MentionInput, Error> {
    let id = field(row, "tweet_id")?;
    let author = field(row, "author_id")?;
    if !field(row, "inbound")?.eq_ignore_ascii_case("true") {
        return Err(Error::new(
            earshot_core::ErrorCode::InvalidField,
            "inbound: a brand's own tweet, not a customer mention (skipped)",
        ));
    }
    Ok(MentionInput {
        source: SourceKind::Import,
        external_id: format!("twitter:{id}"),
        author: Author {
            handle: author.to_string(),
            ..Author::default()
        },
        text: field(row, "text")?.to_string(),
        created_at: parse_time(
            "created_at",
            field(row, "created_at")?,
            &["%a %b %d %H:%M:%S %z %Y"],
        )?,
        url: None,
        language: None,
        thread_id: None,
        parent_id: blank_none(field(row, "in_response_to_tweet_id")?),
        metrics: ReachMetrics::default(),
    })
}

/// Is this error the twcs mapper skipping a brand tweet (not a data error)?
pub fn is_skip(e: &Error) -> bool {
    e.message.ends_with("(skipped)")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn twcs_keeps_customer_tweets_and_parses_twitter_dates() {
        let csv = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n\
                   1,sprintcare,False,Tue Oct 31 22:10:47 +0000 2017,@115712 I understand,2,3\n\
                   3,115712,True,Tue Oct 31 22:08:27 +0000 2017,@sprintcare my phone is broken,1,\n\
                   4,115713,True,not a date,@sprintcare hi,,\n";
        let records = read(csv.as_bytes(), Format::Twcs).unwrap();
        assert_eq!(records.len(), 3);
        assert!(is_skip(records[0].mention.as_ref().unwrap_err()));
        let m = records[1].mention.as_ref().unwrap();
        assert_eq!(m.author.handle, "115712");
        assert_eq!(m.external_id, "twitter:3");
        assert_eq!(m.created_at.to_rfc3339(), "2017-10-31T22:08:27+00:00");
        let e = records[2].mention.as_ref().unwrap_err();
        assert!(e.message.starts_with("created_at:"), "{}", e.message);
        assert_eq!(records[2].line, 4);
    }

    #[test]
    fn airline_rows_map_to_mentions() {
        let csv = "tweet_id,airline_sentiment,airline_sentiment_confidence,negativereason,negativereason_confidence,airline,airline_sentiment_gold,name,negativereason_gold,retweet_count,text,tweet_coord,tweet_created,tweet_location,user_timezone\n\
                   570306133677760513,negative,1.0,Late Flight,1.0,United,,jnardino,,2,@united late again,,2015-02-24 11:35:52 -0800,,\n";
        let records = read(csv.as_bytes(), Format::Airline).unwrap();
        let m = records[0].mention.as_ref().unwrap();
        assert_eq!(m.author.handle, "jnardino");
        assert_eq!(m.metrics.reposts, 2);
        assert_eq!(m.created_at.to_rfc3339(), "2015-02-24T19:35:52+00:00");
    }

    #[test]
    fn jsonl_errors_carry_line_and_field() {
        let jsonl = "{\"source\":\"webhook\",\"external_id\":\"1\",\"author\":{\"handle\":\"a\"},\"text\":\"hi\",\"created_at\":\"2026-11-22T10:00:00Z\"}\n\
                     \n\
                     {\"source\":\"webhook\",\"external_id\":\"2\",\"author\":{\"handle\":\"a\"},\"text\":\"hi\",\"created_at\":\"soon\"}\n";
        let records = read(jsonl.as_bytes(), Format::Jsonl).unwrap();
        assert_eq!(records.len(), 2);
        assert!(records[0].mention.is_ok());
        assert_eq!(records[1].line, 3);
        let e = records[1].mention.as_ref().unwrap_err();
        assert!(e.message.starts_with("created_at:"), "{}", e.message);
    }

    #[test]
    fn formats_are_detected_from_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        std::fs::write(&p, "tweet_id,author_id,inbound,created_at,text\n").unwrap();
        assert_eq!(detect(&p).unwrap(), Format::Twcs);
        std::fs::write(&p, "a,b\n").unwrap();
        assert!(detect(&p).is_err());
    }
}
