//! The rulebook: every rule of the domain, in one place.
//!
//! Rules judge document states plus the member who made a change, never UI input, so the
//! same functions run on a device before a local commit is kept and on the server when a
//! change arrives from a device:
//!
//! - [`check_case_change`] / [`check_workspace_change`]: may this member turn state
//!   `before` into state `after`? Only what the change touches is judged, so an old,
//!   surfaced problem elsewhere in the document does not block unrelated work.
//! - [`check_case_state`]: the invariants a merged state must hold. Concurrent edits that
//!   were each valid can together break one; such a violation is listed among the case's
//!   conflicts for a person to resolve, never accepted silently.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::ids::{AssessmentId, DecisionId, MemberId, SignalId};
use crate::item::ItemRef;
use crate::model::{
    Case, CaseStatus, Conversation, Decision, DecisionStatus, Goal, KnelpuntSignal, Money,
    ProvisionCategory, Role, Workspace, ZrmAssessment,
};

/// What a member tried to do that their role or assignment does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Open a new case.
    CreateCase,
    /// Change a case they are not assigned to.
    EditCase,
    /// Assign someone who is not an active practitioner or team lead.
    Assign,
    /// Change members, mandates or budgets of the workspace.
    ManageWorkspace,
    /// Change their own mandate or role.
    ChangeOwnMandate,
    /// Write a change in the name of another device or member.
    WriteAsAnother,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::CreateCase => "opening a case",
            Action::EditCase => "changing a case one is not assigned to",
            Action::Assign => "assigning a member who cannot work cases",
            Action::ManageWorkspace => "managing the workspace",
            Action::ChangeOwnMandate => "changing one's own role or mandate",
            Action::WriteAsAnother => "writing in the name of another device or member",
        })
    }
}

/// A broken rule. Carries identifiers and field names only, never case contents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[non_exhaustive]
pub enum RuleViolation {
    /// A required field is empty.
    #[error("{item}: `{field}` is required")]
    Required {
        /// Where.
        item: ItemRef,
        /// Which field.
        field: &'static str,
    },
    /// A field holds a value the domain does not allow.
    #[error("{item}: `{field}` {reason}")]
    Invalid {
        /// Where.
        item: ItemRef,
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The author is not an active member of the workspace.
    #[error("member {member} is not an active member of this workspace")]
    UnknownMember {
        /// Who.
        member: MemberId,
    },
    /// The author's role or assignment does not allow this.
    #[error("not allowed: {action}")]
    NotAuthorized {
        /// What was tried.
        action: Action,
    },
    /// The case status may only move one step forward, or to closed.
    #[error("case status cannot change from {from} to {to}")]
    CaseStatus {
        /// Current status.
        from: CaseStatus,
        /// Requested status.
        to: CaseStatus,
    },
    /// A closed case is kept as it is.
    #[error("the case is closed and can no longer change")]
    CaseClosed,
    /// A case must always have someone responsible for it.
    #[error("the case must have at least one assigned practitioner")]
    NoAssignee,
    /// Records are never deleted (erasure is a separate, logged process).
    #[error("{item} cannot be removed")]
    Removed {
        /// What was removed.
        item: ItemRef,
    },
    /// The decision status cannot move this way.
    #[error("{} cannot go from {from} to {to}", ItemRef::Decision(decision.clone()))]
    DecisionStatus {
        /// Which decision.
        decision: DecisionId,
        /// Current status.
        from: DecisionStatus,
        /// Requested status.
        to: DecisionStatus,
    },
    /// The decider's mandate does not cover this decision: ask for a second signature.
    #[error("{amount} for {category} is above the decider's mandate ({}); ask for a second signature", limit.map_or_else(|| "category not in mandate".to_owned(), |l| l.to_string()))]
    AboveMandate {
        /// Which decision.
        decision: DecisionId,
        /// Its category.
        category: ProvisionCategory,
        /// Its amount.
        amount: Money,
        /// The decider's limit for the category, if the category is in the mandate at all.
        limit: Option<Money>,
    },
    /// The second signer's mandate does not cover the decision.
    #[error("the signer's mandate does not cover {amount} for {category}")]
    SignerLacksMandate {
        /// Which decision.
        decision: DecisionId,
        /// Its category.
        category: ProvisionCategory,
        /// Its amount.
        amount: Money,
    },
    /// Four eyes: the second signature must come from someone else.
    #[error("{}: the second signature must come from another member than the decider", ItemRef::Decision(decision.clone()))]
    SameSigner {
        /// Which decision.
        decision: DecisionId,
    },
    /// A final decision cannot change; a correction is a new decision that supersedes it.
    #[error("{} is final; record a new decision that supersedes it", ItemRef::Decision(decision.clone()))]
    DecisionFinal {
        /// Which decision.
        decision: DecisionId,
    },
    /// The supersede link is not valid.
    #[error("{}: {reason}", ItemRef::Decision(decision.clone()))]
    Supersede {
        /// Which decision.
        decision: DecisionId,
        /// What is wrong.
        reason: &'static str,
    },
    /// A ZRM assessment is a snapshot in time.
    #[error("{} is a snapshot and cannot change; record a new assessment", ItemRef::Assessment(assessment.clone()))]
    AssessmentFinal {
        /// Which assessment.
        assessment: AssessmentId,
    },
    /// The item has conflicting values a person must choose between first.
    #[error("{item} has open conflicts; resolve them first")]
    OpenConflict {
        /// Which item.
        item: ItemRef,
    },
    /// A knelpunt leaves the team; it must not identify anyone.
    #[error("{}: the text seems to contain personal data ({what}); describe the situation without names, birth dates or identifying numbers", ItemRef::Signal(signal.clone()))]
    PersonalDataInSignal {
        /// Which signal.
        signal: SignalId,
        /// What kind of personal data was found.
        what: &'static str,
    },
    /// The workspace must keep someone who can manage it.
    #[error("the workspace must keep at least one active admin or team lead")]
    NoManager,
}

type Rule = Result<(), RuleViolation>;

fn required(item: &ItemRef, field: &'static str, value: &str) -> Rule {
    if value.trim().is_empty() {
        Err(RuleViolation::Required {
            item: item.clone(),
            field,
        })
    } else {
        Ok(())
    }
}

fn invalid(item: &ItemRef, field: &'static str, reason: &'static str) -> RuleViolation {
    RuleViolation::Invalid {
        item: item.clone(),
        field,
        reason,
    }
}

fn active_member<'w>(
    ws: &'w Workspace,
    id: &MemberId,
) -> Result<&'w crate::model::Member, RuleViolation> {
    ws.member(id)
        .ok_or_else(|| RuleViolation::UnknownMember { member: id.clone() })
}

