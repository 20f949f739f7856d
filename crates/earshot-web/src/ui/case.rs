//! The case view and what agents do in it: assign, change status, notes,
//! replies with the personalisation check, taking it private, corrections.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use earshot_core::accounts::CorrectionTask;
use earshot_core::case::CaseStatus;
use earshot_core::ids::{CaseId, MentionId, ReplyId};
use earshot_core::personalise::{self, CheckResult};
use earshot_core::reply::{DeliveredVia, Reply, ReplyStatus, Visibility};
use earshot_core::source::SourceKind;
use earshot_core::store::{CaseDetail, NewReply};
use earshot_workflow::{Activity, Presence};
use serde::{Deserialize, Serialize};

use crate::state::AppState;
use crate::ui::session::{self, CurrentUser};
use crate::ui::{Chrome, REPLY_TEMPLATES, UiError, html, view};
use earshot_app::LiveEvent;

/// Sent replies the near-duplicate check compares with.
pub use earshot_app::personalisation::RECENT_REPLIES;

/// One entry of the conversation, customer or brand, in time order.
pub struct ThreadItem {
    pub kind: &'static str,
    pub who: String,
    pub when: String,
    pub at: DateTime<Utc>,
    pub text: String,
    pub label: String,
    pub mention_id: i64,
    pub sentiment: String,
    pub category: String,
    /// The first urgency kind, or `none`.
    pub urgency: String,
    pub evidence: Vec<(String, &'static str)>,
    pub url: String,
    /// The brand's replies: where each one truly stands.
    pub reply: Option<ReplyView>,
}

/// A reply's true state as its badge and hand-post block show it: only a
/// channel's acknowledgement, or an agent saying they posted it, is "sent".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyView {
    pub id: i64,
    /// The status, for the badge's class.
    pub status: &'static str,
    /// What the badge says: "to post by hand", "sent · posted by hand".
    pub badge: String,
    /// A link to the post on its platform, when known, and what it reads.
    pub link: String,
    pub link_text: String,
    /// When a sent reply went out: "5m ago", and RFC 3339 for `<time>`.
    pub sent_when: String,
    pub sent_at: String,
    /// The platform's reason, for a failed reply.
    pub error: String,
    /// Manual or failed: the page offers the text to copy and "I posted it".
    pub by_hand: bool,
    /// The customer's post this answers, for posting by hand.
    pub original_url: String,
    /// Why "I posted it" was just refused, shown by its form.
    pub posted_error: String,
    /// How its connector's delivery stands ("delivery: queued · 2 attempts
    /// · next try 12:05 UTC · last error: HTTP 503"), for outbox replies.
    pub delivery: String,
}

/// The outbox's word on a reply: status, attempts, the post's id, the next
/// try and the platform's last reason.
pub fn delivery_line(d: &earshot_core::outbox::Delivery) -> String {
    let mut parts = vec![format!("delivery: {}", d.status.as_str())];
    parts.push(match d.attempts {
        1 => "1 attempt".to_string(),
        n => format!("{n} attempts"),
    });
    if let Some(id) = &d.remote_id {
        parts.push(format!("post id {id}"));
    }
    if let Some(at) = d.next_attempt_at {
        parts.push(format!("next try {}", at.format("%Y-%m-%d %H:%M:%S UTC")));
    }
    if let Some(e) = &d.last_error {
        parts.push(format!("last error: {e}"));
    }
    parts.join(" \u{b7} ")
}

/// Only http(s) links become `href`s; anything else is dropped.
fn web_link(url: Option<&str>) -> String {
    url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .unwrap_or_default()
        .to_string()
}

