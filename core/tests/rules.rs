//! One test per rule of the rulebook: each fails when its rule is removed.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{T0, author, conversation, decision, new_case, other_device, team};
use keukentafel_core::model::{
    CaseStatus, ClosureReason, DecisionStatus, GoalStatus, HouseholdRole, KnelpuntCategory,
    LifeDomain, Mandate, Money, NewAgreement, NewAssessment, NewGoal, NewHouseholdMember,
    NewKnelpuntSignal, NewMember, PlanKind, ProvisionCategory, Role, ZrmVersion,
};
use keukentafel_core::rules::{self, Action, MandateCheck, RuleViolation};
use keukentafel_core::{CaseDoc, Error, ItemRef, MemberId, Result};
use time::macros::date;

#[track_caller]
fn refused<T: std::fmt::Debug>(r: Result<T>) -> RuleViolation {
    match r {
        Err(Error::Rule(v)) => v,
        other => panic!("expected a rule violation, got {other:?}"),
    }
}

#[track_caller]
fn required_field(r: Result<impl std::fmt::Debug>, expected: &str) {
    match refused(r) {
        RuleViolation::Required { field, .. } => assert_eq!(field, expected),
        other => panic!("expected `{expected}` required, got {other:?}"),
    }
}

// ---- case ------------------------------------------------------------------------------

#[test]
fn a_case_needs_a_case_number() {
    let t = team();
    let mut new = new_case();
    new.case_number = "  ".into();
    required_field(CaseDoc::create(&t.ctx(&t.sanne), new), "case_number");
}

#[test]
fn a_household_member_needs_a_name() {
    let t = team();
    let mut case = t.case();
    let r = case.add_household_member(
        &t.ctx(&t.sanne),
        NewHouseholdMember {
            name: String::new(),
            birth_date: None,
            role: HouseholdRole::Child,
        },
    );
    required_field(r, "name");
}

#[test]
fn a_case_always_has_someone_assigned() {
    let t = team();
    let mut case = t.case();
    let v = refused(case.unassign(&t.ctx(&t.sanne), &t.sanne.member));
    assert_eq!(v, RuleViolation::NoAssignee);
    case.assign(&t.ctx(&t.sanne), &t.piet.member)
        .expect("add a colleague");
    case.unassign(&t.ctx(&t.sanne), &t.sanne.member)
        .expect("then step off");
    assert_eq!(
        case.case().assigned,
        BTreeSet::from([t.piet.member.clone()])
    );
}

#[test]
fn the_aanvraag_cannot_precede_the_melding() {
    let t = team();
    let mut case = t.case();
    let v = refused(case.set_aanvraag_date(&t.ctx(&t.sanne), date!(2026 - 10 - 01)));
    assert!(
        matches!(
            v,
            RuleViolation::Invalid {
                field: "aanvraag_date",
                ..
            }
        ),
        "{v:?}"
    );
    case.set_aanvraag_date(&t.ctx(&t.sanne), date!(2026 - 11 - 10))
        .expect("after the melding");
    assert_eq!(
        case.case().deadlines().beschikking,
        Some(date!(2026 - 11 - 24))
    );
    assert_eq!(case.case().deadlines().onderzoek, date!(2026 - 12 - 14));
}

#[test]
fn case_status_moves_one_step_forward_or_closes() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let v = refused(case.set_status(&ctx, CaseStatus::Plan));
    assert_eq!(
        v,
        RuleViolation::CaseStatus {
            from: CaseStatus::Melding,
            to: CaseStatus::Plan
        }
    );
    case.set_status(&ctx, CaseStatus::Onderzoek)
        .expect("one step");
    let v = refused(case.set_status(&ctx, CaseStatus::Melding));
    assert_eq!(
        v,
        RuleViolation::CaseStatus {
            from: CaseStatus::Onderzoek,
            to: CaseStatus::Melding
        }
    );
    case.close(&ctx, date!(2026 - 11 - 30), ClosureReason::Withdrawn)
        .expect("close from any status");
    assert_eq!(case.case().status, CaseStatus::Afgesloten);
    assert_eq!(
        case.case().retention().map(|r| r.destroy_after),
        Some(date!(2027 - 01 - 11))
    );
}

#[test]
fn closing_needs_a_reason() {
    let t = team();
    let mut case = t.case();
    required_field(
        case.set_status(&t.ctx(&t.sanne), CaseStatus::Afgesloten),
        "closure_reason",
    );
}

#[test]
fn a_closed_case_no_longer_changes() {
    let t = team();
    let mut case = t.case();
    case.close(
        &t.ctx(&t.sanne),
        date!(2026 - 11 - 30),
        ClosureReason::SupportEnded,
    )
    .expect("close");
    assert_eq!(
        refused(case.record_conversation(&t.ctx(&t.sanne), conversation())),
        RuleViolation::CaseClosed
    );
    assert_eq!(
        case.case().retention().map(|r| r.destroy_after),
        Some(date!(2041 - 11 - 30))
    );
}

// ---- who may do what -------------------------------------------------------------------

#[test]
fn strangers_cannot_change_a_case() {
    let t = team();
    let mut case = t.case();
    let stranger = author();
    let v = refused(case.record_conversation(&t.ctx(&stranger), conversation()));
    assert_eq!(
        v,
        RuleViolation::UnknownMember {
            member: stranger.member.clone()
        }
    );
}

#[test]
fn an_admin_works_no_cases() {
    let t = team();
    let v = refused(CaseDoc::create(&t.ctx(&t.admin), new_case()));
    assert_eq!(
        v,
        RuleViolation::NotAuthorized {
            action: Action::CreateCase
        }
    );
}

