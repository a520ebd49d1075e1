//! Conflicts shown to people, never resolved silently.
//!
//! Two kinds: a field that concurrent edits set to different values (Automerge keeps them
//! all; we list each with who set it and when), and a rulebook invariant that concurrent
//! edits broke together (e.g. two colleagues each unassigning the other).

use std::fmt;

use automerge::{Automerge, ReadDoc, ScalarValue, Value};
use serde::Serialize;

use crate::am::RawConflict;
use crate::context::{ChangeNote, device_of};
use crate::ids::{DeviceId, MemberId};
use crate::item::ItemRef;
use crate::model::{Case, Money, Timestamp};
use crate::rules::{self, RuleViolation};

/// Identifies an open conflict within its case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ConflictId(String);

impl ConflictId {
    /// Wraps an id obtained from [`Conflict::id`] (e.g. passed through a binding).
    pub fn new(s: impl Into<String>) -> Self {
        ConflictId(s.into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConflictId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of the values in a conflict, with who set it and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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

/// What a conflict is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ConflictKind {
    /// Concurrent edits set the field to these values; a person picks one with
    /// [`crate::CaseDoc::resolve_conflict`].
    Values(Vec<ConflictValue>),
    /// Concurrent edits together broke this rule; a person repairs it with an ordinary edit.
    Rule(RuleViolation),
}

/// An open conflict in a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// Its id, to resolve it by.
    pub id: ConflictId,
    /// Where.
    pub item: ItemRef,
    /// Which field (for a rule conflict, the rule broken).
    pub field: String,
    /// The choice to make.
    pub kind: ConflictKind,
}

pub(crate) fn id_of(raw: &RawConflict) -> ConflictId {
    ConflictId(format!("value:{}:{}", raw.obj, raw.key))
}

pub(crate) fn field_label(raw: &RawConflict) -> String {
    raw.key.clone()
}

/// The Dutch label of a stored enum value, for the fields that hold one.
fn label(item: &ItemRef, key: &str, stored: &str) -> Option<&'static str> {
    use crate::model::*;
    Some(match (item, key) {
        (ItemRef::Case, "status") => CaseStatus::from_name(stored)?.label(),
        (ItemRef::Case, "law") => Law::from_name(stored)?.label(),
        (ItemRef::Person(_), "role") => HouseholdRole::from_name(stored)?.label(),
        (ItemRef::Participant(..), "kind") => ParticipantKind::from_name(stored)?.label(),
        (ItemRef::Decision(_), "status") => DecisionStatus::from_name(stored)?.label(),
        (ItemRef::Decision(_), "category") => ProvisionCategory::from_name(stored)?.label(),
        (ItemRef::Goal(_), "status") => GoalStatus::from_name(stored)?.label(),
        (ItemRef::Goal(_), "plan") => PlanKind::from_name(stored)?.label(),
        (ItemRef::Signal(_), "category") => KnelpuntCategory::from_name(stored)?.label(),
        _ => return None,
    })
}

fn show(item: &ItemRef, key: &str, v: &ScalarValue) -> String {
    match v {
        ScalarValue::Str(s) => label(item, key, s).map_or_else(|| s.to_string(), str::to_owned),
        ScalarValue::Int(i) if key == "amount" => Money(*i).to_string(),
        ScalarValue::Int(i) => i.to_string(),
        ScalarValue::Boolean(true) => "ja".to_owned(),
        ScalarValue::Boolean(false) => "nee".to_owned(),
        ScalarValue::Null => "(leeg)".to_owned(),
        other => other.to_string(),
    }
}

pub(crate) fn list(doc: &Automerge, case: &Case, raws: &[RawConflict]) -> Vec<Conflict> {
    let mut out = Vec::new();
    for raw in raws {
        let Ok(values) = doc.get_all(&raw.obj, raw.key.as_str()) else {
            continue;
        };
        let values = values
            .iter()
            .map(|(v, op)| {
                let meta = doc
                    .hash_for_opid(op)
                    .and_then(|h| doc.get_change_meta_by_hash(&h));
                let value = match v {
                    Value::Scalar(s) => show(&raw.item, &raw.key, s),
                    Value::Object(t) => format!("({t})"),
                };
                ConflictValue {
                    value,
                    member: meta
                        .as_ref()
                        .and_then(|m| ChangeNote::decode(m.message.as_deref()))
                        .map(|n| n.member),
                    device: meta.as_ref().and_then(|m| device_of(&m.actor)),
                    at: meta.as_ref().map(|m| Timestamp(m.timestamp)),
                }
            })
            .collect();
        out.push(Conflict {
            id: id_of(raw),
            item: raw.item.clone(),
            field: field_label(raw),
            kind: ConflictKind::Values(values),
        });
    }
    for violation in rules::check_case_state(case) {
        let json = serde_json::to_string(&violation).unwrap_or_default();
        out.push(Conflict {
            id: ConflictId(format!("rule:{json}")),
            item: violation_item(&violation),
            field: violation.to_string(),
            kind: ConflictKind::Rule(violation),
        });
    }
    out
}

fn violation_item(v: &RuleViolation) -> ItemRef {
    match v {
        RuleViolation::Required { item, .. }
        | RuleViolation::Invalid { item, .. }
        | RuleViolation::Removed { item }
        | RuleViolation::OpenConflict { item } => item.clone(),
        RuleViolation::DecisionStatus { decision, .. }
        | RuleViolation::AboveMandate { decision, .. }
        | RuleViolation::SignerLacksMandate { decision, .. }
        | RuleViolation::SameSigner { decision }
        | RuleViolation::DecisionFinal { decision }
        | RuleViolation::Supersede { decision, .. } => ItemRef::Decision(decision.clone()),
        RuleViolation::AssessmentFinal { assessment } => ItemRef::Assessment(assessment.clone()),
        RuleViolation::PersonalDataInSignal { signal, .. } => ItemRef::Signal(signal.clone()),
        RuleViolation::UnknownMember { member } => ItemRef::Member(member.clone()),
        _ => ItemRef::Case,
    }
}