pub fn reply_view(r: &Reply, source: SourceKind, now: DateTime<Utc>) -> ReplyView {
    let link = web_link(r.channel_url.as_deref());
    let (badge, link_text): (String, String) = match (r.status, r.delivered_via) {
        (ReplyStatus::Sent, Some(DeliveredVia::Hand)) => {
            ("sent \u{b7} posted by hand".into(), "the post".into())
        }
        (ReplyStatus::Sent, Some(DeliveredVia::Imported)) => (
            "sent \u{b7} from the brand's own account".into(),
            "the post".into(),
        ),
        (ReplyStatus::Sent, _) => ("sent".into(), format!("on {source}")),
        (ReplyStatus::PendingApproval, _) => ("waiting for approval".into(), String::new()),
        (ReplyStatus::Manual, _) => ("to post by hand".into(), String::new()),
        // draft, queued, sending, failed read as they are.
        (s, _) => (s.as_str().into(), String::new()),
    };
    let sent_at = r.sent_at.filter(|_| r.status == ReplyStatus::Sent);
    ReplyView {
        id: r.id.0,
        status: r.status.as_str(),
        badge,
        link: if r.status == ReplyStatus::Sent {
            link
        } else {
            String::new()
        },
        link_text,
        sent_when: sent_at.map(|t| view::ago(t, now)).unwrap_or_default(),
        sent_at: sent_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
        error: match r.status {
            ReplyStatus::Failed => r
                .error
                .clone()
                .map(|e| format!("{source} refused it: {e}"))
                .unwrap_or_else(|| format!("{source} refused it and gave no reason")),
            _ => String::new(),
        },
        by_hand: matches!(r.status, ReplyStatus::Manual | ReplyStatus::Failed),
        original_url: String::new(),
        posted_error: String::new(),
        delivery: r.delivery.as_ref().map(delivery_line).unwrap_or_default(),
    }
}

/// What the reply form says once a reply is saved, from the status it got:
/// "sent" only when its channel really acknowledged it.
pub fn outcome_message(status: ReplyStatus, source: SourceKind) -> String {
    match status {
        ReplyStatus::Draft => "Saved as a draft".into(),
        ReplyStatus::PendingApproval => {
            "Waiting for approval: a supervisor reviews it before it goes out".into()
        }
        ReplyStatus::Queued => format!("Queued for {source}"),
        ReplyStatus::Sending => format!("Sending to {source}"),
        ReplyStatus::Sent => format!("Sent on {source}"),
        ReplyStatus::Failed => format!("{source} refused it; see the reason below"),
        ReplyStatus::Manual => "Saved: post it yourself, then mark it posted".into(),
    }
}

pub struct Composer {
    pub draft: String,
    pub visibility: String,
    pub reasons: Vec<String>,
    pub error: String,
    pub sent: String,
    /// Another agent's public reply arrived after the page was rendered:
    /// the page shows it inline so the agent can read it and send again.
    pub conflict: bool,
    /// The replies the form just saved; `sent` says where they stand.
    pub replied: Vec<i64>,
    /// "I posted it" was refused for this reply, and why.
    pub posted_error: Option<(ReplyId, String)>,
}

impl Composer {
    pub fn empty() -> Composer {
        Composer {
            draft: String::new(),
            visibility: String::new(),
            reasons: Vec::new(),
            error: String::new(),
            sent: String::new(),
            conflict: false,
            replied: Vec::new(),
            posted_error: None,
        }
    }
}