/// How a decision stands against a member's mandate: shown before saving, and decisive for
/// whether a decision may be taken directly or needs a second signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum MandateCheck {
    /// Within the mandate: the member may decide.
    Within {
        /// The member's limit for the category.
        limit: Money,
    },
    /// Above the limit: a second signature is needed.
    AboveLimit {
        /// The member's limit for the category.
        limit: Money,
    },
    /// The category is not in the member's mandate: a second signature is needed.
    CategoryNotInMandate,
}

impl MandateCheck {
    /// Whether the member may decide alone.
    pub fn allows_deciding(self) -> bool {
        matches!(self, MandateCheck::Within { .. })
    }
}

/// Checks a decision of `amount` in `category` against a member's mandate.
pub fn mandate_check(
    ws: &Workspace,
    member: &MemberId,
    category: ProvisionCategory,
    amount: Money,
) -> MandateCheck {
    match ws.member(member).and_then(|m| m.mandate.limit(category)) {
        None => MandateCheck::CategoryNotInMandate,
        Some(limit) if amount <= limit => MandateCheck::Within { limit },
        Some(limit) => MandateCheck::AboveLimit { limit },
    }
}

// ---- state invariants, per item -------------------------------------------------------

fn conversation_state(c: &Conversation) -> Rule {
    let item = ItemRef::Conversation(c.id.clone());
    required(&item, "place", &c.place)?;
    required(&item, "question", &c.question)?;
    if c.participants.is_empty() {
        return Err(RuleViolation::Required {
            item,
            field: "participants",
        });
    }
    for p in c.participants.values() {
        required(
            &ItemRef::Participant(c.id.clone(), p.id.clone()),
            "name",
            &p.name,
        )?;
    }
    for a in c.agreements.values() {
        let item = ItemRef::Agreement(c.id.clone(), a.id.clone());
        required(&item, "what", &a.what)?;
        required(&item, "who", &a.who)?;
    }
    Ok(())
}

