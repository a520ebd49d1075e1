//! Sample cases shaped like real ones, for benchmarks and load tests: one builder, so that
//! the store's figures and the comparison with other sync systems measure the same kind of
//! document. Invented names and texts only.

use std::collections::{BTreeMap, BTreeSet};

use time::macros::date;

use crate::doc::{CaseDoc, NotesEdit};
use crate::model::*;
use crate::{Author, CaseId, Context, ConversationId, Result};

/// Number `i` of a series of new cases: two household members, Wmo or Jeugdwet, melding
/// dates spread over the year, nobody assigned (the creator then is).
pub fn new_case(i: usize) -> NewCase {
    NewCase {
        case_number: format!("2026-{i:05}"),
        law: if i.is_multiple_of(3) {
            Law::Jeugdwet
        } else {
            Law::Wmo
        },
        melding_date: date!(2026 - 01 - 01).saturating_add(time::Duration::days((i % 300) as i64)),
        household: vec![
            NewHouseholdMember {
                name: format!("Bewoner {i}"),
                birth_date: Some(date!(1960 - 05 - 01)),
                role: HouseholdRole::Resident,
            },
            NewHouseholdMember {
                name: format!("Partner {i}"),
                birth_date: Some(date!(1962 - 07 - 11)),
                role: HouseholdRole::Partner,
            },
        ],
        assigned: vec![],
    }
}

/// A case after a first home visit, built in memory by `author` (a team lead with a
/// mandate for huishoudelijke hulp of at least 2,400 euros): a conversation whose ~2,000
/// characters of notes were typed in 40 changes, three decisions and an 11-domain ZRM
/// assessment. Every operation is its own change, as on a phone. Returns the document and
/// its conversation.
pub fn realistic_case(
    workspace: &Workspace,
    author: &Author,
    new: NewCase,
) -> Result<(CaseDoc, ConversationId)> {
    let ctx = || Context {
        workspace,
        author,
        now: Timestamp::now(),
    };
    let (mut doc, _): (CaseDoc, CaseId) = CaseDoc::create(&ctx(), new)?;
    let conv = doc.record_conversation(
        &ctx(),
        NewConversation {
            date: date!(2026 - 11 - 20),
            place: "thuis".into(),
            participants: vec![
                NewParticipant {
                    kind: ParticipantKind::Resident,
                    name: "bewoner".into(),
                    person: None,
                    member: None,
                },
                NewParticipant {
                    kind: ParticipantKind::Mantelzorger,
                    name: "dochter".into(),
                    person: None,
                    member: None,
                },
            ],
            question: "Ik wil zo lang mogelijk thuis blijven wonen.".into(),
            domains: BTreeSet::from([
                LifeDomain::Huisvesting,
                LifeDomain::Adl,
                LifeDomain::SociaalNetwerk,
            ]),
            notes: String::new(),
            agreements: vec![NewAgreement {
                what: "Offerte traplift".into(),
                who: "wijkteam".into(),
                due: None,
            }],
            client_support_offered: true,
        },
    )?;
    let mut at = 0;
    for k in 0..40 {
        let chunk = format!("Zin {k:02}: mevrouw vertelt over haar week en wat lukt. ");
        let len = chunk.chars().count();
        doc.edit_notes(
            &ctx(),
            &conv,
            NotesEdit::Splice {
                at,
                delete: 0,
                insert: chunk,
            },
        )?;
        at += len;
    }
    for (k, euros) in [800, 1_200, 2_400].into_iter().enumerate() {
        let d = doc.draft_decision(
            &ctx(),
            NewDecision {
                provision: format!("Huishoudelijke hulp {k}"),
                category: ProvisionCategory::HuishoudelijkeHulp,
                period: Period {
                    start: date!(2026 - 12 - 01),
                    end: date!(2027 - 11 - 30),
                },
                amount: Money::euros(euros),
                legal_ground: "Wmo 2015 art. 2.3.5".into(),
                motivation:
                    "Kan het zware huishouden niet zelf; netwerk springt bij voor boodschappen."
                        .into(),
                deviation: None,
                supersedes: None,
            },
        )?;
        doc.decide(&ctx(), &d)?;
    }
    let scores: BTreeMap<_, _> = ZrmVersion::Elf
        .domains()
        .iter()
        .map(|d| (*d, 3u8))
        .collect();
    doc.record_assessment(
        &ctx(),
        NewAssessment {
            version: ZrmVersion::Elf,
            date: date!(2026 - 11 - 20),
            scores,
        },
    )?;
    Ok((doc, conv))
}
