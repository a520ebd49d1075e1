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
use crate::item::ItemRef;
use crate::model::Timestamp;
use crate::rules;
use crate::untrusted::{self, Limits};

/// Runs one edit as one Automerge change: `edit` writes, `judge` reads the resulting state
/// and applies the rulebook. Any error rolls the transaction back, so a refused edit
/// leaves no trace in the document.
pub(crate) fn commit<T, S>(
    doc: &mut Automerge,
    author: &Author,
    now: Timestamp,
    summary: String,
    resolves: Option<&ItemRef>,
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
        .with_message(ChangeNote::encode(&author.member, &summary, resolves))
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

/// Takes in changes a device pushed, judging each one as its author made it: the state at
/// the change's parents before, the state right after it, and the member named in it,
/// which must be the device's own. All or nothing: the returned document has every change,
/// or an error says which rule the first offending change broke.
///
/// A device's changes form one chain (its actor's sequence), so a running copy moves from
/// one to the next and each state is read once: linear in the number of changes. Only when
/// a change also depends on others' changes (the device synced in between) is the copy
/// taken afresh at its parents.
pub(crate) fn ingest<S>(
    base: &Automerge,
    bytes: &[u8],
    author: &Author,
    limits: &Limits,
    read: impl Fn(&Automerge) -> Result<S>,
    mut judge: impl FnMut(Option<&S>, &S, Option<&ItemRef>) -> Result<()>,
) -> Result<Automerge> {
    // With the changes `merged` has that `base` lacks.
    let (merged, mut pending) = untrusted::apply_changes(base, bytes, limits)?;
    let actor = actor_for(&author.device);
    let forged = || rules::RuleViolation::NotAuthorized {
        action: rules::Action::WriteAsAnother,
    };
    if pending.iter().any(|c| c.actor_id() != &actor) {
        return Err(forged().into());
    }
    pending.sort_by_key(automerge::Change::seq);
    let mut running: Option<(Automerge, S)> = None;
    for change in pending {
        let note = ChangeNote::decode(change.message())
            .filter(|n| n.member == author.member)
            .ok_or_else(forged)?;
        let mut parents = change.deps().to_vec();
        parents.sort_unstable();
        let (mut copy, before) = match running.take() {
            Some((doc, state))
                if {
                    let mut heads = doc.get_heads();
                    heads.sort_unstable();
                    heads == parents
                } =>
            {
                (doc, Some(state))
            }
            _ if parents.is_empty() => (Automerge::new(), None),
            _ => {
                let copy = untrusted::read("document", || Ok(merged.fork_at(&parents)?))?;
                let state = read(&copy)?;
                (copy, Some(state))
            }
        };
        untrusted::read("changes", || Ok(copy.apply_changes([change.clone()])?))?;
        let after = read(&copy)?;
        judge(before.as_ref(), &after, note.resolves.as_ref())?;
        running = Some((copy, after));
    }
    Ok(merged)
}