#[test]
fn only_assigned_practitioners_and_team_leads_change_a_case() {
    let t = team();
    let mut case = t.case();
    let v = refused(case.record_conversation(&t.ctx(&t.piet), conversation()));
    assert_eq!(
        v,
        RuleViolation::NotAuthorized {
            action: Action::EditCase
        }
    );
    case.record_conversation(&t.ctx(&t.lead), conversation())
        .expect("team lead");
    case.assign(&t.ctx(&t.sanne), &t.piet.member)
        .expect("assign Piet");
    case.record_conversation(&t.ctx(&t.piet), conversation())
        .expect("assigned now");
}

#[test]
fn only_members_who_work_cases_can_be_assigned() {
    let t = team();
    let mut case = t.case();
    let v = refused(case.assign(&t.ctx(&t.sanne), &t.admin.member));
    assert_eq!(
        v,
        RuleViolation::NotAuthorized {
            action: Action::Assign
        }
    );
}

// ---- conversations ---------------------------------------------------------------------

#[test]
fn a_conversation_records_the_residents_question_place_and_participants() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let mut c = conversation();
    c.question = " ".into();
    required_field(case.record_conversation(&ctx, c), "question");
    let mut c = conversation();
    c.place = String::new();
    required_field(case.record_conversation(&ctx, c), "place");
    let mut c = conversation();
    c.participants.clear();
    required_field(case.record_conversation(&ctx, c), "participants");
    let mut c = conversation();
    c.participants[0].name = String::new();
    required_field(case.record_conversation(&ctx, c), "name");
}

#[test]
fn an_agreement_says_what_and_who() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let conv = case
        .record_conversation(&ctx, conversation())
        .expect("record");
    let r = case.add_agreement(
        &ctx,
        &conv,
        NewAgreement {
            what: String::new(),
            who: "wijkteam".into(),
            due: None,
        },
    );
    required_field(r, "what");
    let r = case.add_agreement(
        &ctx,
        &conv,
        NewAgreement {
            what: "bellen".into(),
            who: String::new(),
            due: None,
        },
    );
    required_field(r, "who");
}

#[test]
fn a_conversation_is_recorded_in_the_name_of_its_author() {
    let t = team();
    let mut case = t.case();
    case.record_conversation(&t.ctx(&t.sanne), conversation())
        .expect("record");
    let before = case.case().clone();
    let mut after = before.clone();
    after
        .conversations
        .values_mut()
        .for_each(|c| c.recorded_by = t.lead.member.clone());
    let v = rules::check_case_change(
        &t.workspace,
        &t.sanne.member,
        Some(&before),
        &after,
        &BTreeSet::new(),
        None,
    );
    assert!(
        matches!(
            v,
            Err(RuleViolation::Invalid {
                field: "recorded_by",
                ..
            })
        ),
        "{v:?}"
    );
}

// ---- decisions -------------------------------------------------------------------------

#[test]
fn a_decision_is_motivated_and_grounded() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let mut d = decision(ProvisionCategory::HuishoudelijkeHulp, 100);
    d.motivation = " ".into();
    required_field(case.draft_decision(&ctx, d), "motivation");
    let mut d = decision(ProvisionCategory::HuishoudelijkeHulp, 100);
    d.legal_ground = String::new();
    required_field(case.draft_decision(&ctx, d), "legal_ground");
    let mut d = decision(ProvisionCategory::HuishoudelijkeHulp, 100);
    d.provision = String::new();
    required_field(case.draft_decision(&ctx, d), "provision");
    let mut d = decision(ProvisionCategory::HuishoudelijkeHulp, 100);
    d.deviation = Some(String::new());
    required_field(case.draft_decision(&ctx, d), "deviation");
    let mut d = decision(ProvisionCategory::HuishoudelijkeHulp, 100);
    d.deviation = Some("Afwijking van de norm van 2 uur: mantelzorger valt weg.".into());
    case.draft_decision(&ctx, d).expect("a motivated deviation");
}

#[test]
fn a_decision_has_a_sane_amount_and_period() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let mut d = decision(ProvisionCategory::HuishoudelijkeHulp, 100);
    d.amount = Money(-1);
    assert!(matches!(
        refused(case.draft_decision(&ctx, d)),
        RuleViolation::Invalid {
            field: "amount",
            ..
        }
    ));
    let mut d = decision(ProvisionCategory::HuishoudelijkeHulp, 100);
    std::mem::swap(&mut d.period.start, &mut d.period.end);
    assert!(matches!(
        refused(case.draft_decision(&ctx, d)),
        RuleViolation::Invalid {
            field: "period",
            ..
        }
    ));
}

#[test]
fn deciding_alone_is_limited_to_the_mandate() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let at_limit = case
        .draft_decision(&ctx, decision(ProvisionCategory::HuishoudelijkeHulp, 2_500))
        .expect("draft");
    case.decide(&ctx, &at_limit)
        .expect("exactly at the limit is within");
    assert_eq!(
        case.case().decisions[&at_limit].status,
        DecisionStatus::Decided
    );

    let above = case
        .draft_decision(&ctx, decision(ProvisionCategory::HuishoudelijkeHulp, 2_501))
        .expect("draft");
    let v = refused(case.decide(&ctx, &above));
    assert!(
        matches!(v, RuleViolation::AboveMandate { limit: Some(l), .. } if l == Money::euros(2_500)),
        "{v:?}"
    );

    let other = case
        .draft_decision(&ctx, decision(ProvisionCategory::Vervoer, 10))
        .expect("draft");
    let v = refused(case.decide(&ctx, &other));
    assert!(
        matches!(v, RuleViolation::AboveMandate { limit: None, .. }),
        "{v:?}"
    );
    assert_eq!(
        rules::mandate_check(
            &t.workspace,
            &t.sanne.member,
            ProvisionCategory::Vervoer,
            Money(1)
        ),
        MandateCheck::CategoryNotInMandate
    );
}

