//! The workspace document as a replica.

use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ROOT, ReadDoc};

use super::commit;
use crate::am::{RawConflict, Writer, format_date};
use crate::change::LocalChange;
use crate::context::{Author, actor_for};
use crate::error::{Error, Result};
use crate::ids::{MemberId, WorkspaceId};
use crate::item::ItemRef;
use crate::model::{
    Budget, Mandate, NewMember, ProvisionCategory, Role, Timestamp, Workspace, read_workspace,
};
use crate::rules;
use crate::untrusted::{self, Limits};

/// A team's workspace document: members, roles, mandates and budgets.
#[derive(Debug)]
pub struct WorkspaceDoc {
    doc: Automerge,
    state: Workspace,
    conflicts: Vec<RawConflict>,
    outbox: Vec<LocalChange>,
}

fn write_mandate(
    w: &mut Writer<'_, Transaction<'_>>,
    member: &automerge::ObjId,
    mandate: &Mandate,
) -> Result<()> {
    // Per category into the one map the member has, so that two managers changing
    // different categories offline both keep their change, and the same category shows as
    // a conflict rather than one whole mandate silently replacing the other.
    let limits = w.ensure_map(member, "mandate")?;
    for cat in ProvisionCategory::ALL {
        match mandate.limit(*cat) {
            Some(limit) => w.i64(&limits, cat.as_str(), limit.cents())?,
            None => w.tx.delete(&limits, cat.as_str())?,
        }
    }
    Ok(())
}

fn write_member(w: &mut Writer<'_, Transaction<'_>>, id: &MemberId, m: &NewMember) -> Result<()> {
    let members = w.ensure_map(&ROOT, "members")?;
    if w.tx.get(&members, id.as_str())?.is_some() {
        return Err(rules::RuleViolation::Invalid {
            item: ItemRef::Member(id.clone()),
            field: "id",
            reason: "is already a member",
        }
        .into());
    }
    let obj = w.map(&members, id.as_str())?;
    w.str(&obj, "display_name", &m.display_name)?;
    w.enum_(&obj, "role", m.role)?;
    w.bool(&obj, "active", true)?;
    write_mandate(w, &obj, &m.mandate)
}

impl WorkspaceDoc {
    /// Creates a workspace with its first member, who must be an admin or team lead. The
    /// author's member id becomes that member's id.
    pub fn create(
        author: &Author,
        now: Timestamp,
        name: &str,
        area: &str,
        founder: NewMember,
    ) -> Result<(WorkspaceDoc, WorkspaceId)> {
        let id = WorkspaceId::random();
        let mut doc = Automerge::new().with_actor(actor_for(&author.device));
        let (change, (), (state, conflicts)) = commit(
            &mut doc,
            author,
            now,
            "workspace created".to_owned(),
            None,
            |tx| {
                let mut w = Writer::new(tx);
                w.str(&ROOT, "id", id.as_str())?;
                w.str(&ROOT, "name", name)?;
                w.str(&ROOT, "area", area)?;
                w.map(&ROOT, "members")?;
                w.map(&ROOT, "budgets")?;
                write_member(&mut w, &author.member, &founder)
            },
            |tx| {
                let (after, c) = read_workspace(tx)?;
                rules::check_workspace_change(&author.member, None, &after)?;
                Ok((after, c))
            },
        )?;
        let ws = WorkspaceDoc {
            doc,
            state,
            conflicts,
            outbox: change.into_iter().collect(),
        };
        Ok((ws, id))
    }

    /// Loads a workspace document that came from elsewhere.
    pub fn load(bytes: &[u8]) -> Result<WorkspaceDoc> {
        Self::read(untrusted::load_document(bytes, &Limits::default())?)
    }

    /// A replica of `doc`, read through the panic quarantine.
    fn read(doc: Automerge) -> Result<WorkspaceDoc> {
        let (state, conflicts) = untrusted::read("workspace", || read_workspace(&doc))?;
        Ok(WorkspaceDoc {
            doc,
            state,
            conflicts,
            outbox: Vec::new(),
        })
    }

    /// Applies changes that came from elsewhere; see [`crate::CaseDoc::apply_remote`].
    pub fn apply_remote(&mut self, bytes: &[u8], limits: &Limits) -> Result<bool> {
        // No changes at all (a server's no-op edit in the feed) is nothing to take in, not
        // malformed input: refusing it would stop every later sync at this point.
        if bytes.is_empty() {
            return Ok(false);
        }
        let heads = self.doc.get_heads();
        let (merged, _) = untrusted::apply_changes(&self.doc, bytes, limits)?;
        if merged.get_heads() == heads {
            return Ok(false);
        }
        let (state, conflicts) = untrusted::read("workspace", || read_workspace(&merged))?;
        if state.id != self.state.id {
            return Err(untrusted::wrong_kind("workspace").into());
        }
        self.doc = merged;
        self.state = state;
        self.conflicts = conflicts;
        Ok(true)
    }

    /// Takes in workspace changes a device pushed; see [`crate::CaseDoc::ingest`].
    pub fn ingest(&self, bytes: &[u8], author: &Author, limits: &Limits) -> Result<WorkspaceDoc> {
        let merged = super::ingest(
            &self.doc,
            bytes,
            author,
            limits,
            |doc| untrusted::read("workspace", || read_workspace(doc)),
            |before, (after, _), _| {
                let Some((before, _)) = before else {
                    return Err(untrusted::wrong_kind("workspace with one beginning").into());
                };
                Ok(rules::check_workspace_change(
                    &author.member,
                    Some(before),
                    after,
                )?)
            },
        )?;
        let (state, conflicts) = untrusted::read("workspace", || read_workspace(&merged))?;
        if state.id != self.state.id {
            return Err(untrusted::wrong_kind("workspace").into());
        }
        Ok(WorkspaceDoc {
            doc: merged,
            state,
            conflicts,
            outbox: Vec::new(),
        })
    }