fn decision_content(d: &Decision) -> Rule {
    let item = ItemRef::Decision(d.id.clone());
    required(&item, "provision", &d.provision)?;
    required(&item, "legal_ground", &d.legal_ground)?;
    required(&item, "motivation", &d.motivation)?;
    if let Some(dev) = &d.deviation {
        required(&item, "deviation", dev)?;
    }
    if d.amount < Money(0) {
        return Err(invalid(&item, "amount", "must not be negative"));
    }
    if d.period.end < d.period.start {
        return Err(invalid(&item, "period", "ends before it starts"));
    }
    Ok(())
}

fn decision_state(case: &Case, d: &Decision) -> Rule {
    decision_content(d)?;
    let item = ItemRef::Decision(d.id.clone());
    match d.status {
        DecisionStatus::Draft | DecisionStatus::AwaitingSignature | DecisionStatus::Decided => {
            if d.signed_by.is_some() {
                return Err(invalid(
                    &item,
                    "signed_by",
                    "is only set by a second signature",
                ));
            }
        }
        DecisionStatus::Approved | DecisionStatus::Rejected => match &d.signed_by {
            None => {
                return Err(RuleViolation::Required {
                    item,
                    field: "signed_by",
                });
            }
            Some(s) if *s == d.decided_by => {
                return Err(RuleViolation::SameSigner {
                    decision: d.id.clone(),
                });
            }
            Some(_) => {}
        },
    }
    // What was decided or signed is sealed with the final status; a concurrent edit of the
    // draft that merged in afterwards differs from the seal and is surfaced, not accepted.
    if d.status.is_final() && d.sealed.as_ref() != Some(&d.content()) {
        return Err(RuleViolation::DecisionFinal {
            decision: d.id.clone(),
        });
    }
    if d.status == DecisionStatus::Rejected {
        required(
            &item,
            "rejection_reason",
            d.rejection_reason.as_deref().unwrap_or(""),
        )?;
    }
    if let Some(old) = &d.supersedes {
        let Some(old) = case.decisions.get(old) else {
            return Err(RuleViolation::Supersede {
                decision: d.id.clone(),
                reason: "supersedes a decision that does not exist",
            });
        };
        if !old.status.is_final() {
            return Err(RuleViolation::Supersede {
                decision: d.id.clone(),
                reason: "only a final decision can be superseded",
            });
        }
    }
    if let Some(new) = &d.superseded_by {
        let valid = case
            .decisions
            .get(new)
            .is_some_and(|n| n.supersedes.as_ref() == Some(&d.id) && n.status.is_in_force());
        if !valid {
            return Err(RuleViolation::Supersede {
                decision: d.id.clone(),
                reason: "is superseded only by a decision in force that names it",
            });
        }
    }
    Ok(())
}

fn goal_state(case: &Case, g: &Goal) -> Rule {
    let item = ItemRef::Goal(g.id.clone());
    required(&item, "description", &g.description)?;
    if !case.household.contains_key(&g.person) {
        return Err(invalid(&item, "person", "is not a member of the household"));
    }
    for p in &g.progress {
        required(
            &ItemRef::Progress(g.id.clone(), p.id.clone()),
            "note",
            &p.note,
        )?;
    }
    Ok(())
}

fn assessment_state(a: &ZrmAssessment) -> Rule {
    let item = ItemRef::Assessment(a.id.clone());
    if a.scores.is_empty() {
        return Err(RuleViolation::Required {
            item,
            field: "scores",
        });
    }
    let domains = a.version.domains();
    for (domain, score) in &a.scores {
        if !domains.contains(domain) {
            return Err(invalid(
                &item,
                "scores",
                "names a domain that is not in this ZRM version",
            ));
        }
        if !(1..=5).contains(score) {
            return Err(invalid(&item, "scores", "must be between 1 and 5"));
        }
    }
    Ok(())
}

fn signal_fields(s: &KnelpuntSignal) -> Rule {
    let item = ItemRef::Signal(s.id.clone());
    required(&item, "blocking_rule", &s.blocking_rule)?;
    required(&item, "description", &s.description)
}