#[test]
fn above_the_mandate_a_second_member_signs() {
    let t = team();
    let mut case = t.case();
    let d = case
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::Woningaanpassing, 9_800),
        )
        .expect("draft");
    case.request_signature(&t.ctx(&t.sanne), &d)
        .expect("ask for a signature");
    assert_eq!(case.case().awaiting_signature().count(), 1);
    case.approve(&t.ctx(&t.lead), &d)
        .expect("team lead's mandate covers it");
    let decided = &case.case().decisions[&d];
    assert_eq!(decided.status, DecisionStatus::Approved);
    assert_eq!(decided.signed_by.as_ref(), Some(&t.lead.member));
    assert_eq!(decided.decided_by, t.sanne.member);
}

#[test]
fn nobody_gives_the_second_signature_on_their_own_request() {
    let t = team();
    let mut case = t.case();
    case.assign(&t.ctx(&t.sanne), &t.lead.member)
        .expect("assign");
    let d = case
        .draft_decision(
            &t.ctx(&t.lead),
            decision(ProvisionCategory::Woningaanpassing, 9_800),
        )
        .expect("draft");
    case.request_signature(&t.ctx(&t.lead), &d)
        .expect("lead asks");
    assert_eq!(
        refused(case.approve(&t.ctx(&t.lead), &d)),
        RuleViolation::SameSigner {
            decision: d.clone()
        }
    );
}

#[test]
fn the_signers_mandate_must_cover_the_decision() {
    let t = team();
    let mut case = t.case();
    case.assign(&t.ctx(&t.sanne), &t.piet.member)
        .expect("assign");
    let d = case
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::Woningaanpassing, 9_800),
        )
        .expect("draft");
    case.request_signature(&t.ctx(&t.sanne), &d).expect("ask");
    let v = refused(case.approve(&t.ctx(&t.piet), &d));
    assert!(
        matches!(v, RuleViolation::SignerLacksMandate { .. }),
        "{v:?}"
    );
    case.reject(&t.ctx(&t.piet), &d, "Eerst andere woning onderzoeken.")
        .expect("rejecting needs no mandate");
}

#[test]
fn a_rejection_says_why() {
    let t = team();
    let mut case = t.case();
    let d = case
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::Woningaanpassing, 9_800),
        )
        .expect("draft");
    case.request_signature(&t.ctx(&t.sanne), &d).expect("ask");
    required_field(case.reject(&t.ctx(&t.lead), &d, " "), "rejection_reason");
}

#[test]
fn a_draft_is_not_approved_without_a_request() {
    let t = team();
    let mut case = t.case();
    let d = case
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::HuishoudelijkeHulp, 100),
        )
        .expect("draft");
    let v = refused(case.approve(&t.ctx(&t.lead), &d));
    assert!(
        matches!(
            v,
            RuleViolation::DecisionStatus {
                from: DecisionStatus::Draft,
                to: DecisionStatus::Approved,
                ..
            }
        ),
        "{v:?}"
    );
}

#[test]
fn only_the_requester_takes_a_request_back() {
    let t = team();
    let mut case = t.case();
    let d = case
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::Woningaanpassing, 9_800),
        )
        .expect("draft");
    case.request_signature(&t.ctx(&t.sanne), &d).expect("ask");
    assert!(matches!(
        refused(case.withdraw_request(&t.ctx(&t.lead), &d)),
        RuleViolation::DecisionStatus { .. }
    ));
    case.withdraw_request(&t.ctx(&t.sanne), &d)
        .expect("requester");
    assert_eq!(case.case().decisions[&d].status, DecisionStatus::Draft);
}

#[test]
fn a_decided_decision_is_immutable_and_corrected_by_superseding() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let old = case
        .draft_decision(&ctx, decision(ProvisionCategory::HuishoudelijkeHulp, 1_200))
        .expect("draft");
    case.decide(&ctx, &old).expect("decide");
    let v = refused(case.update_draft(
        &ctx,
        &old,
        decision(ProvisionCategory::HuishoudelijkeHulp, 1_300),
    ));
    assert_eq!(
        v,
        RuleViolation::DecisionFinal {
            decision: old.clone()
        }
    );
    assert!(matches!(
        refused(case.request_signature(&ctx, &old)),
        RuleViolation::DecisionFinal { .. }
    ));

    let mut fix = decision(ProvisionCategory::HuishoudelijkeHulp, 1_300);
    fix.supersedes = Some(old.clone());
    let new = case.draft_decision(&ctx, fix).expect("correction");
    case.decide(&ctx, &new).expect("decide correction");
    assert_eq!(
        case.case().decisions[&old].superseded_by.as_ref(),
        Some(&new)
    );
    assert_eq!(case.case().decisions[&old].amount, Money::euros(1_200));
}

#[test]
fn only_a_final_decision_is_superseded() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let draft = case
        .draft_decision(&ctx, decision(ProvisionCategory::HuishoudelijkeHulp, 1_200))
        .expect("draft");
    let mut fix = decision(ProvisionCategory::HuishoudelijkeHulp, 1_300);
    fix.supersedes = Some(draft);
    assert!(matches!(
        refused(case.draft_decision(&ctx, fix)),
        RuleViolation::Supersede { .. }
    ));
}