/// The latest public reply shown on the page, as the reply form posts it
/// back (`last_public_reply_seen`) and as a conflict shows it.
pub struct SeenReply {
    pub id: String,
    pub by: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    chrome: Chrome,
    id: i64,
    subject: String,
    status: &'static str,
    transitions: Vec<(&'static str, &'static str)>,
    priority: String,
    breakdown: Vec<(String, String, String)>,
    sla: view::Sla,
    source: &'static str,
    source_icon: &'static str,
    assignee: String,
    team: String,
    users: Vec<(String, String)>,
    author: String,
    author_name: String,
    followers: u64,
    profile_url: String,
    earlier_mentions: Vec<(i64, String, String, String)>,
    earlier_cases: Vec<(i64, String, &'static str, String)>,
    thread: Vec<ThreadItem>,
    analysis_lines: Vec<(String, String)>,
    urgency: Vec<String>,
    notes: Vec<(String, String, String)>,
    events: Vec<(String, String, String, String)>,
    templates: Vec<(String, String)>,
    public_ok: bool,
    private_ok: bool,
    max_chars: u32,
    composer: Composer,
    seen: SeenReply,
    sentiments: [&'static str; 3],
    urgencies: Vec<&'static str>,
    /// "ann is typing · bob is viewing": the other agents on this case.
    presence: String,
    /// A connector delivers this source's replies; when not, the page says
    /// so and offers each reply to post by hand.
    delivers: bool,
    /// "Take it private": its form and the case's handoffs.
    private: crate::ui::case_private::PrivateBlock,
    /// The CSAT panel (templates/case_csat.html).
    csat: crate::ui::csat::CsatPanel,
    /// Whether the customer came back round (`case_recovery.html`).
    recovery: crate::ui::case_recovery::RecoveryView,
}

fn evidence_class(weight: f32) -> &'static str {
    if weight < 0.0 { "neg" } else { "pos" }
}

async fn render(
    state: &AppState,
    me: &CurrentUser,
    id: CaseId,
    composer: Composer,
    status: StatusCode,
) -> Result<Response, UiError> {
    render_with(state, me, id, composer, None, status).await
}

/// The case page, with the take-private form as it came back (`take`).
pub async fn render_with(
    state: &AppState,
    me: &CurrentUser,
    id: CaseId,
    composer: Composer,
    take: Option<crate::ui::case_private::TakeForm>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let desk = session::desk(state)?;
    let detail = state
        .app
        .store
        .case_detail(id)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("there is no case {id}")))?;
    // A location manager sees only the cases at their locations.
    earshot_app::access::check_visible(&state.app, &me.principal(), &detail.case).await?;
    let private = crate::ui::case_private::block(state, me, &detail, take).await?;
    let now = state.app.clock.now();
    let csat = crate::ui::csat::panel(state, &detail, now).await?;
    let CaseDetail {
        case,
        mentions,
        replies,
        notes,
        events,
    } = detail;
    let first = mentions.first();
    let (history_mentions, history_cases) = desk
        .author_history(case.source, &case.author_handle, 20)
        .await?;
    let users = desk.users().await?;
    let presence = banner(
        &earshot_app::presence::others(&state.app, &me.principal(), id).await?,
        &users,
    )
    .text;
    // Read once, so the hidden value and a conflict's inline text agree.
    let seen = match state.app.workflow.latest_public_reply(id).await? {
        Some(r) => SeenReply {
            id: r.id.to_string(),
            by: r.author,
            text: r.body,
        },
        None => SeenReply {
            id: String::new(),
            by: String::new(),
            text: String::new(),
        },
    };

    let mut thread: Vec<ThreadItem> = mentions
        .iter()
        .map(|m| ThreadItem {
            kind: "customer",
            who: format!("@{}", m.mention.author.handle),
            when: view::ago(m.mention.created_at, now),
            at: m.mention.created_at,
            text: m.mention.text.clone(),
            label: String::new(),
            mention_id: m.id.0,
            sentiment: m.analysis.sentiment.as_str().to_string(),
            category: m.analysis.top_category().unwrap_or_default().to_string(),
            urgency: CorrectionTask::Urgency
                .label_of(&m.analysis)
                .unwrap_or_default(),
            evidence: m
                .analysis
                .evidence
                .iter()
                .take(6)
                .map(|e| (e.term.clone(), evidence_class(e.weight)))
                .collect(),
            url: m.mention.url.clone().unwrap_or_default(),
            reply: None,
        })
        .collect();
    let source_id = earshot_app::replies::answering_source(&mentions);
    let delivers = state.app.channels.delivers(source_id, Visibility::Public);
    thread.extend(replies.iter().map(|r| {
        let mut rv = reply_view(r, case.source, now);
        if rv.by_hand {
            // The customer post being answered: the latest one before the
            // reply that has a link, else any that has one.
            rv.original_url = mentions
                .iter()
                .rev()
                .filter(|m| m.mention.created_at <= r.created_at)
                .chain(mentions.iter().rev())
                .find_map(|m| m.mention.url.as_deref().map(|u| web_link(Some(u))))
                .unwrap_or_default();
        }
        if let Some((rid, why)) = &composer.posted_error
            && *rid == r.id
        {
            rv.posted_error = why.clone();
        }
        ThreadItem {
            kind: match r.visibility {
                Visibility::Public => "public",
                Visibility::Private => "private",
            },
            who: r.author.clone(),
            when: view::ago(r.created_at, now),
            at: r.created_at,
            text: r.body.clone(),
            label: match r.visibility {
                Visibility::Public => "Public reply".into(),
                Visibility::Private => "Private reply".into(),
            },
            mention_id: 0,
            sentiment: String::new(),
            category: String::new(),
            urgency: String::new(),
            evidence: Vec::new(),
            url: String::new(),
            reply: Some(rv),
        }
    }));
    // The form's message comes from the replies as they stand now.
    let mut composer = composer;
    let mut said: Vec<String> = Vec::new();
    for rid in &composer.replied {
        if let Some(r) = replies.iter().find(|r| r.id.0 == *rid) {
            let line = outcome_message(r.status, case.source);
            if !said.contains(&line) {
                said.push(line);
            }
        }
    }
    composer.sent = said.join(". ");
    thread.sort_by_key(|t| t.at);

    let mut analysis_lines = Vec::new();
    let mut urgency = Vec::new();
    if let Some(m) = first {
        let a = &m.analysis;
        analysis_lines.push((
            "Sentiment".into(),
            format!(
                "{} (score {:.2}, confidence {:.0}%)",
                a.sentiment.as_str(),
                a.sentiment_score,
                a.sentiment_confidence * 100.0
            ),
        ));
        analysis_lines.push((
            "Complaint".into(),
            format!(
                "{} ({:.0}%)",
                if a.complaint { "yes" } else { "no" },
                a.complaint_score * 100.0
            ),
        ));
        if !a.categories.is_empty() {
            analysis_lines.push((
                "Categories".into(),
                a.categories
                    .iter()
                    .map(|c| {
                        let mut line = format!("{} {:.0}%", c.name, c.score * 100.0);
                        if !c.terms.is_empty() {
                            line.push_str(&format!(
                                " (\u{201c}{}\u{201d})",
                                c.terms.join("\u{201d}, \u{201c}")
                            ));
                        }
                        line
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        if let Some(lang) = &a.language {
            analysis_lines.push(("Language".into(), lang.clone()));
        }
        for n in &a.not_judged {
            analysis_lines.push(("Not judged".into(), n.clone()));
        }
        urgency = a
            .urgency
            .iter()
            .map(|u| format!("{:?}: \u{201c}{}\u{201d}", u.kind, u.trigger))
            .collect();
    }

    let customer = format!("@{}", case.author_handle);
    let case_id = case.id.to_string();
    let templates = REPLY_TEMPLATES
        .iter()
        .map(|(name, text)| {
            (
                name.to_string(),
                personalise::fill(text, &[("customer", &customer), ("case_id", &case_id)]),
            )
        })
        .collect();
    let caps = case.source.capabilities();
    let transitions = CaseStatus::ALL
        .into_iter()
        .filter(|to| case.status.transition(*to).is_ok())
        .map(|to| {
            (
                to.as_str(),
                match to {
                    CaseStatus::Open => "Reopen / open",
                    CaseStatus::Pending => "Wait on customer",
                    CaseStatus::Resolved => "Resolve",
                    CaseStatus::Closed => "Close",
                    CaseStatus::New => "New",
                },
            )
        })
        .collect();

    let recovery = earshot_app::recovery::case_recovery(&state.app, &me.principal(), id).await?;
    let page = CasePage {
        recovery: crate::ui::case_recovery::view(&recovery, now),
        chrome: Chrome::new(me, "inbox"),
        id: case.id.0,
        subject: case.subject.clone(),
        status: case.status.as_str(),
        transitions,
        priority: format!("{:.0}", case.priority.score),
        breakdown: case
            .priority
            .breakdown
            .iter()
            .map(|c| {
                (
                    c.factor.replace('_', " "),
                    format!("{:.1}", c.points),
                    c.reason.clone(),
                )
            })
            .collect(),
        sla: {
            let clocks =
                earshot_app::sla::clocks(&state.app, std::slice::from_ref(&case), now).await?;
            let (eval, warn) = clocks
                .get(&case.id)
                .map_or((None, 0), |(e, w)| (Some(e), *w));
            view::sla(&case, eval, warn, now)
        },
        source: case.source.as_str(),
        source_icon: view::source_icon(case.source),
        assignee: case.assignee.clone().unwrap_or_default(),
        team: case.team.clone().unwrap_or_default(),
        users: users
            .iter()
            .map(|u| (u.name.clone(), u.display_name.clone()))
            .collect(),
        author: case.author_handle.clone(),
        author_name: first
            .and_then(|m| m.mention.author.display_name.clone())
            .unwrap_or_default(),
        followers: first.map(|m| m.mention.author.followers).unwrap_or(0),
        profile_url: first
            .and_then(|m| m.mention.author.profile_url.clone())
            .unwrap_or_default(),
        earlier_mentions: history_mentions
            .iter()
            .filter(|m| m.case_id != Some(case.id))
            .take(10)
            .map(|m| {
                (
                    m.case_id.map_or(0, |c| c.0),
                    earshot_core::case::subject_from(&m.mention.text),
                    view::ago(m.mention.created_at, now),
                    m.analysis.sentiment.as_str().to_string(),
                )
            })
            .collect(),
        earlier_cases: history_cases
            .iter()
            .filter(|c| c.id != case.id)
            .take(10)
            .map(|c| {
                (
                    c.id.0,
                    c.subject.clone(),
                    c.status.as_str(),
                    view::ago(c.created_at, now),
                )
            })
            .collect(),
        thread,
        analysis_lines,
        urgency,
        notes: notes
            .iter()
            .map(|n| {
                (
                    n.author.clone(),
                    view::ago(n.created_at, now),
                    n.body.clone(),
                )
            })
            .collect(),
        events: events
            .iter()
            .rev()
            .map(|e| {
                (
                    e.action.clone(),
                    e.actor.clone(),
                    view::ago(e.at, now),
                    e.after.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                )
            })
            .collect(),
        templates,
        public_ok: caps.public_reply,
        private_ok: caps.private_reply,
        max_chars: caps.reply_max_chars.unwrap_or(0),
        composer,
        seen,
        sentiments: ["negative", "neutral", "positive"],
        urgencies: std::iter::once(earshot_core::accounts::NO_URGENCY)
            .chain(earshot_core::analysis::UrgencyKind::ALL.map(|k| k.as_str()))
            .collect(),
        presence,
        delivers,
        private,
        csat,
    };
    Ok((status, html(page.render())).into_response())
}

#[derive(Deserialize)]
pub struct PageQuery {
    /// Reply ids the form just saved, comma-separated: the page says where
    /// they stand (read from the store, so the message cannot be forged).
    #[serde(default)]
    replied: String,
}

pub async fn page(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    let id = CaseId(id);
    // Opening the page counts as viewing, before the page's script beats.
    earshot_app::presence::touch(&state.app, &me.principal(), id, Activity::Viewing).await?;
    let composer = Composer {
        replied: q
            .replied
            .split(',')
            .filter_map(|v| v.trim().parse().ok())
            .collect(),
        ..Composer::empty()
    };
    render(&state, &me, id, composer, StatusCode::OK).await
}

/// Back to the case, saying where the replies just saved stand.
fn back_replied(id: CaseId, replies: &[ReplyId]) -> Response {
    let ids: Vec<String> = replies.iter().map(ReplyId::to_string).collect();
    back(id, &format!("?replied={}#reply", ids.join(",")))
}

/// One other agent on the case, as the presence banner shows them.
#[derive(Serialize)]
pub struct PresenceLine {
    pub user: String,
    pub activity: Activity,
    pub text: String,
}

/// What the case page's presence banner reads.
#[derive(Serialize)]
pub struct PresenceBanner {
    pub others: Vec<PresenceLine>,
    /// The lines joined; empty when nobody else is there.
    pub text: String,
}

fn banner(others: &[Presence], users: &[earshot_core::accounts::User]) -> PresenceBanner {
    let others: Vec<PresenceLine> = others
        .iter()
        .map(|p| {
            let who = users
                .iter()
                .find(|u| u.name == p.user)
                .map_or(p.user.as_str(), |u| u.display_name.as_str());
            let doing = match p.activity {
                Activity::Viewing => "viewing",
                Activity::Drafting => "typing",
            };
            PresenceLine {
                user: p.user.clone(),
                activity: p.activity,
                text: format!("{who} is {doing}"),
            }
        })
        .collect();
    let text = others
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join(" \u{b7} ");
    PresenceBanner { others, text }
}

async fn banner_for(
    state: &AppState,
    others: Vec<Presence>,
) -> Result<axum::Json<PresenceBanner>, UiError> {
    let users = session::desk(state)?.users().await?;
    Ok(axum::Json(banner(&others, &users)))
}

#[derive(Deserialize)]
pub struct PresenceForm {
    csrf_token: String,
    /// `viewing`, or `drafting` (also `typing`) while the agent writes.
    activity: String,
}

/// The case page's heartbeat: records the user and answers the banner.
pub async fn touch_presence(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<PresenceForm>,
) -> Result<axum::Json<PresenceBanner>, UiError> {
    let id = CaseId(id);
    me.check_csrf(&f.csrf_token)?;
    let activity = match f.activity.as_str() {
        "viewing" => Activity::Viewing,
        "drafting" | "typing" => Activity::Drafting,
        other => return Err(UiError::BadRequest(format!("unknown activity {other:?}"))),
    };
    let others = earshot_app::presence::touch(&state.app, &me.principal(), id, activity).await?;
    banner_for(&state, others).await
}

/// The presence banner, for refreshing it between heartbeats.
pub async fn presence(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> Result<axum::Json<PresenceBanner>, UiError> {
    let id = CaseId(id);
    let others = earshot_app::presence::others(&state.app, &me.principal(), id).await?;
    banner_for(&state, others).await
}

fn back(id: CaseId, anchor: &str) -> Response {
    Redirect::to(&format!("/cases/{id}{anchor}")).into_response()
}

#[derive(Deserialize)]
pub struct AssignForm {
    csrf_token: String,
    assignee: String,
    #[serde(default)]
    team: String,
}

pub async fn assign(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<AssignForm>,
) -> Result<Response, UiError> {
    let id = CaseId(id);
    me.check_csrf(&f.csrf_token)?;
    me.can_write()?;
    let assignee = match f.assignee.trim() {
        "" => None,
        "me" => Some(me.user.name.clone()),
        other => Some(other.to_string()),
    };
    let team = Some(f.team.trim().to_string()).filter(|t| !t.is_empty());
    earshot_app::cases::assign_case(&state.app, &me.principal(), id, assignee, team).await?;
    Ok(back(id, ""))
}

#[derive(Deserialize)]
pub struct StatusForm {
    csrf_token: String,
    status: String,
}

pub async fn status(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<StatusForm>,
) -> Result<Response, UiError> {
    let id = CaseId(id);
    me.check_csrf(&f.csrf_token)?;
    me.can_write()?;
    let to = CaseStatus::parse(&f.status)
        .ok_or_else(|| UiError::BadRequest(format!("unknown status {:?}", f.status)))?;
    earshot_app::cases::set_case_status(&state.app, &me.principal(), id, to).await?;
    Ok(back(id, ""))
}

#[derive(Deserialize)]
pub struct NoteForm {
    csrf_token: String,
    body: String,
}

pub async fn note(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<NoteForm>,
) -> Result<Response, UiError> {
    let id = CaseId(id);
    me.check_csrf(&f.csrf_token)?;
    me.can_write()?;
    let body = f.body.trim();
    if body.is_empty() || body.len() > 20_000 {
        return Err(UiError::BadRequest(
            "a note must have 1 to 20,000 characters".into(),
        ));
    }
    earshot_app::cases::add_note(&state.app, &me.principal(), id, body).await?;
    Ok(back(id, "#notes"))
}

/// Runs the personalisation check for a reply in a case.
pub async fn check_in_case(
    state: &AppState,
    case_id: CaseId,
    customer_text: Option<&str>,
    reply: &str,
) -> Result<CheckResult, UiError> {
    Ok(
        earshot_app::personalisation::check_in_case(&state.app, case_id, customer_text, reply)
            .await?,
    )
}

#[derive(Deserialize)]
pub struct ReplyForm {
    csrf_token: String,
    body: String,
    visibility: String,
    /// Set by "Send anyway" after a warning.
    #[serde(default)]
    r#override: String,
    /// The latest public reply the page showed; empty when there was none.
    #[serde(default)]
    last_public_reply_seen: String,
}

/// The hidden `last_public_reply_seen` field: empty means none was shown.
fn seen_reply(raw: &str) -> Result<Option<ReplyId>, UiError> {
    match raw.trim() {
        "" => Ok(None),
        v => v
            .parse()
            .map(|id| Some(ReplyId(id)))
            .map_err(|_| UiError::BadRequest("last_public_reply_seen must be a reply id".into())),
    }
}

/// What the desk says when another agent's public reply came in unseen.
const CONFLICT_MESSAGE: &str = "Another agent replied publicly while you were writing. \
     Read their reply below; your draft is kept for you to send again.";

pub async fn reply(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<ReplyForm>,
) -> Result<Response, UiError> {
    let id = CaseId(id);
    me.check_csrf(&f.csrf_token)?;
    me.can_write()?;
    let body = f.body.trim().to_string();
    let visibility = Visibility::parse(&f.visibility)
        .ok_or_else(|| UiError::BadRequest("choose public or private".into()))?;
    let last_seen = seen_reply(&f.last_public_reply_seen)?;
    let composer = |reasons: Vec<String>, error: String| Composer {
        draft: body.clone(),
        visibility: f.visibility.clone(),
        reasons,
        error,
        sent: String::new(),
        conflict: false,
        replied: Vec::new(),
        posted_error: None,
    };
    if body.is_empty() {
        return render(
            &state,
            &me,
            id,
            composer(Vec::new(), "Write a reply first.".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let check = check_in_case(&state, id, None, &body).await?;
    let overriding = f.r#override == "1";
    if check.generic && !overriding {
        return render(
            &state,
            &me,
            id,
            composer(check.reasons, String::new()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let now = state.app.clock.now();
    // Through the workflow: publish rights, approval for trainees and
    // sensitive cases, and public-reply collisions apply to the desk too.
    let sent = earshot_app::replies::submit_reply(
        &state.app,
        &me.principal(),
        id,
        NewReply {
            visibility,
            body: body.clone(),
            send: true,
        },
        last_seen,
    )
    .await;
    let sent = match sent {
        Ok(outcome) => outcome.reply,
        Err(e) if e.code == earshot_core::ErrorCode::Conflict => {
            return render(
                &state,
                &me,
                id,
                Composer {
                    conflict: true,
                    ..composer(Vec::new(), CONFLICT_MESSAGE.into())
                },
                StatusCode::CONFLICT,
            )
            .await;
        }
        Err(e) if e.code != earshot_core::ErrorCode::Internal => {
            return render(
                &state,
                &me,
                id,
                composer(Vec::new(), e.message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    if check.generic && overriding {
        session::desk(&state)?
            .record_event(
                id.0,
                &me.user.name,
                "reply.personalisation_overridden",
                serde_json::json!({"reply_id": sent.id, "reasons": check.reasons}),
                now,
            )
            .await?;
    }
    let _ = state.app.live.send(LiveEvent::CaseUpdated { case_id: id });
    Ok(back_replied(id, &[sent.id]))
}

#[derive(Deserialize)]
pub struct PostedForm {
    csrf_token: String,
    /// The link to the agent's own post; optional.
    #[serde(default)]
    url: String,
}

/// "I posted it": the agent posted a reply themselves (no connector
/// delivers to the source, or its channel refused it). Only now is the reply
/// sent, and the case's first response recorded.
pub async fn posted(
    State(state): State<AppState>,
    me: CurrentUser,
    Path((id, reply_id)): Path<(i64, i64)>,
    Form(f): Form<PostedForm>,
) -> Result<Response, UiError> {
    let (id, reply_id) = (CaseId(id), ReplyId(reply_id));
    me.check_csrf(&f.csrf_token)?;
    me.can_write()?;
    // The reply must be this case's: the form cannot reach into another one.
    match state.app.workflow.reply(reply_id).await? {
        Some(r) if r.case_id == id => {}
        _ => {
            return Err(UiError::NotFound(format!(
                "case {id} has no reply {reply_id}"
            )));
        }
    }
    let url = Some(f.url.trim().to_string()).filter(|u| !u.is_empty());
    match earshot_app::replies::mark_posted_by_hand(&state.app, &me.principal(), reply_id, url)
        .await
    {
        Ok(_) => Ok(back(id, &format!("#r{reply_id}"))),
        // Already posted, or not a reply to post by hand, or a bad link:
        // the page says so by the reply, with the status of the refusal.
        Err(e) if e.code.http_status() == 409 || e.code.http_status() == 400 => {
            let status =
                StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            let message = if e.code == earshot_core::ErrorCode::Conflict {
                "This reply is already marked posted; nothing was recorded twice.".to_string()
            } else {
                e.message
            };
            render(
                &state,
                &me,
                id,
                Composer {
                    posted_error: Some((reply_id, message)),
                    ..Composer::empty()
                },
                status,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CorrectForm {
    csrf_token: String,
    mention_id: i64,
    task: String,
    label: String,
}

pub async fn correct(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<CorrectForm>,
) -> Result<Response, UiError> {
    let id = CaseId(id);
    me.check_csrf(&f.csrf_token)?;
    me.can_write()?;
    let task = CorrectionTask::parse(&f.task)
        .ok_or_else(|| UiError::BadRequest("correct sentiment, category or urgency".into()))?;
    // Checks the mention is this case's and the case the user's to change.
    earshot_app::corrections::correct(
        &state.app,
        &me.principal(),
        id,
        MentionId(f.mention_id),
        task,
        &f.label,
    )
    .await?;
    Ok(back(id, &format!("#m{}", f.mention_id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn reply(status: ReplyStatus) -> Reply {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        Reply {
            id: earshot_core::ReplyId(7),
            case_id: CaseId(1),
            visibility: Visibility::Public,
            body: "Hi".into(),
            status,
            author: "ann".into(),
            approved_by: None,
            created_at: at,
            sent_at: None,
            error: None,
            delivered_via: None,
            channel_message_id: None,
            channel_url: None,
            delivery: None,
        }
    }

    #[test]
    fn each_state_has_its_own_badge_and_only_sent_reads_sent() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 30, 0).unwrap();
        let badges: Vec<String> = ReplyStatus::ALL
            .into_iter()
            .map(|s| reply_view(&reply(s), SourceKind::Mastodon, now).badge)
            .collect();
        assert_eq!(
            badges,
            [
                "draft",
                "waiting for approval",
                "queued",
                "sending",
                "sent",
                "failed",
                "to post by hand"
            ]
        );
        // Only what is left to the agent offers the copy block and form.
        let by_hand: Vec<bool> = ReplyStatus::ALL
            .into_iter()
            .map(|s| reply_view(&reply(s), SourceKind::Mastodon, now).by_hand)
            .collect();
        assert_eq!(by_hand, [false, false, false, false, false, true, true]);
    }

    #[test]
    fn a_sent_reply_says_how_and_when_it_went_out() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 30, 0).unwrap();
        let sent = |via, url: Option<&str>| {
            let mut r = reply(ReplyStatus::Sent);
            r.delivered_via = Some(via);
            r.sent_at = Some(Utc.with_ymd_and_hms(2026, 11, 22, 10, 25, 0).unwrap());
            r.channel_url = url.map(str::to_owned);
            reply_view(&r, SourceKind::Mastodon, now)
        };
        let channel = sent(DeliveredVia::Channel, Some("https://m.example/@acme/1"));
        assert_eq!(channel.badge, "sent");
        assert_eq!(
            (channel.link.as_str(), channel.link_text.as_str()),
            ("https://m.example/@acme/1", "on mastodon")
        );
        assert_eq!(channel.sent_when, "5m ago");
        assert_eq!(channel.sent_at, "2026-11-22T10:25:00Z");
        assert_eq!(
            sent(DeliveredVia::Hand, None).badge,
            "sent \u{b7} posted by hand"
        );
        assert_eq!(sent(DeliveredVia::Hand, None).link, "");
        assert_eq!(
            sent(DeliveredVia::Imported, None).badge,
            "sent \u{b7} from the brand's own account"
        );
        // A link that is not http(s) never becomes an href.
        assert_eq!(
            sent(DeliveredVia::Channel, Some("javascript:alert(1)")).link,
            ""
        );
    }

    #[test]
    fn a_failed_reply_shows_the_platforms_reason() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 30, 0).unwrap();
        let mut r = reply(ReplyStatus::Failed);
        r.error = Some("account suspended".into());
        let v = reply_view(&r, SourceKind::Bluesky, now);
        assert_eq!(v.error, "bluesky refused it: account suspended");
        assert_eq!(v.sent_when, "");
        r.error = None;
        assert_eq!(
            reply_view(&r, SourceKind::Bluesky, now).error,
            "bluesky refused it and gave no reason"
        );
    }

    #[test]
    fn the_forms_message_follows_the_status_it_got() {
        let s = SourceKind::Mastodon;
        assert_eq!(
            outcome_message(ReplyStatus::Queued, s),
            "Queued for mastodon"
        );
        assert!(
            outcome_message(ReplyStatus::PendingApproval, s).starts_with("Waiting for approval")
        );
        assert_eq!(
            outcome_message(ReplyStatus::Manual, s),
            "Saved: post it yourself, then mark it posted"
        );
        for st in ReplyStatus::ALL {
            if st != ReplyStatus::Sent {
                assert!(
                    !outcome_message(st, s).to_lowercase().contains("sent"),
                    "{st:?}"
                );
            }
        }
    }
}
