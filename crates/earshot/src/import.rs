//! `earshot import FILE`: JSONL in Earshot's mention shape, and CSV exports
//! with known column mappings (the Twitter US Airline Sentiment CSV and the
//! Customer Support on Twitter CSV). Files are read lazily, one record at a
//! time, so memory stays bounded whatever the file's size. A bad record is
//! reported with its line and field and the reading goes on.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use earshot_core::ErrorCode;
use earshot_core::error::Error;
use earshot_core::mention::{Author, MAX_TEXT_BYTES, MentionInput, NewMention, ReachMetrics};
use earshot_core::source::SourceKind;

/// The file layouts `import` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One mention object per line, as POST /api/v1/mentions takes; a
    /// `"role": "brand"` field marks the brand's own answer.
    Jsonl,
    /// Twitter US Airline Sentiment export (tweet_id, name, text, tweet_created, …).
    Airline,
    /// Customer Support on Twitter export (tweet_id, author_id, inbound, created_at, text, …).
    Twcs,
}

/// What one record of a file holds: a customer's post or the brand's answer.
// Records are read and handed on one at a time: boxing the larger variant
// would only add an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Mention(NewMention),
    BrandReply(BrandReply),
}

/// A post by the brand itself, answering a customer.
#[derive(Debug, Clone, PartialEq)]
pub struct BrandReply {
    pub source: SourceKind,
    pub external_id: String,
    pub brand_handle: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
    /// The external id of the post answered (`twitter:3`), when known.
    pub in_reply_to: Option<String>,
}

/// One record read from a file: the line it starts on and the item or the error.
#[derive(Debug)]
pub struct Record {
    pub line: u64,
    pub item: Result<Item, Error>,
}

/// The records of a file, read as they are asked for.
pub type Records = Box<dyn Iterator<Item = Record> + Send>;

/// Longest line (JSONL) or record (CSV) read, in bytes: the longest text
/// allowed, escaped, with room for the other fields. Longer ones are reported
/// and skipped so that one runaway line cannot hold the whole file in memory.
pub const MAX_RECORD_BYTES: usize = 8 * MAX_TEXT_BYTES;

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

/// Reads the records of a file in the given format, lazily. Only a CSV
/// header that cannot be read fails here; everything after it comes back as
/// records, errors included (an I/O error ends the records with one error).
pub fn read(reader: impl Read + Send + 'static, format: Format) -> Result<Records> {
    let reader = Lines::new(BufReader::new(reader));
    Ok(match format {
        Format::Jsonl => Box::new(JsonlRecords { lines: reader }),
        Format::Airline => Box::new(CsvRecords::new(reader, airline_row)?),
        Format::Twcs => Box::new(CsvRecords::new(reader, twcs_row)?),
    })
}

/// The one place imported mentions are validated.
fn validate(input: MentionInput) -> Result<NewMention, Error> {
    input.validate(Utc::now())
}

/// Who wrote a post: a customer or the brand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Customer,
    Brand,
}

/// Validates the post (brand replies meet the same checks) and tells which
/// side of the conversation it is.
fn to_item(input: MentionInput, side: Side) -> Result<Item, Error> {
    let m = validate(input)?;
    Ok(match side {
        Side::Customer => Item::Mention(m),
        Side::Brand => Item::BrandReply(BrandReply {
            source: m.source,
            external_id: m.external_id,
            brand_handle: m.author.handle,
            text: m.text,
            created_at: m.created_at,
            in_reply_to: m.parent_id,
        }),
    })
}

/// One physical line read from the file.
enum Line {
    /// Line number; the bytes are in [`Lines::buf`], newline included.
    Read(u64),
    /// Line number of a line over [`MAX_RECORD_BYTES`]; the rest of it was skipped.
    TooLong(u64),
    /// Line number where reading failed.
    Failed(u64, std::io::Error),
}

