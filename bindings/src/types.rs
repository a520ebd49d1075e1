//! The types an app sees, as uniffi exports them.
//!
//! Core types whose shape crosses the boundary as it is are declared `remote` here: uniffi
//! checks the repeated definition against core's at compile time, so the two cannot drift.
//! Core types holding maps or sets get an app-shaped record (lists, sorted) with a `From`
//! conversion. No rule lives here: everything is decided by core.

use keukentafel_core::model::{
    self, Agreement, Budget, CaseStatus, ClosureReason, Deadlines, Decision, DecisionStatus, Goal,
    GoalStatus, HouseholdMember, HouseholdRole, KnelpuntCategory, KnelpuntSignal, Law, LifeDomain,
    Money, NewAgreement, NewCase, NewDecision, NewGoal, NewHouseholdMember, NewKnelpuntSignal,
    NewParticipant, Participant, ParticipantKind, Period, PlanKind, ProgressNote,
    ProvisionCategory, Retention, Role, Timestamp, ZrmVersion,
};
use keukentafel_core::rules::MandateCheck;
use keukentafel_core::{
    AgreementId, AssessmentId, CaseId, CaseSummary, ChangeRef, ConflictKind, ConflictValue,
    ConversationId, DecisionId, DeviceId, GoalId, HistoryEntry, MemberId, ParticipantId,
    PendingSignature, PersonId, ProgressId, SignalId, WorkspaceId,
};
use time::Date;

use crate::error::KeukentafelError;

macro_rules! id_types {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {$(
        uniffi::custom_type!($name, String, {
            remote,
            lower: |id| id.as_str().to_owned(),
            try_lift: |s| Ok($name::parse(&s).map_err(KeukentafelError::from)?),
        });
    )+};
}

id_types!(
    WorkspaceId,
    MemberId,
    DeviceId,
    CaseId,
    PersonId,
    ConversationId,
    ParticipantId,
    AgreementId,
    DecisionId,
    GoalId,
    ProgressId,
    AssessmentId,
    SignalId,
    ChangeRef,
);

// A calendar day, as ISO 8601 text (`2026-11-23`); Kotlin sees `java.time.LocalDate`
// (see uniffi.toml).
uniffi::custom_type!(Date, String, {
    remote,
    lower: |d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
    try_lift: |s| Ok(parse_date(&s)?),
});

// An amount in euro cents.
uniffi::custom_type!(Money, i64, {
    remote,
    lower: |m| m.cents(),
    try_lift: |c| Ok(Money(c)),
});

// A moment, in milliseconds since the Unix epoch (UTC).
uniffi::custom_type!(Timestamp, i64, {
    remote,
    lower: |t| t.0,
    try_lift: |ms| Ok(Timestamp(ms)),
});

fn parse_date(s: &str) -> Result<Date, KeukentafelError> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).map_err(|_| {
        KeukentafelError::InvalidInput {
            reason: "a date is not of the form YYYY-MM-DD".into(),
        }
    })
}

#[uniffi::remote(Enum)]
/// The life cycle of a case. It only moves forward, one step at a time, except that a
/// case may be closed from any status (a request withdrawn or broken off).
pub enum CaseStatus {
    /// Reported; the onderzoek deadline runs from the melding date.
    Melding,
    /// Being assessed (onderzoek, Wmo 2015 art. 2.3.2).
    Onderzoek,
    /// A plan is being made.
    Plan,
    /// Support is running.
    Lopend,
    /// Closed.
    Afgesloten,
}

#[uniffi::remote(Enum)]
/// The law under which the case is primarily handled; it sets the retention period.
pub enum Law {
    /// Wmo 2015 (support for adults).
    Wmo,
    /// Jeugdwet (youth care).
    Jeugdwet,
    /// Participatiewet (income, work).
    Participatiewet,
}

#[uniffi::remote(Enum)]
/// A person's place in the household.
pub enum HouseholdRole {
    /// The resident who asks for support (aanvrager).
    Resident,
    /// Partner.
    Partner,
    /// Child.
    Child,
    /// Another member of the household.
    Other,
}

#[uniffi::remote(Enum)]
/// Why a case was closed; sets how long its file is kept.
pub enum ClosureReason {
    /// Support was given and has ended.
    SupportEnded,
    /// The request was withdrawn or broken off.
    Withdrawn,
    /// The request was refused.
    Refused,
}

