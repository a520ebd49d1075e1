//! `seed-corpus`: a fresh fixture and the corpus of every target, from real messages made
//! by the core (a device recording a conversation, drafting a decision, opening a case) and
//! from crafted inputs that make Automerge 0.12 panic or allocate without bound (a run of
//! 2^40 actors, op-count bombs, deflate bombs, a change claiming millions of ops).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;

use keukentafel_core::model::{
    HouseholdRole, Law, LifeDomain, Mandate, Money, NewCase, NewConversation, NewDecision,
    NewHouseholdMember, NewMember, NewParticipant, ParticipantKind, Period, ProvisionCategory,
    Role, Timestamp,
};
use keukentafel_core::sync::{
    ClientMessage, DocChanges, DocRef, DocUpdate, Heads, MemoryStorage, Payload, Peer,
    ServerMessage, ServerSession, ServerStorage,
};
use keukentafel_core::{
    Author, CaseDoc, Context, DeviceId, Limits, LocalChange, MemberId, NotesEdit, WorkspaceDoc,
};
use sha2::Digest;
use time::macros::date;

use crate::fixture::Fixture;
use crate::framing;
use crate::mutate::{sleb, uleb};
use crate::targets::http_api::{OPEN_CODE, selector};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const T0: Timestamp = Timestamp(1_795_000_000_000);

/// An Automerge chunk with a valid checksum, so Automerge goes on to decode its columns.
fn chunk(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut header = vec![kind];
    uleb(&mut header, data.len() as u64);
    let hash = sha2::Sha256::new()
        .chain_update(&header)
        .chain_update(data)
        .finalize();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&hash[..4]);
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out
}

fn columns(d: &mut Vec<u8>, groups: &[&[(u64, Vec<u8>)]]) {
    for cols in groups {
        uleb(d, cols.len() as u64);
        for (spec, bytes) in *cols {
            uleb(d, *spec);
            uleb(d, bytes.len() as u64);
        }
    }
    for cols in groups {
        for (_, bytes) in *cols {
            d.extend_from_slice(bytes);
        }
    }
}

/// A document chunk with one actor, no heads and the given change and op columns.
fn document(change_cols: &[(u64, Vec<u8>)], op_cols: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut d = vec![];
    uleb(&mut d, 1);
    uleb(&mut d, 16);
    d.extend_from_slice(&[1u8; 16]);
    uleb(&mut d, 0);
    columns(&mut d, &[change_cols, op_cols]);
    chunk(0, &d)
}

fn run(count: i64, value: u64) -> Vec<u8> {
    let mut v = vec![];
    sleb(&mut v, count);
    uleb(&mut v, value);
    v
}

fn deflated_zeros(n: usize) -> anyhow::Result<Vec<u8>> {
    let mut e = flate2::write::DeflateEncoder::new(vec![], flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(zeros.len());
        e.write_all(&zeros[..k])?;
        left -= k;
    }
    Ok(e.finish()?)
}

