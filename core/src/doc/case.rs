//! The case document as a replica: typed operations, each one Automerge change judged by
//! the rulebook before it is kept.

use std::collections::BTreeSet;

use automerge::transaction::Transaction;
use automerge::{Automerge, ObjId, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable};
use time::Date;

use super::commit;
use crate::am::{RawConflict, Writer};
use crate::change::{ChangeRef, LocalChange};
use crate::conflict::{self, Conflict, ConflictId};
use crate::context::{Author, Context, actor_for};
use crate::error::{Error, Result};
use crate::history::{self, HistoryEntry};
use crate::ids::{
    AgreementId, AssessmentId, CaseId, ConversationId, DecisionId, GoalId, MemberId, ParticipantId,
    PersonId, ProgressId, SignalId,
};
use crate::item::ItemRef;
use crate::model::{
    Case, CaseStatus, ClosureReason, DecisionStatus, GoalStatus, NewAgreement, NewAssessment,
    NewCase, NewConversation, NewDecision, NewGoal, NewHouseholdMember, NewKnelpuntSignal,
    Workspace, read_case,
};
use crate::rules;
use crate::untrusted::{self, Limits};

/// An edit of the collaboratively editable conversation notes. Positions count Unicode
/// scalar values (Rust `char`s), not bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotesEdit {
    /// Delete `delete` characters at `at`, then insert `insert` there.
    Splice {
        /// Position.
        at: usize,
        /// Characters to delete.
        delete: usize,
        /// Text to insert.
        insert: String,
    },
    /// Make the notes read `text`, as the smallest set of inserts and deletes, so that a
    /// concurrent edit elsewhere in the notes survives.
    Replace(String),
}

/// One case document: the household, its conversations, decisions, goals, assessments and
/// signals. Every operation is one Automerge change, judged by the rulebook; the changes
/// made wait in [`CaseDoc::take_changes`] for the store (or the sync engine) to take.
#[derive(Debug)]
pub struct CaseDoc {
    doc: Automerge,
    state: Case,
    conflicts: Vec<RawConflict>,
    outbox: Vec<LocalChange>,
}

fn child(tx: &impl ReadDoc, path: &[&str]) -> Result<ObjId> {
    let mut obj = ROOT;
    for key in path {
        obj = match tx.get(&obj, *key)? {
            Some((Value::Object(_), id)) => id,
            _ => {
                return Err(Error::NotFound {
                    what: "item",
                    id: path.last().copied().unwrap_or_default().to_owned(),
                });
            }
        };
    }
    Ok(obj)
}

fn write_decision(w: &mut Writer<'_, Transaction<'_>>, obj: &ObjId, d: &NewDecision) -> Result<()> {
    w.str(obj, "provision", &d.provision)?;
    w.enum_(obj, "category", d.category)?;
    w.date(obj, "start", d.period.start)?;
    w.date(obj, "end", d.period.end)?;
    w.i64(obj, "amount", d.amount.cents())?;
    w.str(obj, "legal_ground", &d.legal_ground)?;
    w.str(obj, "motivation", &d.motivation)?;
    w.opt_str(obj, "deviation", d.deviation.as_deref())?;
    w.opt_str(obj, "supersedes", d.supersedes.as_ref().map(|s| s.as_str()))?;
    Ok(())
}

/// The fields [`write_decision`] writes: what a signature or decision is given on.
const DECISION_CONTENT: [&str; 9] = [
    "provision",
    "category",
    "start",
    "end",
    "amount",
    "legal_ground",
    "motivation",
    "deviation",
    "supersedes",
];

