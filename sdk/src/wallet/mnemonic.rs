//! TON mnemonics: 24 English BIP-39 words, but TON's own key derivation
//! (HMAC-SHA512 entropy, PBKDF2 "TON default seed"), as in `@ton/crypto`.

use rand::seq::SliceRandom;
use tonlib_core::wallet::mnemonic::{Mnemonic, WORDLIST_EN_SET};

use crate::{Error, Result, SigningKey};

/// The ed25519 key of a 24-word mnemonic without password.
pub fn mnemonic_to_key(phrase: &str) -> Result<SigningKey> {
    let mnemonic = Mnemonic::from_str(phrase, &None).map_err(|e| Error::Mnemonic(e.to_string()))?;
    let pair = mnemonic
        .to_key_pair()
        .map_err(|e| Error::Mnemonic(e.to_string()))?;
    let seed: [u8; 32] = pair.secret_key[..32]
        .try_into()
        .map_err(|_| Error::Key("short seed".into()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A fresh random mnemonic that TON wallets accept (its seed passes the
/// "basic seed" check, about one phrase in 256).
pub fn generate_mnemonic() -> String {
    let words: Vec<&str> = WORDLIST_EN_SET.keys().copied().collect();
    let mut rng = rand::thread_rng();
    loop {
        let phrase: Vec<&str> = (0..24)
            .map(|_| *words.choose(&mut rng).expect("non-empty list"))
            .collect();
        if Mnemonic::new(phrase.clone(), &None).is_ok() {
            return phrase.join(" ");
        }
    }
}
