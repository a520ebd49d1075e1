//! Quarantine for bytes that came from elsewhere.
//!
//! Automerge 0.12 can panic, or try to allocate without bound, on some malformed documents
//! and changes. Nothing from another device (or from disk, which another process may have
//! written) reaches it before passing the checks here: a size limit, then a structural walk
//! that bounds what decoding will allocate ([`chunks`]), then decoding on a copy with panics
//! contained, so a failure leaves the live document untouched.

mod chunks;

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{Automerge, ReadDoc};

use crate::error::{Error, UntrustedInput};

/// Size limits for untrusted input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole document accepted.
    pub max_document_bytes: usize,
    /// Largest batch of changes accepted at once.
    pub max_changes_bytes: usize,
    /// Most rows (operations, changes) any one column may describe: what bounds the memory
    /// decoding takes, since a few bytes can describe millions of rows.
    pub max_rows: u64,
    /// Most rows all columns of one input may describe together.
    pub max_total_rows: u64,
    /// Most bytes that decompressing one input may produce.
    pub max_inflated_bytes: u64,
}

impl Default for Limits {
    /// A case with years of notes compacts to well under a megabyte; these limits leave a
    /// wide margin while keeping a hostile input's cost bounded.
    fn default() -> Self {
        Limits {
            max_document_bytes: 32 * 1024 * 1024,
            max_changes_bytes: 8 * 1024 * 1024,
            max_rows: 1_000_000,
            max_total_rows: 16_000_000,
            max_inflated_bytes: 64 * 1024 * 1024,
        }
    }
}

fn too_large(kind: &'static str, size: usize, limit: usize) -> Result<(), UntrustedInput> {
    if size > limit {
        Err(UntrustedInput::TooLarge { kind, size, limit })
    } else {
        Ok(())
    }
}

pub(crate) fn wrong_kind(expected: &'static str) -> UntrustedInput {
    UntrustedInput::WrongKind {
        kind: "document",
        expected,
    }
}

fn contained<T>(
    kind: &'static str,
    f: impl FnOnce() -> Result<T, automerge::AutomergeError>,
) -> Result<T, UntrustedInput> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        // Automerge's error text can quote the input (a map key); keep it out of messages.
        Ok(Err(_)) => Err(UntrustedInput::Malformed {
            kind,
            reason: "not a valid Automerge encoding".to_owned(),
        }),
        Err(_) => Err(UntrustedInput::DecoderPanicked { kind }),
    }
}

/// Reads the typed state out of a document that came from elsewhere, with panics contained:
/// Automerge's accessors run on a structure the input shaped.
pub(crate) fn read<T>(
    expected: &'static str,
    f: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) => Err(wrong_kind(expected).into()),
        Err(_) => Err(UntrustedInput::DecoderPanicked { kind: "document" }.into()),
    }
}

fn structure(kind: &'static str, bytes: &[u8], limits: &Limits) -> Result<(), UntrustedInput> {
    let mut budget = chunks::Budget {
        max_rows: limits.max_rows,
        rows_left: limits.max_total_rows,
        inflate_left: limits.max_inflated_bytes,
    };
    chunks::check(bytes, &mut budget).map_err(|reason| UntrustedInput::Malformed {
        kind,
        reason: reason.to_owned(),
    })
}

/// Loads a whole document from untrusted bytes.
pub(crate) fn load_document(bytes: &[u8], limits: &Limits) -> Result<Automerge, Error> {
    too_large("document", bytes.len(), limits.max_document_bytes)?;
    structure("document", bytes, limits)?;
    Ok(contained("document", || Automerge::load(bytes))?)
}

/// Applies untrusted changes to a copy of `doc` and returns the copy with the changes it
/// gained; `doc` itself is never touched, so a failure half-way cannot leave it
/// half-changed.
pub(crate) fn apply_changes(
    doc: &Automerge,
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Automerge, Vec<automerge::Change>), Error> {
    too_large("changes", bytes.len(), limits.max_changes_bytes)?;
    structure("changes", bytes, limits)?;
    let mut copy = doc.clone();
    contained("changes", || copy.load_incremental(bytes))?;
    if !copy.get_missing_deps(&[]).is_empty() {
        return Err(UntrustedInput::Malformed {
            kind: "changes",
            reason: "depend on changes this replica does not have".into(),
        }
        .into());
    }
    // Some crafted changes load without missing dependencies yet leave a change graph that
    // Automerge 0.12 panics on when walking it (fuzz finding server_session/e258ff4f): walk
    // the new changes here, contained, so such a copy is refused before anyone uses it.
    let added = contained("changes", || Ok(doc.get_changes_added(&copy)))?;
    // A copy whose saved bytes do not load would be stored and then lock everyone out of
    // the document. Release builds of Automerge 0.12 accept some crafted changes that debug
    // builds refuse (fuzz finding document/ba8eb10f): refuse such a copy here.
    contained("changes", || Automerge::load(&copy.save()))?;
    Ok((copy, added))
}