#[uniffi::remote(Enum)]
/// In which capacity someone took part.
pub enum ParticipantKind {
    /// The resident who asks for support.
    Resident,
    /// Another member of the household.
    HouseholdMember,
    /// An informal carer.
    Mantelzorger,
    /// A professional of the team.
    TeamMember,
    /// Another professional (GP, school, ...).
    Professional,
    /// An independent client supporter.
    ClientSupporter,
}

#[uniffi::remote(Enum)]
/// The kind of provision (voorziening); mandates are set per category.
pub enum ProvisionCategory {
    /// Hulp bij het huishouden (Wmo).
    HuishoudelijkeHulp,
    /// Begeleiding (Wmo).
    Begeleiding,
    /// Dagbesteding (Wmo).
    Dagbesteding,
    /// Hulpmiddelen, e.g. a wheelchair (Wmo).
    Hulpmiddelen,
    /// Woningaanpassing (Wmo).
    Woningaanpassing,
    /// Vervoersvoorziening (Wmo).
    Vervoer,
    /// Respijtzorg for a mantelzorger (Wmo).
    Respijtzorg,
    /// Jeugdhulp without stay (Jeugdwet).
    JeugdhulpAmbulant,
    /// Jeugdhulp with stay (Jeugdwet).
    JeugdhulpVerblijf,
    /// Bijzondere bijstand (Participatiewet).
    BijzondereBijstand,
    /// Schuldhulpverlening.
    Schuldhulp,
    /// Anything else; say what in the provision.
    Overig,
}

#[uniffi::remote(Enum)]
/// Where a decision stands. Draft is the only editable state; decided, approved and
/// rejected are final, and a correction is a new decision that supersedes it.
pub enum DecisionStatus {
    /// Being prepared; may change freely.
    Draft,
    /// Within the decider's mandate and taken.
    Decided,
    /// Above the decider's mandate: waits for a second signature.
    AwaitingSignature,
    /// Signed by a second member whose mandate covers it.
    Approved,
    /// Refused by the second signer.
    Rejected,
}

#[uniffi::remote(Enum)]
/// Which plan a goal belongs to.
pub enum PlanKind {
    /// Persoonlijk plan (Wmo 2015).
    PersoonlijkPlan,
    /// Familiegroepsplan (Jeugdwet).
    Familiegroepsplan,
}

#[uniffi::remote(Enum)]
/// Where a goal stands.
pub enum GoalStatus {
    /// Agreed, not started.
    Open,
    /// Being worked on.
    Underway,
    /// Reached.
    Achieved,
    /// Stopped without being reached.
    Stopped,
}

#[uniffi::remote(Enum)]
/// What kind of thing blocks.
pub enum KnelpuntCategory {
    /// A law or regulation.
    Regelgeving,
    /// Municipal policy.
    Beleid,
    /// An IT system or registration.
    Systeem,
    /// A provision that does not exist or has a waiting list.
    Aanbod,
    /// Financing between laws or organisations.
    Financiering,
    /// Cooperation between organisations.
    Samenwerking,
}

#[uniffi::remote(Enum)]
/// What a member may do in the team.
pub enum Role {
    /// Works cases assigned to them.
    Practitioner,
    /// Sees and works all the team's cases; manages assignment.
    TeamLead,
    /// Manages the workspace (members, mandates, budget); sees no case data.
    Admin,
}

#[uniffi::remote(Enum)]
/// Life domains, as named by either ZRM version. Conversations use the same list for
/// the domains discussed.
pub enum LifeDomain {
    /// Financiën.
    Financien,
    /// Werk & opleiding (13-domain version).
    WerkOpleiding,
    /// Dagbesteding (11-domain version).
    Dagbesteding,
    /// Tijdsbesteding (13-domain version's name for dagbesteding).
    Tijdsbesteding,
    /// Huisvesting.
    Huisvesting,
    /// Huiselijke relaties.
    HuiselijkeRelaties,
    /// Geestelijke gezondheid.
    GeestelijkeGezondheid,
    /// Lichamelijke gezondheid.
    LichamelijkeGezondheid,
    /// Verslaving (11-domain version).
    Verslaving,
    /// Middelengebruik (13-domain version's name for verslaving).
    Middelengebruik,
    /// ADL (11-domain version).
    Adl,
    /// Basale ADL (13-domain version).
    BasaleAdl,
    /// Instrumentele ADL (13-domain version).
    InstrumenteleAdl,
    /// Sociaal netwerk.
    SociaalNetwerk,
    /// Maatschappelijke participatie.
    MaatschappelijkeParticipatie,
    /// Justitie.
    Justitie,
}

