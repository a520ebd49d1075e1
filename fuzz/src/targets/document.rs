//! Documents and changes from elsewhere: `CaseDoc::load`, `WorkspaceDoc::load`,
//! `apply_remote` and the server's `ingest`. The first byte picks the entry point, the rest
//! is the untrusted bytes. Whatever is accepted must save and load again (the server and
//! the device store what they accept as a saved document) and read its history.

use keukentafel_core::model::Workspace;
use keukentafel_core::{Author, CaseDoc, Limits, WorkspaceDoc};

use super::Target;
use crate::fixture::Fixture;
use crate::generate::{Pool, mutate_automerge};
use crate::mutate::Rng;

/// The entry points, by the input's first byte (modulo their number).
pub const MODES: [&str; 7] = [
    "case load",
    "workspace load",
    "case apply_remote",
    "case ingest (existing)",
    "case ingest (new)",
    "workspace ingest",
    "workspace apply_remote",
];

/// Untrusted document and change bytes.
pub struct DocumentTarget {
    fixture_case: Vec<u8>,
    fixture_workspace: Vec<u8>,
    case: CaseDoc,
    workspace_doc: WorkspaceDoc,
    workspace: Workspace,
    author: Author,
}

impl DocumentTarget {
    /// Set up against the fixture.
    pub fn new(fixture: &Fixture) -> anyhow::Result<Self> {
        let workspace_doc = fixture.workspace_doc()?;
        Ok(DocumentTarget {
            fixture_case: fixture.case.clone(),
            fixture_workspace: fixture.workspace.clone(),
            case: fixture.case_doc()?,
            workspace: workspace_doc.workspace().clone(),
            workspace_doc,
            author: fixture.author(),
        })
    }
}

fn case_survives(doc: &CaseDoc) {
    let _ = doc.history();
    let _ = doc.conflicts();
    if let Err(e) = CaseDoc::load(&doc.save()) {
        panic!("an accepted case does not load once saved: {e}");
    }
}

fn workspace_survives(doc: &WorkspaceDoc) {
    if let Err(e) = WorkspaceDoc::load(&doc.save()) {
        panic!("an accepted workspace does not load once saved: {e}");
    }
}

impl Target for DocumentTarget {
    fn mutate_inside(&self, rng: &mut Rng, input: &[u8], pool: &Pool) -> Option<Vec<u8>> {
        let (mode, bytes) = input.split_first()?;
        Some([vec![*mode], mutate_automerge(rng, bytes, pool)].concat())
    }

    fn run(&mut self, data: &[u8]) {
        let Some((mode, bytes)) = data.split_first() else {
            return;
        };
        let limits = Limits::default();
        match usize::from(*mode) % MODES.len() {
            0 => {
                if let Ok(d) = CaseDoc::load(bytes) {
                    case_survives(&d);
                }
            }
            1 => {
                if let Ok(d) = WorkspaceDoc::load(bytes) {
                    workspace_survives(&d);
                }
            }
            2 => {
                // A fresh replica: apply_remote changes the one it is given.
                let Ok(mut d) = CaseDoc::load(&self.fixture_case) else {
                    panic!("the fixture case does not load");
                };
                if let Ok(true) = d.apply_remote(bytes, &limits) {
                    case_survives(&d);
                }
            }
            3 | 4 => {
                let existing = (*mode % 7 == 3).then_some(&self.case);
                if let Ok(d) =
                    CaseDoc::ingest(existing, bytes, &self.author, &self.workspace, &limits)
                {
                    case_survives(&d);
                }
            }
            5 => {
                if let Ok(d) = self.workspace_doc.ingest(bytes, &self.author, &limits) {
                    workspace_survives(&d);
                }
            }
            _ => {
                let Ok(mut d) = WorkspaceDoc::load(&self.fixture_workspace) else {
                    panic!("the fixture workspace does not load");
                };
                if let Ok(true) = d.apply_remote(bytes, &limits) {
                    workspace_survives(&d);
                }
            }
        }
    }
}