/// Crafted documents (for loading) and change batches (for applying and pushing), by name.
pub struct Bombs {
    /// Whole documents.
    pub documents: Vec<(&'static str, Vec<u8>)>,
    /// Change batches.
    pub changes: Vec<(&'static str, Vec<u8>)>,
}

/// The crafted inputs of `core/tests/hostile.rs`, smaller where size does not matter.
pub fn bombs(actor: &DeviceId) -> anyhow::Result<Bombs> {
    // 128 MiB of zeros: twice the inflation limit, about 128 KiB deflated.
    let zeros = deflated_zeros(128 << 20)?;
    let compressed_change = {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[0; 4]);
        out.push(2);
        uleb(&mut out, zeros.len() as u64);
        out.extend_from_slice(&zeros);
        out
    };
    let op_count: Vec<(u64, Vec<u8>)> = [0x21, 0x23, 0x42, 0x56, 0x80]
        .iter()
        .map(|s| (*s, run(1 << 31, 1)))
        .collect();
    // A change by the fixture's device claiming ten million ops, so that it passes the
    // actor check and reaches the decoder on the server's path.
    let millions_of_ops = {
        let mut d = vec![];
        uleb(&mut d, 0);
        let actor = hex::decode(actor.as_str()).unwrap_or_else(|_| vec![7; 16]);
        uleb(&mut d, actor.len() as u64);
        d.extend_from_slice(&actor);
        uleb(&mut d, 1);
        uleb(&mut d, 1);
        sleb(&mut d, 0);
        uleb(&mut d, 0);
        uleb(&mut d, 0);
        let big = 10_000_000i64;
        let mut key = vec![];
        sleb(&mut key, big);
        uleb(&mut key, 1);
        key.push(b'a');
        let cols: Vec<(u64, Vec<u8>)> = vec![
            (0x15, key),
            (0x42, run(big, 1)),
            (0x56, run(big, 0)),
            (0x70, run(big, 0)),
        ];
        columns(&mut d, &[&cols]);
        chunk(1, &d)
    };
    Ok(Bombs {
        documents: vec![
            (
                "run-of-2-40-actors",
                document(&[(0x01, run(1 << 40, 0))], &[]),
            ),
            ("op-count-2-31", document(&[], &op_count)),
            (
                "deflate-bomb-column",
                document(&[(0x23 | 0x08, zeros)], &[]),
            ),
            (
                "rows-just-over-limit",
                document(&[(0x01, run(1_000_001, 0))], &[]),
            ),
        ],
        changes: vec![
            ("compressed-change-bomb", compressed_change),
            ("millions-of-ops", millions_of_ops),
        ],
    })
}

fn bytes_of(changes: Vec<LocalChange>) -> Vec<u8> {
    changes.into_iter().flat_map(|c| c.bytes).collect()
}

fn new_case(assigned: Vec<MemberId>) -> NewCase {
    NewCase {
        case_number: "2026-0412".into(),
        law: Law::Wmo,
        melding_date: date!(2026 - 11 - 02),
        household: vec![NewHouseholdMember {
            name: "J. de Vries".into(),
            birth_date: Some(date!(1941 - 03 - 14)),
            role: HouseholdRole::Resident,
        }],
        assigned,
    }
}

/// A new fixture: a team lead and a practitioner, and a case the practitioner opened.
fn fixture() -> anyhow::Result<Fixture> {
    let lead = Author {
        member: MemberId::random(),
        device: DeviceId::random(),
    };
    let sanne = Author {
        member: MemberId::random(),
        device: DeviceId::random(),
    };
    let big = Mandate::default().with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(10_000));
    let (mut ws, _) = WorkspaceDoc::create(
        &lead,
        T0,
        "Wijkteam Noord",
        "Noord",
        NewMember {
            display_name: "Fatima".into(),
            role: Role::TeamLead,
            mandate: big,
        },
    )?;
    ws.add_member(
        &lead,
        T0,
        &sanne.member,
        NewMember {
            display_name: "Sanne".into(),
            role: Role::Practitioner,
            mandate: Mandate::default()
                .with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(2_500)),
        },
    )?;
    let state = ws.workspace().clone();
    let ctx = Context {
        workspace: &state,
        author: &sanne,
        now: T0,
    };
    let (case, _) = CaseDoc::create(&ctx, new_case(vec![]))?;
    let fixture = Fixture {
        workspace: ws.save(),
        case: case.save(),
        peer: Peer {
            workspace: state.id.clone(),
            member: sanne.member.clone(),
            device: sanne.device.clone(),
        },
    };
    Ok(fixture)
}

/// The cursor a device acknowledges after sending `frames` to a fresh session over the
/// fixture.
fn cursor_after(fixture: &Fixture, frames: &[Vec<u8>]) -> anyhow::Result<u64> {
    let case = fixture.case_doc()?;
    let mut storage = MemoryStorage::with_workspace(&fixture.workspace_doc()?);
    storage.store_case(
        &fixture.peer.workspace,
        &case,
        &case.changes_since(&[]),
        &fixture.peer.device,
    )?;
    let mut session = ServerSession::new(fixture.peer.clone(), Limits::default(), &mut storage)?;
    let mut cursor = 0;
    for f in frames {
        for reply in session.receive(&mut storage, f)? {
            if let ServerMessage::Updates {
                cursor: c,
                more: false,
                ..
            } = reply
            {
                cursor = c;
            }
        }
    }
    Ok(cursor)
}