#[uniffi::remote(Enum)]
/// The ZRM version an assessment was made with.
pub enum ZrmVersion {
    /// The 11-domain version.
    Elf,
    /// The 13-domain version.
    Dertien,
}

#[uniffi::remote(Record)]
/// A person in the household.
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

#[uniffi::remote(Record)]
/// Input for a household member.
pub struct NewHouseholdMember {
    /// Name.
    pub name: String,
    /// Birth date, when known.
    pub birth_date: Option<Date>,
    /// Role in the household.
    pub role: HouseholdRole,
}

#[uniffi::remote(Record)]
/// The legal deadlines of a case, derived from its dates.
pub struct Deadlines {
    /// Onderzoek done within 6 weeks of the melding (Wmo 2015 art. 2.3.2).
    pub onderzoek: Date,
    /// Beschikking within 2 weeks of the aanvraag, once there is one (Wmo 2015 art. 2.3.5).
    pub beschikking: Option<Date>,
}

#[uniffi::remote(Record)]
/// How long a closed case is kept (Selectielijst gemeenten 2020).
pub struct Retention {
    /// The file must be destroyed after this day.
    pub destroy_after: Date,
}

#[uniffi::remote(Record)]
/// Someone present at a conversation.
pub struct Participant {
    /// Identifier.
    pub id: ParticipantId,
    /// Capacity.
    pub kind: ParticipantKind,
    /// Name as recorded.
    pub name: String,
    /// The household member, when it is one.
    pub person: Option<PersonId>,
    /// The team member, when it is one.
    pub member: Option<MemberId>,
}

#[uniffi::remote(Record)]
/// Input for a participant.
pub struct NewParticipant {
    /// Capacity.
    pub kind: ParticipantKind,
    /// Name as recorded.
    pub name: String,
    /// The household member, when it is one.
    pub person: Option<PersonId>,
    /// The team member, when it is one.
    pub member: Option<MemberId>,
}

#[uniffi::remote(Record)]
/// Who does what by when.
pub struct Agreement {
    /// Identifier.
    pub id: AgreementId,
    /// What will be done.
    pub what: String,
    /// Who does it, in words ("bewoner", "dochter", "wijkteam").
    pub who: String,
    /// By when.
    pub due: Option<Date>,
    /// Whether it was done.
    pub done: bool,
}

#[uniffi::remote(Record)]
/// Input for an agreement.
pub struct NewAgreement {
    /// What will be done.
    pub what: String,
    /// Who does it.
    pub who: String,
    /// By when.
    pub due: Option<Date>,
}

#[uniffi::remote(Record)]
/// A maatwerk decision: what, how much, on which legal ground, and why.
pub struct Decision {
    /// Identifier.
    pub id: DecisionId,
    /// What is provided, in words ("3 uur huishoudelijke hulp per week").
    pub provision: String,
    /// The category, against which the mandate is checked.
    pub category: ProvisionCategory,
    /// The period the provision runs.
    pub period: Period,
    /// The amount for the whole period.
    pub amount: Money,
    /// The legal ground ("Wmo 2015 art. 2.3.5").
    pub legal_ground: String,
    /// Why this, here: what makes the decision testable in bezwaar and by an accountant.
    pub motivation: String,
    /// Set when the decision knowingly deviates from a rule, with why.
    pub deviation: Option<String>,
    /// Who prepared and decided (or asked for the second signature).
    pub decided_by: MemberId,
    /// Status.
    pub status: DecisionStatus,
    /// Who gave the second signature (approved or rejected).
    pub signed_by: Option<MemberId>,
    /// Why the second signer rejected it.
    pub rejection_reason: Option<String>,
    /// The earlier decision this one corrects.
    pub supersedes: Option<DecisionId>,
    /// The later decision that corrects this one.
    pub superseded_by: Option<DecisionId>,
    /// When it was drafted.
    pub created_at: Timestamp,
    /// The content as it stood when the decision became final: what was decided, signed or
    /// rejected. `None` before that.
    pub sealed: Option<NewDecision>,
}

