//! The team's work in the simulation: what practitioners and team leads do on their
//! devices, offline or online, through the same store API the apps use.

use std::collections::BTreeMap;

use keukentafel_core::model::{
    CaseStatus, GoalStatus, HouseholdRole, Law, LifeDomain, Money, NewAgreement, NewAssessment,
    NewCase, NewConversation, NewDecision, NewGoal, NewHouseholdMember, NewParticipant,
    ParticipantKind, Period, PlanKind, ProvisionCategory, Role, ZrmVersion,
};
use keukentafel_core::{CaseId, DeviceStore, Error, NotesEdit};
use time::macros::date;

use super::World;

const SNIPPETS: [&str; 6] = [
    "Mevrouw vertelt over haar dag. ",
    "Dochter helpt met boodschappen. ",
    "De trap is een probleem. ",
    "Afspraak met de huisarts. ",
    "Schulden lopen op; budgetcoach gevraagd. ",
    "ë ü é — ",
];

impl World {
    /// One operation of the member on device `d`. A refusal by the rulebook, or a target
    /// the device does not hold (yet), is a normal outcome; anything else is a failure.
    pub(super) fn operate(&mut self, d: usize) -> Result<(), String> {
        if self.devices[d].erased || self.devices[d].store.is_none() {
            return Ok(());
        }
        let member = self.devices[d].member.clone();
        let role = self
            .team
            .iter()
            .find(|m| m.id == member)
            .map_or(Role::Practitioner, |m| m.role);
        let colleagues: Vec<_> = self
            .team
            .iter()
            .filter(|m| m.id != member && m.role != Role::Admin)
            .map(|m| m.id.clone())
            .collect();
        let number = format!("S-{:03}", self.cases.len() + 1);
        let choice = self.rng.below(100);
        let pick = self.rng.next_u64();
        let amount = Money::euros([300, 1_200, 2_400, 4_000, 9_000][self.rng.index(5)]);
        let snippet = SNIPPETS[self.rng.index(SNIPPETS.len())];
        let colleague = self.rng.pick(&colleagues).cloned();
        let flip = self.rng.chance(50);
        let Some(store) = self.store(d) else {
            return Ok(());
        };
        let held = match held_cases(store) {
            Ok(h) => h,
            Err(Error::NoWorkspace) => return Ok(()),
            Err(e) => return Err(format!("device {d} could not list its cases: {e}")),
        };
        let target = (!held.is_empty()).then(|| held[(pick % held.len() as u64) as usize].clone());
        let outcome = match (choice, target) {
            (0..=9, _) | (_, None) => {
                create_case(store, &number, colleague.filter(|_| flip)).map(|id| {
                    self.cases.push((id.clone(), number));
                    Some(id)
                })
            }
            (10..=21, Some(case)) => record_conversation(store, &case).map(|()| Some(case)),
            (22..=46, Some(case)) => type_notes(store, &case, pick, snippet).map(|()| Some(case)),
            (47..=54, Some(case)) => agreement(store, &case, pick).map(|()| Some(case)),
            (55..=66, Some(case)) => decision(store, &case, amount, flip).map(|()| Some(case)),
            (67..=74, _) => sign(store, flip),
            (75..=82, Some(case)) => reassign(store, &case, colleague, flip).map(|()| Some(case)),
            (83..=90, Some(case)) => goal(store, &case, pick).map(|()| Some(case)),
            (91..=95, Some(case)) if role != Role::Admin => {
                advance(store, &case).map(|()| Some(case))
            }
            (_, Some(case)) => resolve_conflicts(store, &case).map(|()| Some(case)),
        };
        self.note(|| {
            format!(
                "device {d} (member {}) operation {choice}: {}",
                member.short(),
                match &outcome {
                    Ok(Some(case)) => format!("ok on case {}", case.short()),
                    Ok(None) => "nothing to do".into(),
                    Err(e) => format!("refused: {e}"),
                }
            )
        });
        match outcome {
            Ok(Some(case)) => {
                self.stats.ops += 1;
                if let Some(store) = self.store(d) {
                    let heads = store
                        .heads(&case)
                        .map_err(|e| format!("device {d} lost a case it just edited: {e}"))?;
                    self.ledger.push((d, case, heads));
                }
                self.push_now(d)
            }
            Ok(None) => Ok(()),
            Err(
                Error::Rule(_)
                | Error::NotFound { .. }
                | Error::StaleConflict { .. }
                | Error::NoWorkspace,
            ) => {
                self.stats.ops_refused += 1;
                Ok(())
            }
            Err(e) => Err(format!("device {d}: an operation failed: {e}")),
        }
    }
}

