//! Offline replicas merging: notes merge character by character, conflicting values are
//! shown with who and when and resolved by a person, broken rules surface as conflicts.

mod common;

use common::{T0, conversation, decision, other_device, team};
use keukentafel_core::model::{
    CaseStatus, ClosureReason, DecisionStatus, Money, ProvisionCategory, Timestamp,
};
use keukentafel_core::rules::RuleViolation;
use keukentafel_core::{CaseDoc, ConflictKind, Context, ItemRef, Limits, NotesEdit};
use time::macros::date;

fn replica(doc: &CaseDoc) -> CaseDoc {
    CaseDoc::load(&doc.save()).expect("replica")
}

/// Both replicas take in each other's changes, as sync does.
fn sync(a: &mut CaseDoc, b: &mut CaseDoc) {
    let a_heads = a.heads();
    let b_heads = b.heads();
    let to_b = a.changes_since(&b_heads);
    let to_a = b.changes_since(&a_heads);
    a.apply_remote(&to_a, &Limits::default())
        .expect("a applies");
    b.apply_remote(&to_b, &Limits::default())
        .expect("b applies");
    assert_eq!(a.heads(), b.heads(), "converged");
    assert_eq!(a.case(), b.case(), "same state");
}

#[test]
fn two_people_typing_in_the_same_notes_offline_keep_both_texts() {
    let t = team();
    let mut phone = t.case();
    let conv = phone
        .record_conversation(&t.ctx(&t.sanne), {
            let mut c = conversation();
            c.notes = "Mevrouw woont alleen.".into();
            c
        })
        .expect("record");
    phone
        .assign(&t.ctx(&t.sanne), &t.piet.member)
        .expect("assign Piet");
    let mut laptop = replica(&phone);

    let end = "Mevrouw woont alleen.".chars().count();
    phone
        .edit_notes(
            &t.ctx(&t.sanne),
            &conv,
            NotesEdit::Splice {
                at: end,
                delete: 0,
                insert: " Dochter komt op dinsdag.".into(),
            },
        )
        .expect("Sanne types");
    laptop
        .edit_notes(
            &t.ctx(&t.piet),
            &conv,
            NotesEdit::Splice {
                at: 0,
                delete: 0,
                insert: "Huisbezoek: ".into(),
            },
        )
        .expect("Piet types");
    laptop
        .edit_notes(
            &t.ctx(&t.piet),
            &conv,
            NotesEdit::Replace("Huisbezoek: Mevrouw woont alleen in een flat.".into()),
        )
        .expect("Piet rewrites part");
    sync(&mut phone, &mut laptop);

    let notes = &phone.case().conversations[&conv].notes;
    assert_eq!(
        notes,
        "Huisbezoek: Mevrouw woont alleen in een flat. Dochter komt op dinsdag."
    );
    assert!(
        phone.conflicts().is_empty(),
        "text merges without conflicts"
    );
}

