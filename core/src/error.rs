//! The one error type of the core.
//!
//! Every variant says what the caller can do about it. Messages carry identifiers and field
//! names only, never the contents of a case, so they are safe to log and to show.

use crate::item::ItemRef;
use crate::rules::RuleViolation;

/// Result with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The change breaks a rule of the rulebook; nothing was written. Show the rule to the
    /// user: it names what to fix.
    #[error("refused by the rulebook: {0}")]
    Rule(#[from] RuleViolation),

    /// An identifier from outside is not well formed.
    #[error("invalid {kind} identifier")]
    InvalidId {
        /// Which kind of identifier.
        kind: &'static str,
    },

    /// The thing asked for does not exist (or is not on this device).
    #[error("{what} {id} not found")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// Its identifier.
        id: String,
    },

    /// The store was opened with a key that does not decrypt it. Nothing was changed; open
    /// it again with the right key.
    #[error("the store cannot be decrypted with this key")]
    WrongKey,

    /// The store holds no workspace yet, or no member is signed in on this device: create or
    /// join a workspace first.
    #[error("no workspace on this device yet: create or join one first")]
    NoWorkspace,

    /// Bytes that came from elsewhere (a document or a change) were refused before they could
    /// touch any state. The sender's data is at fault; nothing local was changed.
    #[error("refused untrusted input: {0}")]
    Untrusted(#[from] UntrustedInput),

    /// A document holds a field in a shape this version cannot read. It was not changed.
    #[error("document is malformed at {item}: field `{field}`")]
    Malformed {
        /// Where in the document.
        item: ItemRef,
        /// Which field.
        field: &'static str,
    },

    /// The conflict to resolve no longer exists or changed since it was listed: list the
    /// conflicts again and choose again.
    #[error("conflict {id} is no longer open as listed; list conflicts again")]
    StaleConflict {
        /// The conflict's identifier.
        id: String,
    },

    /// The point in history asked for is not part of this document.
    #[error("unknown point in history: {0}")]
    UnknownChange(String),

    /// The database failed (disk full, I/O error, corrupt file). The last write did not
    /// happen; earlier acknowledged writes are kept.
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),

    /// The store's contents are not what this version wrote. Nothing was changed; restore
    /// the device from the server.
    #[error("store is corrupt: {what}")]
    Corrupt {
        /// What is wrong.
        what: &'static str,
    },

    /// The operating system could not provide what was needed (e.g. secure randomness).
    #[error("platform failure: {what}")]
    Platform {
        /// What failed.
        what: &'static str,
    },

    /// Automerge refused an operation. Indicates a bug in the core; nothing was written.
    #[error("document error: {0}")]
    Document(#[from] automerge::AutomergeError),
}

/// Why bytes from elsewhere were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UntrustedInput {
    /// Larger than this core accepts for its kind.
    #[error("{kind} of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Document or change.
        kind: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a well-formed Automerge document or change.
    #[error("{kind} is malformed: {reason}")]
    Malformed {
        /// Document or change.
        kind: &'static str,
        /// What is wrong, without the content.
        reason: String,
    },
    /// The decoder failed unexpectedly on these bytes; they were contained and dropped.
    #[error("{kind} crashed the decoder and was dropped")]
    DecoderPanicked {
        /// Document or change.
        kind: &'static str,
    },
    /// Well formed, but not a document of the kind expected (e.g. a workspace offered as a
    /// case), or it breaks the rulebook as a whole.
    #[error("{kind} does not hold a valid {expected}")]
    WrongKind {
        /// Document or change.
        kind: &'static str,
        /// What was expected.
        expected: &'static str,
    },
}
