//! Secrets in memory: the relayer key and the chain API key never reach a log line.

use std::fmt;
use std::path::Path;

/// A value whose `Debug` prints `<redacted>`; read it only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret itself. Keep the result out of logs, errors and `Debug` output.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The relayer's ed25519 seed (32 bytes), read from the key file. Zeroed on drop.
pub struct RelayerKey {
    seed: [u8; 32],
}

impl RelayerKey {
    /// Parses the key file's content: the seed as 64 hex digits (surrounding whitespace
    /// allowed). The error never quotes the content.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(format!(
                "holds {} characters, expected 64 hex digits (a 32-byte ed25519 seed)",
                text.len()
            ));
        }
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text, &mut seed)
            .map_err(|_| "is not 64 hex digits (a 32-byte ed25519 seed)".to_owned())?;
        Ok(RelayerKey { seed })
    }

    /// Reads and parses a key file (its permissions are checked by the config loader).
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {e}"))?;
        Self::parse(&text)
    }

    /// The seed, for the signer. Keep it out of logs.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }
}

impl fmt::Debug for RelayerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RelayerKey(<redacted>)")
    }
}

impl Drop for RelayerKey {
    fn drop(&mut self) {
        for byte in &mut self.seed {
            // Volatile, so the compiler cannot drop the wipe as a dead store.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}