#[test]
fn the_superseded_link_cannot_be_forged() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let old = case
        .draft_decision(&ctx, decision(ProvisionCategory::HuishoudelijkeHulp, 1_200))
        .expect("draft");
    case.decide(&ctx, &old).expect("decide");
    let other = case
        .draft_decision(&ctx, decision(ProvisionCategory::HuishoudelijkeHulp, 100))
        .expect("unrelated");
    let before = case.case().clone();
    let mut after = before.clone();
    after.decisions.get_mut(&old).expect("old").superseded_by = Some(other);
    let v = rules::check_case_change(
        &t.workspace,
        &t.sanne.member,
        Some(&before),
        &after,
        &BTreeSet::new(),
        None,
    );
    assert!(matches!(v, Err(RuleViolation::Supersede { .. })), "{v:?}");
}

#[test]
fn a_decision_with_open_conflicts_is_not_decided() {
    let t = team();
    let mut a = t.case();
    let d = a
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::HuishoudelijkeHulp, 1_000),
        )
        .expect("draft");
    let mut b = CaseDoc::load(&a.save()).expect("replica");
    a.update_draft(
        &t.ctx(&t.sanne),
        &d,
        decision(ProvisionCategory::HuishoudelijkeHulp, 1_100),
    )
    .expect("edit a");
    let tablet = other_device(&t.sanne);
    b.update_draft(
        &t.ctx(&tablet),
        &d,
        decision(ProvisionCategory::HuishoudelijkeHulp, 1_200),
    )
    .expect("edit b");
    a.merge(&b).expect("merge");
    let v = refused(a.decide(&t.ctx(&t.sanne), &d));
    assert_eq!(
        v,
        RuleViolation::OpenConflict {
            item: ItemRef::Decision(d)
        }
    );
}

#[test]
fn records_are_never_deleted() {
    let t = team();
    let mut case = t.case();
    let d = case
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::HuishoudelijkeHulp, 100),
        )
        .expect("draft");
    let before = case.case().clone();
    let mut after = before.clone();
    after.decisions.remove(&d);
    let v = rules::check_case_change(
        &t.workspace,
        &t.sanne.member,
        Some(&before),
        &after,
        &BTreeSet::new(),
        None,
    );
    assert_eq!(
        v,
        Err(RuleViolation::Removed {
            item: ItemRef::Decision(d)
        })
    );
}

// ---- goals, ZRM, knelpunten --------------------------------------------------------------

#[test]
fn a_goal_belongs_to_someone_in_the_household() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let stranger = keukentafel_core::PersonId::random();
    let r = case.add_goal(
        &ctx,
        NewGoal {
            plan: PlanKind::PersoonlijkPlan,
            person: stranger,
            description: "Zelf boodschappen doen".into(),
        },
    );
    assert!(matches!(
        refused(r),
        RuleViolation::Invalid {
            field: "person",
            ..
        }
    ));
    let person = case
        .case()
        .household
        .keys()
        .next()
        .expect("resident")
        .clone();
    let r = case.add_goal(
        &ctx,
        NewGoal {
            plan: PlanKind::PersoonlijkPlan,
            person: person.clone(),
            description: String::new(),
        },
    );
    required_field(r, "description");
    let g = case
        .add_goal(
            &ctx,
            NewGoal {
                plan: PlanKind::PersoonlijkPlan,
                person,
                description: "Zelf boodschappen doen".into(),
            },
        )
        .expect("goal");
    required_field(
        case.add_progress(&ctx, &g, date!(2026 - 12 - 01), ""),
        "note",
    );
    case.add_progress(
        &ctx,
        &g,
        date!(2026 - 12 - 01),
        "Eerste keer samen met dochter.",
    )
    .expect("note");
    case.set_goal_status(&ctx, &g, GoalStatus::Underway)
        .expect("status");
}

#[test]
fn a_progress_note_stays_as_written() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let person = case
        .case()
        .household
        .keys()
        .next()
        .expect("resident")
        .clone();
    let g = case
        .add_goal(
            &ctx,
            NewGoal {
                plan: PlanKind::PersoonlijkPlan,
                person,
                description: "Zelf koken".into(),
            },
        )
        .expect("goal");
    case.add_progress(&ctx, &g, date!(2026 - 12 - 01), "Gaat goed.")
        .expect("note");
    let before = case.case().clone();
    let mut after = before.clone();
    after.goals.get_mut(&g).expect("goal").progress[0].note = "Gaat slecht.".into();
    let v = rules::check_case_change(
        &t.workspace,
        &t.sanne.member,
        Some(&before),
        &after,
        &BTreeSet::new(),
        None,
    );
    assert!(
        matches!(v, Err(RuleViolation::Invalid { field: "note", .. })),
        "{v:?}"
    );
}