#[test]
fn a_field_set_differently_offline_is_shown_with_who_and_when_and_resolved_by_a_person() {
    let t = team();
    let mut phone = t.case();
    phone
        .assign(&t.ctx(&t.sanne), &t.piet.member)
        .expect("assign");
    let mut laptop = replica(&phone);
    let later = Timestamp(T0.0 + 60_000);
    phone
        .set_status(
            &Context {
                workspace: &t.workspace,
                author: &t.sanne,
                now: T0,
            },
            CaseStatus::Onderzoek,
        )
        .expect("Sanne starts the onderzoek");
    laptop
        .close(
            &Context {
                workspace: &t.workspace,
                author: &t.piet,
                now: later,
            },
            date!(2026 - 11 - 21),
            ClosureReason::Withdrawn,
        )
        .expect("Piet closes: request withdrawn");
    sync(&mut phone, &mut laptop);

    let conflicts = phone.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let c = &conflicts[0];
    assert_eq!(
        (c.item.clone(), c.field.as_str()),
        (ItemRef::Case, "status")
    );
    let ConflictKind::Values(values) = &c.kind else {
        panic!("{c:?}")
    };
    let mut shown: Vec<_> = values
        .iter()
        .map(|v| (v.value.as_str(), v.member.clone(), v.at))
        .collect();
    shown.sort();
    assert_eq!(
        shown,
        vec![
            ("afgesloten", Some(t.piet.member.clone()), Some(later)),
            ("onderzoek", Some(t.sanne.member.clone()), Some(T0))
        ]
    );
    assert_eq!(
        values
            .iter()
            .filter(|v| v.device.as_ref() == Some(&t.sanne.device))
            .count(),
        1
    );
    assert_eq!(
        laptop.conflicts(),
        conflicts,
        "both sides show the same conflict"
    );

    let keep = values
        .iter()
        .position(|v| v.value == "onderzoek")
        .expect("onderzoek");
    laptop
        .resolve_conflict(&t.ctx(&t.piet), &c.id, keep)
        .expect("Piet resolves");
    sync(&mut phone, &mut laptop);
    assert!(phone.conflicts().is_empty());
    assert_eq!(phone.case().status, CaseStatus::Onderzoek);
    let last = phone.history().pop().expect("history");
    assert_eq!(last.summary, "conflict on case `status` resolved");
    assert_eq!(last.member.as_ref(), Some(&t.piet.member));
}

#[test]
fn an_amount_edited_while_a_colleague_decided_is_a_conflict_not_a_silent_change() {
    let t = team();
    let mut phone = t.case();
    let d = phone
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::HuishoudelijkeHulp, 1_000),
        )
        .expect("draft");
    let mut tablet = replica(&phone);
    let tablet_sanne = other_device(&t.sanne);
    phone
        .decide(&t.ctx(&t.sanne), &d)
        .expect("decide at EUR 1,000");
    tablet
        .update_draft(
            &t.ctx(&tablet_sanne),
            &d,
            decision(ProvisionCategory::HuishoudelijkeHulp, 2_000),
        )
        .expect("edit the draft to EUR 2,000");
    sync(&mut phone, &mut tablet);

    let amount = phone
        .conflicts()
        .into_iter()
        .find(|c| c.item == ItemRef::Decision(d.clone()) && c.field == "amount")
        .expect("amount conflict shown");
    let ConflictKind::Values(values) = &amount.kind else {
        panic!()
    };
    let mut shown: Vec<_> = values.iter().map(|v| v.value.clone()).collect();
    shown.sort();
    assert_eq!(shown, vec!["EUR 1,000", "EUR 2,000"]);
    assert_eq!(phone.case().decisions[&d].status, DecisionStatus::Decided);

    let decided = values
        .iter()
        .position(|v| v.value == "EUR 1,000")
        .expect("decided amount");
    phone
        .resolve_conflict(&t.ctx(&t.sanne), &amount.id, decided)
        .expect("resolve");
    assert_eq!(phone.case().decisions[&d].amount, Money::euros(1_000));
    assert!(
        phone
            .conflicts()
            .iter()
            .all(|c| c.item != ItemRef::Decision(d.clone()) || c.field != "amount")
    );
}

#[test]
fn approval_and_rejection_given_concurrently_are_a_conflict() {
    let t = team();
    let mut case = t.case();
    case.assign(&t.ctx(&t.sanne), &t.piet.member)
        .expect("assign");
    let d = case
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::Woningaanpassing, 900),
        )
        .expect("draft");
    case.request_signature(&t.ctx(&t.sanne), &d).expect("ask");
    let mut other = replica(&case);
    case.approve(&t.ctx(&t.lead), &d).expect("lead approves");
    other
        .reject(&t.ctx(&t.piet), &d, "Eerst offerte vergelijken.")
        .expect("Piet rejects");
    sync(&mut case, &mut other);
    assert!(
        case.conflicts()
            .iter()
            .any(|c| c.item == ItemRef::Decision(d.clone()) && c.field == "status")
    );
    assert!(
        case.conflicts()
            .iter()
            .any(|c| c.item == ItemRef::Decision(d.clone()) && c.field == "signed_by")
    );
}

