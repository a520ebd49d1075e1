//! The device store: durable, encrypted, projected, logged.

use std::collections::BTreeSet;
use std::path::Path;

use keukentafel_core::model::{
    CaseStatus, HouseholdRole, Law, LifeDomain, Mandate, Money, NewCase, NewConversation,
    NewDecision, NewHouseholdMember, NewMember, NewParticipant, ParticipantKind, Period,
    ProvisionCategory, Role,
};
use keukentafel_core::{
    AccessAction, CaseFilter, CaseId, DeviceStore, Error, MemberId, NotesEdit, StoreKey,
};
use time::macros::date;

const RESIDENT: &str = "Wilhelmina Zonneveld";
const NOTES: &str = "Mevrouw vertelt over de schulden bij de woningcorporatie.";
const QUESTION: &str = "Ik wil mijn huur weer zelf kunnen betalen.";

fn key(b: u8) -> StoreKey {
    StoreKey::from_bytes([b; 32])
}

/// A team lead's store with Sanne as a practitioner; returns the lead's store and Sanne's.
fn team_stores(dir: &Path) -> (DeviceStore, DeviceStore, MemberId) {
    let mut lead = DeviceStore::open(&dir.join("lead.db"), &key(1)).expect("open");
    lead.create_workspace(
        "Wijkteam Zuid",
        "Zuid",
        NewMember {
            display_name: "Fatima".into(),
            role: Role::TeamLead,
            mandate: Mandate::default()
                .with(ProvisionCategory::Woningaanpassing, Money::euros(50_000)),
        },
    )
    .expect("workspace");
    let sanne = MemberId::random();
    lead.edit_workspace(|ws, a, now| {
        ws.add_member(
            a,
            now,
            &sanne,
            NewMember {
                display_name: "Sanne".into(),
                role: Role::Practitioner,
                mandate: Mandate::default()
                    .with(ProvisionCategory::Woningaanpassing, Money::euros(1_000)),
            },
        )
    })
    .expect("add Sanne");
    let mut phone = DeviceStore::open(&dir.join("sanne.db"), &key(2)).expect("open");
    phone
        .join_workspace(
            &lead.export_workspace().expect("export"),
            &sanne,
            &keukentafel_core::DeviceId::random(),
        )
        .expect("join");
    (lead, phone, sanne)
}

fn new_case(number: &str, melding: time::Date) -> NewCase {
    NewCase {
        case_number: number.into(),
        law: Law::Wmo,
        melding_date: melding,
        household: vec![NewHouseholdMember {
            name: RESIDENT.into(),
            birth_date: Some(date!(1950 - 01 - 01)),
            role: HouseholdRole::Resident,
        }],
        assigned: vec![],
    }
}

fn visit(store: &mut DeviceStore, case: &CaseId) {
    store
        .edit_case(case, |doc, ctx| {
            let c = doc.record_conversation(
                ctx,
                NewConversation {
                    date: date!(2026 - 11 - 20),
                    place: "thuis".into(),
                    participants: vec![NewParticipant {
                        kind: ParticipantKind::Resident,
                        name: RESIDENT.into(),
                        person: None,
                        member: None,
                    }],
                    question: QUESTION.into(),
                    domains: BTreeSet::from([LifeDomain::Financien]),
                    notes: String::new(),
                    agreements: vec![],
                    client_support_offered: true,
                },
            )?;
            doc.edit_notes(ctx, &c, NotesEdit::Replace(NOTES.into()))
        })
        .expect("visit");
}

fn woning(euros: i64) -> NewDecision {
    NewDecision {
        provision: "Traplift".into(),
        category: ProvisionCategory::Woningaanpassing,
        period: Period {
            start: date!(2026 - 12 - 01),
            end: date!(2027 - 11 - 30),
        },
        amount: Money::euros(euros),
        legal_ground: "Wmo 2015 art. 2.3.5".into(),
        motivation: "Trap is onoverkomelijk.".into(),
        deviation: None,
        supersedes: None,
    }
}

#[test]
fn everything_acknowledged_is_there_after_reopening() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut phone, sanne) = team_stores(dir.path());
    let case = phone
        .create_case(new_case("2026-1", date!(2026 - 11 - 02)))
        .expect("case");
    visit(&mut phone, &case);
    let device = phone.device_id().clone();
    drop(phone);

    let mut phone = DeviceStore::open(&dir.path().join("sanne.db"), &key(2)).expect("reopen");
    assert_eq!(phone.device_id(), &device, "a device keeps its identity");
    assert_eq!(phone.member_id(), Some(&sanne));
    let c = phone.case(&case).expect("case");
    let conv = c.conversations.values().next().expect("conversation");
    assert_eq!(conv.notes, NOTES);
    assert_eq!(conv.question, QUESTION);
    assert_eq!(phone.history(&case).expect("history").len(), 3);
    phone.integrity_check().expect("intact");
}