/// Physical lines as bytes, numbered from 1, each at most [`MAX_RECORD_BYTES`].
struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    number: u64,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R) -> Self {
        Lines {
            reader,
            buf: Vec::new(),
            number: 0,
            done: false,
        }
    }

    fn next_line(&mut self) -> Option<Line> {
        if self.done {
            return None;
        }
        self.buf.clear();
        self.number += 1;
        let limit = MAX_RECORD_BYTES as u64 + 1;
        match (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
        {
            Ok(0) => {
                self.done = true;
                None
            }
            Ok(_) if self.buf.ends_with(b"\n") || self.buf.len() <= MAX_RECORD_BYTES => {
                Some(Line::Read(self.number))
            }
            Ok(_) => {
                self.buf.clear();
                match self.skip_rest_of_line() {
                    Ok(()) => Some(Line::TooLong(self.number)),
                    Err(e) => self.fail(e),
                }
            }
            Err(e) => self.fail(e),
        }
    }

    fn skip_rest_of_line(&mut self) -> std::io::Result<()> {
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            if let Some(i) = chunk.iter().position(|&b| b == b'\n') {
                self.reader.consume(i + 1);
                return Ok(());
            }
            let n = chunk.len();
            self.reader.consume(n);
        }
    }

    fn fail(&mut self, e: std::io::Error) -> Option<Line> {
        self.done = true;
        Some(Line::Failed(self.number, e))
    }
}

fn too_long(line: u64) -> Record {
    Record {
        line,
        item: Err(Error::new(
            ErrorCode::InvalidField,
            format!("the line is longer than {MAX_RECORD_BYTES} bytes"),
        )),
    }
}

fn read_failed(line: u64, e: &std::io::Error) -> Record {
    Record {
        line,
        item: Err(Error::internal(format!(
            "reading the file failed here, the rest is not imported: {e}"
        ))),
    }
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

struct JsonlRecords<R> {
    lines: Lines<R>,
}

impl<R: BufRead> Iterator for JsonlRecords<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            let line = match self.lines.next_line()? {
                Line::Read(n) => n,
                Line::TooLong(n) => return Some(too_long(n)),
                Line::Failed(n, e) => return Some(read_failed(n, &e)),
            };
            let bytes = &self.lines.buf;
            if is_blank(bytes) {
                continue;
            }
            return Some(Record {
                line,
                item: jsonl_item(bytes),
            });
        }
    }
}

/// The role a JSONL line may declare next to the mention fields.
#[derive(serde::Deserialize)]
struct RoleProbe {
    #[serde(default)]
    role: Option<serde_json::Value>,
}

fn jsonl_item(bytes: &[u8]) -> Result<Item, Error> {
    // Checked here, not by serde, so the error says where in the line it is
    // (the byte counted from 1).
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(Error::new(
            ErrorCode::InvalidJson,
            format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1),
        ));
    }
    // MentionInput rejects unknown fields, so `role` is looked at first and
    // only lines that carry it pay for a second parse without it. A line that
    // is not a JSON object goes to the mention parse, which says what is wrong.
    let role = serde_json::from_slice::<RoleProbe>(bytes)
        .ok()
        .and_then(|p| p.role);
    let Some(role) = role else {
        return earshot_web::error::parse_json::<MentionInput>(bytes)
            .map_err(|e| e.0)
            .and_then(|m| to_item(m, Side::Customer));
    };
    let side = match role.as_str() {
        Some("brand") => Side::Brand,
        Some("customer") => Side::Customer,
        _ => {
            return Err(Error::invalid_field(
                "role",
                format!("{role} is not \"brand\" or \"customer\""),
            ));
        }
    };
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| Error::invalid_field("body", e))?;
    object.remove("role");
    let input: MentionInput = earshot_web::error::from_value(serde_json::Value::Object(object))?;
    to_item(input, side)
}

/// A CSV row by column name.
type Fields<'a> = HashMap<&'a str, &'a str>;

/// Maps a row to a post and its side, before validation.
type RowMapper = fn(&Fields) -> Result<(MentionInput, Side), Error>;

/// Where the CSV quote scanner stands after some bytes of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the field's end, or the first of `""`.
    QuoteInQuoted,
}

