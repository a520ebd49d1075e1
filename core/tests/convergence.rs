//! Property: random domain operations on 2-5 offline replicas, merged in random orders,
//! converge to one state; after every merge the rulebook holds or its violation is listed
//! as a conflict; a refused operation leaves no trace.

mod common;

use std::collections::BTreeMap;

use common::{T0, Team, conversation, decision, other_device, team};
use keukentafel_core::model::{
    CaseStatus, ClosureReason, KnelpuntCategory, LifeDomain, NewAssessment, NewKnelpuntSignal,
    ProvisionCategory, ZrmVersion,
};
use keukentafel_core::rules;
use keukentafel_core::{Author, CaseDoc, ConflictKind, Context, NotesEdit};
use proptest::prelude::*;
use time::macros::date;

#[derive(Clone, Debug)]
enum Op {
    Status(u8),
    Close,
    Assign(u8),
    Unassign(u8),
    Conversation,
    Type { at: u8, text: String },
    Draft { euros: u16, woning: bool },
    Edit { which: u8, euros: u16 },
    Decide(u8),
    Request(u8),
    Approve(u8),
    Reject(u8),
    Assess(u8),
    Signal,
    Resolve { pick: u8 },
    Merge(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..5).prop_map(Op::Status),
        Just(Op::Close),
        (0u8..3).prop_map(Op::Assign),
        (0u8..3).prop_map(Op::Unassign),
        Just(Op::Conversation),
        (any::<u8>(), "[a-z ]{1,6}").prop_map(|(at, text)| Op::Type { at, text }),
        (0u16..4_000, any::<bool>()).prop_map(|(euros, woning)| Op::Draft { euros, woning }),
        (any::<u8>(), 0u16..4_000).prop_map(|(which, euros)| Op::Edit { which, euros }),
        any::<u8>().prop_map(Op::Decide),
        any::<u8>().prop_map(Op::Request),
        any::<u8>().prop_map(Op::Approve),
        any::<u8>().prop_map(Op::Reject),
        (1u8..=5).prop_map(Op::Assess),
        Just(Op::Signal),
        any::<u8>().prop_map(|pick| Op::Resolve { pick }),
        any::<u8>().prop_map(Op::Merge),
    ]
}

fn pick<T: Clone>(items: impl Iterator<Item = T>, i: u8) -> Option<T> {
    let v: Vec<T> = items.collect();
    (!v.is_empty()).then(|| v[usize::from(i) % v.len()].clone())
}

