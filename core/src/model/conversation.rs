//! Keukentafelgesprekken: the kitchen-table conversation and what was agreed.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ObjId, ReadDoc};
use serde::{Deserialize, Serialize};
use time::Date;

use super::string_enum;
use super::zrm::LifeDomain;
use crate::am::Reader;
use crate::error::Result;
use crate::ids::{AgreementId, ConversationId, MemberId, ParticipantId, PersonId};
use crate::item::ItemRef;

string_enum!(
    /// In which capacity someone took part.
    ParticipantKind {
        /// The resident who asks for support.
        Resident => "resident" / "bewoner",
        /// Another member of the household.
        HouseholdMember => "household_member" / "gezinslid",
        /// An informal carer.
        Mantelzorger => "mantelzorger" / "mantelzorger",
        /// A professional of the team.
        TeamMember => "team_member" / "teamlid",
        /// Another professional (GP, school, ...).
        Professional => "professional" / "andere professional",
        /// An independent client supporter.
        ClientSupporter => "client_supporter" / "cliëntondersteuner",
    }
);

/// Someone present at a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// Input for a participant.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// Who does what by when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// Input for an agreement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAgreement {
    /// What will be done.
    pub what: String,
    /// Who does it.
    pub who: String,
    /// By when.
    pub due: Option<Date>,
}

/// A keukentafelgesprek.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Identifier.
    pub id: ConversationId,
    /// Day of the conversation.
    pub date: Date,
    /// Where it took place ("thuis", "wijkcentrum").
    pub place: String,
    /// Who took part.
    pub participants: BTreeMap<ParticipantId, Participant>,
    /// The resident's own question, in their own words.
    pub question: String,
    /// Life domains discussed.
    pub domains: BTreeSet<LifeDomain>,
    /// The notes: collaboratively editable text.
    pub notes: String,
    /// Agreements made.
    pub agreements: BTreeMap<AgreementId, Agreement>,
    /// Whether free independent client support was offered.
    pub client_support_offered: bool,
    /// Who recorded it.
    pub recorded_by: MemberId,
}

/// Input for a new conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewConversation {
    /// Day of the conversation.
    pub date: Date,
    /// Where.
    pub place: String,
    /// Who took part.
    pub participants: Vec<NewParticipant>,
    /// The resident's own question.
    pub question: String,
    /// Life domains discussed.
    pub domains: BTreeSet<LifeDomain>,
    /// Notes so far.
    pub notes: String,
    /// Agreements made.
    pub agreements: Vec<NewAgreement>,
    /// Whether free independent client support was offered.
    pub client_support_offered: bool,
}

pub(super) fn read_conversation<D: ReadDoc + ?Sized>(
    r: &mut Reader<'_, D>,
    id: ConversationId,
    obj: &ObjId,
) -> Result<Conversation> {
    let item = ItemRef::Conversation(id.clone());
    let mut participants = BTreeMap::new();
    for (pid, pobj) in r.children::<ParticipantId>(obj, "participants")? {
        let item = ItemRef::Participant(id.clone(), pid.clone());
        let p = Participant {
            kind: r.enum_(&pobj, "kind", &item)?,
            name: r.str(&pobj, "name", &item)?,
            person: r.opt_id(&pobj, "person", &item)?,
            member: r.opt_id(&pobj, "member", &item)?,
            id: pid.clone(),
        };
        participants.insert(pid, p);
    }
    let mut agreements = BTreeMap::new();
    for (aid, aobj) in r.children::<AgreementId>(obj, "agreements")? {
        let item = ItemRef::Agreement(id.clone(), aid.clone());
        let a = Agreement {
            what: r.str(&aobj, "what", &item)?,
            who: r.str(&aobj, "who", &item)?,
            due: r.opt_date(&aobj, "due", &item)?,
            done: r.bool(&aobj, "done", &item)?,
            id: aid.clone(),
        };
        agreements.insert(aid, a);
    }
    let domains = r
        .set::<String>(obj, "domains", &item)?
        .iter()
        .filter_map(|s| LifeDomain::from_name(s))
        .collect();
    Ok(Conversation {
        date: r.date(obj, "date", &item)?,
        place: r.str(obj, "place", &item)?,
        participants,
        question: r.str(obj, "question", &item)?,
        domains,
        notes: r.text(obj, "notes")?,
        agreements,
        client_support_offered: r.bool(obj, "client_support_offered", &item)?,
        recorded_by: r.id(obj, "recorded_by", &item)?,
        id,
    })
}
