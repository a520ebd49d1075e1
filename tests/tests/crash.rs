//! A device store SIGKILLed at random moments while writing: every change it reported as
//! committed is there after reopening, and SQLite's integrity check passes.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use keukentafel_core::model::{
    HouseholdRole, Law, Mandate, Money, NewCase, NewConversation, NewHouseholdMember, NewMember,
    NewParticipant, ParticipantKind, ProvisionCategory, Role,
};
use keukentafel_core::{DeviceStore, StoreKey};
use time::macros::date;

const KILLS: usize = 30;
const KEY: [u8; 32] = [0x5a; 32];

fn prepare(path: &std::path::Path) {
    let mut store = DeviceStore::open(path, &StoreKey::from_bytes(KEY)).expect("open");
    store
        .create_workspace(
            "Wijkteam West",
            "West",
            NewMember {
                display_name: "Lead".into(),
                role: Role::TeamLead,
                mandate: Mandate::default().with(ProvisionCategory::Overig, Money(0)),
            },
        )
        .expect("workspace");
    let case = store
        .create_case(NewCase {
            case_number: "CRASH-1".into(),
            law: Law::Wmo,
            melding_date: date!(2026 - 11 - 01),
            household: vec![NewHouseholdMember {
                name: "Bewoner".into(),
                birth_date: None,
                role: HouseholdRole::Resident,
            }],
            assigned: vec![],
        })
        .expect("case");
    store
        .edit_case(&case, |doc, ctx| {
            doc.record_conversation(
                ctx,
                NewConversation {
                    date: date!(2026 - 11 - 02),
                    place: "thuis".into(),
                    participants: vec![NewParticipant {
                        kind: ParticipantKind::Resident,
                        name: "Bewoner".into(),
                        person: None,
                        member: None,
                    }],
                    question: "Hulp bij de administratie.".into(),
                    domains: BTreeSet::new(),
                    notes: String::new(),
                    agreements: vec![],
                    client_support_offered: false,
                },
            )
        })
        .expect("conversation");
}

fn agreements(path: &std::path::Path) -> BTreeSet<String> {
    let mut store = DeviceStore::open(path, &StoreKey::from_bytes(KEY)).expect("reopen after kill");
    store.integrity_check().expect("integrity check after kill");
    let case = store.my_cases().expect("list")[0].id.clone();
    let c = store.case(&case).expect("case");
    c.conversations
        .values()
        .flat_map(|c| c.agreements.values().map(|a| a.what.clone()))
        .collect()
}

#[test]
fn every_acknowledged_change_survives_sigkill() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("device.db");
    prepare(&path);
    let seed = keukentafel_tests::seed_from_env("CRASH_SEED");
    eprintln!(
        "crash test seed {seed} (replay: CRASH_SEED={seed} cargo test -p keukentafel-tests --test crash)"
    );
    let mut rng = keukentafel_tests::Rng::new(seed);
    let mut acknowledged = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for round in 0..KILLS {
        assert!(
            Instant::now() < deadline,
            "crash test ran out of time in round {round}"
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
            .arg(&path)
            .arg(KEY.iter().map(|b| format!("{b:02x}")).collect::<String>())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Let it get going (the first acknowledgement), then kill at a random moment.
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("writer acknowledged nothing");
        acknowledged.insert(first);
        std::thread::sleep(Duration::from_millis(rng.next_u64() % 150));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        reader.join().expect("reader");
        acknowledged.extend(rx.try_iter());
        let present = agreements(&path);
        let lost: Vec<_> = acknowledged.difference(&present).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged changes lost after SIGKILL: {lost:?}"
        );
    }
    assert!(
        acknowledged.len() > KILLS,
        "the writer made progress: {}",
        acknowledged.len()
    );
}
