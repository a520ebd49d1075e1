//! Knelpunt signals: a rule, system or provision that blocks good support.

use automerge::{ObjId, ReadDoc};
use serde::{Deserialize, Serialize};

use super::string_enum;
use super::values::Timestamp;
use crate::am::Reader;
use crate::error::Result;
use crate::ids::{MemberId, SignalId};
use crate::item::ItemRef;

string_enum!(
    /// What kind of thing blocks.
    KnelpuntCategory {
        /// A law or regulation.
        Regelgeving => "regelgeving" / "wet- en regelgeving",
        /// Municipal policy.
        Beleid => "beleid" / "gemeentelijk beleid",
        /// An IT system or registration.
        Systeem => "systeem" / "systeem of registratie",
        /// A provision that does not exist or has a waiting list.
        Aanbod => "aanbod" / "aanbod of wachtlijst",
        /// Financing between laws or organisations.
        Financiering => "financiering" / "financiering",
        /// Cooperation between organisations.
        Samenwerking => "samenwerking" / "samenwerking",
    }
);

/// A knelpunt raised from a case. Its description must hold no personal data: it is what
/// the municipality sees across teams.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// Input for a new knelpunt signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewKnelpuntSignal {
    /// The rule or system that blocks.
    pub blocking_rule: String,
    /// Category.
    pub category: KnelpuntCategory,
    /// What happens, without personal data.
    pub description: String,
}

pub(super) fn read_signal<D: ReadDoc + ?Sized>(
    r: &mut Reader<'_, D>,
    id: SignalId,
    obj: &ObjId,
) -> Result<KnelpuntSignal> {
    let item = ItemRef::Signal(id.clone());
    Ok(KnelpuntSignal {
        blocking_rule: r.str(obj, "blocking_rule", &item)?,
        category: r.enum_(obj, "category", &item)?,
        description: r.str(obj, "description", &item)?,
        raised_by: r.id(obj, "raised_by", &item)?,
        raised_at: Timestamp(r.i64(obj, "raised_at", &item)?),
        id,
    })
}