impl CaseDoc {
    /// Opens a new case. The creator is assigned when `new.assigned` is empty.
    pub fn create(ctx: &Context<'_>, new: NewCase) -> Result<(CaseDoc, CaseId)> {
        let id = CaseId::random();
        let mut doc = Automerge::new().with_actor(actor_for(&ctx.author.device));
        let summary = format!("case opened (melding {})", new.melding_date);
        let member = &ctx.author.member;
        let (change, (), (state, conflicts)) = commit(
            &mut doc,
            ctx.author,
            ctx.now,
            summary,
            None,
            |tx| {
                let mut w = Writer::new(tx);
                w.str(&ROOT, "id", id.as_str())?;
                w.str(&ROOT, "workspace", ctx.workspace.id.as_str())?;
                w.str(&ROOT, "case_number", &new.case_number)?;
                w.enum_(&ROOT, "law", new.law)?;
                w.enum_(&ROOT, "status", CaseStatus::Melding)?;
                w.date(&ROOT, "melding_date", new.melding_date)?;
                w.opt_date(&ROOT, "aanvraag_date", None)?;
                w.str(&ROOT, "created_by", member.as_str())?;
                w.i64(&ROOT, "created_at", ctx.now.0)?;
                // Every container exists from the start: two replicas that each created
                // the same map concurrently would hide one another's entries.
                let household = w.map(&ROOT, "household")?;
                for p in &new.household {
                    write_person(&mut w, &household, &PersonId::random(), p)?;
                }
                let assigned = w.map(&ROOT, "assigned")?;
                let mut who: Vec<&MemberId> = new.assigned.iter().collect();
                if who.is_empty() {
                    who.push(member);
                }
                for m in who {
                    w.tx.put(&assigned, m.as_str(), true)?;
                }
                for key in [
                    "conversations",
                    "decisions",
                    "goals",
                    "assessments",
                    "signals",
                ] {
                    w.map(&ROOT, key)?;
                }
                Ok(())
            },
            |tx| {
                let (after, conflicts) = read_case(tx)?;
                rules::check_case_change(
                    ctx.workspace,
                    member,
                    None,
                    &after,
                    &BTreeSet::new(),
                    None,
                )?;
                Ok((after, conflicts))
            },
        )?;
        let case = CaseDoc {
            doc,
            state,
            conflicts,
            outbox: change.into_iter().collect(),
        };
        Ok((case, id))
    }

    /// Loads a document that came from elsewhere (the store, the server, another device),
    /// within the default [`Limits`].
    pub fn load(bytes: &[u8]) -> Result<CaseDoc> {
        Self::load_with_limits(bytes, &Limits::default())
    }

    /// Loads a document within the given limits.
    pub fn load_with_limits(bytes: &[u8], limits: &Limits) -> Result<CaseDoc> {
        let doc = untrusted::load_document(bytes, limits)?;
        Self::from_automerge(doc)
    }

    fn from_automerge(doc: Automerge) -> Result<CaseDoc> {
        let (state, conflicts) = untrusted::read("case", || read_case(&doc))?;
        Ok(CaseDoc {
            doc,
            state,
            conflicts,
            outbox: Vec::new(),
        })
    }