#[uniffi::remote(Record)]
/// A decision's content: the input for a new decision (as a draft), and what is sealed
/// when it becomes final.
pub struct NewDecision {
    /// What is provided, in words.
    pub provision: String,
    /// The category.
    pub category: ProvisionCategory,
    /// The period.
    pub period: Period,
    /// The amount.
    pub amount: Money,
    /// The legal ground.
    pub legal_ground: String,
    /// The motivation (required).
    pub motivation: String,
    /// A deviation from a rule, with its own motivation.
    pub deviation: Option<String>,
    /// The decision this one corrects, if any.
    pub supersedes: Option<DecisionId>,
}

#[uniffi::remote(Record)]
/// A note on how a goal is going.
pub struct ProgressNote {
    /// Identifier.
    pub id: ProgressId,
    /// Day of the note.
    pub date: Date,
    /// The note.
    pub note: String,
    /// Who wrote it.
    pub by: MemberId,
}

#[uniffi::remote(Record)]
/// A goal of one person in the household's plan.
pub struct Goal {
    /// Identifier.
    pub id: GoalId,
    /// Which plan.
    pub plan: PlanKind,
    /// Whose goal.
    pub person: PersonId,
    /// The goal, preferably in the person's own words.
    pub description: String,
    /// Status.
    pub status: GoalStatus,
    /// Progress notes, oldest first.
    pub progress: Vec<ProgressNote>,
}

#[uniffi::remote(Record)]
/// Input for a new goal.
pub struct NewGoal {
    /// Which plan.
    pub plan: PlanKind,
    /// Whose goal.
    pub person: PersonId,
    /// The goal.
    pub description: String,
}

#[uniffi::remote(Record)]
/// A knelpunt raised from a case. Its description must hold no personal data: it is what
/// the municipality sees across teams.
pub struct KnelpuntSignal {
    /// Identifier.
    pub id: SignalId,
    /// The rule or system that blocks ("Participatiewet kostendelersnorm").
    pub blocking_rule: String,
    /// Category.
    pub category: KnelpuntCategory,
    /// What happens, without personal data.
    pub description: String,
    /// Who raised it.
    pub raised_by: MemberId,
    /// When.
    pub raised_at: Timestamp,
}

#[uniffi::remote(Record)]
/// Input for a new knelpunt signal.
pub struct NewKnelpuntSignal {
    /// The rule or system that blocks.
    pub blocking_rule: String,
    /// Category.
    pub category: KnelpuntCategory,
    /// What happens, without personal data.
    pub description: String,
}

#[uniffi::remote(Record)]
/// A period of days, both ends included.
pub struct Period {
    /// First day.
    pub start: Date,
    /// Last day.
    pub end: Date,
}

#[uniffi::remote(Record)]
/// The team's budget for one period.
pub struct Budget {
    /// The period.
    pub period: Period,
    /// The amount available in it.
    pub amount: Money,
}

#[uniffi::remote(Record)]
/// A case as listed: what a caseload screen needs, read from the projection tables.
pub struct CaseSummary {
    /// The case.
    pub id: CaseId,
    /// The municipality's case number.
    pub case_number: String,
    /// Status.
    pub status: CaseStatus,
    /// Day of the melding.
    pub melding_date: Date,
    /// The earliest legal deadline still running.
    pub next_deadline: Option<Date>,
    /// Open conflicts, to badge.
    pub open_conflicts: u32,
    /// Decisions waiting for a second signature.
    pub awaiting_signature: u32,
    /// Changes made on this device that the server has not yet accepted.
    pub unsynced: bool,
}

#[uniffi::remote(Record)]
/// A decision waiting for a second signature.
pub struct PendingSignature {
    /// The decision.
    pub decision: DecisionId,
    /// Its case.
    pub case: CaseId,
    /// Its category.
    pub category: ProvisionCategory,
    /// Its amount.
    pub amount: Money,
    /// Who asked for the signature.
    pub decided_by: MemberId,
}