    /// This replica as it was at `heads`; see [`crate::CaseDoc`]'s counterpart.
    /// Whether this replica has every one of `changes`.
    pub(crate) fn has_all(&self, changes: &[crate::ChangeRef]) -> bool {
        changes.iter().all(|c| {
            c.to_hash()
                .is_some_and(|h| self.doc.get_change_meta_by_hash(&h).is_some())
        })
    }

    pub(crate) fn at(&self, heads: &[crate::ChangeRef]) -> Result<WorkspaceDoc> {
        let hashes: Vec<_> = heads.iter().filter_map(crate::ChangeRef::to_hash).collect();
        Self::read(self.doc.fork_at(&hashes)?)
    }

    /// The workspace as it stands.
    pub fn workspace(&self) -> &Workspace {
        &self.state
    }

    /// Whether any workspace field has concurrent values waiting for a person's choice.
    pub fn has_conflicts(&self) -> bool {
        !self.conflicts.is_empty()
    }

    /// The whole document, compacted.
    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// The current heads of the document.
    pub fn heads(&self) -> Vec<crate::ChangeRef> {
        self.doc
            .get_heads()
            .iter()
            .map(crate::ChangeRef::from_hash)
            .collect()
    }

    /// Encoded changes this replica has that a replica at `since` lacks.
    pub fn changes_since(&self, since: &[crate::ChangeRef]) -> Vec<u8> {
        let heads: Vec<_> = since.iter().filter_map(crate::ChangeRef::to_hash).collect();
        self.doc.save_after(&heads)
    }

    /// The changes made since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<LocalChange> {
        std::mem::take(&mut self.outbox)
    }

    fn edit<T>(
        &mut self,
        author: &Author,
        now: Timestamp,
        summary: String,
        f: impl FnOnce(&mut Writer<'_, Transaction<'_>>) -> Result<T>,
    ) -> Result<T> {
        let WorkspaceDoc {
            doc,
            state,
            conflicts,
            outbox,
        } = self;
        let (change, out, (after, c)) = commit(
            doc,
            author,
            now,
            summary,
            None,
            |tx| f(&mut Writer::new(tx)),
            |tx| {
                let (after, c) = read_workspace(tx)?;
                rules::check_workspace_change(&author.member, Some(state), &after)?;
                Ok((after, c))
            },
        )?;
        *state = after;
        *conflicts = c;
        outbox.extend(change);
        Ok(out)
    }

    fn member_obj(w: &mut Writer<'_, Transaction<'_>>, id: &MemberId) -> Result<automerge::ObjId> {
        use automerge::{ReadDoc, Value};
        let members = w.ensure_map(&ROOT, "members")?;
        match w.tx.get(&members, id.as_str())? {
            Some((Value::Object(_), obj)) => Ok(obj),
            _ => Err(Error::NotFound {
                what: "member",
                id: id.to_string(),
            }),
        }
    }

    /// Adds a member with an id of their own (from enrolment or the admin tool).
    pub fn add_member(
        &mut self,
        author: &Author,
        now: Timestamp,
        id: &MemberId,
        member: NewMember,
    ) -> Result<()> {
        let summary = format!("member {} added as {}", id.short(), member.role);
        self.edit(author, now, summary, |w| write_member(w, id, &member))
    }

    /// Replaces a member's mandate. Nobody changes their own.
    pub fn set_mandate(
        &mut self,
        author: &Author,
        now: Timestamp,
        id: &MemberId,
        mandate: &Mandate,
    ) -> Result<()> {
        let summary = format!("mandate of {} changed", id.short());
        self.edit(author, now, summary, |w| {
            let obj = Self::member_obj(w, id)?;
            write_mandate(w, &obj, mandate)
        })
    }

    /// Changes a member's role.
    pub fn set_role(
        &mut self,
        author: &Author,
        now: Timestamp,
        id: &MemberId,
        role: Role,
    ) -> Result<()> {
        let summary = format!("{} is now {role}", id.short());
        self.edit(author, now, summary, |w| {
            let obj = Self::member_obj(w, id)?;
            w.enum_(&obj, "role", role)
        })
    }

    /// Marks a member as having left; their past work stays attributed to them.
    pub fn deactivate_member(
        &mut self,
        author: &Author,
        now: Timestamp,
        id: &MemberId,
    ) -> Result<()> {
        let summary = format!("{} left the team", id.short());
        self.edit(author, now, summary, |w| {
            let obj = Self::member_obj(w, id)?;
            w.bool(&obj, "active", false)
        })
    }

    /// Sets the team budget for a period.
    pub fn set_budget(&mut self, author: &Author, now: Timestamp, budget: &Budget) -> Result<()> {
        let summary = format!("budget {} set to {}", budget.period, budget.amount);
        self.edit(author, now, summary, |w| {
            let budgets = w.ensure_map(&ROOT, "budgets")?;
            let obj = w.ensure_map(&budgets, &format_date(budget.period.start))?;
            w.date(&obj, "start", budget.period.start)?;
            w.date(&obj, "end", budget.period.end)?;
            w.i64(&obj, "amount", budget.amount.cents())
        })
    }
}
