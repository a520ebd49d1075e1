//! The documents the sync targets run against: a workspace and a case, and the device that
//! syncs them. Committed in `fuzz/fixture/` because the corpus holds real Automerge changes
//! that name these documents and this device's actor; `seed-corpus` writes both together.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use keukentafel_core::sync::Peer;
use keukentafel_core::{Author, CaseDoc, CaseId, DeviceId, MemberId, WorkspaceDoc, WorkspaceId};

/// The saved documents and the syncing device.
pub struct Fixture {
    /// The workspace document, saved.
    pub workspace: Vec<u8>,
    /// The case, saved; assigned to the peer's member.
    pub case: Vec<u8>,
    /// The device that syncs: a practitioner's phone.
    pub peer: Peer,
}

impl Fixture {
    /// Where the fixture is committed.
    pub fn dir() -> PathBuf {
        crate::crate_dir().join("fixture")
    }

    /// Reads the committed fixture.
    pub fn load() -> anyhow::Result<Fixture> {
        Self::load_from(&Self::dir())
    }

    /// Reads a fixture from `dir`.
    pub fn load_from(dir: &Path) -> anyhow::Result<Fixture> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).with_context(|| format!("fixture file {name}"))
        };
        let peer = String::from_utf8(read("peer")?)?;
        let field = |key: &str| {
            peer.lines()
                .find_map(|l| l.strip_prefix(key).map(str::trim))
                .with_context(|| format!("fixture peer lacks {key}"))
        };
        Ok(Fixture {
            workspace: read("workspace")?,
            case: read("case")?,
            peer: Peer {
                workspace: WorkspaceId::parse(field("workspace ")?)?,
                member: MemberId::parse(field("member ")?)?,
                device: DeviceId::parse(field("device ")?)?,
            },
        })
    }

    /// Writes the fixture to `dir`.
    pub fn save_to(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("workspace"), &self.workspace)?;
        std::fs::write(dir.join("case"), &self.case)?;
        std::fs::write(
            dir.join("peer"),
            format!(
                "workspace {}\nmember {}\ndevice {}\n",
                self.peer.workspace, self.peer.member, self.peer.device
            ),
        )?;
        Ok(())
    }

    /// The workspace, loaded.
    pub fn workspace_doc(&self) -> anyhow::Result<WorkspaceDoc> {
        Ok(WorkspaceDoc::load(&self.workspace)?)
    }

    /// The case, loaded.
    pub fn case_doc(&self) -> anyhow::Result<CaseDoc> {
        Ok(CaseDoc::load(&self.case)?)
    }

    /// The case's id.
    pub fn case_id(&self) -> anyhow::Result<CaseId> {
        Ok(self.case_doc()?.id().clone())
    }

    /// The peer as an author of changes.
    pub fn author(&self) -> Author {
        Author {
            member: self.peer.member.clone(),
            device: self.peer.device.clone(),
        }
    }
}