    /// Applies changes that came from elsewhere (encoded changes, as produced by
    /// [`LocalChange::bytes`] or concatenated). Untrusted: size-limited, decoded in
    /// quarantine, and only kept if the result is still a readable case. Concurrent edits
    /// that together break a rule show up in [`CaseDoc::conflicts`]. Returns whether the
    /// state changed.
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
        let (state, conflicts) = untrusted::read("case", || read_case(&merged))?;
        if state.id != self.state.id {
            return Err(untrusted::wrong_kind("case").into());
        }
        self.doc = merged;
        self.state = state;
        self.conflicts = conflicts;
        Ok(true)
    }

    /// Takes in changes a device pushed (the server's side of sync): each change is judged
    /// by the rulebook at the point its author made it, as the device's own member, and
    /// must carry the device's actor. `existing` is the server's replica, `None` for a case
    /// the device opened. All or nothing.
    pub fn ingest(
        existing: Option<&CaseDoc>,
        bytes: &[u8],
        author: &Author,
        workspace: &Workspace,
        limits: &Limits,
    ) -> Result<CaseDoc> {
        let empty = Automerge::new();
        let base = existing.map_or(&empty, |d| &d.doc);
        let mut beginnings = usize::from(existing.is_some());
        let merged = super::ingest(
            base,
            bytes,
            author,
            limits,
            |doc| untrusted::read("case", || read_case(doc)),
            |before, (after, _), resolves| {
                let Some((before, raw)) = before else {
                    beginnings += 1;
                    if beginnings > 1 {
                        return Err(untrusted::wrong_kind("case with one beginning").into());
                    }
                    return Ok(rules::check_case_change(
                        workspace,
                        &author.member,
                        None,
                        after,
                        &BTreeSet::new(),
                        None,
                    )?);
                };
                let conflicted: BTreeSet<ItemRef> = raw.iter().map(|c| c.item.clone()).collect();
                Ok(rules::check_case_change(
                    workspace,
                    &author.member,
                    Some(before),
                    after,
                    &conflicted,
                    resolves,
                )?)
            },
        )?;
        let doc = Self::from_automerge(merged)?;
        if existing.is_some_and(|e| e.state.id != doc.state.id) {
            return Err(untrusted::wrong_kind("case").into());
        }
        Ok(doc)
    }

    /// Merges another replica of the same case held in this process.
    pub fn merge(&mut self, other: &CaseDoc) -> Result<()> {
        let mut theirs = other.doc.clone();
        self.doc.merge(&mut theirs)?;
        let (state, conflicts) = read_case(&self.doc)?;
        self.state = state;
        self.conflicts = conflicts;
        Ok(())
    }

    /// The whole document, compacted.
    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// Encoded changes this replica has that a replica at `since` lacks.
    pub fn changes_since(&self, since: &[ChangeRef]) -> Vec<u8> {
        let heads: Vec<_> = since.iter().filter_map(ChangeRef::to_hash).collect();
        self.doc.save_after(&heads)
    }

    /// The current heads of the document.
    pub fn heads(&self) -> Vec<ChangeRef> {
        self.doc
            .get_heads()
            .iter()
            .map(ChangeRef::from_hash)
            .collect()
    }

    /// The case as it stands (for a field in conflict: Automerge's deterministic pick until a
    /// person resolves it; see [`CaseDoc::conflicts`]).
    pub fn case(&self) -> &Case {
        &self.state
    }

    /// The case's id.
    pub fn id(&self) -> &CaseId {
        &self.state.id
    }

    /// The changes made since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<LocalChange> {
        std::mem::take(&mut self.outbox)
    }

    /// Open conflicts: fields with concurrent values, and rulebook invariants broken by
    /// merging concurrent edits.
    pub fn conflicts(&self) -> Vec<Conflict> {
        conflict::list(&self.doc, &self.state, &self.conflicts)
    }

    /// The change history, oldest first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        history::entries(&self.doc)
    }

    /// This replica as it was at `heads` (a state the server holds), without what came
    /// after: used to set refused local changes aside.
    /// Whether this replica has every one of `changes`.
    pub(crate) fn has_all(&self, changes: &[ChangeRef]) -> bool {
        changes.iter().all(|c| {
            c.to_hash()
                .is_some_and(|h| self.doc.get_change_meta_by_hash(&h).is_some())
        })
    }

    pub(crate) fn at(&self, heads: &[ChangeRef]) -> Result<CaseDoc> {
        let hashes: Vec<_> = heads.iter().filter_map(ChangeRef::to_hash).collect();
        Self::from_automerge(self.doc.fork_at(&hashes)?)
    }

    /// The case as it was right after `change`.
    pub fn state_at(&self, change: &ChangeRef) -> Result<Case> {
        let hash = change
            .to_hash()
            .filter(|h| self.doc.get_change_meta_by_hash(h).is_some())
            .ok_or_else(|| Error::UnknownChange(change.to_string()))?;
        let past = self.doc.fork_at(&[hash])?;
        Ok(read_case(&past)?.0)
    }

    fn edit<T>(
        &mut self,
        ctx: &Context<'_>,
        summary: String,
        resolving: Option<&ItemRef>,
        f: impl FnOnce(&mut Writer<'_, Transaction<'_>>, &Case) -> Result<T>,
    ) -> Result<T> {
        let CaseDoc {
            doc,
            state,
            conflicts,
            outbox,
        } = self;
        let conflicted: BTreeSet<ItemRef> = conflicts.iter().map(|c| c.item.clone()).collect();
        let (change, out, (after, new_conflicts)) = commit(
            doc,
            ctx.author,
            ctx.now,
            summary,
            resolving,
            |tx| f(&mut Writer::new(tx), state),
            |tx| {
                let (after, c) = read_case(tx)?;
                rules::check_case_change(
                    ctx.workspace,
                    &ctx.author.member,
                    Some(state),
                    &after,
                    &conflicted,
                    resolving,
                )?;
                Ok((after, c))
            },
        )?;
        *state = after;
        *conflicts = new_conflicts;
        outbox.extend(change);
        Ok(out)
    }

    /// Moves the case to `status` (one step forward; closing goes through [`CaseDoc::close`]).
    pub fn set_status(&mut self, ctx: &Context<'_>, status: CaseStatus) -> Result<()> {
        let summary = format!("status {} → {}", self.state.status, status);
        self.edit(ctx, summary, None, |w, _| w.enum_(&ROOT, "status", status))
    }

    /// Closes the case on `date` for `reason`, which sets how long its file is kept.
    pub fn close(&mut self, ctx: &Context<'_>, date: Date, reason: ClosureReason) -> Result<()> {
        let summary = format!("case closed: {reason}");
        self.edit(ctx, summary, None, |w, _| {
            w.enum_(&ROOT, "status", CaseStatus::Afgesloten)?;
            w.date(&ROOT, "closed_on", date)?;
            w.enum_(&ROOT, "closure_reason", reason)
        })
    }

    /// Records the day of the aanvraag; the beschikking deadline runs from it.
    pub fn set_aanvraag_date(&mut self, ctx: &Context<'_>, date: Date) -> Result<()> {
        self.edit(ctx, format!("aanvraag received {date}"), None, |w, _| {
            w.date(&ROOT, "aanvraag_date", date)
        })
    }

    /// Assigns a practitioner.
    pub fn assign(&mut self, ctx: &Context<'_>, member: &MemberId) -> Result<()> {
        let summary = format!("{} assigned", member.short());
        self.edit(ctx, summary, None, |w, _| {
            w.set_add(&ROOT, "assigned", member.as_str())
        })
    }

    /// Removes a practitioner from the case.
    pub fn unassign(&mut self, ctx: &Context<'_>, member: &MemberId) -> Result<()> {
        let summary = format!("{} unassigned", member.short());
        self.edit(ctx, summary, None, |w, _| {
            w.set_remove(&ROOT, "assigned", member.as_str())
        })
    }

    /// Adds a person to the household.
    pub fn add_household_member(
        &mut self,
        ctx: &Context<'_>,
        person: NewHouseholdMember,
    ) -> Result<PersonId> {
        let id = PersonId::random();
        let summary = format!("household member {} added ({})", id.short(), person.role);
        self.edit(ctx, summary, None, |w, _| {
            let household = w.ensure_map(&ROOT, "household")?;
            write_person(w, &household, &id, &person)?;
            Ok(id.clone())
        })
    }

    /// Records a kitchen-table conversation.
    pub fn record_conversation(
        &mut self,
        ctx: &Context<'_>,
        new: NewConversation,
    ) -> Result<ConversationId> {
        let id = ConversationId::random();
        let summary = format!("conversation {} recorded ({})", id.short(), new.date);
        self.edit(ctx, summary, None, |w, _| {
            let all = child(w.tx, &["conversations"])?;
            let c = w.map(&all, id.as_str())?;
            w.date(&c, "date", new.date)?;
            w.str(&c, "place", &new.place)?;
            w.str(&c, "question", &new.question)?;
            w.bool(&c, "client_support_offered", new.client_support_offered)?;
            w.str(&c, "recorded_by", ctx.author.member.as_str())?;
            w.text(&c, "notes", &new.notes)?;
            let participants = w.map(&c, "participants")?;
            for p in &new.participants {
                let obj = w.map(&participants, ParticipantId::random().as_str())?;
                w.enum_(&obj, "kind", p.kind)?;
                w.str(&obj, "name", &p.name)?;
                w.opt_str(&obj, "person", p.person.as_ref().map(|x| x.as_str()))?;
                w.opt_str(&obj, "member", p.member.as_ref().map(|x| x.as_str()))?;
            }
            let domains = w.map(&c, "domains")?;
            for d in &new.domains {
                w.tx.put(&domains, d.as_str(), true)?;
            }
            let agreements = w.map(&c, "agreements")?;
            for a in &new.agreements {
                write_agreement(w, &agreements, &AgreementId::random(), a)?;
            }
            Ok(id.clone())
        })
    }

    /// Edits the notes of a conversation. Two people typing in the same notes offline merge
    /// character by character.
    pub fn edit_notes(
        &mut self,
        ctx: &Context<'_>,
        conversation: &ConversationId,
        edit: NotesEdit,
    ) -> Result<()> {
        let summary = format!("notes of conversation {} edited", conversation.short());
        let item = ItemRef::Conversation(conversation.clone());
        self.edit(ctx, summary, None, |w, case| {
            let current = case
                .conversations
                .get(conversation)
                .ok_or_else(|| not_found("conversation", conversation.as_str()))?;
            let text = child(w.tx, &["conversations", conversation.as_str(), "notes"])?;
            match edit {
                NotesEdit::Splice { at, delete, insert } => {
                    let len = current.notes.chars().count();
                    if at > len || delete > len - at {
                        return Err(rules::RuleViolation::Invalid {
                            item,
                            field: "notes",
                            reason: "edit lies outside the text",
                        }
                        .into());
                    }
                    // `delete` is at most the text's length, so it fits.
                    w.tx.splice_text(
                        &text,
                        at,
                        isize::try_from(delete).unwrap_or(isize::MAX),
                        &insert,
                    )?;
                }
                NotesEdit::Replace(new) => w.tx.update_text(&text, new)?,
            }
            Ok(())
        })
    }

    /// Adds an agreement to a conversation.
    pub fn add_agreement(
        &mut self,
        ctx: &Context<'_>,
        conversation: &ConversationId,
        new: NewAgreement,
    ) -> Result<AgreementId> {
        let id = AgreementId::random();
        let summary = format!(
            "agreement {} made in conversation {}",
            id.short(),
            conversation.short()
        );
        self.edit(ctx, summary, None, |w, _| {
            let agreements = child(
                w.tx,
                &["conversations", conversation.as_str(), "agreements"],
            )?;
            write_agreement(w, &agreements, &id, &new)?;
            Ok(id.clone())
        })
    }

    /// Marks an agreement done (or not).
    pub fn set_agreement_done(
        &mut self,
        ctx: &Context<'_>,
        conversation: &ConversationId,
        agreement: &AgreementId,
        done: bool,
    ) -> Result<()> {
        let summary = format!(
            "agreement {} {}",
            agreement.short(),
            if done { "done" } else { "reopened" }
        );
        self.edit(ctx, summary, None, |w, _| {
            let a = child(
                w.tx,
                &[
                    "conversations",
                    conversation.as_str(),
                    "agreements",
                    agreement.as_str(),
                ],
            )?;
            w.bool(&a, "done", done)
        })
    }

    /// Drafts a decision.
    pub fn draft_decision(&mut self, ctx: &Context<'_>, new: NewDecision) -> Result<DecisionId> {
        let id = DecisionId::random();
        let summary = format!(
            "decision {} drafted: {} {}",
            id.short(),
            new.amount,
            new.category
        );
        self.edit(ctx, summary, None, |w, _| {
            let all = child(w.tx, &["decisions"])?;
            let d = w.map(&all, id.as_str())?;
            write_decision(w, &d, &new)?;
            w.enum_(&d, "status", DecisionStatus::Draft)?;
            w.str(&d, "decided_by", ctx.author.member.as_str())?;
            w.opt_str(&d, "signed_by", None)?;
            w.opt_str(&d, "rejection_reason", None)?;
            w.opt_str(&d, "superseded_by", None)?;
            w.i64(&d, "created_at", ctx.now.0)?;
            Ok(id.clone())
        })
    }

    /// Changes a draft decision's content.
    pub fn update_draft(
        &mut self,
        ctx: &Context<'_>,
        id: &DecisionId,
        content: NewDecision,
    ) -> Result<()> {
        let summary = format!(
            "decision {} edited: {} {}",
            id.short(),
            content.amount,
            content.category
        );
        self.edit(ctx, summary, None, |w, _| {
            let d = child(w.tx, &["decisions", id.as_str()])?;
            write_decision(w, &d, &content)
        })
    }

    /// Moves a decision to `to`, re-asserting its content so that a concurrent edit of the
    /// draft shows up as a conflict instead of slipping into a final decision.
    fn transition(
        &mut self,
        ctx: &Context<'_>,
        id: &DecisionId,
        to: DecisionStatus,
        verb: &str,
        f: impl FnOnce(&mut Writer<'_, Transaction<'_>>, &ObjId) -> Result<()>,
    ) -> Result<()> {
        let d = self
            .state
            .decisions
            .get(id)
            .ok_or_else(|| not_found("decision", id.as_str()))?;
        let summary = format!(
            "decision {} {verb}: {} {}",
            id.short(),
            d.amount,
            d.category
        );
        let supersedes = d.supersedes.clone();
        let content = d.content();
        self.edit(ctx, summary, None, |w, _| {
            let obj = child(w.tx, &["decisions", id.as_str()])?;
            for key in DECISION_CONTENT {
                w.reassert(&obj, key)?;
            }
            if to.is_final() {
                let seal = w.map(&obj, "sealed")?;
                write_decision(w, &seal, &content)?;
            }
            w.enum_(&obj, "status", to)?;
            f(w, &obj)?;
            if let Some(old) = supersedes.filter(|_| to.is_in_force()) {
                let old = child(w.tx, &["decisions", old.as_str()])?;
                w.str(&old, "superseded_by", id.as_str())?;
            }
            Ok(())
        })
    }

    /// Decides a draft within the author's mandate. Above it, the rulebook refuses with
    /// [`rules::RuleViolation::AboveMandate`]: use [`CaseDoc::request_signature`].
    pub fn decide(&mut self, ctx: &Context<'_>, id: &DecisionId) -> Result<()> {
        self.transition(ctx, id, DecisionStatus::Decided, "decided", |w, obj| {
            w.str(obj, "decided_by", ctx.author.member.as_str())
        })
    }

    /// Asks for a second signature on a draft (required above the author's mandate).
    pub fn request_signature(&mut self, ctx: &Context<'_>, id: &DecisionId) -> Result<()> {
        self.transition(
            ctx,
            id,
            DecisionStatus::AwaitingSignature,
            "sent for second signature",
            |w, obj| w.str(obj, "decided_by", ctx.author.member.as_str()),
        )
    }

    /// Takes a request for a second signature back to draft, to change it.
    pub fn withdraw_request(&mut self, ctx: &Context<'_>, id: &DecisionId) -> Result<()> {
        self.transition(
            ctx,
            id,
            DecisionStatus::Draft,
            "taken back to draft",
            |_, _| Ok(()),
        )
    }

    /// Gives the second signature: approves. The author's mandate must cover the decision.
    pub fn approve(&mut self, ctx: &Context<'_>, id: &DecisionId) -> Result<()> {
        self.transition(
            ctx,
            id,
            DecisionStatus::Approved,
            "approved by second signature",
            |w, obj| w.str(obj, "signed_by", ctx.author.member.as_str()),
        )
    }

    /// Gives the second signature: rejects, with a reason.
    pub fn reject(&mut self, ctx: &Context<'_>, id: &DecisionId, reason: &str) -> Result<()> {
        self.transition(
            ctx,
            id,
            DecisionStatus::Rejected,
            "rejected by second signature",
            |w, obj| {
                w.str(obj, "signed_by", ctx.author.member.as_str())?;
                w.str(obj, "rejection_reason", reason)
            },
        )
    }

    /// Adds a goal to the household's plan.
    pub fn add_goal(&mut self, ctx: &Context<'_>, new: NewGoal) -> Result<GoalId> {
        let id = GoalId::random();
        let summary = format!("goal {} added to the {}", id.short(), new.plan);
        self.edit(ctx, summary, None, |w, _| {
            let all = child(w.tx, &["goals"])?;
            let g = w.map(&all, id.as_str())?;
            w.enum_(&g, "plan", new.plan)?;
            w.str(&g, "person", new.person.as_str())?;
            w.str(&g, "description", &new.description)?;
            w.enum_(&g, "status", GoalStatus::Open)?;
            w.map(&g, "progress")?;
            Ok(id.clone())
        })
    }

    /// Sets a goal's status.
    pub fn set_goal_status(
        &mut self,
        ctx: &Context<'_>,
        goal: &GoalId,
        status: GoalStatus,
    ) -> Result<()> {
        let summary = format!("goal {} {status}", goal.short());
        self.edit(ctx, summary, None, |w, _| {
            let g = child(w.tx, &["goals", goal.as_str()])?;
            w.enum_(&g, "status", status)
        })
    }

    /// Adds a progress note to a goal.
    pub fn add_progress(
        &mut self,
        ctx: &Context<'_>,
        goal: &GoalId,
        date: Date,
        note: &str,
    ) -> Result<ProgressId> {
        let id = ProgressId::random();
        let summary = format!("progress noted on goal {}", goal.short());
        self.edit(ctx, summary, None, |w, _| {
            let progress = child(w.tx, &["goals", goal.as_str(), "progress"])?;
            let p = w.map(&progress, id.as_str())?;
            w.date(&p, "date", date)?;
            w.str(&p, "note", note)?;
            w.str(&p, "by", ctx.author.member.as_str())?;
            Ok(id.clone())
        })
    }

    /// Records a ZRM assessment; it joins the series and never changes.
    pub fn record_assessment(
        &mut self,
        ctx: &Context<'_>,
        new: NewAssessment,
    ) -> Result<AssessmentId> {
        let id = AssessmentId::random();
        let summary = format!(
            "{} recorded ({}, {})",
            id.short(),
            new.version.as_str(),
            new.date
        );
        self.edit(ctx, summary, None, |w, _| {
            let all = child(w.tx, &["assessments"])?;
            let a = w.map(&all, id.as_str())?;
            w.enum_(&a, "version", new.version)?;
            w.date(&a, "date", new.date)?;
            w.str(&a, "assessed_by", ctx.author.member.as_str())?;
            let scores = w.map(&a, "scores")?;
            for (domain, score) in &new.scores {
                w.i64(&scores, domain.as_str(), i64::from(*score))?;
            }
            Ok(id.clone())
        })
    }

    /// Raises a knelpunt from this case. Its texts must not identify anyone.
    pub fn raise_signal(&mut self, ctx: &Context<'_>, new: NewKnelpuntSignal) -> Result<SignalId> {
        let id = SignalId::random();
        let summary = format!("knelpunt {} raised: {}", id.short(), new.category);
        self.edit(ctx, summary, None, |w, _| {
            let all = child(w.tx, &["signals"])?;
            let s = w.map(&all, id.as_str())?;
            w.str(&s, "blocking_rule", &new.blocking_rule)?;
            w.enum_(&s, "category", new.category)?;
            w.str(&s, "description", &new.description)?;
            w.str(&s, "raised_by", ctx.author.member.as_str())?;
            w.i64(&s, "raised_at", ctx.now.0)?;
            Ok(id.clone())
        })
    }

    /// Resolves a conflict of values by a person's choice: `choice` indexes the values as
    /// listed by [`CaseDoc::conflicts`]. A rule conflict is resolved by an ordinary edit
    /// that repairs it; asking to resolve one here is an error.
    pub fn resolve_conflict(
        &mut self,
        ctx: &Context<'_>,
        id: &ConflictId,
        choice: usize,
    ) -> Result<()> {
        let stale = || Error::StaleConflict { id: id.to_string() };
        let raw = self
            .conflicts
            .iter()
            .find(|c| conflict::id_of(c) == *id)
            .cloned()
            .ok_or_else(stale)?;
        let values = self.doc.get_all(&raw.obj, raw.key.as_str())?;
        let chosen: ScalarValue = match values.get(choice) {
            Some((Value::Scalar(v), _)) => v.clone().into_owned(),
            _ => return Err(stale()),
        };
        let summary = format!(
            "conflict on {} `{}` resolved",
            raw.item,
            conflict::field_label(&raw)
        );
        self.edit(ctx, summary, Some(&raw.item), |w, _| {
            w.tx.put(&raw.obj, raw.key.as_str(), chosen)?;
            Ok(())
        })
    }
}

fn not_found(what: &'static str, id: &str) -> Error {
    Error::NotFound {
        what,
        id: id.to_owned(),
    }
}

fn write_person(
    w: &mut Writer<'_, Transaction<'_>>,
    household: &ObjId,
    id: &PersonId,
    p: &NewHouseholdMember,
) -> Result<()> {
    let obj = w.map(household, id.as_str())?;
    w.str(&obj, "name", &p.name)?;
    w.opt_date(&obj, "birth_date", p.birth_date)?;
    w.enum_(&obj, "role", p.role)
}

fn write_agreement(
    w: &mut Writer<'_, Transaction<'_>>,
    agreements: &ObjId,
    id: &AgreementId,
    a: &NewAgreement,
) -> Result<()> {
    let obj = w.map(agreements, id.as_str())?;
    w.str(&obj, "what", &a.what)?;
    w.str(&obj, "who", &a.who)?;
    w.opt_date(&obj, "due", a.due)?;
    w.bool(&obj, "done", false)
}