fn apply(t: &Team, doc: &mut CaseDoc, who: &Author, op: &Op, others: &[CaseDoc]) {
    let ctx = Context {
        workspace: &t.workspace,
        author: who,
        now: T0,
    };
    let members = [&t.sanne.member, &t.piet.member, &t.lead.member];
    let case = doc.case().clone();
    let before = doc.heads();
    let result = match op {
        Op::Status(s) => doc.set_status(&ctx, CaseStatus::ALL[usize::from(*s) % 4]),
        Op::Close => doc.close(&ctx, date!(2026 - 12 - 01), ClosureReason::Withdrawn),
        Op::Assign(m) => doc.assign(&ctx, members[usize::from(*m) % 3]),
        Op::Unassign(m) => doc.unassign(&ctx, members[usize::from(*m) % 3]),
        Op::Conversation => doc.record_conversation(&ctx, conversation()).map(drop),
        Op::Type { at, text } => match pick(case.conversations.values(), 0) {
            Some(c) => {
                let len = c.notes.chars().count();
                let at = usize::from(*at) % (len + 1);
                doc.edit_notes(
                    &ctx,
                    &c.id,
                    NotesEdit::Splice {
                        at,
                        delete: 0,
                        insert: text.clone(),
                    },
                )
            }
            None => Ok(()),
        },
        Op::Draft { euros, woning } => {
            let cat = if *woning {
                ProvisionCategory::Woningaanpassing
            } else {
                ProvisionCategory::HuishoudelijkeHulp
            };
            doc.draft_decision(&ctx, decision(cat, i64::from(*euros)))
                .map(drop)
        }
        Op::Edit { which, euros } => match pick(case.decisions.values(), *which) {
            Some(d) => doc.update_draft(&ctx, &d.id, decision(d.category, i64::from(*euros))),
            None => Ok(()),
        },
        Op::Decide(w) | Op::Request(w) | Op::Approve(w) | Op::Reject(w) => {
            match pick(case.decisions.keys(), *w) {
                Some(id) => match op {
                    Op::Decide(_) => doc.decide(&ctx, id),
                    Op::Request(_) => doc.request_signature(&ctx, id),
                    Op::Approve(_) => doc.approve(&ctx, id),
                    _ => doc.reject(&ctx, id, "Eerst andere opties onderzoeken."),
                },
                None => Ok(()),
            }
        }
        Op::Assess(score) => doc
            .record_assessment(
                &ctx,
                NewAssessment {
                    version: ZrmVersion::Elf,
                    date: date!(2026 - 11 - 20),
                    scores: BTreeMap::from([(LifeDomain::Adl, *score)]),
                },
            )
            .map(drop),
        Op::Signal => doc
            .raise_signal(
                &ctx,
                NewKnelpuntSignal {
                    blocking_rule: "Levertijd".into(),
                    category: KnelpuntCategory::Aanbod,
                    description: "Wachtlijst van drie maanden.".into(),
                },
            )
            .map(drop),
        Op::Resolve { pick: p } => match pick(doc.conflicts().into_iter(), 0) {
            Some(c) => match &c.kind {
                ConflictKind::Values(v) => {
                    doc.resolve_conflict(&ctx, &c.id, usize::from(*p) % v.len())
                }
                ConflictKind::Rule(_) => Ok(()),
            },
            None => Ok(()),
        },
        Op::Merge(from) => {
            if let Some(other) = pick(others.iter(), *from) {
                doc.merge(other).expect("merge replicas");
                assert_rulebook_holds_or_is_surfaced(doc);
            }
            Ok(())
        }
    };
    if result.is_err() {
        assert_eq!(doc.heads(), before, "a refused {op:?} left a change behind");
    }
}

fn assert_rulebook_holds_or_is_surfaced(doc: &CaseDoc) {
    let conflicts = doc.conflicts();
    for violation in rules::check_case_state(doc.case()) {
        assert!(
            conflicts
                .iter()
                .any(|c| c.kind == ConflictKind::Rule(violation.clone())),
            "violation {violation:?} not surfaced"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_whatever_the_order(
        replicas in 2usize..=5,
        steps in prop::collection::vec((any::<u8>(), op()), 1..40),
        orders in prop::collection::vec(Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()), 5),
    ) {
        let t = team();
        let mut base = t.case();
        base.assign(&t.ctx(&t.sanne), &t.piet.member).expect("assign");
        base.record_conversation(&t.ctx(&t.sanne), conversation()).expect("conversation");
        let people = [&t.sanne, &t.piet, &t.lead];
        let authors: Vec<Author> = (0..replicas).map(|i| other_device(people[i % 3])).collect();
        let mut docs: Vec<CaseDoc> = (0..replicas).map(|_| CaseDoc::load(&base.save()).expect("replica")).collect();

        for (who, op) in &steps {
            let i = usize::from(*who) % replicas;
            let others: Vec<CaseDoc> = docs.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, d)| CaseDoc::load(&d.save()).expect("copy")).collect();
            apply(&t, &mut docs[i], &authors[i], op, &others);
        }

        // Every replica takes in every other one, each in its own order.
        let snapshot: Vec<Vec<u8>> = docs.iter().map(CaseDoc::save).collect();
        for (i, doc) in docs.iter_mut().enumerate() {
            let mut order: Vec<usize> = (0..replicas).filter(|j| *j != i).collect();
            let seed = orders[i % orders.len()];
            order.sort_by_key(|j| (seed.rotate_left(u32::try_from(*j).unwrap_or(0) * 7)) ^ (*j as u64));
            for j in order {
                doc.merge(&CaseDoc::load(&snapshot[j]).expect("load")).expect("merge");
                assert_rulebook_holds_or_is_surfaced(doc);
            }
        }
        let first = &docs[0];
        for other in &docs[1..] {
            prop_assert_eq!(other.heads(), first.heads());
            prop_assert_eq!(other.case(), first.case());
            prop_assert_eq!(other.conflicts(), first.conflicts());
        }
    }
}
