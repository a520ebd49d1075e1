//! Goals of the household's own plan, tracked per person.

use automerge::{ObjId, ReadDoc};
use serde::{Deserialize, Serialize};
use time::Date;

use super::string_enum;
use crate::am::Reader;
use crate::error::Result;
use crate::ids::{GoalId, MemberId, PersonId, ProgressId};
use crate::item::ItemRef;

string_enum!(
    /// Which plan a goal belongs to.
    PlanKind {
        /// Persoonlijk plan (Wmo 2015).
        PersoonlijkPlan => "persoonlijk_plan" / "persoonlijk plan",
        /// Familiegroepsplan (Jeugdwet).
        Familiegroepsplan => "familiegroepsplan" / "familiegroepsplan",
    }
);

string_enum!(
    /// Where a goal stands.
    GoalStatus {
        /// Agreed, not started.
        Open => "open" / "open",
        /// Being worked on.
        Underway => "underway" / "bezig",
        /// Reached.
        Achieved => "achieved" / "behaald",
        /// Stopped without being reached.
        Stopped => "stopped" / "gestopt",
    }
);

/// A note on how a goal is going.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// A goal of one person in the household's plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// Input for a new goal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGoal {
    /// Which plan.
    pub plan: PlanKind,
    /// Whose goal.
    pub person: PersonId,
    /// The goal.
    pub description: String,
}

pub(super) fn read_goal<D: ReadDoc + ?Sized>(
    r: &mut Reader<'_, D>,
    id: GoalId,
    obj: &ObjId,
) -> Result<Goal> {
    let item = ItemRef::Goal(id.clone());
    let mut progress = Vec::new();
    for (pid, pobj) in r.children::<ProgressId>(obj, "progress")? {
        let item = ItemRef::Progress(id.clone(), pid.clone());
        progress.push(ProgressNote {
            date: r.date(&pobj, "date", &item)?,
            note: r.str(&pobj, "note", &item)?,
            by: r.id(&pobj, "by", &item)?,
            id: pid,
        });
    }
    progress.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
    Ok(Goal {
        plan: r.enum_(obj, "plan", &item)?,
        person: r.id(obj, "person", &item)?,
        description: r.str(obj, "description", &item)?,
        status: r.enum_(obj, "status", &item)?,
        progress,
        id,
    })
}