#[test]
fn nothing_of_a_case_is_readable_without_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut phone, _) = team_stores(dir.path());
    let case = phone
        .create_case(new_case("2026-1", date!(2026 - 11 - 02)))
        .expect("case");
    visit(&mut phone, &case);
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        files += 1;
        for secret in [
            RESIDENT,
            NOTES,
            QUESTION,
            "Wijkteam Zuid",
            "2026-1",
            "SQLite format",
        ] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret:?} readable in {}",
                path.display()
            );
        }
    }
    assert!(
        files >= 3,
        "the main file and its write-ahead log were checked"
    );
}

#[test]
fn a_wrong_key_is_a_clear_error_and_harms_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut phone, _) = team_stores(dir.path());
    let case = phone
        .create_case(new_case("2026-1", date!(2026 - 11 - 02)))
        .expect("case");
    drop(phone);
    let path = dir.path().join("sanne.db");
    let before = std::fs::read(&path).expect("read");
    match DeviceStore::open(&path, &key(9)) {
        Err(Error::WrongKey) => {}
        other => panic!("expected WrongKey, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "the file was not touched"
    );
    let mut phone = DeviceStore::open(&path, &key(2)).expect("right key");
    phone.integrity_check().expect("intact");
    assert_eq!(phone.case(&case).expect("case").case_number, "2026-1");
}

#[test]
fn many_edits_are_compacted_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut phone, _) = team_stores(dir.path());
    let case = phone
        .create_case(new_case("2026-1", date!(2026 - 11 - 02)))
        .expect("case");
    visit(&mut phone, &case);
    let conv = phone
        .case(&case)
        .expect("case")
        .conversations
        .keys()
        .next()
        .expect("conv")
        .clone();
    let mut expected = NOTES.to_owned();
    for i in 0..150 {
        let word = format!(" w{i}");
        let at = expected.chars().count();
        expected.push_str(&word);
        phone
            .edit_case(&case, |doc, ctx| {
                doc.edit_notes(
                    ctx,
                    &conv,
                    NotesEdit::Splice {
                        at,
                        delete: 0,
                        insert: word.clone(),
                    },
                )
            })
            .expect("type");
    }
    drop(phone);
    let path = dir.path().join("sanne.db");
    let mut phone = DeviceStore::open(&path, &key(2)).expect("reopen");
    assert_eq!(
        phone.case(&case).expect("case").conversations[&conv].notes,
        expected
    );
    assert_eq!(phone.history(&case).expect("history").len(), 153);
    drop(phone);
    let conn = rusqlite::Connection::open(&path).expect("raw");
    conn.pragma_update(None, "key", format!("x'{}'", "02".repeat(32)))
        .expect("key");
    conn.pragma_update(None, "cipher_page_size", 2048)
        .expect("page size");
    let pending: i64 = conn
        .query_row(
            "SELECT count(*) FROM changes WHERE doc_id = ?1",
            [case.as_str()],
            |r| r.get(0),
        )
        .expect("count");
    assert!(pending < 64, "compacted: {pending} changes left");
}

#[test]
fn lists_come_from_the_projection_sorted_by_deadline() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut lead, mut phone, sanne) = team_stores(dir.path());
    let late = phone
        .create_case(new_case("2026-2", date!(2026 - 11 - 10)))
        .expect("case");
    let early = phone
        .create_case(new_case("2026-1", date!(2026 - 10 - 01)))
        .expect("case");
    phone
        .edit_case(&early, |doc, ctx| {
            doc.set_status(ctx, CaseStatus::Onderzoek)
        })
        .expect("status");
    let mine = phone.my_cases().expect("list");
    assert_eq!(
        mine.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        vec![early.clone(), late.clone()]
    );
    assert_eq!(mine[0].next_deadline, Some(date!(2026 - 11 - 12)));
    let onderzoek = phone
        .list_cases(&CaseFilter {
            status: Some(CaseStatus::Onderzoek),
            assignee: None,
        })
        .expect("list");
    assert_eq!(onderzoek.len(), 1);
    assert_eq!(
        phone
            .list_cases(&CaseFilter {
                status: None,
                assignee: Some(MemberId::random())
            })
            .expect("list")
            .len(),
        0
    );

    let d = phone
        .edit_case(&late, |doc, ctx| {
            let d = doc.draft_decision(ctx, woning(9_800))?;
            doc.request_signature(ctx, &d)?;
            Ok(d)
        })
        .expect("ask for a signature");
    assert!(
        phone.awaiting_my_signature().expect("list").is_empty(),
        "nobody signs their own request"
    );
    assert_eq!(phone.my_cases().expect("list")[1].awaiting_signature, 1);
    lead.import_case(&phone.export_case(&late).expect("export"))
        .expect("import");
    let pending = lead.awaiting_my_signature().expect("list");
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (
            pending[0].decision.clone(),
            pending[0].amount,
            pending[0].decided_by.clone()
        ),
        (d.clone(), Money::euros(9_800), sanne)
    );
    lead.edit_case(&late, |doc, ctx| doc.approve(ctx, &d))
        .expect("approve");
    assert!(lead.awaiting_my_signature().expect("list").is_empty());
}

