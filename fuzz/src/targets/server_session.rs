//! A [`ServerSession`] over [`MemoryStorage`] holding the fixture's workspace and case: the
//! input is a few frames (hello, pushes, acknowledgements) from the fixture's device.
//! Pushes carry real Automerge changes, so mutations reach the change decoder and the
//! rulebook. Afterwards every document the server stored must still load: a push that
//! stored something unreadable would lock the team out of it.

use arbitrary::Unstructured;
use keukentafel_core::sync::{
    ClientMessage, DocRef, MemoryStorage, Peer, ServerSession, ServerStorage,
};
use keukentafel_core::{CaseDoc, Limits, WorkspaceDoc};

use super::Target;
use crate::fixture::Fixture;
use crate::framing;
use crate::generate::{Pool, client_message, mutate_client_frame, mutate_some_frame};
use crate::mutate::Rng;

/// The server's side of sync against hostile frames.
pub struct ServerSessionTarget {
    workspace: WorkspaceDoc,
    case: CaseDoc,
    case_changes: Vec<u8>,
    peer: Peer,
}

impl ServerSessionTarget {
    /// Set up against the fixture.
    pub fn new(fixture: &Fixture) -> anyhow::Result<Self> {
        let case = fixture.case_doc()?;
        Ok(ServerSessionTarget {
            workspace: fixture.workspace_doc()?,
            case_changes: case.changes_since(&[]),
            case,
            peer: fixture.peer.clone(),
        })
    }

    fn storage(&self) -> MemoryStorage {
        let mut s = MemoryStorage::with_workspace(&self.workspace);
        if let Err(e) = s.store_case(
            &self.peer.workspace,
            &self.case,
            &self.case_changes,
            &self.peer.device,
        ) {
            panic!("fixture case cannot be stored: {e}");
        }
        s
    }
}

/// Every document in the workspace's feed loads from storage as its kind.
pub(crate) fn assert_stored_documents_load(storage: &impl ServerStorage, peer: &Peer) {
    let feed = match storage.feed_since(&peer.workspace, 0) {
        Ok(f) => f,
        Err(e) => panic!("the feed cannot be read: {e}"),
    };
    for entry in feed {
        let loaded = match &entry.doc {
            DocRef::Workspace(id) => storage.workspace(id).map(|d| d.is_some()),
            DocRef::Case(id) => storage.case(id).map(|d| d.is_some()),
        };
        match loaded {
            Ok(true) => {}
            Ok(false) => panic!("{} is in the feed but not stored", entry.doc),
            Err(e) => panic!("{} was stored but does not load: {e}", entry.doc),
        }
    }
}

impl Target for ServerSessionTarget {
    fn run(&mut self, data: &[u8]) {
        let mut storage = self.storage();
        let mut session = ServerSession::new(self.peer.clone(), Limits::default(), &mut storage)
            .expect("a fresh memory storage opens a session");
        for frame in framing::split(data) {
            // An error ends the connection; the server itself lives on.
            if session.receive(&mut storage, frame).is_err() {
                break;
            }
        }
        assert_stored_documents_load(&storage, &self.peer);
    }

    fn generate(
        &self,
        u: &mut Unstructured<'_>,
        pool: &Pool,
    ) -> arbitrary::Result<Option<Vec<u8>>> {
        let mut frames = vec![
            ClientMessage::Hello {
                cursor: 0,
                lacking: vec![],
            }
            .encode(),
        ];
        for _ in 0..u.int_in_range(1..=4)? {
            frames.push(client_message(u, pool)?.encode());
        }
        Ok(Some(framing::join(&frames)))
    }

    fn mutate_inside(&self, rng: &mut Rng, input: &[u8], pool: &Pool) -> Option<Vec<u8>> {
        mutate_some_frame(rng, input, pool, mutate_client_frame)
    }

    fn frames<'a>(&self, data: &'a [u8]) -> Vec<&'a [u8]> {
        framing::split(data)
    }
}