#[test]
fn zrm_scores_are_1_to_5_on_the_versions_domains() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let assess = |scores: Vec<(LifeDomain, u8)>, version| NewAssessment {
        version,
        date: date!(2026 - 11 - 20),
        scores: scores.into_iter().collect::<BTreeMap<_, _>>(),
    };
    for bad in [0u8, 6] {
        let v = refused(case.record_assessment(
            &ctx,
            assess(vec![(LifeDomain::Financien, bad)], ZrmVersion::Elf),
        ));
        assert!(
            matches!(
                v,
                RuleViolation::Invalid {
                    field: "scores",
                    ..
                }
            ),
            "{v:?}"
        );
    }
    let v = refused(case.record_assessment(
        &ctx,
        assess(vec![(LifeDomain::WerkOpleiding, 3)], ZrmVersion::Elf),
    ));
    assert!(
        matches!(
            v,
            RuleViolation::Invalid {
                field: "scores",
                ..
            }
        ),
        "{v:?}"
    );
    required_field(
        case.record_assessment(&ctx, assess(vec![], ZrmVersion::Dertien)),
        "scores",
    );
    case.record_assessment(
        &ctx,
        assess(
            vec![(LifeDomain::WerkOpleiding, 3), (LifeDomain::BasaleAdl, 1)],
            ZrmVersion::Dertien,
        ),
    )
    .expect("valid 13-domain assessment");
    case.record_assessment(&ctx, assess(vec![(LifeDomain::Adl, 2)], ZrmVersion::Elf))
        .expect("and an 11-domain one");
    assert_eq!(case.case().assessment_series().len(), 2);
}

#[test]
fn a_zrm_assessment_is_a_snapshot() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let a = case
        .record_assessment(
            &ctx,
            NewAssessment {
                version: ZrmVersion::Elf,
                date: date!(2026 - 11 - 20),
                scores: BTreeMap::from([(LifeDomain::Adl, 2)]),
            },
        )
        .expect("assess");
    let before = case.case().clone();
    let mut after = before.clone();
    after
        .assessments
        .get_mut(&a)
        .expect("a")
        .scores
        .insert(LifeDomain::Adl, 4);
    let v = rules::check_case_change(
        &t.workspace,
        &t.sanne.member,
        Some(&before),
        &after,
        &BTreeSet::new(),
        None,
    );
    assert_eq!(v, Err(RuleViolation::AssessmentFinal { assessment: a }));
}