#[uniffi::remote(Record)]
/// One change in a document's history.
pub struct HistoryEntry {
    /// The change, to look at the state right after it.
    pub change: ChangeRef,
    /// The member who made it, when recorded.
    pub member: Option<MemberId>,
    /// The device it was made on.
    pub device: Option<DeviceId>,
    /// When (the device's clock).
    pub at: Timestamp,
    /// What it did, in words.
    pub summary: String,
}

#[uniffi::remote(Record)]
/// One of the values in a conflict, with who set it and when.
pub struct ConflictValue {
    /// The value, as shown to people.
    pub value: String,
    /// The member who set it, when known.
    pub member: Option<MemberId>,
    /// The device it was set on, when known.
    pub device: Option<DeviceId>,
    /// When it was set (the device's clock).
    pub at: Option<Timestamp>,
}

#[uniffi::remote(Enum)]
/// How a decision stands against a member's mandate: shown before saving, and decisive for
/// whether a decision may be taken directly or needs a second signature.
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
#[uniffi::remote(Record)]
/// Input for a new case.
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

/// How and when a case was closed.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Closure {
    /// The day it was closed.
    pub date: Date,
    /// Why.
    pub reason: ClosureReason,
}

/// A case: one household, with everything recorded about it. Lists are in a stable order
/// (by identifier); conversations also come sorted by date from [`Case::conversations`].
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Case {
    /// Identifier (also the document's).
    pub id: CaseId,
    /// The team's workspace.
    pub workspace: WorkspaceId,
    /// The municipality's case number.
    pub case_number: String,
    /// The law the case is primarily handled under.
    pub law: Law,
    /// Status.
    pub status: CaseStatus,
    /// Day of the melding (report).
    pub melding_date: Date,
    /// Day of the formal aanvraag, once made.
    pub aanvraag_date: Option<Date>,
    /// Set once closed.
    pub closure: Option<Closure>,
    /// The legal deadlines that follow from the dates.
    pub deadlines: Deadlines,
    /// The earliest legal deadline still running.
    pub next_deadline: Option<Date>,
    /// How long the file is kept once closed.
    pub retention: Option<Retention>,
    /// The household.
    pub household: Vec<HouseholdMember>,
    /// Members of the team assigned to the case.
    pub assigned: Vec<MemberId>,
    /// Conversations, oldest first.
    pub conversations: Vec<Conversation>,
    /// Decisions.
    pub decisions: Vec<Decision>,
    /// Plan goals.
    pub goals: Vec<Goal>,
    /// ZRM assessments, oldest first.
    pub assessments: Vec<ZrmAssessment>,
    /// Knelpunt signals raised from this case.
    pub signals: Vec<KnelpuntSignal>,
    /// Who opened the case.
    pub created_by: MemberId,
    /// When.
    pub created_at: Timestamp,
}

impl From<model::Case> for Case {
    fn from(c: model::Case) -> Self {
        let conversations = c
            .conversations_by_date()
            .into_iter()
            .cloned()
            .map(Conversation::from)
            .collect();
        let assessments = c
            .assessment_series()
            .into_iter()
            .cloned()
            .map(ZrmAssessment::from)
            .collect();
        Case {
            deadlines: c.deadlines(),
            next_deadline: c.next_deadline(),
            retention: c.retention(),
            id: c.id,
            workspace: c.workspace,
            case_number: c.case_number,
            law: c.law,
            status: c.status,
            melding_date: c.melding_date,
            aanvraag_date: c.aanvraag_date,
            closure: c.closure.map(|(date, reason)| Closure { date, reason }),
            household: c.household.into_values().collect(),
            assigned: c.assigned.into_iter().collect(),
            conversations,
            decisions: c.decisions.into_values().collect(),
            goals: c.goals.into_values().collect(),
            assessments,
            signals: c.signals.into_values().collect(),
            created_by: c.created_by,
            created_at: c.created_at,
        }
    }
}

/// A kitchen-table conversation (keukentafelgesprek).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Conversation {
    /// Identifier.
    pub id: ConversationId,
    /// The day of the conversation.
    pub date: Date,
    /// Where it took place ("thuis", "wijkcentrum").
    pub place: String,
    /// Who took part.
    pub participants: Vec<Participant>,
    /// The resident's question, in their own words.
    pub question: String,
    /// Life domains discussed.
    pub domains: Vec<LifeDomain>,
    /// The notes, edited together character by character.
    pub notes: String,
    /// What was agreed.
    pub agreements: Vec<Agreement>,
    /// Whether free client support (onafhankelijke cliëntondersteuning) was offered.
    pub client_support_offered: bool,
    /// Who recorded it.
    pub recorded_by: MemberId,
}

