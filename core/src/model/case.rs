//! The case document: one household, its status and legal deadlines, and everything
//! recorded and decided for it.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ROOT, ReadDoc};
use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use super::conversation::{Conversation, read_conversation};
use super::decision::{Decision, DecisionStatus, read_decision};
use super::goal::{Goal, read_goal};
use super::signal::{KnelpuntSignal, read_signal};
use super::string_enum;
use super::values::Timestamp;
use super::zrm::{ZrmAssessment, read_assessment};
use crate::am::{RawConflict, Reader};
use crate::error::Result;
use crate::ids::{
    AssessmentId, CaseId, ConversationId, DecisionId, GoalId, MemberId, PersonId, SignalId,
    WorkspaceId,
};
use crate::item::ItemRef;

string_enum!(
    /// The life cycle of a case. It only moves forward, one step at a time, except that a
    /// case may be closed from any status (a request withdrawn or broken off).
    CaseStatus {
        /// Reported; the onderzoek deadline runs from the melding date.
        Melding => "melding" / "melding",
        /// Being assessed (onderzoek, Wmo 2015 art. 2.3.2).
        Onderzoek => "onderzoek" / "onderzoek",
        /// A plan is being made.
        Plan => "plan" / "plan",
        /// Support is running.
        Lopend => "lopend" / "lopend",
        /// Closed.
        Afgesloten => "afgesloten" / "afgesloten",
    }
);

impl CaseStatus {
    /// The status that follows in the normal course.
    pub fn next(self) -> Option<CaseStatus> {
        match self {
            CaseStatus::Melding => Some(CaseStatus::Onderzoek),
            CaseStatus::Onderzoek => Some(CaseStatus::Plan),
            CaseStatus::Plan => Some(CaseStatus::Lopend),
            CaseStatus::Lopend => Some(CaseStatus::Afgesloten),
            CaseStatus::Afgesloten => None,
        }
    }
}

string_enum!(
    /// The law under which the case is primarily handled; it sets the retention period.
    Law {
        /// Wmo 2015 (support for adults).
        Wmo => "wmo" / "Wmo 2015",
        /// Jeugdwet (youth care).
        Jeugdwet => "jeugdwet" / "Jeugdwet",
        /// Participatiewet (income, work).
        Participatiewet => "participatiewet" / "Participatiewet",
    }
);

string_enum!(
    /// A person's place in the household.
    HouseholdRole {
        /// The resident who asks for support (aanvrager).
        Resident => "resident" / "aanvrager",
        /// Partner.
        Partner => "partner" / "partner",
        /// Child.
        Child => "child" / "kind",
        /// Another member of the household.
        Other => "other" / "overig gezinslid",
    }
);

string_enum!(
    /// Why a case was closed; sets how long its file is kept.
    ClosureReason {
        /// Support was given and has ended.
        SupportEnded => "support_ended" / "ondersteuning beëindigd",
        /// The request was withdrawn or broken off.
        Withdrawn => "withdrawn" / "ingetrokken of afgebroken",
        /// The request was refused.
        Refused => "refused" / "afgewezen",
    }
);

/// A person in the household.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdMember {
    /// Identifier.
    pub id: PersonId,
    /// Name.
    pub name: String,
    /// Birth date, when known.
    pub birth_date: Option<Date>,
    /// Role in the household.
    pub role: HouseholdRole,
}

/// Input for a household member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHouseholdMember {
    /// Name.
    pub name: String,
    /// Birth date, when known.
    pub birth_date: Option<Date>,
    /// Role in the household.
    pub role: HouseholdRole,
}

/// Input for a new case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCase {
    /// The municipality's case number.
    pub case_number: String,
    /// The law the case is primarily handled under.
    pub law: Law,
    /// Day of the melding; the onderzoek deadline runs from here.
    pub melding_date: Date,
    /// The household.
    pub household: Vec<NewHouseholdMember>,
    /// Practitioners assigned; the creator is assigned when this is empty.
    pub assigned: Vec<MemberId>,
}

/// The legal deadlines of a case, derived from its dates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    /// Onderzoek done within 6 weeks of the melding (Wmo 2015 art. 2.3.2).
    pub onderzoek: Date,
    /// Beschikking within 2 weeks of the aanvraag, once there is one (Wmo 2015 art. 2.3.5).
    pub beschikking: Option<Date>,
}

/// How long a closed case is kept (Selectielijst gemeenten 2020).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// The file must be destroyed after this day.
    pub destroy_after: Date,
}

/// A case: one household.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Identifier (also the document's).
    pub id: CaseId,
    /// The team's workspace.
    pub workspace: WorkspaceId,
    /// The municipality's case number.
    pub case_number: String,
    /// Primary law.
    pub law: Law,
    /// Status.
    pub status: CaseStatus,
    /// Day of the melding.
    pub melding_date: Date,
    /// Day of the aanvraag, once made.
    pub aanvraag_date: Option<Date>,
    /// Day the case was closed, and why.
    pub closure: Option<(Date, ClosureReason)>,
    /// The household.
    pub household: BTreeMap<PersonId, HouseholdMember>,
    /// Assigned practitioners.
    pub assigned: BTreeSet<MemberId>,
    /// Conversations.
    pub conversations: BTreeMap<ConversationId, Conversation>,
    /// Decisions.
    pub decisions: BTreeMap<DecisionId, Decision>,
    /// Plan goals.
    pub goals: BTreeMap<GoalId, Goal>,
    /// ZRM assessments.
    pub assessments: BTreeMap<AssessmentId, ZrmAssessment>,
    /// Knelpunt signals.
    pub signals: BTreeMap<SignalId, KnelpuntSignal>,
    /// Who opened the case.
    pub created_by: MemberId,
    /// When.
    pub created_at: Timestamp,
}