/// Judged when a signal is raised; not an invariant of merged states, since a household
/// member added concurrently elsewhere could otherwise make an old signal unrepairable.
fn signal_is_anonymous(case: &Case, s: &KnelpuntSignal) -> Rule {
    for text in [&s.blocking_rule, &s.description] {
        if let Some(what) = personal_data_in(case, text) {
            return Err(RuleViolation::PersonalDataInSignal {
                signal: s.id.clone(),
                what,
            });
        }
    }
    Ok(())
}

/// Name particles that are also everyday Dutch words ("een van de regels"): a match on
/// them alone says nothing about a person.
const TUSSENVOEGSELS: &[&str] = &[
    "van", "der", "den", "het", "ter", "ten", "bij", "uit", "aan", "von",
];

/// Looks for what would identify a person in a text that leaves the team: the names of the
/// case's household, e-mail addresses, dates (birth dates) and long digit runs (BSN, phone
/// or case numbers).
fn personal_data_in(case: &Case, text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    let words: BTreeSet<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let names_present = case.household.values().any(|p| {
        p.name
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|part| part.chars().count() >= 3 && !TUSSENVOEGSELS.contains(part))
            .any(|part| words.contains(part))
    });
    if names_present {
        return Some("a name from the household");
    }
    if text.contains('@') {
        return Some("an e-mail address");
    }
    if !case.case_number.trim().is_empty() && text.contains(case.case_number.trim()) {
        return Some("the case number");
    }
    if text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')'))
        .any(looks_like_date)
    {
        return Some("a date");
    }
    let mut run = 0usize;
    let mut longest = 0usize;
    for c in text.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    if longest >= 7 {
        return Some("an identifying number");
    }
    None
}

/// `14-03-1941`, `14/3/41`, `1941-03-14`: three numbers with one separator, one of them a
/// plausible year. Article numbers like `2.3.5` are not dates.
fn looks_like_date(token: &str) -> bool {
    let token = token.trim_end_matches(|c: char| !c.is_ascii_digit());
    let Some(sep) = token.chars().find(|c| matches!(c, '-' | '/' | '.')) else {
        return false;
    };
    let parts: Vec<&str> = token.split(sep).collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let n = |p: &str| p.parse::<u32>().unwrap_or(0);
    let day_month = |d: &str, m: &str| {
        d.len() <= 2 && m.len() <= 2 && (1..=31).contains(&n(d)) && (1..=12).contains(&n(m))
    };
    (matches!(parts[2].len(), 2 | 4) && day_month(parts[0], parts[1]))
        || (parts[0].len() == 4 && day_month(parts[2], parts[1]))
}

/// The invariants a case must hold in any state, including one produced by merging
/// concurrent edits. Each violation found is surfaced as a conflict for a person to
/// resolve.
pub fn check_case_state(case: &Case) -> Vec<RuleViolation> {
    let mut out = Vec::new();
    let mut push = |r: Rule| {
        if let Err(v) = r {
            out.push(v);
        }
    };
    push(case_fields(case));
    for c in case.conversations.values() {
        push(conversation_state(c));
    }
    for d in case.decisions.values() {
        push(decision_state(case, d));
    }
    for g in case.goals.values() {
        push(goal_state(case, g));
    }
    for a in case.assessments.values() {
        push(assessment_state(a));
    }
    for s in case.signals.values() {
        push(signal_fields(s));
    }
    out
}

fn case_fields(case: &Case) -> Rule {
    let item = ItemRef::Case;
    required(&item, "case_number", &case.case_number)?;
    if case.assigned.is_empty() {
        return Err(RuleViolation::NoAssignee);
    }
    if case.aanvraag_date.is_some_and(|a| a < case.melding_date) {
        return Err(invalid(&item, "aanvraag_date", "lies before the melding"));
    }
    if case
        .closure
        .is_some_and(|(closed, _)| closed < case.melding_date)
    {
        return Err(invalid(&item, "closed_on", "lies before the melding"));
    }
    if case.status == CaseStatus::Afgesloten && case.closure.is_none() {
        return Err(RuleViolation::Required {
            item,
            field: "closure_reason",
        });
    }
    for p in case.household.values() {
        required(&ItemRef::Person(p.id.clone()), "name", &p.name)?;
    }
    Ok(())
}

// ---- changes ---------------------------------------------------------------------------