#[test]
fn conflicts_merged_in_are_badged_and_durable() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut lead, mut phone, _) = team_stores(dir.path());
    let case = phone
        .create_case(new_case("2026-1", date!(2026 - 11 - 02)))
        .expect("case");
    lead.import_case(&phone.export_case(&case).expect("export"))
        .expect("import");
    phone
        .edit_case(&case, |doc, ctx| doc.set_status(ctx, CaseStatus::Onderzoek))
        .expect("phone");
    lead.edit_case(&case, |doc, ctx| {
        doc.close(
            ctx,
            date!(2026 - 11 - 20),
            keukentafel_core::model::ClosureReason::Withdrawn,
        )
    })
    .expect("lead");
    let theirs = lead.export_case(&case).expect("export");
    assert!(phone.apply_remote_changes(&case, &theirs).expect("apply"));
    assert!(
        !phone.apply_remote_changes(&case, &theirs).expect("again"),
        "nothing new the second time"
    );
    assert_eq!(
        phone.cases_with_conflicts().expect("list"),
        vec![(case.clone(), 1)]
    );
    drop(phone);
    let mut phone = DeviceStore::open(&dir.path().join("sanne.db"), &key(2)).expect("reopen");
    assert_eq!(phone.conflicts(&case).expect("conflicts").len(), 1);
    assert_eq!(phone.my_cases().expect("list")[0].open_conflicts, 1);
}

#[test]
fn every_read_history_view_and_export_of_a_case_is_logged() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut phone, sanne) = team_stores(dir.path());
    let case = phone
        .create_case(new_case("2026-1", date!(2026 - 11 - 02)))
        .expect("case");
    phone.case(&case).expect("read");
    visit(&mut phone, &case);
    phone.history(&case).expect("history");
    phone.export_case(&case).expect("export");
    let log = phone.access_log().expect("log");
    let actions: Vec<_> = log.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![
            AccessAction::Read,
            AccessAction::History,
            AccessAction::Export
        ]
    );
    assert!(log.iter().all(|e| e.case == case
        && e.member.as_ref() == Some(&sanne)
        && &e.device == phone.device_id()));
}

#[test]
fn hostile_bytes_leave_the_store_intact() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut phone, _) = team_stores(dir.path());
    let case = phone
        .create_case(new_case("2026-1", date!(2026 - 11 - 02)))
        .expect("case");
    assert!(phone.import_case(b"\x85\x6f\x4a\x83garbage").is_err());
    assert!(phone.apply_remote_changes(&case, &[0u8; 100]).is_err());
    assert!(
        phone
            .import_case(&phone.export_workspace().expect("ws"))
            .is_err(),
        "a workspace is not a case"
    );
    phone.integrity_check().expect("intact");
    assert_eq!(phone.my_cases().expect("list").len(), 1);
}

#[test]
fn a_case_of_another_workspace_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut phone, _) = team_stores(dir.path());
    let other_dir = tempfile::tempdir().expect("dir");
    let (_, mut stranger, _) = team_stores(other_dir.path());
    let theirs = stranger
        .create_case(new_case("X-1", date!(2026 - 11 - 02)))
        .expect("case");
    let bytes = stranger.export_case(&theirs).expect("export");
    assert!(phone.import_case(&bytes).is_err());
    assert!(phone.my_cases().expect("list").is_empty());
}

#[test]
fn an_edit_that_fails_half_way_keeps_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut phone, _) = team_stores(dir.path());
    let case = phone
        .create_case(new_case("2026-1", date!(2026 - 11 - 02)))
        .expect("case");
    let r = phone.edit_case(&case, |doc, ctx| {
        doc.set_status(ctx, CaseStatus::Onderzoek)?;
        doc.set_status(ctx, CaseStatus::Melding)
    });
    assert!(matches!(r, Err(Error::Rule(_))), "{r:?}");
    assert_eq!(
        phone.case(&case).expect("case").status,
        CaseStatus::Melding,
        "the first step is not kept either"
    );
    assert_eq!(phone.history(&case).expect("history").len(), 1);
    drop(phone);
    let mut phone = DeviceStore::open(&dir.path().join("sanne.db"), &key(2)).expect("reopen");
    assert_eq!(phone.case(&case).expect("case").status, CaseStatus::Melding);
}

