//! The team's workspace document: members, their roles and mandates, the team budget.

use std::collections::BTreeMap;

use automerge::{ROOT, ReadDoc};
use serde::{Deserialize, Serialize};
use time::Date;

use super::decision::ProvisionCategory;
use super::string_enum;
use super::values::{Money, Period};
use crate::am::{RawConflict, Reader};
use crate::error::Result;
use crate::ids::{MemberId, WorkspaceId};
use crate::item::ItemRef;

string_enum!(
    /// What a member may do in the team.
    Role {
        /// Works cases assigned to them.
        Practitioner => "practitioner" / "professional",
        /// Sees and works all the team's cases; manages assignment.
        TeamLead => "team_lead" / "teamleider",
        /// Manages the workspace (members, mandates, budget); sees no case data.
        Admin => "admin" / "beheerder",
    }
);

/// A member's delegated authority (ondermandaat): per provision category the highest amount
/// one decision may have. A category not listed is not within the mandate at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mandate {
    /// Highest amount per decision, per allowed category.
    pub limits: BTreeMap<ProvisionCategory, Money>,
}

impl Mandate {
    /// A mandate with one category.
    pub fn with(mut self, category: ProvisionCategory, limit: Money) -> Self {
        self.limits.insert(category, limit);
        self
    }

    /// The limit for a category, if the category is allowed.
    pub fn limit(&self, category: ProvisionCategory) -> Option<Money> {
        self.limits.get(&category).copied()
    }
}

/// A member of the team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Identifier.
    pub id: MemberId,
    /// Name shown to colleagues.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Mandate for maatwerk decisions.
    pub mandate: Mandate,
    /// False once the member has left the team; their past work stays attributed.
    pub active: bool,
}

/// Input for a new member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMember {
    /// Name shown to colleagues.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Mandate for maatwerk decisions.
    pub mandate: Mandate,
}

/// The team's budget for one period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// The period.
    pub period: Period,
    /// The amount available in it.
    pub amount: Money,
}

/// A team's workspace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// Identifier.
    pub id: WorkspaceId,
    /// Team name.
    pub name: String,
    /// The area (gebied) the team serves.
    pub area: String,
    /// Members, by id.
    pub members: BTreeMap<MemberId, Member>,
    /// Budgets, by first day of the period.
    pub budgets: BTreeMap<Date, Budget>,
}

impl Workspace {
    /// An active member by id.
    pub fn member(&self, id: &MemberId) -> Option<&Member> {
        self.members.get(id).filter(|m| m.active)
    }
}

pub(crate) fn read_workspace<D: ReadDoc + ?Sized>(
    doc: &D,
) -> Result<(Workspace, Vec<RawConflict>)> {
    let mut r = Reader::new(doc);
    let item = ItemRef::Workspace;
    let id = r.id(&ROOT, "id", &item)?;
    let name = r.str(&ROOT, "name", &item)?;
    let area = r.str(&ROOT, "area", &item)?;
    let mut members = BTreeMap::new();
    for (mid, obj) in r.children::<MemberId>(&ROOT, "members")? {
        let item = ItemRef::Member(mid.clone());
        let mut mandate = Mandate::default();
        if let Some(limits) = r.object(&obj, "mandate", automerge::ObjType::Map)? {
            for cat in ProvisionCategory::ALL {
                if let Some(cents) = r.opt_i64(&limits, cat.as_str(), &item)? {
                    mandate.limits.insert(*cat, Money(cents));
                }
            }
        }
        let member = Member {
            id: mid.clone(),
            display_name: r.str(&obj, "display_name", &item)?,
            role: r.enum_(&obj, "role", &item)?,
            mandate,
            active: r.bool(&obj, "active", &item)?,
        };
        members.insert(mid, member);
    }
    let mut budgets = BTreeMap::new();
    for (start_key, obj) in r.children::<String>(&ROOT, "budgets")? {
        // The key came from elsewhere: only a date names a budget (and may reach an error).
        let Some(start) = crate::am::parse_date(&start_key) else {
            continue;
        };
        let item = ItemRef::Budget(crate::am::format_date(start));
        let period = Period {
            start: r.date(&obj, "start", &item)?,
            end: r.date(&obj, "end", &item)?,
        };
        let amount = Money(r.i64(&obj, "amount", &item)?);
        budgets.insert(period.start, Budget { period, amount });
    }
    let ws = Workspace {
        id,
        name,
        area,
        members,
        budgets,
    };
    Ok((ws, r.conflicts))
}