/// Follows the csv crate's quoting (RFC 4180: a field quoted from its first
/// byte, `""` inside it for a quote) over one physical line; true when the
/// line ends inside a quoted field, i.e. the record goes on.
fn ends_in_quote(in_quote: bool, line: &[u8]) -> bool {
    let mut state = if in_quote {
        Scan::Quoted
    } else {
        Scan::FieldStart
    };
    for &b in line {
        state = match (state, b) {
            (Scan::FieldStart, b'"') => Scan::Quoted,
            (Scan::FieldStart | Scan::Unquoted | Scan::QuoteInQuoted, b',') => Scan::FieldStart,
            (Scan::FieldStart | Scan::Unquoted, _) => Scan::Unquoted,
            (Scan::Quoted, b'"') => Scan::QuoteInQuoted,
            (Scan::Quoted, _) => Scan::Quoted,
            (Scan::QuoteInQuoted, b'"') => Scan::Quoted,
            // Bytes after a closing quote stay in the field, as csv reads them.
            (Scan::QuoteInQuoted, _) => Scan::Unquoted,
        };
    }
    state == Scan::Quoted
}

/// CSV records, split from physical lines by their quotes, each parsed on
/// its own by the csv crate's parser.
///
/// A quoted field may legally span lines (twcs texts do). A field whose quote
/// never closes would otherwise swallow the rest of the file, or the rows up
/// to the next stray quote, silently. The rule: while a record is open inside
/// quotes, each further line is first tried as a record of its own; if it has
/// balanced quotes, the header's field count and maps to a post (its id,
/// date and such parse), it starts a new record, and the open one is reported
/// as an unterminated quote at its first line. A line of tweet text does not
/// look like that. An open record longer than [`MAX_RECORD_BYTES`] is
/// reported the same way, and reading resumes at the next line.
struct CsvRecords<R> {
    lines: Lines<R>,
    rows: Rows,
    /// Records found while looking ahead, returned before reading on.
    queued: VecDeque<Record>,
}

/// Turns one record's bytes into a checked, mapped row.
struct Rows {
    parser: CsvParser,
    header: Vec<String>,
    map: RowMapper,
}

impl<R: BufRead> CsvRecords<R> {
    fn new(mut lines: Lines<R>, map: RowMapper) -> Result<Self> {
        let mut raw = Vec::new();
        loop {
            match lines.next_line() {
                None => bail!("reading the CSV header: the file is empty"),
                Some(Line::Read(_)) => {
                    raw.extend_from_slice(&lines.buf);
                    if !ends_in_quote(false, &raw) {
                        break;
                    }
                }
                Some(Line::TooLong(_)) => bail!("reading the CSV header: the line is too long"),
                Some(Line::Failed(_, e)) => {
                    return Err(anyhow::Error::new(e).context("reading the CSV header"));
                }
            }
        }
        let mut parser = CsvParser::new();
        let header = match parser.parse(&raw) {
            Ok(Some(header)) => header,
            Ok(None) => bail!("reading the CSV header: the first line is blank"),
            Err(e) => bail!("reading the CSV header: {}", e.message),
        };
        let header = header
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let name = String::from_utf8_lossy(name);
                let name = if i == 0 {
                    name.trim_start_matches('\u{feff}')
                } else {
                    &name
                };
                name.to_string()
            })
            .collect();
        Ok(CsvRecords {
            lines,
            rows: Rows {
                parser,
                header,
                map,
            },
            queued: VecDeque::new(),
        })
    }
}

impl Rows {
    /// Parses and maps one record; `None` for a blank one.
    fn record(&mut self, line: u64, bytes: &[u8]) -> Option<Record> {
        let item = self.fields(bytes)?.and_then(|row| {
            let (input, side) = self.map_row(&row)?;
            to_item(input, side)
        });
        Some(Record { line, item })
    }

    /// Would this line, alone, be a complete valid record?
    fn starts_record(&mut self, line: &[u8]) -> bool {
        !ends_in_quote(false, line)
            && matches!(self.fields(line), Some(Ok(row)) if self.map_row(&row).is_ok())
    }

    fn map_row(&self, row: &csv::StringRecord) -> Result<(MentionInput, Side), Error> {
        let fields: Fields = self.header.iter().map(String::as_str).zip(row).collect();
        (self.map)(&fields)
    }

    /// The record's fields, checked against the header; `None` when blank.
    fn fields(&mut self, bytes: &[u8]) -> Option<Result<csv::StringRecord, Error>> {
        let row = match self.parser.parse(bytes) {
            Ok(Some(row)) => row,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        if row.len() != self.header.len() {
            return Some(Err(Error::invalid_field(
                "row",
                format!(
                    "has {} fields, the header has {}",
                    row.len(),
                    self.header.len()
                ),
            )));
        }
        Some(csv::StringRecord::from_byte_record(row).map_err(|e| {
            let name = self
                .header
                .get(e.utf8_error().field())
                .map_or("row", String::as_str);
            Error::invalid_field(
                name,
                format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to() + 1),
            )
        }))
    }
}

