//! Secrets Earshot hands out and checks: API tokens (long random secrets,
//! stored as SHA-256 hashes, so a fast hash is enough) and user passwords
//! (low-entropy, so argon2).

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use earshot_core::auth::Principal;
use earshot_core::error::{Error, Result};
use earshot_core::store::TokenSummary;
use earshot_core::workflow_store::AuditRecord;
use earshot_workflow::Action;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::App;
use crate::access::require;

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random API token (256 bits), prefixed so it is recognisable in configs.
pub fn generate_token() -> String {
    format!("es_{}", random_hex())
}

/// 256 random bits, hex.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Every API token, revoked ones included (admins); never their hashes.
pub async fn tokens(app: &App, p: &Principal) -> Result<Vec<TokenSummary>> {
    require(app, p, Action::ManageUsers).await?;
    app.store.tokens().await
}

/// Revokes a token (admins): it fails authentication from the next request
/// on. Recorded in the audit log.
pub async fn revoke_token(app: &App, p: &Principal, id: i64) -> Result<()> {
    require(app, p, Action::ManageUsers).await?;
    let now = app.clock.now();
    app.store.revoke_token(id, now).await?;
    app.workflow
        .record_audit(&AuditRecord {
            entity: "token".into(),
            entity_id: id.to_string(),
            action: "revoked".into(),
            actor: p.name.clone(),
            before: None,
            after: None,
            at: now,
        })
        .await
}

/// An argon2id PHC string for `password`, with a fresh salt.
pub fn hash_password(password: &str) -> Result<String> {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let salt = SaltString::encode_b64(&bytes).map_err(|e| Error::internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("hashing password: {e}")))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hash_to_hex() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert!(a.starts_with("es_") && a.len() == 67);
        assert_eq!(hash_token(&a).len(), 64);
        assert_eq!(hash_token(&a), hash_token(&a));
    }
}
