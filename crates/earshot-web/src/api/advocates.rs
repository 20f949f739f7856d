//! Advocates: the ranked list (JSON or CSV), an author's profile, and the
//! thank-you queue with send and skip (docs/ADVOCATES.md).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use earshot_app::advocates::{
    self, AdvocateQuery, Profile, RankedAdvocate, SendOutcome, SendThanks, ThanksItem,
};
use earshot_core::advocates::ThanksRecord;
use earshot_core::error::Error;
use earshot_core::ids::MentionId;
use earshot_core::reply::ReplyStatus;
use earshot_core::source::SourceKind;
use serde::{Deserialize, Serialize};

use super::input::{ApiResult, body};
use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, Path};
use crate::state::AppState;

/// Longest thank-you text accepted, in bytes (channels limit further).
pub const MAX_THANKS_BYTES: usize = 5_000;

#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Json,
    Csv,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AdvocateListQuery {
    /// At most this many (default 50, at most 500).
    pub limit: Option<u32>,
    /// Only advocates on this source.
    pub source: Option<SourceKind>,
    /// RFC 3339: only posts from then on count, and only authors with a
    /// positive post since then are listed.
    pub since: Option<DateTime<Utc>>,
    /// `csv` answers the same list as a spreadsheet (like `/advocates.csv`).
    #[param(inline)]
    pub format: Option<Format>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AdvocateCsvQuery {
    pub limit: Option<u32>,
    pub source: Option<SourceKind>,
    pub since: Option<DateTime<Utc>>,
}

async fn list(
    state: &AppState,
    auth: &Authenticated,
    limit: Option<u32>,
    source: Option<SourceKind>,
    since: Option<DateTime<Utc>>,
) -> ApiResult<Vec<RankedAdvocate>> {
    Ok(advocates::ranked(
        &state.app,
        &auth.0,
        &AdvocateQuery {
            source,
            since,
            limit,
        },
    )
    .await?)
}

/// Happy customers worth thanking, best first by their rank: frequency,
/// reach, sentiment and recency, each with its points (docs/ADVOCATES.md).
/// A location manager gets only those whose latest no-case positive post
/// is in a case at their locations.
#[utoipa::path(
    get,
    path = "/api/v1/advocates",
    tag = "advocates",
    params(AdvocateListQuery),
    responses(
        (status = 200, description = "The ranked list; CSV with `format=csv`",
            content((Vec<RankedAdvocate> = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub async fn list_advocates(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<AdvocateListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query?;
    let list = list(&state, &auth, q.limit, q.source, q.since).await?;
    Ok(match q.format.unwrap_or_default() {
        Format::Json => Json(list).into_response(),
        Format::Csv => csv_response(&list)?,
    })
}

/// The ranked advocates as CSV: a header row, one row per advocate with
/// the rank's parts. Text cells that a spreadsheet would read as a formula
/// (starting with `=`, `+`, `-`, `@`, tab or carriage return) are prefixed
/// with `'`.
#[utoipa::path(
    get,
    path = "/api/v1/advocates.csv",
    tag = "advocates",
    params(AdvocateCsvQuery),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub async fn advocates_csv(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<AdvocateCsvQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query?;
    let list = list(&state, &auth, q.limit, q.source, q.since).await?;
    csv_response(&list)
}

fn csv_response(list: &[RankedAdvocate]) -> ApiResult<Response> {
    let mut r = to_csv(list)?.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"advocates.csv\""),
    );
    Ok(r)
}

/// The CSV columns, in order.
pub const CSV_HEADER: &[&str] = &[
    "rank",
    "source",
    "handle",
    "display_name",
    "score",
    "frequency_points",
    "reach_points",
    "sentiment_points",
    "recency_points",
    "positive_posts",
    "all_posts",
    "mean_sentiment",
    "followers",
    "last_positive_at",
    "thank_yous",
];

/// A text cell a spreadsheet would not run: one starting with `=`, `+`,
/// `-`, `@`, tab or carriage return gets a leading `'`.
pub fn guard_cell(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// The list as CSV text (see [`advocates_csv`]). Numbers are written by
/// Earshot and left as numbers; every text cell passes [`guard_cell`].
pub fn to_csv(list: &[RankedAdvocate]) -> Result<String, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::internal(format!("writing CSV: {e}"));
    w.write_record(CSV_HEADER).map_err(fail)?;
    for (i, a) in list.iter().enumerate() {
        let s = &a.stats;
        let points = |factor: &str| {
            a.rank
                .breakdown
                .iter()
                .find(|c| c.factor == factor)
                .map_or(0.0, |c| c.points)
                .to_string()
        };
        w.write_record([
            (i + 1).to_string(),
            s.source.as_str().to_string(),
            guard_cell(&s.handle),
            guard_cell(s.display_name.as_deref().unwrap_or_default()),
            a.rank.score.to_string(),
            points("frequency"),
            points("reach"),
            points("sentiment"),
            points("recency"),
            s.positive.to_string(),
            s.total.to_string(),
            format!("{:.3}", s.mean_sentiment),
            s.followers.to_string(),
            s.last_positive_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            s.thanked.to_string(),
        ])
        .map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::internal(format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::internal(format!("writing CSV: {e}")))
}

/// One author: rank, posts over time with sentiment, thank-yous sent, and
/// their cases with status and whether they turned around (negative in the
/// case, positive in public afterwards). A location manager sees only what
/// is in cases at their locations.
#[utoipa::path(
    get,
    path = "/api/v1/advocates/{source}/{handle}",
    tag = "advocates",
    params(
        ("source" = SourceKind, Path, description = "The source, e.g. `mastodon`"),
        ("handle" = String, Path, description = "The handle, with or without `@`; any case")
    ),
    responses(
        (status = 200, body = Profile),
        (status = 400, body = ErrorBody),
        (status = 404, description = "Nothing of theirs is stored (or visible to you)", body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub async fn advocate_profile(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((source, handle)): Path<(SourceKind, String)>,
) -> ApiResult<Json<Profile>> {
    Ok(Json(
        advocates::profile(&state.app, &auth.0, source, &handle).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ThanksQuery {
    /// At most this many (default 50, at most 500).
    pub limit: Option<u32>,
}

/// The thank-you queue, best first: positive posts of the last 14 days that
/// need no case, not by the brand, not yet thanked or skipped, each with a
/// personal suggestion and whether it passes the personalisation check.
/// Posts without a case are outside a location manager's scope: their
/// queue is empty.
#[utoipa::path(
    get,
    path = "/api/v1/thanks",
    tag = "advocates",
    params(ThanksQuery),
    responses(
        (status = 200, body = Vec<ThanksItem>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub async fn thanks_queue(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<ThanksQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<ThanksItem>>> {
    let Query(q) = query?;
    Ok(Json(advocates::queue(&state.app, &auth.0, q.limit).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendThanksRequest {
    /// The thank-you, as suggested or edited.
    pub text: String,
    /// Send although the personalisation check flags it; the override and
    /// the check's reasons are recorded.
    #[serde(default)]
    pub override_personalisation: bool,
}

/// Where a submitted thank-you went.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ThanksSent {
    pub thanks: ThanksRecord,
    /// `outbox` (a running connector delivers it), `manual` (no connector
    /// delivers to this source: post it by hand, then mark the reply
    /// posted), or `pending_approval` (held for a supervisor).
    pub route: String,
}

/// The personalisation check flagged the text; nothing was sent or recorded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GenericThanks {
    /// Always `generic_reply`.
    pub code: String,
    pub message: String,
    pub reasons: Vec<String>,
}

fn mention_id(raw: i64) -> MentionId {
    MentionId(raw)
}

/// Send a thank-you for a post in the queue: opens a small case for it
/// (tagged `thank-you`, closed at once) and submits a public reply through
/// the reply workflow: queued in the outbox when a running connector
/// delivers to the post's source, otherwise `manual`. The text is checked
/// again: a generic one is refused with 422 and the reasons unless
/// `override_personalisation` is set.
#[utoipa::path(
    post,
    path = "/api/v1/thanks/{mention_id}/send",
    tag = "advocates",
    params(("mention_id" = i64, Path, description = "The post to thank")),
    request_body = SendThanksRequest,
    responses(
        (status = 201, body = ThanksSent),
        (status = 400, body = ErrorBody),
        (status = 403, description = "The role or scope does not allow it", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already thanked or skipped, or not in the queue (it has a case, is not positive, is the brand's own…)", body = ErrorBody),
        (status = 422, description = "The personalisation check flagged the text", body = GenericThanks),
        (status = 401, body = ErrorBody)
    )
)]
pub async fn send_thanks(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let p = auth.writer()?;
    let req: SendThanksRequest = body(raw)?;
    if req.text.len() > MAX_THANKS_BYTES {
        return Err(ApiError(Error::invalid_field(
            "text",
            format!("is longer than {MAX_THANKS_BYTES} bytes"),
        )));
    }
    let out = advocates::send(
        &state.app,
        p,
        mention_id(id),
        SendThanks {
            text: req.text,
            override_personalisation: req.override_personalisation,
        },
    )
    .await?;
    Ok(match out {
        SendOutcome::Submitted(thanks) => {
            let route = match thanks.reply_status {
                Some(ReplyStatus::Manual) => "manual",
                Some(ReplyStatus::PendingApproval) => "pending_approval",
                _ => "outbox",
            };
            (
                StatusCode::CREATED,
                Json(ThanksSent {
                    thanks,
                    route: route.into(),
                }),
            )
                .into_response()
        }
        SendOutcome::Generic(check) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(GenericThanks {
                code: "generic_reply".into(),
                message: "the personalisation check flagged this thank-you; edit it, or send it \
                          anyway with override_personalisation"
                    .into(),
                reasons: check.reasons,
            }),
        )
            .into_response(),
    })
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipThanksRequest {
    /// The suggestion that was on screen, kept with the skip.
    #[serde(default)]
    pub text: String,
}

/// Skip a post in the queue: recorded (who, when, the suggestion shown),
/// and the post leaves the queue. An empty body is the same as `{}`.
#[utoipa::path(
    post,
    path = "/api/v1/thanks/{mention_id}/skip",
    tag = "advocates",
    params(("mention_id" = i64, Path, description = "The post to skip")),
    request_body(content = SkipThanksRequest, description = "Optional"),
    responses(
        (status = 201, body = ThanksRecord),
        (status = 400, body = ErrorBody),
        (status = 403, description = "The role or scope does not allow it", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already thanked or skipped, or it has a case", body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub async fn skip_thanks(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<ThanksRecord>)> {
    let p = auth.writer()?;
    let req: SkipThanksRequest = match &raw {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => SkipThanksRequest::default(),
        _ => body(raw)?,
    };
    if req.text.len() > MAX_THANKS_BYTES {
        return Err(ApiError(Error::invalid_field(
            "text",
            format!("is longer than {MAX_THANKS_BYTES} bytes"),
        )));
    }
    let record = advocates::skip(&state.app, p, mention_id(id), &req.text).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use earshot_core::advocates::{AdvocateStats, Rank, RankInputs, RankWeights};
    use earshot_core::ids::MentionId;

    fn advocate(handle: &str, name: Option<&str>) -> RankedAdvocate {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 22, 10, 0, 0).unwrap();
        let stats = AdvocateStats {
            source: SourceKind::Mastodon,
            handle: handle.into(),
            display_name: name.map(str::to_string),
            followers: 1200,
            positive_mentions: 3,
            positive: 3,
            total: 4,
            mean_sentiment: -0.125,
            last_mention_id: MentionId(7),
            last_seen: now,
            last_positive_at: Some(now),
            thanked: 1,
        };
        let rank = Rank::compute(
            &RankInputs {
                positive: 3,
                total: 4,
                followers: 1200,
                last_positive_at: now,
                now,
            },
            &RankWeights::default(),
        );
        RankedAdvocate { stats, rank }
    }

    #[test]
    fn the_csv_has_a_header_and_one_row_per_advocate_with_the_parts() {
        let text = to_csv(&[advocate("ann", Some("Ann, \"the\" fan"))]).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(header, CSV_HEADER);
        let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(&row[0], "1");
        assert_eq!(&row[1], "mastodon");
        assert_eq!(&row[2], "ann");
        assert_eq!(&row[3], "Ann, \"the\" fan", "quoted, read back whole");
        let parts: f32 = (5..9).map(|i| row[i].parse::<f32>().unwrap()).sum();
        assert!((parts - row[4].parse::<f32>().unwrap()).abs() < 0.05);
        assert_eq!(&row[9], "3");
        assert_eq!(&row[10], "4");
        assert_eq!(&row[11], "-0.125", "numbers stay numbers");
        assert_eq!(&row[14], "1");
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_defused() {
        for bad in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(guard_cell(bad), format!("'{bad}"));
        }
        assert_eq!(guard_cell("ann"), "ann");
        assert_eq!(guard_cell(""), "");
        let text = to_csv(&[advocate("=cmd|' /C calc'!A0", Some("@evil"))]).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let row = r.records().next().unwrap().unwrap();
        assert_eq!(&row[2], "'=cmd|' /C calc'!A0");
        assert_eq!(&row[3], "'@evil");
    }
}
