//! Managing the sources Earshot listens to (admins; supervisors may look).
//! Settings are checked by building the connector, so an error names the
//! field (`config.base_url`). Credentials are sealed before storage and are
//! write-only: a view says which credential fields are set, never a value.
//! Every change is audited (without credentials) and announced to the
//! source runtime, which restarts or stops the source's task.

use chrono::{DateTime, Utc};
use earshot_connectors::{SourceSettings, credential_fields, split_settings};
use earshot_core::auth::Principal;
use earshot_core::error::{Error, Result};
use earshot_core::ids::SourceId;
use earshot_core::source::SourceKind;
use earshot_core::sources::{NewSource, SourceHealth, SourcePatch, SourceRecord};
use earshot_core::workflow_store::AuditRecord;
use earshot_workflow::Action;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::App;
use crate::access::require;

/// Longest source name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A source as admins and supervisors see it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SourceView {
    #[schema(value_type = i64)]
    pub id: SourceId,
    pub kind: SourceKind,
    pub name: String,
    /// The public settings.
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// Which credential fields are set (their values are never shown).
    pub credentials_set: Vec<String>,
    /// As the connector declared them when it last started.
    #[schema(value_type = Option<Object>)]
    pub capabilities: Option<Value>,
    pub paused: bool,
    pub health: SourceHealth,
    /// Where the source has read up to, in the connector's terms.
    #[schema(value_type = Option<Object>)]
    pub cursor: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An admin's edit; `None` keeps a field. `config` is merged into the
/// stored settings (a `null` value removes a setting); credential fields in
/// it replace only the credentials given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceUpdate {
    pub name: Option<String>,
    pub config: Option<Value>,
    pub paused: Option<bool>,
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(Error::invalid_field(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

/// Builds the connector once to check every setting; nothing is started.
fn check_settings(app: &App, kind: SourceKind, settings: &SourceSettings) -> Result<()> {
    (app.connectors)(kind, settings).map(drop)
}

fn seal(app: &App, credentials: &Map<String, Value>) -> Result<Option<String>> {
    if credentials.is_empty() {
        return Ok(None);
    }
    let plain = serde_json::to_vec(credentials).map_err(|e| Error::internal(e.to_string()))?;
    Ok(Some(app.secrets.seal(&plain)))
}

/// The source's credentials, unsealed (for the inbound webhook check).
pub(crate) fn open(app: &App, record: &SourceRecord) -> Result<Map<String, Value>> {
    match &record.credentials {
        None => Ok(Map::new()),
        Some(sealed) => match serde_json::from_slice(&app.secrets.open(sealed)?) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(Error::internal("sealed credentials are not a JSON object")),
        },
    }
}

fn view(app: &App, record: SourceRecord) -> Result<SourceView> {
    let set = open(app, &record)?;
    let credentials_set = credential_fields(record.kind)
        .iter()
        .filter(|f| set.contains_key(**f))
        .map(|f| (*f).to_string())
        .collect();
    Ok(SourceView {
        id: record.id,
        kind: record.kind,
        name: record.name,
        config: record.config,
        credentials_set,
        capabilities: record.capabilities,
        paused: record.paused,
        health: record.health,
        cursor: record.cursor,
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

/// What the audit log keeps of a source: never a credential.
fn audited(v: &SourceView) -> Value {
    serde_json::json!({
        "kind": v.kind,
        "name": v.name,
        "config": v.config,
        "credentials_set": v.credentials_set,
        "paused": v.paused,
    })
}

async fn audit(
    app: &App,
    p: &Principal,
    id: SourceId,
    action: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<()> {
    app.workflow
        .record_audit(
            &AuditRecord {
                entity: "source".into(),
                entity_id: id.to_string(),
                action: action.into(),
                actor: p.name.clone(),
                before,
                after,
                at: app.clock.now(),
            }
            .redact(),
        )
        .await
}

fn not_found(id: SourceId) -> Error {
    Error::not_found(format!("source {id}"))
}

/// Adds a source (admins). `config` holds the public settings and the
/// credentials together, as the connector's documentation lists them.
pub async fn create(
    app: &App,
    p: &Principal,
    kind: SourceKind,
    name: &str,
    config: Value,
) -> Result<SourceView> {
    require(app, p, Action::ManageSources).await?;
    let name = check_name(name)?;
    let settings = split_settings(kind, config)?;
    check_settings(app, kind, &settings)?;
    let record = app
        .sources
        .create_source(
            &NewSource {
                kind,
                name,
                credentials: seal(app, &settings.credentials)?,
                config: settings.config,
                paused: false,
            },
            app.clock.now(),
        )
        .await?;
    let v = view(app, record)?;
    audit(app, p, v.id, "created", None, Some(audited(&v))).await?;
    crate::listen::changed(app, v.id);
    Ok(v)
}

/// Every source with its health (admins and supervisors).
pub async fn list(app: &App, p: &Principal) -> Result<Vec<SourceView>> {
    require(app, p, Action::ViewSources).await?;
    app.sources
        .sources()
        .await?
        .into_iter()
        .map(|r| view(app, r))
        .collect()
}

pub async fn get(app: &App, p: &Principal, id: SourceId) -> Result<SourceView> {
    require(app, p, Action::ViewSources).await?;
    let record = app.sources.source(id).await?.ok_or_else(|| not_found(id))?;
    view(app, record)
}

/// Renames, re-configures, pauses or resumes a source (admins).
pub async fn update(
    app: &App,
    p: &Principal,
    id: SourceId,
    change: SourceUpdate,
) -> Result<SourceView> {
    require(app, p, Action::ManageSources).await?;
    let record = app.sources.source(id).await?.ok_or_else(|| not_found(id))?;
    let before = view(app, record.clone())?;
    let name = change.name.as_deref().map(check_name).transpose()?;
    let mut patch = SourcePatch {
        name,
        paused: change.paused,
        ..SourcePatch::default()
    };
    if let Some(config) = change.config {
        let given = split_settings(record.kind, config)?;
        let mut merged = record.config.clone();
        for (key, value) in given.config {
            if value.is_null() {
                merged.remove(&key);
            } else {
                merged.insert(key, value);
            }
        }
        let mut credentials = open(app, &record)?;
        let new_credentials = !given.credentials.is_empty();
        credentials.extend(given.credentials);
        let settings = SourceSettings {
            config: merged,
            credentials,
        };
        check_settings(app, record.kind, &settings)?;
        if new_credentials {
            patch.credentials = seal(app, &settings.credentials)?;
        }
        patch.config = Some(settings.config);
    }
    let record = app
        .sources
        .update_source(id, &patch, app.clock.now())
        .await?;
    let v = view(app, record)?;
    let action = match change.paused {
        Some(true) => "paused",
        Some(false) if before.paused => "resumed",
        _ => "updated",
    };
    audit(
        app,
        p,
        id,
        action,
        Some(audited(&before)),
        Some(audited(&v)),
    )
    .await?;
    crate::listen::changed(app, id);
    Ok(v)
}

/// Removes a source (admins): its task stops; the mentions it heard stay.
pub async fn delete(app: &App, p: &Principal, id: SourceId) -> Result<()> {
    require(app, p, Action::ManageSources).await?;
    let record = app.sources.source(id).await?.ok_or_else(|| not_found(id))?;
    let before = view(app, record)?;
    app.sources.delete_source(id).await?;
    audit(app, p, id, "deleted", Some(audited(&before)), None).await?;
    crate::listen::changed(app, id);
    Ok(())
}