/// The cases a store holds, by case number: an order that is the same on every replay.
fn held_cases(store: &DeviceStore) -> Result<Vec<CaseId>, Error> {
    let mut cases = store.list_cases(&Default::default())?;
    cases.sort_by(|a, b| a.case_number.cmp(&b.case_number).then(a.id.cmp(&b.id)));
    Ok(cases.into_iter().map(|c| c.id).collect())
}

fn create_case(
    store: &mut DeviceStore,
    number: &str,
    colleague: Option<keukentafel_core::MemberId>,
) -> Result<CaseId, Error> {
    let me = store.member_id().cloned().ok_or(Error::NoWorkspace)?;
    store.create_case(NewCase {
        case_number: number.to_owned(),
        law: Law::Wmo,
        melding_date: date!(2026 - 11 - 02),
        household: vec![NewHouseholdMember {
            name: format!("Bewoner {number}"),
            birth_date: Some(date!(1950 - 05 - 17)),
            role: HouseholdRole::Resident,
        }],
        assigned: std::iter::once(me).chain(colleague).collect(),
    })
}

fn record_conversation(store: &mut DeviceStore, case: &CaseId) -> Result<(), Error> {
    store.edit_case(case, |doc, ctx| {
        doc.record_conversation(
            ctx,
            NewConversation {
                date: date!(2026 - 11 - 20),
                place: "thuis, aan de keukentafel".into(),
                participants: vec![NewParticipant {
                    kind: ParticipantKind::Resident,
                    name: "bewoner".into(),
                    person: None,
                    member: None,
                }],
                question: "Hoe kan ik thuis blijven wonen?".into(),
                domains: [LifeDomain::Huisvesting].into(),
                notes: "Eerste indruk. ".into(),
                agreements: vec![],
                client_support_offered: true,
            },
        )
        .map(|_| ())
    })
}

fn type_notes(
    store: &mut DeviceStore,
    case: &CaseId,
    pick: u64,
    snippet: &str,
) -> Result<(), Error> {
    let c = store.case(case)?;
    let Some(conv) = nth(&c.conversations, pick) else {
        return record_conversation(store, case);
    };
    let len = c.conversations[&conv].notes.chars().count() as u64;
    let at = usize::try_from(pick % (len + 1)).unwrap_or(0);
    // Now and then a correction: a few characters typed over.
    let delete = if pick.is_multiple_of(5) {
        usize::try_from((len - at as u64).min(4)).unwrap_or(0)
    } else {
        0
    };
    store.edit_case(case, |doc, ctx| {
        doc.edit_notes(
            ctx,
            &conv,
            NotesEdit::Splice {
                at,
                delete,
                insert: snippet.to_owned(),
            },
        )
    })
}

fn agreement(store: &mut DeviceStore, case: &CaseId, pick: u64) -> Result<(), Error> {
    let c = store.case(case)?;
    let conv = nth(&c.conversations, pick).ok_or(Error::NotFound {
        what: "conversation",
        id: String::new(),
    })?;
    store.edit_case(case, |doc, ctx| {
        doc.add_agreement(
            ctx,
            &conv,
            NewAgreement {
                what: format!("afspraak {}", pick % 1000),
                who: "wijkteam".into(),
                due: Some(date!(2026 - 12 - 04)),
            },
        )
        .map(|_| ())
    })
}

