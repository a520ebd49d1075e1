//! The key a store is encrypted with.

use std::fmt;

use crate::error::{Error, Result};

/// A 256-bit key for the device store. The app keeps it in the platform keystore (Android
/// Keystore, iOS Keychain) and hands it over on open; the core never writes it anywhere.
/// It is used as SQLCipher's raw key, so no key derivation runs on every open.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreKey([u8; 32]);

impl StoreKey {
    /// Wraps 32 bytes of key material.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        StoreKey(bytes)
    }

    /// A new random key, from the operating system's secure random source.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| Error::Platform {
            what: "no secure random source",
        })?;
        Ok(StoreKey(bytes))
    }

    /// The key material, to put in the platform keystore.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn pragma_value(&self) -> String {
        format!("x'{}'", hex::encode(self.0))
    }
}

impl fmt::Debug for StoreKey {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey(..)")
    }
}
