//! Maatwerk decisions under mandate.

use automerge::{ObjId, ReadDoc};
use serde::{Deserialize, Serialize};

use super::string_enum;
use super::values::{Money, Period, Timestamp};
use crate::am::Reader;
use crate::error::Result;
use crate::ids::{DecisionId, MemberId};
use crate::item::ItemRef;

string_enum!(
    /// The kind of provision (voorziening); mandates are set per category.
    ProvisionCategory {
        /// Hulp bij het huishouden (Wmo).
        HuishoudelijkeHulp => "huishoudelijke_hulp" / "huishoudelijke hulp",
        /// Begeleiding (Wmo).
        Begeleiding => "begeleiding" / "begeleiding",
        /// Dagbesteding (Wmo).
        Dagbesteding => "dagbesteding" / "dagbesteding",
        /// Hulpmiddelen, e.g. a wheelchair (Wmo).
        Hulpmiddelen => "hulpmiddelen" / "hulpmiddelen",
        /// Woningaanpassing (Wmo).
        Woningaanpassing => "woningaanpassing" / "woningaanpassing",
        /// Vervoersvoorziening (Wmo).
        Vervoer => "vervoer" / "vervoer",
        /// Respijtzorg for a mantelzorger (Wmo).
        Respijtzorg => "respijtzorg" / "respijtzorg",
        /// Jeugdhulp without stay (Jeugdwet).
        JeugdhulpAmbulant => "jeugdhulp_ambulant" / "ambulante jeugdhulp",
        /// Jeugdhulp with stay (Jeugdwet).
        JeugdhulpVerblijf => "jeugdhulp_verblijf" / "jeugdhulp met verblijf",
        /// Bijzondere bijstand (Participatiewet).
        BijzondereBijstand => "bijzondere_bijstand" / "bijzondere bijstand",
        /// Schuldhulpverlening.
        Schuldhulp => "schuldhulp" / "schuldhulpverlening",
        /// Anything else; say what in the provision.
        Overig => "overig" / "overig",
    }
);

string_enum!(
    /// Where a decision stands. Draft is the only editable state; decided, approved and
    /// rejected are final, and a correction is a new decision that supersedes it.
    DecisionStatus {
        /// Being prepared; may change freely.
        Draft => "draft" / "concept",
        /// Within the decider's mandate and taken.
        Decided => "decided" / "besloten",
        /// Above the decider's mandate: waits for a second signature.
        AwaitingSignature => "awaiting_signature" / "wacht op tweede handtekening",
        /// Signed by a second member whose mandate covers it.
        Approved => "approved" / "goedgekeurd",
        /// Refused by the second signer.
        Rejected => "rejected" / "afgewezen",
    }
);

impl DecisionStatus {
    /// Whether the decision can no longer change (apart from being superseded).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Decided | Self::Approved | Self::Rejected)
    }

    /// Whether the decision is in force (decided or approved) until superseded.
    pub fn is_in_force(self) -> bool {
        matches!(self, Self::Decided | Self::Approved)
    }
}

/// A maatwerk decision: what, how much, on which legal ground, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

impl Decision {
    /// The decision's content (what a signature is given on).
    pub fn content(&self) -> NewDecision {
        NewDecision {
            provision: self.provision.clone(),
            category: self.category,
            period: self.period,
            amount: self.amount,
            legal_ground: self.legal_ground.clone(),
            motivation: self.motivation.clone(),
            deviation: self.deviation.clone(),
            supersedes: self.supersedes.clone(),
        }
    }
}

/// A decision's content: the input for a new decision (as a draft), and what is sealed
/// when it becomes final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

fn read_content<D: ReadDoc + ?Sized>(
    r: &mut Reader<'_, D>,
    obj: &ObjId,
    item: &ItemRef,
) -> Result<NewDecision> {
    Ok(NewDecision {
        provision: r.str(obj, "provision", item)?,
        category: r.enum_(obj, "category", item)?,
        period: Period {
            start: r.date(obj, "start", item)?,
            end: r.date(obj, "end", item)?,
        },
        amount: Money(r.i64(obj, "amount", item)?),
        legal_ground: r.str(obj, "legal_ground", item)?,
        motivation: r.str(obj, "motivation", item)?,
        deviation: r.opt_str(obj, "deviation", item)?,
        supersedes: r.opt_id(obj, "supersedes", item)?,
    })
}

pub(super) fn read_decision<D: ReadDoc + ?Sized>(
    r: &mut Reader<'_, D>,
    id: DecisionId,
    obj: &ObjId,
) -> Result<Decision> {
    let item = ItemRef::Decision(id.clone());
    let content = read_content(r, obj, &item)?;
    let sealed = match r.object(obj, "sealed", automerge::ObjType::Map)? {
        Some(seal) => Some(read_content(r, &seal, &item)?),
        None => None,
    };
    Ok(Decision {
        provision: content.provision,
        category: content.category,
        period: content.period,
        amount: content.amount,
        legal_ground: content.legal_ground,
        motivation: content.motivation,
        deviation: content.deviation,
        supersedes: content.supersedes,
        decided_by: r.id(obj, "decided_by", &item)?,
        status: r.enum_(obj, "status", &item)?,
        signed_by: r.opt_id(obj, "signed_by", &item)?,
        rejection_reason: r.opt_str(obj, "rejection_reason", &item)?,
        superseded_by: r.opt_id(obj, "superseded_by", &item)?,
        created_at: Timestamp(r.i64(obj, "created_at", &item)?),
        sealed,
        id,
    })
}