#[test]
fn colleagues_unassigning_each_other_offline_surface_a_rule_conflict() {
    let t = team();
    let mut phone = t.case();
    phone
        .assign(&t.ctx(&t.sanne), &t.piet.member)
        .expect("assign");
    let mut laptop = replica(&phone);
    phone
        .unassign(&t.ctx(&t.sanne), &t.piet.member)
        .expect("Sanne takes Piet off");
    laptop
        .unassign(&t.ctx(&t.piet), &t.sanne.member)
        .expect("Piet takes Sanne off");
    sync(&mut phone, &mut laptop);

    assert!(phone.case().assigned.is_empty());
    let conflicts = phone.conflicts();
    assert!(
        conflicts
            .iter()
            .any(|c| c.kind == ConflictKind::Rule(RuleViolation::NoAssignee)),
        "a case with nobody responsible is shown: {conflicts:?}"
    );
    let rule = conflicts
        .iter()
        .find(|c| matches!(c.kind, ConflictKind::Rule(_)))
        .expect("rule");
    assert!(
        phone
            .resolve_conflict(&t.ctx(&t.lead), &rule.id, 0)
            .is_err(),
        "a rule conflict is repaired by an edit"
    );
    phone
        .assign(&t.ctx(&t.lead), &t.sanne.member)
        .expect("team lead assigns again");
    assert!(
        phone
            .conflicts()
            .iter()
            .all(|c| !matches!(c.kind, ConflictKind::Rule(_)))
    );
}

#[test]
fn assigning_and_unassigning_the_same_person_concurrently_is_a_conflict() {
    let t = team();
    let mut phone = t.case();
    let mut other = replica(&phone);
    phone
        .assign(&t.ctx(&t.sanne), &t.piet.member)
        .expect("Sanne assigns Piet");
    other
        .assign(&t.ctx(&t.lead), &t.piet.member)
        .expect("the team lead too");
    other
        .unassign(&t.ctx(&t.lead), &t.piet.member)
        .expect("and takes him off again");
    sync(&mut phone, &mut other);
    let conflict = phone
        .conflicts()
        .into_iter()
        .find(|c| c.item == ItemRef::Case && c.field == t.piet.member.as_str())
        .expect("assignment conflict shown");
    let ConflictKind::Values(values) = &conflict.kind else {
        panic!()
    };
    let mut shown: Vec<_> = values.iter().map(|v| v.value.as_str()).collect();
    shown.sort();
    assert_eq!(shown, vec!["ja", "nee"]);
}

#[test]
fn the_history_tells_who_did_what_and_shows_earlier_states() {
    let t = team();
    let mut case = t.case();
    let conv = case
        .record_conversation(&t.ctx(&t.sanne), conversation())
        .expect("record");
    let d = case
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::HuishoudelijkeHulp, 1_200),
        )
        .expect("draft");
    case.decide(&t.ctx(&t.sanne), &d).expect("decide");
    let history = case.history();
    let summaries: Vec<_> = history.iter().map(|h| h.summary.as_str()).collect();
    assert_eq!(summaries[0], "case opened (melding 2026-11-02)");
    assert_eq!(
        summaries[1],
        format!("conversation {} recorded (2026-11-20)", conv.short())
    );
    assert_eq!(
        summaries[3],
        format!(
            "decision {} decided: EUR 1,200 huishoudelijke hulp",
            d.short()
        )
    );
    assert!(
        history
            .iter()
            .all(|h| h.member.as_ref() == Some(&t.sanne.member)
                && h.device.as_ref() == Some(&t.sanne.device))
    );

    let opened = case.state_at(&history[0].change).expect("state at opening");
    assert!(opened.conversations.is_empty() && opened.decisions.is_empty());
    let drafted = case.state_at(&history[2].change).expect("state at draft");
    assert_eq!(drafted.decisions[&d].status, DecisionStatus::Draft);
    assert!(
        case.state_at(&keukentafel_core::ChangeRef::parse(&"ab".repeat(32)).expect("hex"))
            .is_err()
    );
}