fn unterminated(line: u64, why: impl std::fmt::Display) -> Record {
    Record {
        line,
        item: Err(Error::invalid_field(
            "row",
            format!("a quoted field opened on this line {why}; the record is skipped"),
        )),
    }
}

impl<R: BufRead> Iterator for CsvRecords<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(r) = self.queued.pop_front() {
                return Some(r);
            }
            let start = match self.lines.next_line()? {
                Line::Read(n) => n,
                Line::TooLong(n) => return Some(too_long(n)),
                Line::Failed(n, e) => return Some(read_failed(n, &e)),
            };
            let mut raw = std::mem::take(&mut self.lines.buf);
            let mut open = ends_in_quote(false, &raw);
            while open {
                let n = match self.lines.next_line() {
                    None => return Some(unterminated(start, "never closes")),
                    Some(Line::Read(n)) => n,
                    Some(Line::TooLong(n)) => {
                        self.queued.push_back(too_long(n));
                        return Some(unterminated(start, format!("is still open at line {n}")));
                    }
                    Some(Line::Failed(n, e)) => {
                        self.queued.push_back(read_failed(n, &e));
                        return Some(unterminated(start, format!("is still open at line {n}")));
                    }
                };
                let line = &self.lines.buf;
                if self.rows.starts_record(line) {
                    self.queued.extend(self.rows.record(n, line));
                    return Some(unterminated(
                        start,
                        format!("does not close before line {n}, which starts a new record"),
                    ));
                }
                if raw.len() + line.len() > MAX_RECORD_BYTES {
                    return Some(unterminated(
                        start,
                        format!("is still open after {MAX_RECORD_BYTES} bytes, at line {n}"),
                    ));
                }
                open = ends_in_quote(true, line);
                raw.extend_from_slice(line);
            }
            let record = self.rows.record(start, &raw);
            // The buffer goes back to the line reader to keep its capacity.
            raw.clear();
            self.lines.buf = raw;
            if let Some(record) = record {
                return Some(record);
            }
        }
    }
}

