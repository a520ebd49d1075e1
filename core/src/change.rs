//! A change made locally, ready to be stored and sent.

use automerge::ChangeHash;

/// A committed local change: its encoded bytes (what the store appends and sync sends) and
/// the readable summary that also stands in the case history.
#[derive(Clone, Debug)]
pub struct LocalChange {
    /// The encoded Automerge change.
    pub bytes: Vec<u8>,
    /// Its hash, as a history reference.
    pub hash: ChangeRef,
    /// What it did, in words.
    pub summary: String,
}

/// A point in a document's history: the hash of one change, in hex.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ChangeRef(String);

impl ChangeRef {
    pub(crate) fn from_hash(h: &ChangeHash) -> Self {
        ChangeRef(h.to_string())
    }

    pub(crate) fn to_hash(&self) -> Option<ChangeHash> {
        self.0.parse().ok()
    }

    /// Parses a reference from its hex form.
    pub fn parse(s: &str) -> crate::Result<Self> {
        let r = ChangeRef(s.to_owned());
        r.to_hash()
            .map(|_| r)
            .ok_or_else(|| crate::Error::UnknownChange(s.chars().take(64).collect()))
    }

    /// The hex form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ChangeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
