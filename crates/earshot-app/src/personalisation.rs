//! The personalisation check with what the product knows: the customer's
//! words, name and category, the replies recently sent and the built-in
//! templates. Every text the brand sends to a customer (a reply, a public
//! acknowledgement, a private message, a thank-you) passes through it.

use earshot_core::error::{Error, Result};
use earshot_core::ids::CaseId;
use earshot_core::mention::Mention;
use earshot_core::personalise::{self, CheckInput, CheckResult};

use crate::App;

/// Reply templates. `{{customer}}` and `{{case_id}}` are filled in by the
/// desk; other placeholders are for the agent and the personalisation check
/// flags them when left unfilled.
pub const REPLY_TEMPLATES: &[(&str, &str)] = &[
    (
        "Apology and next step",
        "Hi {{customer}}, I'm sorry about {{what_went_wrong}}. {{what_we_will_do}} I'll keep this case ({{case_id}}) open until it's sorted.",
    ),
    (
        "Ask for details privately",
        "Hi {{customer}}, thanks for flagging this. Could you send us a DM with {{details_needed}} so we can look into {{issue}}?",
    ),
    (
        "Generic acknowledgement",
        "Hi {{customer}}, thanks for reaching out. We're looking into this and will get back to you shortly.",
    ),
];

/// How many recently sent replies a new one is compared with.
pub const RECENT_REPLIES: u32 = 200;

fn templates() -> Vec<String> {
    REPLY_TEMPLATES.iter().map(|(_, t)| t.to_string()).collect()
}

async fn recent(app: &App) -> Result<Vec<String>> {
    match &app.accounts {
        Some(desk) => desk.recent_reply_bodies(RECENT_REPLIES).await,
        None => Ok(Vec::new()),
    }
}

/// Checks `reply` as an answer on case `case_id`: against `customer_text`
/// when given, otherwise everything the customer wrote in the case.
pub async fn check_in_case(
    app: &App,
    case_id: CaseId,
    customer_text: Option<&str>,
    reply: &str,
) -> Result<CheckResult> {
    let detail = app
        .store
        .case_detail(case_id)
        .await?
        .ok_or_else(|| Error::case_not_found(case_id.0))?;
    let customer: String = match customer_text {
        Some(t) => t.to_string(),
        None => detail
            .mentions
            .iter()
            .map(|m| m.mention.text.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let name = detail
        .mentions
        .first()
        .and_then(|m| m.mention.author.display_name.clone());
    Ok(personalise::check(&CheckInput {
        customer_text: &customer,
        reply_text: reply,
        customer_handle: Some(&detail.case.author_handle),
        customer_name: name.as_deref(),
        category: detail.case.category.as_deref(),
        recent_replies: &recent(app).await?,
        templates: &templates(),
    }))
}

/// Checks `reply` as an answer to one mention (a thank-you to a post that
/// has no case).
pub async fn check_for_mention(app: &App, mention: &Mention, reply: &str) -> Result<CheckResult> {
    Ok(personalise::check(&CheckInput {
        customer_text: &mention.mention.text,
        reply_text: reply,
        customer_handle: Some(&mention.mention.author.handle),
        customer_name: mention.mention.author.display_name.as_deref(),
        category: mention.analysis.top_category(),
        recent_replies: &recent(app).await?,
        templates: &templates(),
    }))
}

/// Checks a reply with only the texts given (the API's check endpoint).
pub async fn check_texts(
    app: &App,
    customer_text: &str,
    reply: &str,
    case_id: Option<CaseId>,
) -> Result<CheckResult> {
    if let Some(id) = case_id {
        return check_in_case(app, id, Some(customer_text), reply).await;
    }
    Ok(personalise::check(&CheckInput {
        customer_text,
        reply_text: reply,
        recent_replies: &recent(app).await?,
        templates: &templates(),
        ..CheckInput::default()
    }))
}