#[test]
fn resolving_a_conflict_keeps_what_was_signed() {
    let t = team();
    let mut office = t.case();
    let d = office
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::Woningaanpassing, 5_000),
        )
        .expect("draft");
    office.request_signature(&t.ctx(&t.sanne), &d).expect("ask");
    office
        .withdraw_request(&t.ctx(&t.sanne), &d)
        .expect("back to draft");
    let mut tablet = replica(&office);
    office
        .request_signature(&t.ctx(&t.sanne), &d)
        .expect("ask again");
    office
        .approve(&t.ctx(&t.lead), &d)
        .expect("team lead signs for EUR 5,000");
    let tablet_sanne = other_device(&t.sanne);
    tablet
        .update_draft(
            &t.ctx(&tablet_sanne),
            &d,
            decision(ProvisionCategory::Woningaanpassing, 40_000),
        )
        .expect("meanwhile the old draft is edited to EUR 40,000");
    sync(&mut office, &mut tablet);

    let conflicts = office.conflicts();
    if office.case().decisions[&d].amount != Money::euros(5_000) {
        assert!(
            conflicts.iter().any(|c| c.kind
                == ConflictKind::Rule(RuleViolation::DecisionFinal {
                    decision: d.clone()
                })),
            "a signed decision shown with another amount than was signed is flagged: {conflicts:?}"
        );
    }
    let amount = conflicts
        .iter()
        .find(|c| c.field == "amount")
        .expect("amount conflict");
    let ConflictKind::Values(values) = &amount.kind else {
        panic!()
    };
    let edited = values
        .iter()
        .position(|v| v.value == "EUR 40,000")
        .expect("value");
    let v = office.resolve_conflict(&t.ctx(&t.lead), &amount.id, edited);
    assert!(
        matches!(
            v,
            Err(keukentafel_core::Error::Rule(
                RuleViolation::DecisionFinal { .. }
            ))
        ),
        "{v:?}"
    );
    let signed = values
        .iter()
        .position(|v| v.value == "EUR 5,000")
        .expect("value");
    office
        .resolve_conflict(&t.ctx(&t.lead), &amount.id, signed)
        .expect("keep what was signed");
    assert_eq!(office.case().decisions[&d].amount, Money::euros(5_000));
    assert!(office.conflicts().is_empty(), "{:?}", office.conflicts());
}

#[test]
fn a_conflict_shows_values_in_the_words_people_use() {
    use keukentafel_core::model::{GoalStatus, NewGoal, PlanKind};
    let t = team();
    let mut phone = t.case();
    phone
        .assign(&t.ctx(&t.sanne), &t.piet.member)
        .expect("assign Piet");
    let person = phone
        .case()
        .household
        .keys()
        .next()
        .expect("resident")
        .clone();
    let goal = phone
        .add_goal(
            &t.ctx(&t.sanne),
            NewGoal {
                plan: PlanKind::PersoonlijkPlan,
                person,
                description: "Zelf boodschappen doen".into(),
            },
        )
        .expect("goal");
    let mut laptop = replica(&phone);
    phone
        .set_goal_status(&t.ctx(&t.sanne), &goal, GoalStatus::Achieved)
        .expect("Sanne: achieved");
    laptop
        .set_goal_status(&t.ctx(&t.piet), &goal, GoalStatus::Stopped)
        .expect("Piet: stopped");
    sync(&mut phone, &mut laptop);

    let conflicts = phone.conflicts();
    let ConflictKind::Values(values) = &conflicts[0].kind else {
        panic!("{conflicts:?}")
    };
    let mut shown: Vec<_> = values.iter().map(|v| v.value.as_str()).collect();
    shown.sort();
    assert_eq!(shown, vec!["behaald", "gestopt"]);
}