/// Writes every target's corpus under `dir` (the crate's directory), replacing what was
/// there, against the committed fixture, or a new one with `new_fixture` (which leaves the
/// sync targets' regressions without meaning). Returns per target how many inputs it wrote.
pub fn write_all(dir: &Path, new_fixture: bool) -> anyhow::Result<Vec<(&'static str, usize)>> {
    if new_fixture || !dir.join("fixture").exists() {
        fixture()?.save_to(&dir.join("fixture"))?;
    }
    let fixture = Fixture::load_from(&dir.join("fixture"))?;
    let sanne = fixture.author();
    let lead = Author {
        member: fixture
            .workspace_doc()?
            .workspace()
            .members
            .iter()
            .find(|(_, m)| m.role == Role::TeamLead)
            .map(|(id, _)| id.clone())
            .ok_or_else(|| anyhow::anyhow!("the fixture has no team lead"))?,
        // Any device of the team lead may change the workspace.
        device: DeviceId::random(),
    };
    let mut ws = fixture.workspace_doc()?;
    let state = ws.workspace().clone();
    let ctx = Context {
        workspace: &state,
        author: &sanne,
        now: T0,
    };
    let mut case = fixture.case_doc()?;
    let case_ref = DocRef::Case(case.id().clone());
    let conv_id = case.record_conversation(
        &ctx,
        NewConversation {
            date: date!(2026 - 11 - 20),
            place: "thuis".into(),
            participants: vec![NewParticipant {
                kind: ParticipantKind::Resident,
                name: "mevrouw De Vries".into(),
                person: None,
                member: None,
            }],
            question: "Ik wil thuis blijven wonen.".into(),
            domains: BTreeSet::from([LifeDomain::Huisvesting]),
            notes: "Trap lukt niet meer.".into(),
            agreements: vec![],
            client_support_offered: true,
        },
    )?;
    let conversation = bytes_of(case.take_changes());
    case.edit_notes(
        &ctx,
        &conv_id,
        NotesEdit::Replace("Notities van het gesprek.".into()),
    )?;
    let notes = bytes_of(case.take_changes());
    case.draft_decision(
        &ctx,
        NewDecision {
            provision: "Huishoudelijke hulp, 3 uur per week".into(),
            category: ProvisionCategory::HuishoudelijkeHulp,
            period: Period {
                start: date!(2026 - 12 - 01),
                end: date!(2027 - 11 - 30),
            },
            amount: Money::euros(2_000),
            legal_ground: "Wmo 2015 art. 2.3.5".into(),
            motivation: "Kan het zware huishouden niet zelf.".into(),
            deviation: None,
            supersedes: None,
        },
    )?;
    let draft = bytes_of(case.take_changes());
    let all_edits = [conversation.clone(), notes.clone(), draft.clone()].concat();
    let (mut opened, opened_id) = CaseDoc::create(&ctx, new_case(vec![]))?;
    let opened_changes = bytes_of(opened.take_changes());
    ws.add_member(
        &lead,
        T0,
        &MemberId::random(),
        NewMember {
            display_name: "Piet".into(),
            role: Role::Practitioner,
            mandate: Mandate::default(),
        },
    )?;
    let ws_change = bytes_of(ws.take_changes());
    let ws_ref = DocRef::Workspace(fixture.peer.workspace.clone());
    let bombs = bombs(&fixture.peer.device)?;

    // The server's side: what a device sends.
    let hello = ClientMessage::Hello {
        cursor: 0,
        lacking: vec![],
    }
    .encode();
    let push = |doc: &DocRef, changes: &[u8]| {
        ClientMessage::Push {
            batch: 1,
            docs: vec![DocChanges {
                doc: doc.clone(),
                changes: changes.to_vec(),
            }],
        }
        .encode()
    };
    let opened_ref = DocRef::Case(opened_id.clone());
    let mut sessions: Vec<(String, Vec<Vec<u8>>)> = vec![
        ("hello".into(), vec![hello.clone()]),
        (
            "hello-lacking-case".into(),
            vec![
                ClientMessage::Hello {
                    cursor: 1,
                    lacking: vec![case_ref.clone()],
                }
                .encode(),
            ],
        ),
        (
            "push-conversation".into(),
            vec![hello.clone(), push(&case_ref, &conversation)],
        ),
        (
            "push-notes-without-conversation".into(),
            vec![hello.clone(), push(&case_ref, &notes)],
        ),
        (
            "push-new-case".into(),
            vec![hello.clone(), push(&opened_ref, &opened_changes)],
        ),
        (
            "push-workspace-change".into(),
            vec![hello.clone(), push(&ws_ref, &ws_change)],
        ),
        (
            "push-before-hello".into(),
            vec![push(&case_ref, &conversation)],
        ),
        (
            "push-two-documents".into(),
            vec![
                hello.clone(),
                ClientMessage::Push {
                    batch: 7,
                    docs: vec![
                        DocChanges {
                            doc: case_ref.clone(),
                            changes: all_edits.clone(),
                        },
                        DocChanges {
                            doc: opened_ref.clone(),
                            changes: opened_changes.clone(),
                        },
                    ],
                }
                .encode(),
            ],
        ),
        (
            "ack-unsent".into(),
            vec![hello.clone(), ClientMessage::Ack { cursor: 99 }.encode()],
        ),
        // Hostile but well-formed: one case's changes under another's id, a whole document
        // offered as changes, a hello that lists the workspace as lacking.
        (
            "push-new-case-under-existing-id".into(),
            vec![hello.clone(), push(&case_ref, &opened_changes)],
        ),
        (
            "push-document-as-changes".into(),
            vec![hello.clone(), push(&case_ref, &opened.save())],
        ),
        (
            "hello-lacking-workspace".into(),
            vec![
                ClientMessage::Hello {
                    cursor: 0,
                    lacking: vec![ws_ref.clone(), opened_ref.clone()],
                }
                .encode(),
            ],
        ),
    ];
    let first = vec![hello.clone(), push(&case_ref, &all_edits)];
    let ack = ClientMessage::Ack {
        cursor: cursor_after(&fixture, &first)?,
    }
    .encode();
    sessions.push((
        "push-edits-and-ack".into(),
        [first, vec![ack, push(&case_ref, &conversation)]].concat(),
    ));
    for (name, b) in bombs.changes.iter().chain(&bombs.documents) {
        sessions.push((
            format!("push-{name}"),
            vec![hello.clone(), push(&case_ref, b)],
        ));
    }

    // The device's side: what a server sends.
    let case_heads = Heads::from_refs(&case.heads());
    let update = |doc: &DocRef, payload: Payload, more: bool| {
        ServerMessage::Updates {
            cursor: 5,
            docs: vec![DocUpdate {
                doc: doc.clone(),
                payload,
                heads: case_heads.clone(),
            }],
            more,
        }
        .encode()
    };
    let mut device: Vec<(String, Vec<Vec<u8>>)> = vec![
        (
            "changes".into(),
            vec![update(
                &case_ref,
                Payload::Changes(all_edits.clone()),
                false,
            )],
        ),
        (
            "changes-in-two-pages".into(),
            vec![
                update(&case_ref, Payload::Changes(conversation.clone()), true),
                update(&case_ref, Payload::Changes(notes.clone()), false),
            ],
        ),
        (
            "full-new-case".into(),
            vec![update(&opened_ref, Payload::Full(opened.save()), false)],
        ),
        (
            "full-replaces-case".into(),
            vec![update(&case_ref, Payload::Full(case.save()), false)],
        ),
        (
            "remove".into(),
            vec![update(&case_ref, Payload::Remove, false)],
        ),
        (
            "workspace-changes".into(),
            vec![update(&ws_ref, Payload::Changes(ws_change.clone()), false)],
        ),
        (
            "up-to-date".into(),
            vec![ServerMessage::UpToDate { cursor: 3 }.encode()],
        ),
        (
            "accepted".into(),
            vec![
                ServerMessage::Accepted {
                    batch: 1,
                    doc: case_ref.clone(),
                    heads: case_heads.clone(),
                }
                .encode(),
            ],
        ),
        (
            "refused".into(),
            vec![
                ServerMessage::Refused {
                    batch: 1,
                    doc: case_ref.clone(),
                    reason: "outside the mandate".into(),
                    heads: case_heads.clone(),
                }
                .encode(),
            ],
        ),
        (
            "stop-and-erase".into(),
            vec![
                ServerMessage::Stop {
                    reason: "revoked".into(),
                    erase: true,
                }
                .encode(),
            ],
        ),
        (
            "full-other-case-under-this-id".into(),
            vec![update(&case_ref, Payload::Full(opened.save()), false)],
        ),
        (
            "full-workspace-as-case".into(),
            vec![update(
                &opened_ref,
                Payload::Full(fixture.workspace.clone()),
                false,
            )],
        ),
        (
            "changes-for-unknown-case".into(),
            vec![update(
                &opened_ref,
                Payload::Changes(opened_changes.clone()),
                false,
            )],
        ),
    ];
    for (name, b) in &bombs.documents {
        device.push((
            format!("full-{name}"),
            vec![update(&case_ref, Payload::Full(b.clone()), false)],
        ));
    }
    for (name, b) in &bombs.changes {
        device.push((
            format!("changes-{name}"),
            vec![update(&case_ref, Payload::Changes(b.clone()), false)],
        ));
    }

    // Documents and changes, behind the byte that picks the entry point.
    let mut document: Vec<(String, Vec<u8>)> = vec![
        ("case-load".into(), [&[0u8][..], &fixture.case].concat()),
        (
            "case-load-edited".into(),
            [&[0u8][..], &case.save()].concat(),
        ),
        (
            "workspace-load".into(),
            [&[1u8][..], &fixture.workspace].concat(),
        ),
        ("case-apply".into(), [&[2u8][..], &all_edits].concat()),
        ("case-ingest".into(), [&[3u8][..], &all_edits].concat()),
        (
            "case-ingest-new".into(),
            [&[4u8][..], &opened_changes].concat(),
        ),
        ("workspace-ingest".into(), [&[5u8][..], &ws_change].concat()),
        ("workspace-apply".into(), [&[6u8][..], &ws_change].concat()),
    ];
    for (name, b) in &bombs.documents {
        document.push((format!("case-load-{name}"), [&[0u8][..], b].concat()));
        document.push((format!("workspace-load-{name}"), [&[1u8][..], b].concat()));
    }
    for (name, b) in &bombs.changes {
        document.push((format!("case-apply-{name}"), [&[2u8][..], b].concat()));
        document.push((format!("case-ingest-{name}"), [&[3u8][..], b].concat()));
        document.push((format!("workspace-ingest-{name}"), [&[5u8][..], b].concat()));
    }

    // The enrolment and admin API.
    let http = |route: usize, authorized: bool, segment: &str, body: &str| {
        [
            vec![selector(route, authorized)],
            format!("{segment}\n{body}").into_bytes(),
        ]
        .concat()
    };
    let http_api: Vec<(String, Vec<u8>)> = vec![
        (
            "enrol".into(),
            http(
                0,
                false,
                "",
                &format!(r#"{{"code":"{OPEN_CODE}","label":"telefoon"}}"#),
            ),
        ),
        (
            "enrol-wrong-code".into(),
            http(
                0,
                false,
                "",
                r#"{"code":"AAAA-BBBB-CCCC","label":"telefoon"}"#,
            ),
        ),
        (
            "add-member".into(),
            http(
                1,
                true,
                "",
                r#"{"display_name":"Piet","role":"practitioner","mandate":{"huishoudelijke_hulp":2500}}"#,
            ),
        ),
        (
            "add-member-unauthorized".into(),
            http(1, false, "", r#"{"display_name":"Piet","role":"admin"}"#),
        ),
        (
            "invite".into(),
            http(2, true, "", r#"{"member_id":"$P","valid_hours":24}"#),
        ),
        (
            "invite-unknown-member".into(),
            http(2, true, "", r#"{"member_id":"nobody"}"#),
        ),
        ("devices".into(), http(3, true, "", "")),
        ("revoke".into(), http(4, true, "$D", "")),
        ("revoke-unknown".into(), http(4, true, "0123", "")),
        ("access-log".into(), http(5, true, "$C", "")),
        ("access-log-workspace".into(), http(5, true, "$W", "")),
        ("health".into(), http(6, false, "", "")),
        ("metrics".into(), http(7, false, "", "")),
    ];

    let framed = |entries: Vec<(String, Vec<Vec<u8>>)>| {
        entries
            .into_iter()
            .map(|(n, frames)| (n, framing::join(&frames)))
            .collect::<Vec<_>>()
    };
    let mut client_message: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, frames) in &sessions {
        for (i, f) in frames.iter().enumerate() {
            if !client_message.iter().any(|(_, b)| b == f) {
                client_message.push((format!("{name}-{i}"), f.clone()));
            }
        }
    }
    let corpora = [
        ("client_message", client_message),
        ("server_session", framed(sessions)),
        ("device_receive", framed(device)),
        ("document", document),
        ("http_api", http_api),
    ];
    let mut written = Vec::new();
    for (target, entries) in corpora {
        let d = dir.join("corpus").join(target);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
        }
        std::fs::create_dir_all(&d)?;
        for (name, bytes) in &entries {
            std::fs::write(d.join(name), bytes)?;
        }
        written.push((target, entries.len()));
    }
    Ok(written)
}