#[test]
fn a_knelpunt_identifies_nobody() {
    let t = team();
    let mut case = t.case();
    let ctx = t.ctx(&t.sanne);
    let signal = |description: &str| NewKnelpuntSignal {
        blocking_rule: "Kostendelersnorm Participatiewet".into(),
        category: KnelpuntCategory::Regelgeving,
        description: description.into(),
    };
    for (text, what) in [
        (
            "Mevrouw De Vries verliest haar uitkering",
            "a name from the household",
        ),
        ("Johanna kan nergens terecht", "a name from the household"),
        (
            "Mail naar bewoner@example.org bleef onbeantwoord",
            "an e-mail address",
        ),
        ("Geboren 14-03-1941, te oud voor de regeling", "a date"),
        (
            "BSN 123456782 staat dubbel geregistreerd",
            "an identifying number",
        ),
        ("Dossier 2026-0412 loopt vast", "the case number"),
    ] {
        match refused(case.raise_signal(&ctx, signal(text))) {
            RuleViolation::PersonalDataInSignal { what: found, .. } => {
                assert_eq!(found, what, "{text}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    case.raise_signal(&ctx, signal("Inwonende volwassen zoon maakt dat de moeder onder de bijstandsnorm zakt; zorg voor haar komt daardoor in gevaar."))
        .expect("a description without personal data");
}

// ---- workspace -------------------------------------------------------------------------

#[test]
fn only_admins_and_team_leads_manage_the_workspace() {
    let mut t = team();
    let newcomer = author();
    let v = refused(t.doc.add_member(
        &t.sanne,
        T0,
        &newcomer.member,
        NewMember {
            display_name: "Kees".into(),
            role: Role::Practitioner,
            mandate: Mandate::default(),
        },
    ));
    assert_eq!(
        v,
        RuleViolation::NotAuthorized {
            action: Action::ManageWorkspace
        }
    );
    t.doc
        .add_member(
            &t.admin,
            T0,
            &newcomer.member,
            NewMember {
                display_name: "Kees".into(),
                role: Role::Practitioner,
                mandate: Mandate::default(),
            },
        )
        .expect("admin adds");
}

#[test]
fn nobody_raises_their_own_mandate() {
    let mut t = team();
    let more =
        Mandate::default().with(ProvisionCategory::Woningaanpassing, Money::euros(1_000_000));
    let v = refused(t.doc.set_mandate(&t.lead, T0, &t.lead.member, &more));
    assert_eq!(
        v,
        RuleViolation::NotAuthorized {
            action: Action::ChangeOwnMandate
        }
    );
    t.doc
        .set_mandate(&t.lead, T0, &t.sanne.member, &more)
        .expect("someone else's");
    let v = refused(t.doc.set_mandate(
        &t.lead,
        T0,
        &t.piet.member,
        &Mandate::default().with(ProvisionCategory::Vervoer, Money(-1)),
    ));
    assert!(
        matches!(
            v,
            RuleViolation::Invalid {
                field: "mandate",
                ..
            }
        ),
        "{v:?}"
    );
}

#[test]
fn the_workspace_keeps_a_manager() {
    let mut t = team();
    t.doc
        .deactivate_member(&t.lead, T0, &t.admin.member)
        .expect("admin leaves");
    assert_eq!(
        refused(t.doc.deactivate_member(&t.lead, T0, &t.lead.member)),
        RuleViolation::NoManager
    );
}

#[test]
fn a_refused_change_leaves_no_trace() {
    let t = team();
    let mut case = t.case();
    case.take_changes();
    let heads = case.heads();
    let _ = case.set_status(&t.ctx(&t.sanne), CaseStatus::Lopend);
    assert_eq!(case.heads(), heads);
    assert!(case.take_changes().is_empty());
    assert_eq!(case.case().status, CaseStatus::Melding);
    assert_eq!(case.history().len(), 1);
}

#[test]
fn the_rules_hold_on_the_server_side_too() {
    // The same functions judge a state a device sends: a forged "approved" without a signer.
    let t = team();
    let mut case = t.case();
    let d = case
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::Woningaanpassing, 9_800),
        )
        .expect("draft");
    let before = case.case().clone();
    let mut after = before.clone();
    after.decisions.get_mut(&d).expect("d").status = DecisionStatus::Approved;
    let v = rules::check_case_change(
        &t.workspace,
        &t.sanne.member,
        Some(&before),
        &after,
        &BTreeSet::new(),
        None,
    );
    assert!(v.is_err());
    assert!(rules::check_case_state(&after).iter().any(|v| matches!(
        v,
        RuleViolation::Required {
            field: "signed_by",
            ..
        }
    )));
}

// ---- states a device could forge (the server runs these same checks) -------------------

fn judge(
    t: &common::Team,
    author: &keukentafel_core::Author,
    before: &keukentafel_core::model::Case,
    after: &keukentafel_core::model::Case,
) -> Result<(), RuleViolation> {
    rules::check_case_change(
        &t.workspace,
        &author.member,
        Some(before),
        after,
        &BTreeSet::new(),
        None,
    )
}

#[test]
fn a_case_is_opened_in_the_name_of_its_author_as_a_melding() {
    let t = team();
    let mut case = t.case().case().clone();
    case.created_by = t.lead.member.clone();
    let v = rules::check_case_change(
        &t.workspace,
        &t.sanne.member,
        None,
        &case,
        &BTreeSet::new(),
        None,
    );
    assert!(
        matches!(
            v,
            Err(RuleViolation::Invalid {
                field: "created_by",
                ..
            })
        ),
        "{v:?}"
    );
    let mut case = t.case().case().clone();
    case.status = CaseStatus::Lopend;
    let v = rules::check_case_change(
        &t.workspace,
        &t.sanne.member,
        None,
        &case,
        &BTreeSet::new(),
        None,
    );
    assert!(matches!(v, Err(RuleViolation::CaseStatus { .. })), "{v:?}");
}

#[test]
fn a_case_keeps_its_identity() {
    let t = team();
    let before = t.case().case().clone();
    let mut after = before.clone();
    after.workspace = keukentafel_core::WorkspaceId::random();
    assert!(matches!(
        judge(&t, &t.sanne, &before, &after),
        Err(RuleViolation::Invalid { field: "id", .. })
    ));
}

#[test]
fn records_are_made_in_the_name_of_their_author() {
    let t = team();
    let mut doc = t.case();
    let ctx = t.ctx(&t.sanne);
    let a = doc
        .record_assessment(
            &ctx,
            NewAssessment {
                version: ZrmVersion::Elf,
                date: date!(2026 - 11 - 20),
                scores: BTreeMap::from([(LifeDomain::Adl, 2)]),
            },
        )
        .expect("assess");
    let s = doc
        .raise_signal(
            &ctx,
            NewKnelpuntSignal {
                blocking_rule: "Regel".into(),
                category: KnelpuntCategory::Beleid,
                description: "Wachtlijst.".into(),
            },
        )
        .expect("signal");
    let mut before = doc.case().clone();
    let assessment = before.assessments.remove(&a).expect("a");
    let signal = before.signals.remove(&s).expect("s");
    let mut after = before.clone();
    after.assessments.insert(
        a.clone(),
        keukentafel_core::model::ZrmAssessment {
            assessed_by: t.lead.member.clone(),
            ..assessment
        },
    );
    assert!(matches!(
        judge(&t, &t.sanne, &before, &after),
        Err(RuleViolation::Invalid {
            field: "assessed_by",
            ..
        })
    ));
    let mut after = before.clone();
    after.signals.insert(
        s.clone(),
        keukentafel_core::model::KnelpuntSignal {
            raised_by: t.lead.member.clone(),
            ..signal
        },
    );
    assert!(matches!(
        judge(&t, &t.sanne, &before, &after),
        Err(RuleViolation::Invalid {
            field: "raised_by",
            ..
        })
    ));
}

#[test]
fn a_decision_is_decided_and_signed_in_the_name_of_its_author() {
    let t = team();
    let mut doc = t.case();
    let d = doc
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::HuishoudelijkeHulp, 100),
        )
        .expect("draft");
    let before = doc.case().clone();
    let mut after = before.clone();
    let x = after.decisions.get_mut(&d).expect("d");
    x.status = DecisionStatus::Decided;
    x.decided_by = t.lead.member.clone();
    x.sealed = Some(x.content());
    assert!(matches!(
        judge(&t, &t.sanne, &before, &after),
        Err(RuleViolation::Invalid {
            field: "decided_by",
            ..
        })
    ));

    doc.request_signature(&t.ctx(&t.sanne), &d).expect("ask");
    let before = doc.case().clone();
    let mut after = before.clone();
    let x = after.decisions.get_mut(&d).expect("d");
    x.status = DecisionStatus::Approved;
    x.signed_by = Some(t.piet.member.clone());
    x.sealed = Some(x.content());
    assert!(matches!(
        judge(&t, &t.lead, &before, &after),
        Err(RuleViolation::Invalid {
            field: "signed_by",
            ..
        })
    ));
}

