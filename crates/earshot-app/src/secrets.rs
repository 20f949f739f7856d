//! Credentials at rest. A source's tokens and passwords are sealed with
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`: an AEAD whose
//! 192-bit nonces may be drawn at random for every seal) under one 32-byte
//! key, from `EARSHOT_SECRET_KEY` or a `secret.key` file in the data dir.
//! Plaintext never reaches a log or a `Debug` output.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use earshot_core::error::{Error, Result};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The environment variable holding the key (base64 or hex of 32 bytes).
pub const KEY_ENV: &str = "EARSHOT_SECRET_KEY";
/// The key file created in the data dir when the variable is unset.
pub const KEY_FILE: &str = "secret.key";
/// Marks the format of a sealed value, so another can follow.
const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;

/// Seals and opens credentials with one key, and derives the node's other
/// keys from it (see [`SecretBox::derive_key`]). Cheap to clone.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    /// HMAC-SHA256 keyed with the secret key: the derivation of subkeys.
    derive: Hmac<Sha256>,
}

/// What every derived key's input starts with, so a derived key can never
/// equal a MAC the node makes for anything else.
const DERIVE_DOMAIN: &[u8] = b"earshot key derivation v1\0";

/// What a derived key is for: the CSAT links' signing key.
pub const CSAT_LINK_PURPOSE: &str = "csat-link";

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> Self {
        // HMAC zero-pads a key shorter than SHA-256's 64-byte block; doing
        // it here takes the infallible constructor.
        let mut block = [0u8; 64];
        for (b, k) in block.iter_mut().zip(key) {
            *b = *k;
        }
        SecretBox {
            cipher: XChaCha20Poly1305::new(key.into()),
            derive: <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into()),
        }
    }

    /// A 32-byte key for `purpose`, derived from the secret key (HMAC-SHA256
    /// over a domain string and the purpose, as HKDF's expand step with one
    /// block): the same for the same secret key after a restart, unrelated
    /// for another purpose, and telling nothing of the secret key.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = self.derive.clone();
        mac.update(DERIVE_DOMAIN);
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The key that signs CSAT links.
    pub fn csat_link_key(&self) -> earshot_core::csat::LinkKey {
        earshot_core::csat::LinkKey::new(self.derive_key(CSAT_LINK_PURPOSE))
    }

    /// A box with a fresh random key: for tests and throwaway demos, whose
    /// sealed values nothing must open after a restart.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        SecretBox::new(&key)
    }

    /// Reads a key given as base64 (standard alphabet) or hex.
    pub fn from_text(text: &str) -> Result<Self> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            STANDARD.decode(text).ok()
        };
        let key: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| {
            Error::invalid_field(
                "secret_key",
                "must be 32 bytes, written as base64 or as 64 hex digits",
            )
        })?;
        Ok(SecretBox::new(&key))
    }

    /// The key from `EARSHOT_SECRET_KEY` when set, otherwise from
    /// `secret.key` in `data_dir` (created once, owner-only, and refused
    /// when others may read it).
    pub fn load(env_value: Option<&str>, data_dir: &Path) -> Result<Self> {
        match env_value.filter(|v| !v.trim().is_empty()) {
            Some(text) => SecretBox::from_text(text).map_err(|e| {
                Error::invalid_field(KEY_ENV, e.message.trim_start_matches("secret_key: "))
            }),
            None => SecretBox::from_key_file(&data_dir.join(KEY_FILE)),
        }
    }

    fn from_key_file(path: &Path) -> Result<Self> {
        let fail = |why: String| Error::internal(format!("secret key {}: {why}", path.display()));
        if !path.exists() {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
            }
            let mut file = options.open(path).map_err(|e| fail(e.to_string()))?;
            file.write_all(STANDARD.encode(key).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| fail(e.to_string()))?;
            tracing::info!(path = %path.display(), "created the secret key for source credentials");
            return Ok(SecretBox::new(&key));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| fail(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(fail(format!(
                    "others may read it (mode {:o}); run `chmod 600` on it",
                    mode & 0o777
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        SecretBox::from_text(&text).map_err(|e| fail(e.message))
    }

    /// Encrypts `plaintext` under a fresh random nonce: `v1:` then base64
    /// of the nonce and the ciphertext with its tag.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption fails only past AEAD's length limit (256 GiB).
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), plaintext)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// Decrypts what [`SecretBox::seal`] made; a different key or an
    /// altered value is an error saying so (never the plaintext).
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(|| Error::internal("sealed credentials are not in a known format"))?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| Error::internal("sealed credentials are too short"))?;
        self.cipher
            .decrypt(&XNonce::from(nonce), ciphertext)
            .map_err(|_| {
                Error::internal(format!(
                    "sealed credentials cannot be opened: the secret key ({KEY_ENV} or \
                     {KEY_FILE}) is not the one they were sealed with"
                ))
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn seal_opens_with_its_key_only() {
        let a = SecretBox::random();
        let sealed = a.seal(b"token-123");
        assert!(!sealed.contains("token-123"));
        assert_ne!(sealed, a.seal(b"token-123"), "a fresh nonce per seal");
        assert_eq!(a.open(&sealed).unwrap(), b"token-123");
        let err = SecretBox::random().open(&sealed).unwrap_err();
        assert!(err.message.contains("not the one"), "{}", err.message);
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(a.open(&tampered).is_err());
        assert_eq!(format!("{a:?}"), "SecretBox(..)");
    }

    #[test]
    fn derived_keys_are_stable_per_secret_and_separate_per_purpose() {
        let a = SecretBox::from_text(&"11".repeat(32)).unwrap();
        let again = SecretBox::from_text(&"11".repeat(32)).unwrap();
        let other = SecretBox::from_text(&"22".repeat(32)).unwrap();
        let link = a.derive_key(CSAT_LINK_PURPOSE);
        assert_eq!(
            link,
            again.derive_key(CSAT_LINK_PURPOSE),
            "survives a restart"
        );
        assert_ne!(
            link,
            other.derive_key(CSAT_LINK_PURPOSE),
            "another secret key"
        );
        assert_ne!(link, a.derive_key("something-else"), "another purpose");
        assert_ne!(link, [0x11; 32], "never the secret key itself");
        // HMAC-SHA256(key, domain || purpose), checked with a plain HMAC.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[0x11; 32]).unwrap();
        mac.update(b"earshot key derivation v1\0csat-link");
        assert_eq!(link, <[u8; 32]>::from(mac.finalize().into_bytes()));
        // A link signed before a restart verifies after it.
        let exp = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let token = a
            .csat_link_key()
            .sign(earshot_core::ids::CsatRequestId(5), exp);
        assert!(again.csat_link_key().verify(&token).is_ok());
        assert!(other.csat_link_key().verify(&token).is_err());
    }

    #[test]
    fn keys_read_as_base64_or_hex_and_name_the_variable_when_wrong() {
        let hex_key = "00".repeat(32);
        let b64_key = STANDARD.encode([0u8; 32]);
        let sealed = SecretBox::from_text(&hex_key).unwrap().seal(b"x");
        assert_eq!(
            SecretBox::from_text(&b64_key)
                .unwrap()
                .open(&sealed)
                .unwrap(),
            b"x"
        );
        let err = SecretBox::load(Some("short"), Path::new("/nonexistent")).unwrap_err();
        assert!(
            err.message.starts_with("EARSHOT_SECRET_KEY:"),
            "{}",
            err.message
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_created_owner_only_reused_and_refused_when_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("earshot-key-{}", uuid::Uuid::now_v7()));
        let first = SecretBox::load(None, &dir).unwrap();
        let file = dir.join(KEY_FILE);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = first.seal(b"pw");
        let again = SecretBox::load(None, &dir).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), b"pw");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SecretBox::load(None, &dir).unwrap_err();
        assert!(err.message.contains("chmod 600"), "{}", err.message);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