/// The csv crate's parser (csv-core, with csv's default dialect), kept for
/// the whole file: a `csv::Reader` per record would cost ~25 µs each, its
/// parser tables rebuilt every time, against ~0.3 µs reused.
struct CsvParser {
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl CsvParser {
    fn new() -> Self {
        CsvParser {
            // Not `Reader::default()`: that one has no transition table built
            // and reads every record as one empty field.
            core: csv_core::Reader::new(),
            out: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// The fields of the one record in `bytes`; `None` for a blank line.
    fn parse(&mut self, bytes: &[u8]) -> Result<Option<csv::ByteRecord>, Error> {
        use csv_core::ReadRecordResult;
        self.core.reset();
        let (mut input, mut nout, mut nend) = (bytes, 0, 0);
        loop {
            let (result, nin, o, e) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            input = &input[nin..];
            nout += o;
            nend += e;
            match result {
                // All of `bytes` is given at once: an empty input now means
                // its end, which the next call tells the parser.
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let n = (self.out.len() * 2).max(256);
                    self.out.resize(n, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let n = (self.ends.len() * 2).max(16);
                    self.ends.resize(n, 0);
                }
                ReadRecordResult::Record => break,
                ReadRecordResult::End => return Ok(None),
            }
        }
        // csv ends a record at a lone CR too; the quote scan does not, so a
        // line holding more than one record is reported, not half read.
        if input.iter().any(|&b| b != b'\r' && b != b'\n') {
            return Err(Error::invalid_field(
                "row",
                "a carriage return outside quotes ends the record before the line does",
            ));
        }
        let mut row = csv::ByteRecord::with_capacity(nout, nend);
        let mut start = 0;
        for &end in &self.ends[..nend] {
            row.push_field(&self.out[start..end]);
            start = end;
        }
        Ok(Some(row))
    }
}

fn field<'a>(row: &Fields<'a>, name: &str) -> Result<&'a str, Error> {
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

/// `tweet_id, airline_sentiment, …, name, …, text, tweet_coord, tweet_created, …`
fn airline_row(row: &Fields) -> Result<(MentionInput, Side), Error> {
    let id = field(row, "tweet_id")?;
    let handle = field(row, "name")?;
    let input = MentionInput {
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
    };
    Ok((input, Side::Customer))
}

/// A twcs tweet id as the external id Earshot gives it. The export's
/// `in_response_to_tweet_id` went through floats (`3.0`), hence the suffix.
fn twcs_ref(value: &str) -> Option<String> {
    let id = value.trim();
    let id = id.strip_suffix(".0").unwrap_or(id);
    (!id.is_empty()).then(|| format!("twitter:{id}"))
}

/// `inbound = True` rows are the customers' tweets, `False` the brands' answers.
fn twcs_row(row: &Fields) -> Result<(MentionInput, Side), Error> {
    let id = field(row, "tweet_id")?;
    let author = field(row, "author_id")?;
    let inbound = field(row, "inbound")?;
    let side = if inbound.trim().eq_ignore_ascii_case("true") {
        Side::Customer
    } else if inbound.trim().eq_ignore_ascii_case("false") {
        Side::Brand
    } else {
        return Err(Error::invalid_field(
            "inbound",
            format!("{inbound:?} is not True or False"),
        ));
    };
    let input = MentionInput {
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
        parent_id: twcs_ref(field(row, "in_response_to_tweet_id")?),
        metrics: ReachMetrics::default(),
    };
    Ok((input, side))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TWCS_HEADER: &str =
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n";

    fn collect(input: &'static str, format: Format) -> Vec<Record> {
        read(input.as_bytes(), format).unwrap().collect()
    }

    fn mention(r: &Record) -> &NewMention {
        match &r.item {
            Ok(Item::Mention(m)) => m,
            other => panic!("line {}: not a mention: {other:?}", r.line),
        }
    }

    fn error(r: &Record) -> &str {
        match &r.item {
            Err(e) => &e.message,
            other => panic!("line {}: not an error: {other:?}", r.line),
        }
    }

    #[test]
    fn twcs_reads_customer_tweets_and_parses_twitter_dates() {
        let csv = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n\
                   3,115712,True,Tue Oct 31 22:08:27 +0000 2017,@sprintcare my phone is broken,1,\n\
                   4,115713,True,not a date,@sprintcare hi,,\n";
        let records = collect(csv, Format::Twcs);
        assert_eq!(records.len(), 2);
        let m = mention(&records[0]);
        assert_eq!(m.author.handle, "115712");
        assert_eq!(m.external_id, "twitter:3");
        assert_eq!(m.created_at.to_rfc3339(), "2017-10-31T22:08:27+00:00");
        assert!(error(&records[1]).starts_with("created_at:"));
        assert_eq!(records[1].line, 3);
    }

    #[test]
    fn twcs_brand_rows_are_brand_replies_to_the_tweet_they_answer() {
        let csv = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n\
                   1,sprintcare,False,Tue Oct 31 22:10:47 +0000 2017,@115712 I understand,2,3.0\n\
                   2,115712,True,Tue Oct 31 22:11:45 +0000 2017,@sprintcare and how,,1.0\n\
                   5,sprintcare,false,Tue Oct 31 22:12:00 +0000 2017,Hello all,,\n\
                   6,sprintcare,maybe,Tue Oct 31 22:12:00 +0000 2017,Hello all,,\n";
        let records = collect(csv, Format::Twcs);
        assert_eq!(records.len(), 4);
        let Ok(Item::BrandReply(reply)) = &records[0].item else {
            panic!("{:?}", records[0]);
        };
        assert_eq!(
            reply,
            &BrandReply {
                source: SourceKind::Import,
                external_id: "twitter:1".into(),
                brand_handle: "sprintcare".into(),
                text: "@115712 I understand".into(),
                created_at: "2017-10-31T22:10:47Z".parse().unwrap(),
                in_reply_to: Some("twitter:3".into()),
            }
        );
        // The customer's answer points at the brand's tweet by the same ids.
        assert_eq!(mention(&records[1]).parent_id.as_deref(), Some("twitter:1"));
        let Ok(Item::BrandReply(unprompted)) = &records[2].item else {
            panic!("{:?}", records[2]);
        };
        assert_eq!(unprompted.in_reply_to, None);
        assert!(error(&records[3]).starts_with("inbound:"));
    }

    #[test]
    fn airline_rows_map_to_mentions() {
        let csv = "tweet_id,airline_sentiment,airline_sentiment_confidence,negativereason,negativereason_confidence,airline,airline_sentiment_gold,name,negativereason_gold,retweet_count,text,tweet_coord,tweet_created,tweet_location,user_timezone\n\
                   570306133677760513,negative,1.0,Late Flight,1.0,United,,jnardino,,2,@united late again,,2015-02-24 11:35:52 -0800,,\n";
        let records = collect(csv, Format::Airline);
        let m = mention(&records[0]);
        assert_eq!(m.author.handle, "jnardino");
        assert_eq!(m.metrics.reposts, 2);
        assert_eq!(m.created_at.to_rfc3339(), "2015-02-24T19:35:52+00:00");
    }

    #[test]
    fn csv_quoted_fields_may_span_lines() {
        let csv = "\u{feff}tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\r\n\
                   1,115712,True,Tue Oct 31 22:08:27 +0000 2017,\"my phone, it's \"\"broken\"\"\r\n\
                   \r\n\
                   with, commas, inside\r\n\
                   help\",,\r\n\
                   \r\n\
                   3,115712,True,Tue Oct 31 22:09:27 +0000 2017,next,,\r\n";
        let records = collect(csv, Format::Twcs);
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(records[0].line, 2);
        assert_eq!(
            mention(&records[0]).text,
            "my phone, it's \"broken\"\r\n\r\nwith, commas, inside\r\nhelp"
        );
        assert_eq!(records[1].line, 7);
        assert_eq!(mention(&records[1]).text, "next");
    }

    #[test]
    fn csv_broken_quote_is_reported_at_its_line_and_the_next_rows_still_read() {
        // Without the check the open quote runs to the quote on line 5 and
        // lines 3 and 4 vanish into one text.
        let csv = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n\
                   1,115712,True,Tue Oct 31 22:08:27 +0000 2017,\"my phone is broken,,\n\
                   2,115713,True,Tue Oct 31 22:09:27 +0000 2017,good row,,\n\
                   3,115714,True,Tue Oct 31 22:10:27 +0000 2017,another good row,,\n\
                   4,115715,True,Tue Oct 31 22:11:27 +0000 2017,\"quoted, fine\",,\n";
        let records = collect(csv, Format::Twcs);
        assert_eq!(records.len(), 4, "{records:?}");
        assert_eq!(records[0].line, 2);
        assert!(
            error(&records[0]).contains("does not close before line 3"),
            "{}",
            error(&records[0])
        );
        assert_eq!(records[1].line, 3);
        assert_eq!(mention(&records[1]).text, "good row");
        assert_eq!(mention(&records[2]).text, "another good row");
        assert_eq!(mention(&records[3]).text, "quoted, fine");
    }

    #[test]
    fn csv_quote_open_at_the_end_of_the_file_is_reported() {
        let csv = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n\
                   1,115712,True,Tue Oct 31 22:08:27 +0000 2017,fine,,\n\
                   2,115712,True,Tue Oct 31 22:08:27 +0000 2017,\"never closed,,\n\
                   just text\n";
        let records = collect(csv, Format::Twcs);
        assert_eq!(records.len(), 2);
        assert_eq!(mention(&records[0]).text, "fine");
        assert_eq!(records[1].line, 3);
        assert!(error(&records[1]).contains("never closes"));
    }

    #[test]
    fn csv_rows_with_the_wrong_field_count_or_bad_utf8_name_the_line() {
        let mut csv = TWCS_HEADER.as_bytes().to_vec();
        csv.extend_from_slice(b"1,a,True\n");
        csv.extend_from_slice(b"2,a,True,Tue Oct 31 22:08:27 +0000 2017,caf\xe9,,\n");
        csv.extend_from_slice(b"3,a,True,Tue Oct 31 22:08:27 +0000 2017,ok,,\n");
        let records: Vec<Record> = read(std::io::Cursor::new(csv), Format::Twcs)
            .unwrap()
            .collect();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].line, 2);
        assert_eq!(error(&records[0]), "row: has 3 fields, the header has 7");
        assert_eq!(records[1].line, 3);
        assert_eq!(error(&records[1]), "text: invalid UTF-8 at byte 4");
        assert_eq!(mention(&records[2]).text, "ok");
    }