#[test]
fn workspace_changes_from_the_office_reach_the_device() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut lead, mut phone, sanne) = team_stores(dir.path());
    assert!(
        !phone
            .mandate_check(ProvisionCategory::Woningaanpassing, Money::euros(5_000))
            .expect("check")
            .allows_deciding()
    );
    lead.edit_workspace(|ws, a, now| {
        ws.set_mandate(
            a,
            now,
            &sanne,
            &Mandate::default().with(ProvisionCategory::Woningaanpassing, Money::euros(10_000)),
        )
    })
    .expect("raise Sanne's mandate");
    assert!(
        phone
            .apply_remote_workspace_changes(&lead.export_workspace().expect("export"))
            .expect("apply")
    );
    assert!(
        phone
            .mandate_check(ProvisionCategory::Woningaanpassing, Money::euros(5_000))
            .expect("check")
            .allows_deciding()
    );
    drop(phone);
    let mut phone = DeviceStore::open(&dir.path().join("sanne.db"), &key(2)).expect("reopen");
    assert!(
        phone
            .mandate_check(ProvisionCategory::Woningaanpassing, Money::euros(5_000))
            .expect("check")
            .allows_deciding()
    );
    assert!(matches!(
        phone.apply_remote_workspace_changes(b"nonsense"),
        Err(Error::Untrusted(_))
    ));
}

#[test]
fn only_members_who_work_the_case_are_asked_to_sign() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut lead, mut phone, _) = team_stores(dir.path());
    let kees = MemberId::random();
    lead.edit_workspace(|ws, a, now| {
        ws.add_member(
            a,
            now,
            &kees,
            NewMember {
                display_name: "Kees".into(),
                role: Role::Practitioner,
                mandate: Mandate::default()
                    .with(ProvisionCategory::Woningaanpassing, Money::euros(50_000)),
            },
        )
    })
    .expect("add Kees");
    let mut other = DeviceStore::open(&dir.path().join("kees.db"), &key(3)).expect("open");
    other
        .join_workspace(
            &lead.export_workspace().expect("export"),
            &kees,
            &keukentafel_core::DeviceId::random(),
        )
        .expect("join");
    let case = phone
        .create_case(new_case("2026-1", date!(2026 - 11 - 02)))
        .expect("case");
    phone
        .edit_case(&case, |doc, ctx| {
            let d = doc.draft_decision(ctx, woning(9_800))?;
            doc.request_signature(ctx, &d)
        })
        .expect("ask");
    other
        .import_case(&phone.export_case(&case).expect("export"))
        .expect("import");
    lead.import_case(&phone.export_case(&case).expect("export"))
        .expect("import");
    assert!(
        other.awaiting_my_signature().expect("list").is_empty(),
        "Kees's mandate covers it but he does not work this case"
    );
    assert_eq!(
        lead.awaiting_my_signature().expect("list").len(),
        1,
        "the team lead sees all the team's cases"
    );
}

#[test]
fn an_enrolment_is_kept_whole_or_not_at_all() {
    use base64::Engine;
    let dir = tempfile::tempdir().expect("dir");
    let (lead, _, sanne) = team_stores(dir.path());
    let doc =
        base64::engine::general_purpose::STANDARD.encode(lead.export_workspace().expect("export"));
    let response = |workspace_id: String| keukentafel_core::sync::EnrolResponse {
        device_id: keukentafel_core::DeviceId::random().to_string(),
        credential: "geheim".into(),
        member_id: sanne.to_string(),
        workspace_id,
        workspace_doc: doc.clone(),
    };

    // The server names another workspace than the document it sent: nothing is kept.
    let mut phone = DeviceStore::open(&dir.path().join("new.db"), &key(3)).expect("open");
    let other = keukentafel_core::WorkspaceId::random().to_string();
    assert!(
        phone
            .enrol("https://wijkteam.example.nl", &response(other))
            .is_err()
    );
    assert!(phone.member_id().is_none());
    assert!(phone.enrolment().expect("read").is_none());

    let ws = lead.workspace().expect("ws").id.to_string();
    phone
        .enrol("https://wijkteam.example.nl", &response(ws))
        .expect("enrol");
    drop(phone);
    let phone = DeviceStore::open(&dir.path().join("new.db"), &key(3)).expect("reopen");
    assert_eq!(phone.member_id(), Some(&sanne));
    let kept = phone.enrolment().expect("read").expect("enrolled");
    assert_eq!(kept.server, "https://wijkteam.example.nl");
    assert_eq!(kept.credential, "geheim");
}