impl From<model::Conversation> for Conversation {
    fn from(c: model::Conversation) -> Self {
        Conversation {
            id: c.id,
            date: c.date,
            place: c.place,
            participants: c.participants.into_values().collect(),
            question: c.question,
            domains: c.domains.into_iter().collect(),
            notes: c.notes,
            agreements: c.agreements.into_values().collect(),
            client_support_offered: c.client_support_offered,
            recorded_by: c.recorded_by,
        }
    }
}

/// A conversation to record.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NewConversation {
    /// The day of the conversation.
    pub date: Date,
    /// Where it took place.
    pub place: String,
    /// Who took part.
    pub participants: Vec<NewParticipant>,
    /// The resident's question, in their own words.
    pub question: String,
    /// Life domains discussed.
    pub domains: Vec<LifeDomain>,
    /// The notes so far.
    pub notes: String,
    /// What was agreed.
    pub agreements: Vec<NewAgreement>,
    /// Whether free client support was offered.
    pub client_support_offered: bool,
}

impl From<NewConversation> for model::NewConversation {
    fn from(c: NewConversation) -> Self {
        model::NewConversation {
            date: c.date,
            place: c.place,
            participants: c.participants,
            question: c.question,
            domains: c.domains.into_iter().collect(),
            notes: c.notes,
            agreements: c.agreements,
            client_support_offered: c.client_support_offered,
        }
    }
}

/// One domain's score in a ZRM assessment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ZrmScore {
    /// The life domain.
    pub domain: LifeDomain,
    /// 1 (acute problems) to 5 (fully self-sufficient).
    pub score: u8,
}

fn scores(map: std::collections::BTreeMap<LifeDomain, u8>) -> Vec<ZrmScore> {
    map.into_iter()
        .map(|(domain, score)| ZrmScore { domain, score })
        .collect()
}

/// A ZRM (zelfredzaamheid-matrix) assessment.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ZrmAssessment {
    /// Identifier.
    pub id: AssessmentId,
    /// The version used.
    pub version: ZrmVersion,
    /// The day of the assessment.
    pub date: Date,
    /// Scores per domain scored.
    pub scores: Vec<ZrmScore>,
    /// Who assessed.
    pub assessed_by: MemberId,
}

impl From<model::ZrmAssessment> for ZrmAssessment {
    fn from(a: model::ZrmAssessment) -> Self {
        ZrmAssessment {
            id: a.id,
            version: a.version,
            date: a.date,
            scores: scores(a.scores),
            assessed_by: a.assessed_by,
        }
    }
}

/// A ZRM assessment to record.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NewAssessment {
    /// The version used.
    pub version: ZrmVersion,
    /// The day of the assessment.
    pub date: Date,
    /// Scores per domain; a domain listed twice keeps its last score.
    pub scores: Vec<ZrmScore>,
}

impl From<NewAssessment> for model::NewAssessment {
    fn from(a: NewAssessment) -> Self {
        model::NewAssessment {
            version: a.version,
            date: a.date,
            scores: a.scores.into_iter().map(|s| (s.domain, s.score)).collect(),
        }
    }
}

/// A member's limit for one provision category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct MandateLimit {
    /// The category.
    pub category: ProvisionCategory,
    /// Up to this amount the member may decide alone.
    pub limit: Money,
}

/// A member of the team.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Member {
    /// Identifier.
    pub id: MemberId,
    /// Name shown to colleagues.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Mandate for maatwerk decisions; a category not listed needs a second signature.
    pub mandate: Vec<MandateLimit>,
    /// False once the member has left the team; their past work stays attributed.
    pub active: bool,
}

impl From<model::Member> for Member {
    fn from(m: model::Member) -> Self {
        Member {
            id: m.id,
            display_name: m.display_name,
            role: m.role,
            mandate: m
                .mandate
                .limits
                .into_iter()
                .map(|(category, limit)| MandateLimit { category, limit })
                .collect(),
            active: m.active,
        }
    }
}

