//! An in-memory [`ServerStorage`], for tests and simulations: no durability.

use std::collections::{BTreeMap, BTreeSet};

use super::server::{FeedEntry, ServerStorage};
use super::wire::{DocRef, Heads};
use crate::doc::{CaseDoc, WorkspaceDoc};
use crate::error::Result;
use crate::ids::{CaseId, DeviceId, MemberId, WorkspaceId};

#[derive(Debug)]
struct Stored {
    saved: Vec<u8>,
    heads: Heads,
}

/// Documents, feed and device holdings in memory.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    docs: BTreeMap<DocRef, Stored>,
    assigned: BTreeMap<CaseId, (WorkspaceId, BTreeSet<MemberId>)>,
    feed: BTreeMap<WorkspaceId, Vec<FeedEntry>>,
    next_seq: u64,
    device_docs: BTreeMap<DeviceId, BTreeSet<DocRef>>,
    sent: BTreeMap<DeviceId, BTreeMap<DocRef, u64>>,
    sessions: BTreeMap<DeviceId, u64>,
}

impl MemoryStorage {
    /// An empty storage holding `workspace` (created elsewhere, e.g. by an admin tool).
    pub fn with_workspace(workspace: &WorkspaceDoc) -> Self {
        let mut s = MemoryStorage::default();
        s.put(
            DocRef::Workspace(workspace.workspace().id.clone()),
            workspace.save(),
            &workspace.heads(),
        );
        s
    }

    fn put(&mut self, doc: DocRef, saved: Vec<u8>, heads: &[crate::ChangeRef]) {
        self.docs.insert(
            doc,
            Stored {
                saved,
                heads: Heads::from_refs(heads),
            },
        );
    }

    fn append(
        &mut self,
        workspace: &WorkspaceId,
        doc: DocRef,
        changes: &[u8],
        device: &DeviceId,
    ) -> u64 {
        self.next_seq += 1;
        self.feed
            .entry(workspace.clone())
            .or_default()
            .push(FeedEntry {
                seq: self.next_seq,
                doc,
                device: device.clone(),
                changes: changes.to_vec(),
            });
        self.next_seq
    }
}

impl ServerStorage for MemoryStorage {
    fn workspace(&self, id: &WorkspaceId) -> Result<Option<WorkspaceDoc>> {
        self.docs
            .get(&DocRef::Workspace(id.clone()))
            .map(|s| WorkspaceDoc::load(&s.saved))
            .transpose()
    }

    fn case(&self, id: &CaseId) -> Result<Option<CaseDoc>> {
        self.docs
            .get(&DocRef::Case(id.clone()))
            .map(|s| CaseDoc::load(&s.saved))
            .transpose()
    }

    fn document(&self, doc: &DocRef) -> Result<Option<(Vec<u8>, Heads)>> {
        Ok(self
            .docs
            .get(doc)
            .map(|s| (s.saved.clone(), s.heads.clone())))
    }

    fn heads(&self, doc: &DocRef) -> Result<Heads> {
        Ok(self
            .docs
            .get(doc)
            .map(|s| s.heads.clone())
            .unwrap_or_default())
    }

    fn store_case(
        &mut self,
        workspace: &WorkspaceId,
        doc: &CaseDoc,
        changes: &[u8],
        device: &DeviceId,
    ) -> Result<u64> {
        let id = doc.id().clone();
        self.put(DocRef::Case(id.clone()), doc.save(), &doc.heads());
        self.assigned
            .insert(id.clone(), (workspace.clone(), doc.case().assigned.clone()));
        Ok(self.append(workspace, DocRef::Case(id), changes, device))
    }

    fn store_workspace(
        &mut self,
        doc: &WorkspaceDoc,
        changes: &[u8],
        device: &DeviceId,
    ) -> Result<u64> {
        let id = doc.workspace().id.clone();
        self.put(DocRef::Workspace(id.clone()), doc.save(), &doc.heads());
        Ok(self.append(&id, DocRef::Workspace(id.clone()), changes, device))
    }

    fn feed_since(&self, workspace: &WorkspaceId, cursor: u64) -> Result<Vec<FeedEntry>> {
        Ok(self
            .feed
            .get(workspace)
            .map(|f| f.iter().filter(|e| e.seq > cursor).cloned().collect())
            .unwrap_or_default())
    }

    fn feed_head(&self, workspace: &WorkspaceId) -> Result<u64> {
        Ok(self
            .feed
            .get(workspace)
            .and_then(|f| f.last())
            .map_or(0, |e| e.seq))
    }

    fn visible_cases(
        &self,
        workspace: &WorkspaceId,
        member: &MemberId,
        all: bool,
    ) -> Result<BTreeSet<CaseId>> {
        Ok(self
            .assigned
            .iter()
            .filter(|(_, (ws, who))| ws == workspace && (all || who.contains(member)))
            .map(|(id, _)| id.clone())
            .collect())
    }

    fn device_docs(&self, device: &DeviceId) -> Result<BTreeSet<DocRef>> {
        Ok(self.device_docs.get(device).cloned().unwrap_or_default())
    }

    fn update_device_docs(
        &mut self,
        device: &DeviceId,
        added: &[DocRef],
        removed: &[DocRef],
    ) -> Result<()> {
        let docs = self.device_docs.entry(device.clone()).or_default();
        docs.extend(added.iter().cloned());
        let sent = self.sent.entry(device.clone()).or_default();
        for d in removed {
            docs.remove(d);
            sent.remove(d);
        }
        Ok(())
    }

    fn record_sent(&mut self, device: &DeviceId, cursor: u64, docs: &[DocRef]) -> Result<()> {
        let sent = self.sent.entry(device.clone()).or_default();
        for d in docs {
            sent.insert(d.clone(), cursor);
        }
        Ok(())
    }

    fn sent_docs(&self, device: &DeviceId) -> Result<BTreeSet<DocRef>> {
        Ok(self
            .sent
            .get(device)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default())
    }

    fn open_session(&mut self, device: &DeviceId) -> Result<u64> {
        let n = self.sessions.entry(device.clone()).or_default();
        *n += 1;
        Ok(*n)
    }

    fn current_session(&self, device: &DeviceId) -> Result<u64> {
        Ok(self.sessions.get(device).copied().unwrap_or(0))
    }

    fn settle_sent(&mut self, device: &DeviceId, cursor: u64) -> Result<()> {
        let sent = self.sent.entry(device.clone()).or_default();
        let held: Vec<DocRef> = sent
            .iter()
            .filter(|(_, at)| **at <= cursor)
            .map(|(d, _)| d.clone())
            .collect();
        for d in &held {
            sent.remove(d);
        }
        self.device_docs
            .entry(device.clone())
            .or_default()
            .extend(held);
        Ok(())
    }
}