/// A decision: decided when within the member's mandate, else sent for a second
/// signature (or, now and then, tried anyway: the rulebook must refuse it).
fn decision(
    store: &mut DeviceStore,
    case: &CaseId,
    amount: Money,
    brave: bool,
) -> Result<(), Error> {
    let category = ProvisionCategory::HuishoudelijkeHulp;
    let within = store.mandate_check(category, amount)?.allows_deciding();
    store.edit_case(case, |doc, ctx| {
        let id = doc.draft_decision(
            ctx,
            NewDecision {
                provision: "Huishoudelijke hulp".into(),
                category,
                period: Period {
                    start: date!(2026 - 12 - 01),
                    end: date!(2027 - 11 - 30),
                },
                amount,
                legal_ground: "Wmo 2015 art. 2.3.5".into(),
                motivation: "Kan het huishouden niet zelf; netwerk helpt waar het kan.".into(),
                deviation: None,
                supersedes: None,
            },
        )?;
        if within || brave {
            doc.decide(ctx, &id)
        } else {
            doc.request_signature(ctx, &id)
        }
    })
}

/// Gives a second signature to a decision waiting for this member's.
fn sign(store: &mut DeviceStore, approve: bool) -> Result<Option<CaseId>, Error> {
    let Some(pending) = store.awaiting_my_signature()?.into_iter().next() else {
        return Ok(None);
    };
    store.edit_case(&pending.case, |doc, ctx| {
        if approve {
            doc.approve(ctx, &pending.decision)
        } else {
            doc.reject(
                ctx,
                &pending.decision,
                "Eerst andere mogelijkheden onderzoeken.",
            )
        }
    })?;
    Ok(Some(pending.case))
}

/// Takes a colleague onto a case, or hands it over by leaving it.
fn reassign(
    store: &mut DeviceStore,
    case: &CaseId,
    colleague: Option<keukentafel_core::MemberId>,
    leave: bool,
) -> Result<(), Error> {
    let me = store.member_id().cloned().ok_or(Error::NoWorkspace)?;
    let Some(colleague) = colleague else {
        return Ok(());
    };
    store.edit_case(case, |doc, ctx| {
        doc.assign(ctx, &colleague)?;
        if leave {
            doc.unassign(ctx, &me)
        } else {
            Ok(())
        }
    })
}

fn goal(store: &mut DeviceStore, case: &CaseId, pick: u64) -> Result<(), Error> {
    let c = store.case(case)?;
    match nth(&c.goals, pick) {
        Some(g) => {
            let status = [
                GoalStatus::Underway,
                GoalStatus::Achieved,
                GoalStatus::Stopped,
            ][(pick % 3) as usize];
            store.edit_case(case, |doc, ctx| doc.set_goal_status(ctx, &g, status))
        }
        None => {
            let person = c.household.keys().next().cloned().ok_or(Error::NotFound {
                what: "person",
                id: String::new(),
            })?;
            store.edit_case(case, |doc, ctx| {
                doc.add_goal(
                    ctx,
                    NewGoal {
                        plan: PlanKind::PersoonlijkPlan,
                        person: person.clone(),
                        description: "Zelf de was doen".into(),
                    },
                )?;
                let mut scores = BTreeMap::new();
                scores.insert(LifeDomain::Huisvesting, 3);
                doc.record_assessment(
                    ctx,
                    NewAssessment {
                        version: ZrmVersion::Elf,
                        date: date!(2026 - 11 - 20),
                        scores,
                    },
                )
                .map(|_| ())
            })
        }
    }
}

/// Moves the case one step on (not to closing: that needs a reason and a date).
fn advance(store: &mut DeviceStore, case: &CaseId) -> Result<(), Error> {
    let status = store.case(case)?.status;
    match status.next().filter(|s| *s != CaseStatus::Afgesloten) {
        Some(next) => store.edit_case(case, |doc, ctx| doc.set_status(ctx, next)),
        None => Ok(()),
    }
}

/// A person looks at the conflicts and chooses: the first value offered, each time.
fn resolve_conflicts(store: &mut DeviceStore, case: &CaseId) -> Result<(), Error> {
    for conflict in store.conflicts(case)? {
        if matches!(conflict.kind, keukentafel_core::ConflictKind::Values(_)) {
            store.edit_case(case, |doc, ctx| doc.resolve_conflict(ctx, &conflict.id, 0))?;
        }
    }
    Ok(())
}

fn nth<K: Clone + Ord, V>(map: &BTreeMap<K, V>, pick: u64) -> Option<K> {
    if map.is_empty() {
        None
    } else {
        map.keys().nth((pick % map.len() as u64) as usize).cloned()
    }
}
