//! The one error type apps see, mapped from core's at this boundary.

use keukentafel_core::Error;

/// What went wrong, in a few kinds an app can act on. Messages name rules, fields and
/// identifiers, never case contents: they are safe to log and to show.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum KeukentafelError {
    /// The rulebook refused the change; nothing was written. Show `reason` to the user: it
    /// names what to fix (a required field, a decision above the mandate, ...).
    #[error("refused: {reason}")]
    Refused {
        /// The rule, in words.
        reason: String,
    },
    /// A value passed in is not valid (an identifier, a date, a score).
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong.
        reason: String,
    },
    /// The case, decision or other item asked for is not on this device.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The conflict changed since it was listed: list the conflicts again and choose again.
    #[error("the conflict changed since it was listed")]
    StaleConflict,
    /// The store cannot be decrypted with this key. Nothing was changed.
    #[error("the store cannot be decrypted with this key")]
    WrongKey,
    /// This device is not enrolled in a team yet (or was wiped): enrol first.
    #[error("this device is not enrolled yet")]
    NotEnrolled,
    /// The server could not be reached or the connection broke. Nothing recorded is lost;
    /// sync again later.
    #[error("network: {reason}")]
    Network {
        /// What failed.
        reason: String,
    },
    /// The server turned the device away: an unknown, used or expired enrolment code, or a
    /// revoked device. Ask the team's admin for a new code.
    #[error("not authorised: {reason}")]
    Unauthorized {
        /// The server's reason.
        reason: String,
    },
    /// The sync was cancelled. What was stored before stays stored.
    #[error("cancelled")]
    Cancelled,
    /// The device's storage failed (disk full, I/O error, corrupt file). The last write did
    /// not happen; earlier ones are kept.
    #[error("storage: {reason}")]
    Storage {
        /// What failed.
        reason: String,
    },
    /// A bug: please report it. Reopen the store to continue.
    #[error("internal error: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl From<Error> for KeukentafelError {
    fn from(e: Error) -> Self {
        let reason = e.to_string();
        match e {
            Error::Rule(v) => KeukentafelError::Refused {
                reason: v.to_string(),
            },
            Error::InvalidId { .. } | Error::UnknownChange(_) => {
                KeukentafelError::InvalidInput { reason }
            }
            Error::NotFound { what, id } => KeukentafelError::NotFound {
                what: format!("{what} {id}"),
            },
            Error::StaleConflict { .. } => KeukentafelError::StaleConflict,
            Error::WrongKey => KeukentafelError::WrongKey,
            Error::NoWorkspace => KeukentafelError::NotEnrolled,
            Error::Untrusted(_) => KeukentafelError::Network { reason },
            Error::Storage(_) | Error::Corrupt { .. } | Error::Platform { .. } => {
                KeukentafelError::Storage { reason }
            }
            _ => KeukentafelError::Internal { reason },
        }
    }
}

/// Result with the bindings' error.
pub type Result<T, E = KeukentafelError> = std::result::Result<T, E>;
