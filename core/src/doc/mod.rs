//! Documents as replicas: an Automerge document plus its typed state, changed only through
//! operations that the rulebook has judged. Pure in-memory values (no I/O), so the device
//! store and the server use them alike.

mod case;
mod workspace;

pub use case::{CaseDoc, NotesEdit};
pub use workspace::WorkspaceDoc;

use automerge::transaction::{CommitOptions, Transaction};
use automerge::{Automerge, ReadDoc};

use crate::change::{ChangeRef, LocalChange};
use crate::context::{Author, ChangeNote, actor_for};
use crate::error::{Error, Result};
use crate::model::Timestamp;

/// Runs one edit as one Automerge change: `edit` writes, `judge` reads the resulting state
/// and applies the rulebook. Any error rolls the transaction back, so a refused edit
/// leaves no trace in the document.
pub(crate) fn commit<T, S>(
    doc: &mut Automerge,
    author: &Author,
    now: Timestamp,
    summary: String,
    edit: impl FnOnce(&mut Transaction<'_>) -> Result<T>,
    judge: impl FnOnce(&Transaction<'_>) -> Result<S>,
) -> Result<(Option<LocalChange>, T, S)> {
    let actor = actor_for(&author.device);
    if doc.get_actor() != &actor {
        doc.set_actor(actor);
    }
    let mut tx = doc.transaction();
    let out = edit(&mut tx)?;
    let state = judge(&tx)?;
    let options = CommitOptions::default()
        .with_message(ChangeNote::encode(&author.member, &summary))
        .with_time(now.0);
    let (hash, _) = tx.commit_with(options);
    // An edit that writes nothing (the same text again) makes no change.
    let Some(hash) = hash else {
        return Ok((None, out, state));
    };
    let mut change = doc
        .get_change_by_hash(&hash)
        .ok_or_else(|| Error::UnknownChange(hash.to_string()))?;
    let change = LocalChange {
        bytes: change.bytes().into_owned(),
        hash: ChangeRef::from_hash(&hash),
        summary,
    };
    Ok((Some(change), out, state))
}