    #[test]
    fn csv_lone_carriage_return_outside_quotes_is_reported() {
        let csv = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n\
                   1,a,True,Tue Oct 31 22:08:27 +0000 2017,x,,\r2,a,True,Tue Oct 31 22:08:27 +0000 2017,y,,\n\
                   3,a,True,Tue Oct 31 22:08:27 +0000 2017,\"in\rquotes\",,\n";
        let records = collect(csv, Format::Twcs);
        assert_eq!(records.len(), 2);
        assert!(error(&records[0]).contains("carriage return"));
        assert_eq!(mention(&records[1]).text, "in\rquotes");
    }

    #[test]
    fn jsonl_errors_carry_line_and_field() {
        let jsonl = "{\"source\":\"webhook\",\"external_id\":\"1\",\"author\":{\"handle\":\"a\"},\"text\":\"hi\",\"created_at\":\"2026-11-22T10:00:00Z\"}\n\
                     \n\
                     {\"source\":\"webhook\",\"external_id\":\"2\",\"author\":{\"handle\":\"a\"},\"text\":\"hi\",\"created_at\":\"soon\"}\n";
        let records = collect(jsonl, Format::Jsonl);
        assert_eq!(records.len(), 2);
        mention(&records[0]);
        assert_eq!(records[1].line, 3);
        assert!(error(&records[1]).starts_with("created_at:"));
    }