/// The team's workspace.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Workspace {
    /// Identifier.
    pub id: WorkspaceId,
    /// Team name.
    pub name: String,
    /// The area (gebied) the team serves.
    pub area: String,
    /// Members, past and present.
    pub members: Vec<Member>,
    /// Team budgets, by period.
    pub budgets: Vec<Budget>,
}

impl From<model::Workspace> for Workspace {
    fn from(w: model::Workspace) -> Self {
        Workspace {
            id: w.id,
            name: w.name,
            area: w.area,
            members: w.members.into_values().map(Member::from).collect(),
            budgets: w.budgets.into_values().collect(),
        }
    }
}

/// An open conflict in a case, for a person to resolve.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Conflict {
    /// Its id, to resolve it by.
    pub id: String,
    /// Where in the case, e.g. `decision D-1a2b3c`.
    pub item: String,
    /// Which field; for a rule conflict, the rule broken.
    pub field: String,
    /// The values concurrent edits set, each with who and when: pick one with
    /// `resolveConflict(case, id, index)`. Empty for a rule conflict.
    pub values: Vec<ConflictValue>,
    /// For a conflict between edits that together broke a rule: which rule. It is repaired
    /// with an ordinary edit, not by picking a value.
    pub rule: Option<String>,
}

impl From<keukentafel_core::Conflict> for Conflict {
    fn from(c: keukentafel_core::Conflict) -> Self {
        let (values, rule) = match c.kind {
            ConflictKind::Values(values) => (values, None),
            ConflictKind::Rule(violation) => (Vec::new(), Some(violation.to_string())),
        };
        Conflict {
            id: c.id.as_str().to_owned(),
            item: c.item.to_string(),
            field: c.field,
            values,
            rule,
        }
    }
}

/// Local changes the server refused, kept aside on the device: never silently dropped.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct QuarantinedChange {
    /// The case, when the document is a case.
    pub case: Option<CaseId>,
    /// When they were refused.
    pub at: Timestamp,
    /// Why, as the server said (names rules and identifiers, no case contents).
    pub reason: String,
    /// The refused changes, encoded, for export to the office.
    pub changes: Vec<u8>,
}

impl From<keukentafel_core::QuarantinedChanges> for QuarantinedChange {
    fn from(q: keukentafel_core::QuarantinedChanges) -> Self {
        QuarantinedChange {
            case: match q.doc {
                keukentafel_core::sync::DocRef::Case(id) => Some(id),
                _ => None,
            },
            at: q.at,
            reason: q.reason,
            changes: q.changes,
        }
    }
}

/// Exports `label(value)` for each domain enum: the Dutch words users see, from core's one
/// list of labels, so apps never keep translations of their own.
macro_rules! labels {
    ($($(#[$doc:meta])* $f:ident: $t:ty),+ $(,)?) => {$(
        $(#[$doc])*
        #[uniffi::export]
        pub fn $f(value: $t) -> String {
            value.label().to_owned()
        }
    )+};
}

labels!(
    /// The Dutch label of a case status ("onderzoek").
    case_status_label: CaseStatus,
    /// The Dutch label of a law ("Wmo 2015").
    law_label: Law,
    /// The Dutch label of a place in the household ("aanvrager").
    household_role_label: HouseholdRole,
    /// The Dutch label of a participant's part ("mantelzorger").
    participant_kind_label: ParticipantKind,
    /// The Dutch label of a life domain ("huiselijke relaties").
    life_domain_label: LifeDomain,
    /// The Dutch label of a provision category ("huishoudelijke hulp").
    provision_category_label: ProvisionCategory,
    /// The Dutch label of a decision status ("wacht op tweede handtekening").
    decision_status_label: DecisionStatus,
    /// The Dutch label of a goal status ("behaald").
    goal_status_label: GoalStatus,
    /// The Dutch label of a kind of plan ("persoonlijk plan").
    plan_kind_label: PlanKind,
    /// The Dutch label of a knelpunt category ("aanbod of wachtlijst").
    knelpunt_category_label: KnelpuntCategory,
    /// The Dutch label of a role ("teamleider").
    role_label: Role,
    /// The Dutch label of a closure reason ("ingetrokken of afgebroken").
    closure_reason_label: ClosureReason,
    /// The Dutch label of a ZRM version ("ZRM (11 domeinen)").
    zrm_version_label: ZrmVersion,
);