/// May `author` turn case state `before` (`None`: the case is new) into `after`?
///
/// `conflicted` lists the items of `before` with open conflicts: a decision with
/// conflicting values cannot be decided or signed until a person has chosen. `resolving`
/// names the item of a change that resolves a conflict: it must be one of `conflicted`,
/// nothing else may change, and the status order is not applied to it (the values were
/// each judged when they were made). A final decision still keeps what was decided.
pub fn check_case_change(
    ws: &Workspace,
    author: &MemberId,
    before: Option<&Case>,
    after: &Case,
    conflicted: &BTreeSet<ItemRef>,
    resolving: Option<&ItemRef>,
) -> Rule {
    let member = active_member(ws, author)?;
    if let Some(item) = resolving {
        let Some(b) = before.filter(|_| conflicted.contains(item)) else {
            return Err(invalid(item, "conflict", "has no open conflict to resolve"));
        };
        if with_item_from(b, after, item) != *after {
            return Err(invalid(
                item,
                "conflict",
                "a resolution changes only the item in conflict",
            ));
        }
    }
    if member.role == Role::Admin {
        return Err(RuleViolation::NotAuthorized {
            action: if before.is_none() {
                Action::CreateCase
            } else {
                Action::EditCase
            },
        });
    }
    match before {
        None => {
            if after.created_by != *author {
                return Err(invalid(
                    &ItemRef::Case,
                    "created_by",
                    "must be the member who opens the case",
                ));
            }
            if after.workspace != ws.id {
                return Err(invalid(
                    &ItemRef::Case,
                    "workspace",
                    "must be the team's workspace",
                ));
            }
            if after.status != CaseStatus::Melding {
                return Err(RuleViolation::CaseStatus {
                    from: CaseStatus::Melding,
                    to: after.status,
                });
            }
        }
        Some(b) => {
            if member.role != Role::TeamLead && !b.assigned.contains(author) {
                return Err(RuleViolation::NotAuthorized {
                    action: Action::EditCase,
                });
            }
            if b.id != after.id
                || b.workspace != after.workspace
                || b.created_by != after.created_by
                || b.created_at != after.created_at
            {
                return Err(invalid(
                    &ItemRef::Case,
                    "id",
                    "identity of a case cannot change",
                ));
            }
            // Resolving a conflict picks one of the values that concurrent edits already
            // made, each judged when it was made; the value shown was only Automerge's pick.
            if resolving.is_none() && b.status == CaseStatus::Afgesloten {
                return Err(RuleViolation::CaseClosed);
            }
            let allowed = resolving == Some(&ItemRef::Case)
                || after.status == b.status
                || b.status.next() == Some(after.status)
                || after.status == CaseStatus::Afgesloten;
            if !allowed {
                return Err(RuleViolation::CaseStatus {
                    from: b.status,
                    to: after.status,
                });
            }
        }
    }
    let case_changed = before.is_none_or(|b| {
        b.case_number != after.case_number
            || b.law != after.law
            || b.status != after.status
            || b.melding_date != after.melding_date
            || b.aanvraag_date != after.aanvraag_date
            || b.closure != after.closure
            || b.assigned != after.assigned
            || b.household != after.household
    });
    if case_changed {
        case_fields(after)?;
    }
    let added_assignees = after
        .assigned
        .iter()
        .filter(|m| before.is_none_or(|b| !b.assigned.contains(*m)));
    for m in added_assignees {
        let ok = ws
            .member(m)
            .is_some_and(|m| matches!(m.role, Role::Practitioner | Role::TeamLead));
        if !ok {
            return Err(RuleViolation::NotAuthorized {
                action: Action::Assign,
            });
        }
    }
    if let Some(b) = before {
        removed(b.conversations.keys(), &after.conversations, |id| {
            ItemRef::Conversation(id.clone())
        })?;
        removed(b.decisions.keys(), &after.decisions, |id| {
            ItemRef::Decision(id.clone())
        })?;
        removed(b.goals.keys(), &after.goals, |id| ItemRef::Goal(id.clone()))?;
        removed(b.assessments.keys(), &after.assessments, |id| {
            ItemRef::Assessment(id.clone())
        })?;
        removed(b.signals.keys(), &after.signals, |id| {
            ItemRef::Signal(id.clone())
        })?;
        removed(b.household.keys(), &after.household, |id| {
            ItemRef::Person(id.clone())
        })?;
        for (id, c) in &b.conversations {
            if let Some(a) = after.conversations.get(id) {
                removed(c.participants.keys(), &a.participants, |p| {
                    ItemRef::Participant(id.clone(), p.clone())
                })?;
                removed(c.agreements.keys(), &a.agreements, |x| {
                    ItemRef::Agreement(id.clone(), x.clone())
                })?;
            }
        }
        for (id, g) in &b.goals {
            if let Some(a) = after.goals.get(id)
                && let Some(p) = g
                    .progress
                    .iter()
                    .find(|p| !a.progress.iter().any(|q| q.id == p.id))
            {
                return Err(RuleViolation::Removed {
                    item: ItemRef::Progress(id.clone(), p.id.clone()),
                });
            }
        }
    }

    for c in after.conversations.values() {
        let old = before.and_then(|b| b.conversations.get(&c.id));
        if old == Some(c) {
            continue;
        }
        conversation_state(c)?;
        match old {
            None if c.recorded_by != *author => {
                return Err(invalid(
                    &ItemRef::Conversation(c.id.clone()),
                    "recorded_by",
                    "must be the member who records it",
                ));
            }
            Some(o) if o.recorded_by != c.recorded_by => {
                return Err(invalid(
                    &ItemRef::Conversation(c.id.clone()),
                    "recorded_by",
                    "cannot change",
                ));
            }
            _ => {}
        }
    }
    for d in after.decisions.values() {
        let old = before.and_then(|b| b.decisions.get(&d.id));
        if old == Some(d) {
            continue;
        }
        decision_change(
            ws,
            author,
            old,
            d,
            after,
            conflicted,
            resolving == Some(&ItemRef::Decision(d.id.clone())),
        )?;
    }
    for g in after.goals.values() {
        let old = before.and_then(|b| b.goals.get(&g.id));
        if old != Some(g) {
            goal_state(after, g)?;
            let old_notes = old.map(|o| o.progress.as_slice()).unwrap_or(&[]);
            for p in &g.progress {
                match old_notes.iter().find(|o| o.id == p.id) {
                    None if p.by != *author => {
                        return Err(invalid(
                            &ItemRef::Progress(g.id.clone(), p.id.clone()),
                            "by",
                            "must be the member who writes it",
                        ));
                    }
                    Some(o) if o != p => {
                        return Err(invalid(
                            &ItemRef::Progress(g.id.clone(), p.id.clone()),
                            "note",
                            "a progress note cannot change",
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
    for a in after.assessments.values() {
        match before.and_then(|b| b.assessments.get(&a.id)) {
            Some(o) if o == a => {}
            Some(_) => {
                return Err(RuleViolation::AssessmentFinal {
                    assessment: a.id.clone(),
                });
            }
            None => {
                assessment_state(a)?;
                if a.assessed_by != *author {
                    return Err(invalid(
                        &ItemRef::Assessment(a.id.clone()),
                        "assessed_by",
                        "must be the member who assesses",
                    ));
                }
            }
        }
    }
    for s in after.signals.values() {
        match before.and_then(|b| b.signals.get(&s.id)) {
            Some(o) if o == s => {}
            Some(_) => {
                return Err(invalid(
                    &ItemRef::Signal(s.id.clone()),
                    "description",
                    "a raised knelpunt cannot change",
                ));
            }
            None => {
                signal_fields(s)?;
                signal_is_anonymous(after, s)?;
                if s.raised_by != *author {
                    return Err(invalid(
                        &ItemRef::Signal(s.id.clone()),
                        "raised_by",
                        "must be the member who raises it",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `base` with `item` (and what it contains) taken from `src`.
fn with_item_from(base: &Case, src: &Case, item: &ItemRef) -> Case {
    fn take<K: Ord + Clone, V: Clone>(
        base: &mut std::collections::BTreeMap<K, V>,
        src: &std::collections::BTreeMap<K, V>,
        k: &K,
    ) {
        match src.get(k) {
            Some(v) => base.insert(k.clone(), v.clone()),
            None => base.remove(k),
        };
    }
    let mut c = base.clone();
    match item {
        ItemRef::Case => {
            c.case_number.clone_from(&src.case_number);
            c.law = src.law;
            c.status = src.status;
            c.melding_date = src.melding_date;
            c.aanvraag_date = src.aanvraag_date;
            c.closure = src.closure;
            c.assigned.clone_from(&src.assigned);
        }
        ItemRef::Person(id) => take(&mut c.household, &src.household, id),
        ItemRef::Conversation(id) | ItemRef::Participant(id, _) | ItemRef::Agreement(id, _) => {
            take(&mut c.conversations, &src.conversations, id);
        }
        ItemRef::Decision(id) => take(&mut c.decisions, &src.decisions, id),
        ItemRef::Goal(id) | ItemRef::Progress(id, _) => take(&mut c.goals, &src.goals, id),
        ItemRef::Assessment(id) => take(&mut c.assessments, &src.assessments, id),
        ItemRef::Signal(id) => take(&mut c.signals, &src.signals, id),
        ItemRef::Workspace | ItemRef::Member(_) | ItemRef::Budget(_) => {}
    }
    c
}

fn removed<'a, K: Ord + 'a, V>(
    before: impl Iterator<Item = &'a K>,
    after: &std::collections::BTreeMap<K, V>,
    item: impl Fn(&K) -> ItemRef,
) -> Rule {
    for k in before {
        if !after.contains_key(k) {
            return Err(RuleViolation::Removed { item: item(k) });
        }
    }
    Ok(())
}

fn above_mandate(ws: &Workspace, member: &MemberId, d: &Decision) -> Rule {
    match mandate_check(ws, member, d.category, d.amount) {
        MandateCheck::Within { .. } => Ok(()),
        MandateCheck::AboveLimit { limit } => Err(RuleViolation::AboveMandate {
            decision: d.id.clone(),
            category: d.category,
            amount: d.amount,
            limit: Some(limit),
        }),
        MandateCheck::CategoryNotInMandate => Err(RuleViolation::AboveMandate {
            decision: d.id.clone(),
            category: d.category,
            amount: d.amount,
            limit: None,
        }),
    }
}

fn decision_change(
    ws: &Workspace,
    author: &MemberId,
    old: Option<&Decision>,
    d: &Decision,
    case: &Case,
    conflicted: &BTreeSet<ItemRef>,
    resolving: bool,
) -> Rule {
    decision_state(case, d)?;
    let id = d.id.clone();
    let item = || ItemRef::Decision(id.clone());
    if resolving {
        // A person picks between values concurrent edits made. The seal keeps a final
        // decision's content as decided (checked above); a decision in force must stay
        // within the mandate of whoever took or signed it.
        match d.status {
            DecisionStatus::Decided => above_mandate(ws, &d.decided_by, d)?,
            DecisionStatus::Approved => match &d.signed_by {
                Some(signer) => {
                    above_mandate(ws, signer, d).map_err(|_| RuleViolation::SignerLacksMandate {
                        decision: id.clone(),
                        category: d.category,
                        amount: d.amount,
                    })?
                }
                None => {
                    return Err(RuleViolation::Required {
                        item: item(),
                        field: "signed_by",
                    });
                }
            },
            _ => {}
        }
        return Ok(());
    }
    let from = old.map_or(DecisionStatus::Draft, |o| o.status);
    let to = d.status;
    if from != to && conflicted.contains(&item()) {
        return Err(RuleViolation::OpenConflict { item: item() });
    }
    if let Some(o) = old
        && o.status.is_final()
    {
        // The only change a final decision accepts: being superseded, once.
        let mut expected = o.clone();
        expected.superseded_by = d.superseded_by.clone();
        if o.superseded_by.is_none() && d.superseded_by.is_some() && expected == *d {
            return Ok(());
        }
        return Err(RuleViolation::DecisionFinal { decision: id });
    }
    if let Some(o) = old {
        if from != DecisionStatus::Draft && o.content() != d.content() {
            return Err(RuleViolation::DecisionFinal { decision: id });
        }
        if o.superseded_by != d.superseded_by {
            return Err(RuleViolation::Supersede {
                decision: id,
                reason: "only a final decision can be superseded",
            });
        }
        if o.created_at != d.created_at {
            return Err(invalid(&item(), "created_at", "cannot change"));
        }
    }
    // Who prepared a decision is set when it is drafted, and becomes whoever decides it or
    // asks for the second signature.
    let decider_fixed = match (from, to) {
        (DecisionStatus::Draft, DecisionStatus::Decided | DecisionStatus::AwaitingSignature) => {
            false
        }
        (DecisionStatus::Draft, DecisionStatus::Draft) => old.is_some(),
        _ => true,
    };
    let decider_ok = if decider_fixed {
        old.is_none_or(|o| o.decided_by == d.decided_by)
    } else {
        d.decided_by == *author
    };
    if !decider_ok || (old.is_none() && d.decided_by != *author) {
        return Err(invalid(
            &item(),
            "decided_by",
            "must be the member who prepares, decides or asks for the signature",
        ));
    }
    let transition = || RuleViolation::DecisionStatus {
        decision: id.clone(),
        from,
        to,
    };
    match (from, to) {
        (DecisionStatus::Draft, DecisionStatus::Draft | DecisionStatus::AwaitingSignature) => {}
        (DecisionStatus::Draft, DecisionStatus::Decided) => above_mandate(ws, author, d)?,
        (DecisionStatus::AwaitingSignature, DecisionStatus::Draft) => {
            if d.decided_by != *author {
                return Err(transition());
            }
        }
        (
            DecisionStatus::AwaitingSignature,
            DecisionStatus::Approved | DecisionStatus::Rejected,
        ) => {
            if d.signed_by.as_ref() != Some(author) {
                return Err(invalid(
                    &item(),
                    "signed_by",
                    "must be the member who signs",
                ));
            }
            if d.decided_by == *author {
                return Err(RuleViolation::SameSigner { decision: id });
            }
            if to == DecisionStatus::Approved && above_mandate(ws, author, d).is_err() {
                return Err(RuleViolation::SignerLacksMandate {
                    decision: id,
                    category: d.category,
                    amount: d.amount,
                });
            }
        }
        // Waiting for a signature, a request is frozen.
        (DecisionStatus::AwaitingSignature, DecisionStatus::AwaitingSignature) => {
            return Err(RuleViolation::DecisionFinal { decision: id });
        }
        _ => return Err(transition()),
    }
    if let Some(target) = &d.supersedes
        && to.is_in_force()
    {
        let target_ok = case
            .decisions
            .get(target)
            .is_some_and(|t| t.superseded_by.as_ref() == Some(&d.id));
        if !target_ok {
            return Err(RuleViolation::Supersede {
                decision: id,
                reason: "the superseded decision must point back to its correction",
            });
        }
    }
    Ok(())
}

/// May `author` turn workspace state `before` (`None`: new) into `after`?
pub fn check_workspace_change(
    author: &MemberId,
    before: Option<&Workspace>,
    after: &Workspace,
) -> Rule {
    let item = ItemRef::Workspace;
    required(&item, "name", &after.name)?;
    let judge = before.unwrap_or(after);
    let member = active_member(judge, author)?;
    if !matches!(member.role, Role::Admin | Role::TeamLead) {
        return Err(RuleViolation::NotAuthorized {
            action: Action::ManageWorkspace,
        });
    }
    if let Some(b) = before {
        if b.id != after.id {
            return Err(invalid(&item, "id", "cannot change"));
        }
        for id in b.members.keys() {
            if !after.members.contains_key(id) {
                return Err(RuleViolation::Removed {
                    item: ItemRef::Member(id.clone()),
                });
            }
        }
        if let (Some(old), Some(new)) = (b.members.get(author), after.members.get(author))
            && (old.role != new.role || old.mandate != new.mandate)
        {
            return Err(RuleViolation::NotAuthorized {
                action: Action::ChangeOwnMandate,
            });
        }
    }
    for m in after.members.values() {
        required(
            &ItemRef::Member(m.id.clone()),
            "display_name",
            &m.display_name,
        )?;
        if m.mandate.limits.values().any(|l| *l < Money(0)) {
            return Err(invalid(
                &ItemRef::Member(m.id.clone()),
                "mandate",
                "limits must not be negative",
            ));
        }
    }
    for b in after.budgets.values() {
        let item = ItemRef::Budget(crate::am::format_date(b.period.start));
        if b.amount < Money(0) {
            return Err(invalid(&item, "amount", "must not be negative"));
        }
        if b.period.end < b.period.start {
            return Err(invalid(&item, "period", "ends before it starts"));
        }
    }
    let managers = after
        .members
        .values()
        .filter(|m| m.active && matches!(m.role, Role::Admin | Role::TeamLead))
        .count();
    if managers == 0 {
        return Err(RuleViolation::NoManager);
    }
    Ok(())
}
