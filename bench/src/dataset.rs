//! The dataset every system syncs: N realistic cases as plain Automerge documents, the
//! edits of the scenarios, and our server's database holding the very same documents.

use std::path::Path;

use anyhow::{Context as _, bail};
use keukentafel_core::model::{Mandate, Money, NewMember, ProvisionCategory, Role, Workspace};
use keukentafel_core::sample::{new_case, realistic_case};
use keukentafel_core::sync::ServerStorage;
use keukentafel_core::{Author, CaseId, DeviceId, MemberId, WorkspaceId};
use keukentafel_server::SqliteStorage;
use serde::{Deserialize, Serialize};

/// Devices of the "many" scenario each get a practitioner with one case of their own.
pub const MAX_DEVICES: usize = 200;
/// Cases the offline day touches, and office edits (one per case).
const OFFLINE_CASES: usize = 20;
const OFFLINE_EDITS: usize = 50;
const OFFICE_EDITS: usize = 10;

/// `DATA/manifest.json`, as the protocol describes it.
#[derive(Serialize, Deserialize)]
pub struct Manifest {
    /// Number of cases.
    pub n: usize,
    /// Every case, in order.
    pub cases: Vec<CaseFile>,
    /// The device's offline edits.
    pub offline_day: Vec<Edit>,
    /// The office's online edits, to other cases.
    pub office: Vec<Edit>,
    /// The edit each device of the "many" scenario pushes every second.
    pub small_edit: SmallEdit,
}

/// One case of the dataset.
#[derive(Serialize, Deserialize)]
pub struct CaseFile {
    /// Relative to DATA.
    pub file: String,
    /// Map keys from the root to the notes text.
    pub notes_path: Vec<String>,
}

/// A splice into a case's notes.
#[derive(Serialize, Deserialize)]
pub struct Edit {
    /// Index into `cases`.
    pub case: usize,
    /// Character position (clamped to the text's length).
    pub pos: usize,
    /// Text inserted.
    pub insert: String,
}

/// The small edit of the "many" scenario.
#[derive(Serialize, Deserialize)]
pub struct SmallEdit {
    /// Text inserted.
    pub insert: String,
}

/// Our side's view of the dataset: `DATA/ours/seed.json` next to `DATA/ours/server.db`.
#[derive(Serialize, Deserialize)]
pub struct Seed {
    /// The team's workspace.
    pub workspace: WorkspaceId,
    /// The team lead: sees every case (the device of initial, reconnect, offline day).
    pub lead: MemberId,
    /// The office: assigned to the cases of the office edits.
    pub office: MemberId,
    /// Practitioner `i` is assigned to case `i` (devices of the "many" scenario).
    pub practitioners: Vec<MemberId>,
    /// Case ids in manifest order.
    pub cases: Vec<CaseId>,
    /// The conversation holding each case's notes.
    pub conversations: Vec<keukentafel_core::ConversationId>,
}

impl Seed {
    /// Reads the seed of a dataset.
    pub fn read(data: &Path) -> anyhow::Result<Seed> {
        let text = std::fs::read_to_string(data.join("ours/seed.json"))
            .context("dataset without ours/seed.json: run `gen` first")?;
        Ok(serde_json::from_str(&text)?)
    }
}

