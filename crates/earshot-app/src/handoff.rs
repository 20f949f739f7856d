//! The private side of a case: messages only the customer sees, sent on
//! the case's private channel.

use earshot_core::error::Result;
use earshot_core::ids::CaseId;
use earshot_core::reply::{Reply, ReplyRoute, Visibility};
use earshot_core::store::NewReply;

use crate::App;
use crate::cases::case_detail;
use crate::replies::answering_source;

/// Sends `body` to the case's customer in private as `author` (a person,
/// or a system name for automated messages such as a CSAT request):
/// through the platform's private replies of the source that heard the
/// customer; with no running connector for it, as a manual reply an agent
/// posts by hand. A case whose source takes no private replies is refused
/// (422, naming `visibility`).
pub async fn send_private(app: &App, case_id: CaseId, body: &str, author: &str) -> Result<Reply> {
    earshot_core::mention::reject_nul("body", body)?;
    let detail = case_detail(app, case_id).await?;
    let route = app
        .channels
        .route(answering_source(&detail.mentions), Visibility::Private);
    let queued = matches!(route, ReplyRoute::Queue(_));
    let reply = NewReply {
        visibility: Visibility::Private,
        body: body.to_string(),
        send: true,
    };
    let saved = app
        .store
        .add_reply(case_id, &reply, route, author, app.clock.now())
        .await?;
    if queued {
        app.outbox_wake.notify_one();
    }
    Ok(saved)
}
