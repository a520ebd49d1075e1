//! Enrolment codes and device credentials. Only their SHA-256 hashes are stored: both are
//! random with enough entropy that a hash without salt is safe, and a lookup by hash keeps
//! comparison timing out of the picture.

use sha2::{Digest, Sha256};

use crate::error::{ServerError, ServerResult};

/// Characters of an enrolment code: no 0/O, 1/I/L, easy to read aloud and type.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const CODE_LEN: usize = 12;

fn random_bytes<const N: usize>() -> ServerResult<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| ServerError::Task)?;
    Ok(b)
}

/// A new one-time enrolment code, e.g. `7KQ4-MZ2X-HV9C` (about 59 bits).
pub fn new_enrolment_code() -> ServerResult<String> {
    let mut code = String::new();
    for (i, b) in random_bytes::<CODE_LEN>()?.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        // 256 is not a multiple of 31; the bias this leaves is far below what matters for
        // a short-lived, single-use code.
        code.push(char::from(
            CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()],
        ));
    }
    Ok(code)
}

/// The hash stored for a code, whatever the case and separators it is typed with.
pub fn code_hash(code: &str) -> Vec<u8> {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Sha256::digest(normalized.as_bytes()).to_vec()
}

/// A new device credential (256 bits, hex).
pub fn new_credential() -> ServerResult<String> {
    Ok(hex::encode(random_bytes::<32>()?))
}

/// The hash stored for a credential.
pub fn credential_hash(credential: &str) -> Vec<u8> {
    Sha256::digest(credential.trim().as_bytes()).to_vec()
}