impl Manifest {
    /// Reads the manifest of a dataset.
    pub fn read(data: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(data.join("manifest.json"))
            .context("dataset without manifest.json: run `gen` first")?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// Cases of the offline day and of the office: disjoint, spread over the caseload, and
/// clear of the first cases that the "many" devices edit when N allows.
fn scenario_cases(n: usize) -> (Vec<usize>, Vec<usize>) {
    let step = n / OFFLINE_CASES;
    let offline = (0..OFFLINE_CASES).map(|k| k * step + step / 2).collect();
    let office = (0..OFFICE_EDITS).map(|k| k * step + step / 2 + 1).collect();
    (offline, office)
}

/// A position in the ~2,000 characters of notes, spread without a random source so that
/// every system and run applies the same edits.
fn spread(k: usize) -> usize {
    (k * 7_919 + 13) % 2_000
}

/// Writes the dataset of `n` cases to `out`.
pub fn generate(n: usize, out: &Path) -> anyhow::Result<()> {
    if n < 2 * OFFLINE_CASES {
        bail!("--n must be at least {}", 2 * OFFLINE_CASES);
    }
    if out.join("manifest.json").exists() || out.join("ours").exists() {
        bail!("{} already holds a dataset", out.display());
    }
    std::fs::create_dir_all(out.join("cases"))?;
    std::fs::create_dir_all(out.join("ours"))?;
    let mut storage = SqliteStorage::open(&out.join("ours/server.db"))?;
    let (workspace, _) = storage.create_workspace(
        "Wijkteam Bench",
        "Bench",
        NewMember {
            display_name: "Beheer".into(),
            role: Role::Admin,
            mandate: Mandate::default(),
        },
    )?;
    let lead = MemberId::random();
    let office = MemberId::random();
    let practitioners: Vec<MemberId> = (0..n.min(MAX_DEVICES))
        .map(|_| MemberId::random())
        .collect();
    storage.edit_workspace(&workspace, None, |doc, a, now| {
        doc.add_member(
            a,
            now,
            &lead,
            NewMember {
                display_name: "Teamleider".into(),
                role: Role::TeamLead,
                mandate: Mandate::default()
                    .with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(100_000)),
            },
        )?;
        doc.add_member(
            a,
            now,
            &office,
            NewMember {
                display_name: "Kantoor".into(),
                role: Role::Practitioner,
                mandate: Mandate::default(),
            },
        )?;
        for (i, p) in practitioners.iter().enumerate() {
            doc.add_member(
                a,
                now,
                p,
                NewMember {
                    display_name: format!("Medewerker {i}"),
                    role: Role::Practitioner,
                    mandate: Mandate::default(),
                },
            )?;
        }
        Ok(())
    })?;
    let ws: Workspace = storage
        .workspace(&workspace)?
        .context("workspace just created")?
        .workspace()
        .clone();
    let author = Author {
        member: lead.clone(),
        device: DeviceId::random(),
    };
    let (offline_cases, office_cases) = scenario_cases(n);
    let mut cases = Vec::with_capacity(n);
    let mut conversations = Vec::with_capacity(n);
    let mut files = Vec::with_capacity(n);
    // One transaction per batch: a disk sync per case would make N=5,000 take minutes.
    for chunk in (0..n).collect::<Vec<_>>().chunks(250) {
        let built = storage.immediate(|storage| {
            let mut built = Vec::with_capacity(chunk.len());
            for &i in chunk {
                let mut new = new_case(i);
                new.assigned = practitioners.get(i).into_iter().cloned().collect();
                if office_cases.contains(&i) {
                    new.assigned.push(office.clone());
                }
                if new.assigned.is_empty() {
                    new.assigned.push(lead.clone());
                }
                let (mut doc, conv) = realistic_case(&ws, &author, new)?;
                let changes: Vec<u8> = doc
                    .take_changes()
                    .into_iter()
                    .flat_map(|c| c.bytes)
                    .collect();
                storage.store_case(&workspace, &doc, &changes, &author.device)?;
                built.push((i, doc, conv));
            }
            Ok(built)
        })?;
        for (i, doc, conv) in built {
            let file = format!("cases/{i:05}.am");
            std::fs::write(out.join(&file), doc.save())?;
            files.push(CaseFile {
                file,
                notes_path: vec![
                    "conversations".into(),
                    conv.as_str().to_owned(),
                    "notes".into(),
                ],
            });
            cases.push(doc.id().clone());
            conversations.push(conv);
        }
    }
    let manifest = Manifest {
        n,
        cases: files,
        offline_day: (0..OFFLINE_EDITS)
            .map(|k| Edit {
                case: offline_cases[k % OFFLINE_CASES],
                pos: spread(k),
                insert: format!(" offline bewerking{k:02}"),
            })
            .collect(),
        office: office_cases
            .iter()
            .enumerate()
            .map(|(k, &case)| Edit {
                case,
                pos: spread(k + OFFLINE_EDITS),
                insert: format!(" kantoor bewerking{k:02}"),
            })
            .collect(),
        small_edit: SmallEdit { insert: "x".into() },
    };
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    let seed = Seed {
        workspace,
        lead,
        office,
        practitioners,
        cases,
        conversations,
    };
    std::fs::write(
        out.join("ours/seed.json"),
        serde_json::to_string_pretty(&seed)?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use automerge::ReadDoc;
    use keukentafel_core::sync::ServerStorage;

    use super::*;

    /// What every runner relies on: each case file is a plain Automerge document whose
    /// notes path leads to the ~2,000 characters of notes, our server holds the very same
    /// document, and the scenarios' edits touch the cases the protocol says.
    #[test]
    fn the_dataset_is_what_the_protocol_promises_every_runner() {
        let dir = tempfile::tempdir().expect("dir");
        let data = dir.path().join("data");
        generate(40, &data).expect("generate");
        let m = Manifest::read(&data).expect("manifest");
        let seed = Seed::read(&data).expect("seed");
        let storage = SqliteStorage::open(&data.join("ours/server.db")).expect("db");
        assert_eq!((m.n, m.cases.len(), seed.cases.len()), (40, 40, 40));
        for (case, id) in m.cases.iter().zip(&seed.cases) {
            let bytes = std::fs::read(data.join(&case.file)).expect("case file");
            let doc = automerge::Automerge::load(&bytes).expect("plain Automerge");
            let mut obj = automerge::ROOT;
            for key in &case.notes_path {
                obj = match doc.get(&obj, key.as_str()).expect("path") {
                    Some((automerge::Value::Object(_), id)) => id,
                    other => panic!("{key} leads to {other:?}"),
                };
            }
            let notes = doc.text(&obj).expect("notes are text");
            assert_eq!(notes.chars().count(), 40 * 52, "notes typed in 40 commits");
            assert!(doc.get_changes(&[]).len() >= 45, "the history is kept");
            let held = storage.case(id).expect("read").expect("server holds it");
            let ours = keukentafel_core::CaseDoc::load(&bytes).expect("a case document");
            assert_eq!(
                held.heads(),
                ours.heads(),
                "the server holds the same document"
            );
            assert_eq!(held.id(), id);
        }
        let offline: BTreeSet<_> = m.offline_day.iter().map(|e| e.case).collect();
        let office: BTreeSet<_> = m.office.iter().map(|e| e.case).collect();
        assert_eq!((m.offline_day.len(), offline.len()), (50, 20));
        assert_eq!((m.office.len(), office.len()), (10, 10));
        assert!(offline.is_disjoint(&office));
        assert!(
            m.offline_day
                .iter()
                .chain(&m.office)
                .all(|e| e.case < 40 && e.insert.chars().count() == 20)
        );
        assert!(
            generate(40, &data).is_err(),
            "an existing dataset is not overwritten"
        );
    }
}