    #[test]
    fn jsonl_invalid_utf8_names_its_line_and_byte_and_the_rest_imports() {
        let good = |id: u32| {
            format!(
                "{{\"source\":\"webhook\",\"external_id\":\"{id}\",\"author\":{{\"handle\":\"a\"}},\"text\":\"hi\",\"created_at\":\"2026-11-22T10:00:00Z\"}}\n"
            )
        };
        let mut jsonl = good(1).into_bytes();
        jsonl.extend_from_slice(b"{\"text\":\"caf\xe9\"}\n");
        jsonl.extend_from_slice(good(3).as_bytes());
        let records: Vec<Record> = read(std::io::Cursor::new(jsonl), Format::Jsonl)
            .unwrap()
            .collect();
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].line, 2);
        assert_eq!(error(&records[1]), "invalid UTF-8 at byte 13");
        assert_eq!(mention(&records[2]).external_id, "3");
    }

    #[test]
    fn jsonl_role_brand_is_a_brand_reply_to_its_parent() {
        let jsonl = "{\"role\":\"brand\",\"source\":\"webhook\",\"external_id\":\"9\",\"author\":{\"handle\":\"@shop\"},\"text\":\"sorry, DM us\",\"created_at\":\"2026-11-22T10:05:00Z\",\"parent_id\":\"1\"}\n\
                     {\"role\":\"customer\",\"source\":\"webhook\",\"external_id\":\"1\",\"author\":{\"handle\":\"a\"},\"text\":\"hi\",\"created_at\":\"2026-11-22T10:00:00Z\"}\n\
                     {\"role\":\"bot\",\"source\":\"webhook\",\"external_id\":\"2\",\"author\":{\"handle\":\"a\"},\"text\":\"hi\",\"created_at\":\"2026-11-22T10:00:00Z\"}\n\
                     {\"role\":\"brand\",\"source\":\"webhook\",\"external_id\":\"3\",\"author\":{\"handle\":\"shop\"},\"text\":\"\",\"created_at\":\"2026-11-22T10:00:00Z\"}\n\
                     {\"role\":\"brand\",\"source\":\"webhook\",\"external_id\":\"4\",\"author\":{\"handle\":\"shop\"},\"txt\":\"x\",\"created_at\":\"2026-11-22T10:00:00Z\"}\n";
        let records = collect(jsonl, Format::Jsonl);
        let Ok(Item::BrandReply(reply)) = &records[0].item else {
            panic!("{:?}", records[0]);
        };
        assert_eq!(reply.brand_handle, "shop");
        assert_eq!(reply.external_id, "9");
        assert_eq!(reply.source, SourceKind::Webhook);
        assert_eq!(reply.in_reply_to.as_deref(), Some("1"));
        assert_eq!(mention(&records[1]).external_id, "1");
        assert!(error(&records[2]).starts_with("role:"));
        assert!(
            error(&records[3]).starts_with("text:"),
            "brand replies are validated too"
        );
        assert!(
            error(&records[4]).starts_with("txt:"),
            "{}",
            error(&records[4])
        );
    }

    /// Serves `rows` generated lines without ever holding more than one, and
    /// counts the bytes handed out.
    struct Generated {
        next: usize,
        rows: usize,
        line: fn(usize) -> String,
        pending: Vec<u8>,
        served: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Read for Generated {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.pending.is_empty() && self.next < self.rows {
                self.pending = (self.line)(self.next).into_bytes();
                self.next += 1;
            }
            let n = out.len().min(self.pending.len());
            out[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            self.served
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            Ok(n)
        }
    }

    fn generated(
        rows: usize,
        line: fn(usize) -> String,
    ) -> (Generated, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let served = std::sync::Arc::default();
        let g = Generated {
            next: 0,
            rows,
            line,
            pending: Vec::new(),
            served: std::sync::Arc::clone(&served),
        };
        (g, served)
    }

    #[test]
    fn reading_is_lazy_and_streams_large_inputs() {
        const ROWS: usize = 200_000;
        let (input, served) = generated(ROWS, |i| {
            format!(
                "{{\"source\":\"webhook\",\"external_id\":\"{i}\",\"author\":{{\"handle\":\"u{i}\"}},\"text\":\"my parcel {i} is late\",\"created_at\":\"2026-11-22T10:00:00Z\"}}\n"
            )
        });
        let mut records = read(input, Format::Jsonl).unwrap();
        assert_eq!(mention(&records.next().unwrap()).external_id, "0");
        let after_first = served.load(std::sync::atomic::Ordering::Relaxed);
        // One BufReader buffer's worth, not the ~26 MB of the whole input.
        assert!(after_first <= 64 * 1024, "read {after_first} bytes ahead");
        let (mut count, mut last) = (1, 0);
        for r in records {
            last = r.line;
            mention(&r);
            count += 1;
        }
        assert_eq!((count, last), (ROWS, ROWS as u64));
    }

    #[test]
    fn csv_reading_is_lazy_too() {
        let (input, served) = generated(50_000, |i| {
            if i == 0 {
                TWCS_HEADER.to_string()
            } else {
                format!("{i},c{i},True,Tue Oct 31 22:08:27 +0000 2017,\"late, again\",,\n")
            }
        });
        let mut records = read(input, Format::Twcs).unwrap();
        mention(&records.next().unwrap());
        assert!(served.load(std::sync::atomic::Ordering::Relaxed) <= 64 * 1024);
        assert_eq!(records.count(), 49_998);
    }

    #[test]
    fn a_line_over_the_limit_is_reported_and_skipped() {
        let (input, _) = generated(3, |i| match i {
            1 => format!("{{\"text\":\"{}\"}}\n", "x".repeat(MAX_RECORD_BYTES)),
            _ => format!(
                "{{\"source\":\"webhook\",\"external_id\":\"{i}\",\"author\":{{\"handle\":\"a\"}},\"text\":\"hi\",\"created_at\":\"2026-11-22T10:00:00Z\"}}\n"
            ),
        });
        let records: Vec<Record> = read(input, Format::Jsonl).unwrap().collect();
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].line, 2);
        assert!(error(&records[1]).contains("longer than"));
        assert_eq!(mention(&records[2]).external_id, "2");
    }

    #[test]
    fn the_bundled_twcs_sample_reads_without_errors() {
        let (mut mentions, mut replies, mut multiline) = (0, 0, 0);
        let mut errors = Vec::new();
        for r in read(crate::demo::SAMPLE, Format::Twcs).unwrap() {
            match r.item {
                Ok(Item::Mention(m)) => {
                    mentions += 1;
                    multiline += usize::from(m.text.contains('\n'));
                }
                Ok(Item::BrandReply(_)) => replies += 1,
                Err(e) => errors.push(format!("line {}: {}", r.line, e.message)),
            }
        }
        assert!(mentions > 1000 && replies > 1000, "{mentions} {replies}");
        assert!(multiline > 0, "real texts span lines");
        // The one defect of the sample: an empty row, `3398,,,,,,`.
        assert_eq!(errors, ["line 2590: inbound: \"\" is not True or False"]);
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