#[test]
fn a_draft_carries_no_signature() {
    let t = team();
    let mut doc = t.case();
    let d = doc
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::HuishoudelijkeHulp, 100),
        )
        .expect("draft");
    let before = doc.case().clone();
    let mut after = before.clone();
    after.decisions.get_mut(&d).expect("d").signed_by = Some(t.lead.member.clone());
    assert!(matches!(
        judge(&t, &t.sanne, &before, &after),
        Err(RuleViolation::Invalid {
            field: "signed_by",
            ..
        })
    ));
}

#[test]
fn a_request_for_signature_is_frozen_until_taken_back() {
    let t = team();
    let mut doc = t.case();
    let d = doc
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::Woningaanpassing, 9_000),
        )
        .expect("draft");
    doc.request_signature(&t.ctx(&t.sanne), &d).expect("ask");
    let v = refused(doc.update_draft(
        &t.ctx(&t.sanne),
        &d,
        decision(ProvisionCategory::Woningaanpassing, 900),
    ));
    assert_eq!(v, RuleViolation::DecisionFinal { decision: d });
}

#[test]
fn a_correction_in_force_is_linked_both_ways() {
    let t = team();
    let mut doc = t.case();
    let ctx = t.ctx(&t.sanne);
    let old = doc
        .draft_decision(&ctx, decision(ProvisionCategory::HuishoudelijkeHulp, 1_200))
        .expect("draft");
    doc.decide(&ctx, &old).expect("decide");
    let mut fix = decision(ProvisionCategory::HuishoudelijkeHulp, 1_300);
    fix.supersedes = Some(old.clone());
    let new = doc.draft_decision(&ctx, fix).expect("draft fix");
    let before = doc.case().clone();
    let mut after = before.clone();
    let x = after.decisions.get_mut(&new).expect("new");
    x.status = DecisionStatus::Decided;
    x.sealed = Some(x.content());
    assert!(
        matches!(
            judge(&t, &t.sanne, &before, &after),
            Err(RuleViolation::Supersede { .. })
        ),
        "old must point back"
    );
    let mut after = before.clone();
    after.decisions.get_mut(&new).expect("new").superseded_by = Some(old);
    assert!(
        matches!(
            judge(&t, &t.sanne, &before, &after),
            Err(RuleViolation::Supersede { .. })
        ),
        "a draft is not superseded"
    );
}

#[test]
fn name_particles_alone_are_not_a_name() {
    let t = team();
    let mut doc = t.case();
    let ctx = t.ctx(&t.sanne);
    doc.add_household_member(
        &ctx,
        NewHouseholdMember {
            name: "Karel van der Berg".into(),
            birth_date: None,
            role: HouseholdRole::Partner,
        },
    )
    .expect("partner");
    doc.raise_signal(
        &ctx,
        NewKnelpuntSignal {
            blocking_rule: "Eigen bijdrage".into(),
            category: KnelpuntCategory::Beleid,
            description: "Een van de regels sluit mantelzorgers uit.".into(),
        },
    )
    .expect("particles are everyday words");
    let v = refused(doc.raise_signal(
        &ctx,
        NewKnelpuntSignal {
            blocking_rule: "Eigen bijdrage".into(),
            category: KnelpuntCategory::Beleid,
            description: "Meneer Berg betaalt te veel.".into(),
        },
    ));
    assert!(matches!(v, RuleViolation::PersonalDataInSignal { .. }));
}

#[test]
fn a_workspace_has_named_members_and_sane_budgets() {
    let mut t = team();
    let v = refused(t.doc.add_member(
        &t.lead,
        T0,
        &MemberId::random(),
        NewMember {
            display_name: " ".into(),
            role: Role::Practitioner,
            mandate: Mandate::default(),
        },
    ));
    assert!(matches!(
        v,
        RuleViolation::Required {
            field: "display_name",
            ..
        }
    ));
    let period = keukentafel_core::model::Period {
        start: date!(2027 - 01 - 01),
        end: date!(2027 - 12 - 31),
    };
    let v = refused(t.doc.set_budget(
        &t.lead,
        T0,
        &keukentafel_core::model::Budget {
            period,
            amount: Money(-1),
        },
    ));
    assert!(matches!(
        v,
        RuleViolation::Invalid {
            field: "amount",
            ..
        }
    ));
    let reversed = keukentafel_core::model::Period {
        start: period.end,
        end: period.start,
    };
    let v = refused(t.doc.set_budget(
        &t.lead,
        T0,
        &keukentafel_core::model::Budget {
            period: reversed,
            amount: Money(1),
        },
    ));
    assert!(matches!(
        v,
        RuleViolation::Invalid {
            field: "period",
            ..
        }
    ));
    t.doc
        .set_budget(
            &t.lead,
            T0,
            &keukentafel_core::model::Budget {
                period,
                amount: Money::euros(250_000),
            },
        )
        .expect("budget");
    assert_eq!(t.doc.workspace().budgets.len(), 1);
}

#[test]
fn a_request_for_signature_keeps_its_requester() {
    let t = team();
    let mut doc = t.case();
    let d = doc
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::Woningaanpassing, 9_000),
        )
        .expect("draft");
    doc.update_draft(
        &t.ctx(&t.lead),
        &d,
        decision(ProvisionCategory::Woningaanpassing, 8_000),
    )
    .expect("the lead edits the draft");
    assert_eq!(
        doc.case().decisions[&d].decided_by,
        t.sanne.member,
        "editing a draft does not take it over"
    );
    doc.request_signature(&t.ctx(&t.sanne), &d).expect("ask");
    let before = doc.case().clone();
    let mut after = before.clone();
    after.decisions.get_mut(&d).expect("d").decided_by = t.lead.member.clone();
    assert!(
        judge(&t, &t.lead, &before, &after).is_err(),
        "nobody takes over a request to then sign it"
    );
}