impl Case {
    /// The legal deadlines.
    pub fn deadlines(&self) -> Deadlines {
        Deadlines {
            onderzoek: self.melding_date.saturating_add(Duration::weeks(6)),
            beschikking: self
                .aanvraag_date
                .map(|d| d.saturating_add(Duration::weeks(2))),
        }
    }

    /// The earliest deadline still running, for sorting a caseload: the beschikking deadline
    /// while an aanvraag waits for decisions, else the onderzoek deadline while the
    /// onderzoek runs.
    pub fn next_deadline(&self) -> Option<Date> {
        let d = self.deadlines();
        let onderzoek_open = matches!(self.status, CaseStatus::Melding | CaseStatus::Onderzoek);
        let beschikking_open = d.beschikking.is_some()
            && !matches!(self.status, CaseStatus::Lopend | CaseStatus::Afgesloten)
            && !self.decisions.values().any(|x| x.status.is_in_force());
        match (
            onderzoek_open.then_some(d.onderzoek),
            d.beschikking.filter(|_| beschikking_open),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Decisions waiting for a second signature.
    pub fn awaiting_signature(&self) -> impl Iterator<Item = &Decision> {
        self.decisions
            .values()
            .filter(|d| d.status == DecisionStatus::AwaitingSignature)
    }

    /// Conversations, oldest first.
    pub fn conversations_by_date(&self) -> Vec<&Conversation> {
        let mut v: Vec<_> = self.conversations.values().collect();
        v.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
        v
    }

    /// ZRM assessments as a series, oldest first.
    pub fn assessment_series(&self) -> Vec<&ZrmAssessment> {
        let mut v: Vec<_> = self.assessments.values().collect();
        v.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
        v
    }

    /// How long the file is kept, once closed. `None` while open, and for a
    /// Participatiewet case whose support ended: its period is set by municipal policy
    /// outside this tool.
    pub fn retention(&self) -> Option<Retention> {
        let (closed, reason) = self.closure?;
        let destroy_after = match (reason, self.law) {
            (ClosureReason::Withdrawn, _) => closed.saturating_add(Duration::weeks(6)),
            (ClosureReason::Refused, _) => add_years(closed, 5),
            (ClosureReason::SupportEnded, Law::Wmo) => add_years(closed, 15),
            (ClosureReason::SupportEnded, Law::Jeugdwet) => add_years(closed, 20),
            (ClosureReason::SupportEnded, Law::Participatiewet) => return None,
        };
        Some(Retention { destroy_after })
    }
}

fn add_years(d: Date, years: i32) -> Date {
    let year = d.year().saturating_add(years);
    d.replace_year(year)
        .or_else(|_| d.replace_day(28).and_then(|d| d.replace_year(year)))
        .unwrap_or(Date::MAX)
}

pub(crate) fn read_case<D: ReadDoc + ?Sized>(doc: &D) -> Result<(Case, Vec<RawConflict>)> {
    let mut r = Reader::new(doc);
    let item = ItemRef::Case;
    let mut household = BTreeMap::new();
    for (pid, obj) in r.children::<PersonId>(&ROOT, "household")? {
        let item = ItemRef::Person(pid.clone());
        let p = HouseholdMember {
            name: r.str(&obj, "name", &item)?,
            birth_date: r.opt_date(&obj, "birth_date", &item)?,
            role: r.enum_(&obj, "role", &item)?,
            id: pid.clone(),
        };
        household.insert(pid, p);
    }
    let mut conversations = BTreeMap::new();
    for (id, obj) in r.children::<ConversationId>(&ROOT, "conversations")? {
        conversations.insert(id.clone(), read_conversation(&mut r, id, &obj)?);
    }
    let mut decisions = BTreeMap::new();
    for (id, obj) in r.children::<DecisionId>(&ROOT, "decisions")? {
        decisions.insert(id.clone(), read_decision(&mut r, id, &obj)?);
    }
    let mut goals = BTreeMap::new();
    for (id, obj) in r.children::<GoalId>(&ROOT, "goals")? {
        goals.insert(id.clone(), read_goal(&mut r, id, &obj)?);
    }
    let mut assessments = BTreeMap::new();
    for (id, obj) in r.children::<AssessmentId>(&ROOT, "assessments")? {
        assessments.insert(id.clone(), read_assessment(&mut r, id, &obj)?);
    }
    let mut signals = BTreeMap::new();
    for (id, obj) in r.children::<SignalId>(&ROOT, "signals")? {
        signals.insert(id.clone(), read_signal(&mut r, id, &obj)?);
    }
    let closure = match (
        r.opt_date(&ROOT, "closed_on", &item)?,
        r.opt_enum(&ROOT, "closure_reason", &item)?,
    ) {
        (Some(d), Some(reason)) => Some((d, reason)),
        _ => None,
    };
    let case = Case {
        id: r.id(&ROOT, "id", &item)?,
        workspace: r.id(&ROOT, "workspace", &item)?,
        case_number: r.str(&ROOT, "case_number", &item)?,
        law: r.enum_(&ROOT, "law", &item)?,
        status: r.enum_(&ROOT, "status", &item)?,
        melding_date: r.date(&ROOT, "melding_date", &item)?,
        aanvraag_date: r.opt_date(&ROOT, "aanvraag_date", &item)?,
        closure,
        household,
        assigned: r.set(&ROOT, "assigned", &item)?.into_iter().collect(),
        conversations,
        decisions,
        goals,
        assessments,
        signals,
        created_by: r.id(&ROOT, "created_by", &item)?,
        created_at: Timestamp(r.i64(&ROOT, "created_at", &item)?),
    };
    Ok((case, r.conflicts))
}