#[test]
fn a_resolution_touches_only_an_item_in_conflict() {
    let t = team();
    let mut doc = t.case();
    let d = doc
        .draft_decision(
            &t.ctx(&t.sanne),
            decision(ProvisionCategory::HuishoudelijkeHulp, 100),
        )
        .expect("draft");
    let before = doc.case().clone();
    let mut after = before.clone();
    let x = after.decisions.get_mut(&d).expect("d");
    x.status = DecisionStatus::Approved;
    x.signed_by = Some(t.lead.member.clone());
    let item = ItemRef::Decision(d.clone());
    let v = rules::check_case_change(
        &t.workspace,
        &t.sanne.member,
        Some(&before),
        &after,
        &BTreeSet::new(),
        Some(&item),
    );
    assert!(
        matches!(
            v,
            Err(RuleViolation::Invalid {
                field: "conflict",
                ..
            })
        ),
        "no conflict to resolve: {v:?}"
    );
    let mut after2 = before.clone();
    after2.case_number = "anders".into();
    let v = rules::check_case_change(
        &t.workspace,
        &t.sanne.member,
        Some(&before),
        &after2,
        &BTreeSet::from([item.clone()]),
        Some(&item),
    );
    assert!(
        matches!(
            v,
            Err(RuleViolation::Invalid {
                field: "conflict",
                ..
            })
        ),
        "only the item in conflict: {v:?}"
    );
}

#[test]
fn nested_records_are_never_deleted() {
    let t = team();
    let mut doc = t.case();
    let ctx = t.ctx(&t.sanne);
    let conv = doc
        .record_conversation(&ctx, conversation())
        .expect("record");
    doc.add_agreement(
        &ctx,
        &conv,
        NewAgreement {
            what: "bellen".into(),
            who: "wijkteam".into(),
            due: None,
        },
    )
    .expect("agreement");
    let before = doc.case().clone();
    let mut after = before.clone();
    after.household.clear();
    assert!(matches!(
        judge(&t, &t.sanne, &before, &after),
        Err(RuleViolation::Removed {
            item: ItemRef::Person(_)
        })
    ));
    let mut after = before.clone();
    after
        .conversations
        .get_mut(&conv)
        .expect("c")
        .agreements
        .clear();
    assert!(matches!(
        judge(&t, &t.sanne, &before, &after),
        Err(RuleViolation::Removed {
            item: ItemRef::Agreement(..)
        })
    ));
}

#[test]
fn a_raised_knelpunt_stays_as_raised_and_article_numbers_are_not_dates() {
    let t = team();
    let mut doc = t.case();
    let s = doc
        .raise_signal(
            &t.ctx(&t.sanne),
            NewKnelpuntSignal {
                blocking_rule: "Wmo 2015 art. 2.3.5".into(),
                category: KnelpuntCategory::Regelgeving,
                description: "Termijn van 2 weken is te kort.".into(),
            },
        )
        .expect("an article number is not a date");
    let before = doc.case().clone();
    let mut after = before.clone();
    after.signals.get_mut(&s).expect("s").description = "Anders.".into();
    assert!(matches!(
        judge(&t, &t.sanne, &before, &after),
        Err(RuleViolation::Invalid {
            field: "description",
            ..
        })
    ));
}

#[test]
fn a_case_closes_after_its_melding() {
    let t = team();
    let mut doc = t.case();
    let v = refused(doc.close(
        &t.ctx(&t.sanne),
        date!(2026 - 10 - 01),
        ClosureReason::Refused,
    ));
    assert!(
        matches!(
            v,
            RuleViolation::Invalid {
                field: "closed_on",
                ..
            }
        ),
        "{v:?}"
    );
}

#[test]
fn a_member_is_added_once() {
    let mut t = team();
    let sanne = t.sanne.member.clone();
    let v = refused(t.doc.add_member(
        &t.lead,
        T0,
        &sanne,
        NewMember {
            display_name: "Sanne 2".into(),
            role: Role::TeamLead,
            mandate: Mandate::default(),
        },
    ));
    assert!(
        matches!(v, RuleViolation::Invalid { field: "id", .. }),
        "{v:?}"
    );
    assert_eq!(t.doc.workspace().members[&sanne].role, Role::Practitioner);
}

#[test]
fn mandates_changed_by_two_managers_offline_both_count() {
    let mut t = team();
    let mut other = keukentafel_core::WorkspaceDoc::load(&t.doc.save()).expect("replica");
    let sanne = t.sanne.member.clone();
    let base = t.workspace.members[&sanne].mandate.clone();
    t.doc
        .set_mandate(
            &t.lead,
            T0,
            &sanne,
            &base
                .clone()
                .with(ProvisionCategory::Vervoer, Money::euros(300)),
        )
        .expect("lead");
    other
        .set_mandate(
            &t.admin,
            T0,
            &sanne,
            &base.with(ProvisionCategory::Begeleiding, Money::euros(700)),
        )
        .expect("admin");
    t.doc
        .apply_remote(&other.save(), &keukentafel_core::Limits::default())
        .expect("merge");
    let mandate = &t.doc.workspace().members[&sanne].mandate;
    assert_eq!(
        mandate.limit(ProvisionCategory::Vervoer),
        Some(Money::euros(300))
    );
    assert_eq!(
        mandate.limit(ProvisionCategory::Begeleiding),
        Some(Money::euros(700))
    );
    assert!(!t.doc.has_conflicts());
}
