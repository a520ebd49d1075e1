//! The server's side of sync: one session per connected device.

use std::collections::{BTreeMap, BTreeSet};

use super::wire::{ClientMessage, DocChanges, DocRef, DocUpdate, Heads, Payload, ServerMessage};
use crate::context::Author;
use crate::doc::{CaseDoc, WorkspaceDoc};
use crate::error::{Error, Result};
use crate::ids::{CaseId, DeviceId, MemberId, WorkspaceId};
use crate::model::{Role, Workspace};
use crate::untrusted::Limits;

/// A document's changes larger than this travel as the whole compacted document instead.
const FULL_AFTER_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of document data per [`ServerMessage::Updates`] before the rest goes in a next one.
const PAGE_BYTES: usize = 1024 * 1024;

/// One stored change batch in a workspace's feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEntry {
    /// Its position in the feed; strictly increasing.
    pub seq: u64,
    /// The document.
    pub doc: DocRef,
    /// The device that pushed it.
    pub device: DeviceId,
    /// The encoded changes.
    pub changes: Vec<u8>,
}

/// Where the server keeps documents, the feed and what each device holds. Every write is
/// durable when it returns. The SQLite store and any later one (PostgreSQL for several
/// server instances) implement this one trait.
pub trait ServerStorage {
    /// The workspace document.
    fn workspace(&self, id: &WorkspaceId) -> Result<Option<WorkspaceDoc>>;
    /// The workspace's state (members, roles, mandates): what every push and answer is
    /// judged against. A store may cache it while the document is unchanged.
    fn workspace_state(&self, id: &WorkspaceId) -> Result<Option<Workspace>> {
        Ok(self.workspace(id)?.map(|d| d.workspace().clone()))
    }
    /// A case document.
    fn case(&self, id: &CaseId) -> Result<Option<CaseDoc>>;
    /// A document, compacted, with its heads: what a device that lacks it receives.
    fn document(&self, doc: &DocRef) -> Result<Option<(Vec<u8>, Heads)>>;
    /// The heads of a document.
    fn heads(&self, doc: &DocRef) -> Result<Heads>;
    /// Stores accepted changes of a case (`doc` is the case with them), appending them to
    /// the workspace's feed; returns their feed position.
    fn store_case(
        &mut self,
        workspace: &WorkspaceId,
        doc: &CaseDoc,
        changes: &[u8],
        device: &DeviceId,
    ) -> Result<u64>;
    /// Stores accepted changes of the workspace document likewise.
    fn store_workspace(
        &mut self,
        doc: &WorkspaceDoc,
        changes: &[u8],
        device: &DeviceId,
    ) -> Result<u64>;
    /// The feed of a workspace after `cursor`, oldest first.
    fn feed_since(&self, workspace: &WorkspaceId, cursor: u64) -> Result<Vec<FeedEntry>>;
    /// The last position of a workspace's feed (0 when empty).
    fn feed_head(&self, workspace: &WorkspaceId) -> Result<u64>;
    /// The workspace's cases a member may see: all of them with `all`, else those the
    /// member is assigned to.
    fn visible_cases(
        &self,
        workspace: &WorkspaceId,
        member: &MemberId,
        all: bool,
    ) -> Result<BTreeSet<CaseId>>;
    /// The documents a device has acknowledged holding.
    fn device_docs(&self, device: &DeviceId) -> Result<BTreeSet<DocRef>>;
    /// Records documents a device acknowledged receiving or erasing (erased ones are no
    /// longer sent either).
    fn update_device_docs(
        &mut self,
        device: &DeviceId,
        added: &[DocRef],
        removed: &[DocRef],
    ) -> Result<()>;
    /// Records documents sent whole to a device in an answer that brings it to `cursor`:
    /// it may hold them before its acknowledgement arrives, or even if it never does.
    fn record_sent(&mut self, device: &DeviceId, cursor: u64, docs: &[DocRef]) -> Result<()>;
    /// Documents sent to a device and not yet known to be held.
    fn sent_docs(&self, device: &DeviceId) -> Result<BTreeSet<DocRef>>;
    /// The device has taken in everything up to `cursor`: documents sent in answers up to
    /// there are held.
    fn settle_sent(&mut self, device: &DeviceId, cursor: u64) -> Result<()>;
    /// Starts a new sync session of a device (a connection accepted) and returns its
    /// number; every older session of the device is superseded from now on.
    fn open_session(&mut self, device: &DeviceId) -> Result<u64>;
    /// The number of the device's newest session (0 before the first).
    fn current_session(&self, device: &DeviceId) -> Result<u64>;
}

/// An authenticated device on a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The device.
    pub device: DeviceId,
    /// Its member.
    pub member: MemberId,
    /// Their workspace.
    pub workspace: WorkspaceId,
}

/// Sent, not yet acknowledged: what the device holds once it acknowledges `cursor`.
#[derive(Debug)]
struct InFlight {
    cursor: u64,
    added: Vec<DocRef>,
    removed: Vec<DocRef>,
}

/// The server's state for one connected device.
#[derive(Debug)]
pub struct ServerSession {
    peer: Peer,
    limits: Limits,
    /// The feed position the device holds (after its hello, and each acknowledgement).
    held: Option<u64>,
    /// This session's number among the device's connections: a newer one supersedes it.
    number: u64,
    in_flight: Option<InFlight>,
    /// The documents the device holds and its member's role, as of the last answer: to
    /// tell which stored changes concern it without asking storage.
    holds: BTreeSet<DocRef>,
    role: Option<Role>,
}

const SUPERSEDED: &str = "this device opened a newer connection";

fn stop(reason: &str) -> Vec<ServerMessage> {
    vec![ServerMessage::Stop {
        reason: reason.to_owned(),
        erase: false,
    }]
}

impl ServerSession {
    /// A session for an authenticated device whose connection was just accepted. It
    /// supersedes every older session of the device: frames still arriving on a connection
    /// the device abandoned (its hello too) are answered with a stop and never act after
    /// this one began. Connections are numbered as they are accepted, not by when their
    /// first frame arrives.
    pub fn new(peer: Peer, limits: Limits, storage: &mut impl ServerStorage) -> Result<Self> {
        let number = storage.open_session(&peer.device)?;
        Ok(ServerSession {
            peer,
            limits,
            held: None,
            number,
            in_flight: None,
            holds: BTreeSet::new(),
            role: None,
        })
    }

    /// The device on this session.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Handles one frame from the device. A frame that does not decode ends the session
    /// with a [`ServerMessage::Stop`]; nothing of it is stored.
    pub fn receive(
        &mut self,
        storage: &mut impl ServerStorage,
        frame: &[u8],
    ) -> Result<Vec<ServerMessage>> {
        let msg = match ClientMessage::decode(frame) {
            Ok(m) => m,
            Err(e) => return Ok(stop(&e.to_string())),
        };
        if self.superseded(storage)? {
            return Ok(stop(SUPERSEDED));
        }
        match msg {
            ClientMessage::Hello { cursor, lacking } => {
                if lacking.len() > 100_000 {
                    return Ok(stop("too many documents listed"));
                }
                storage.update_device_docs(&self.peer.device, &[], &lacking)?;
                // A device's cursor moves only once it holds every document of the answer:
                // an acknowledgement lost on the way changes nothing of what it holds.
                storage.settle_sent(&self.peer.device, cursor)?;
                self.held = Some(cursor);
                self.in_flight = None;
                // Known from the start, so that live changes reach a team lead even when
                // the hello itself had nothing to send.
                self.role = storage
                    .workspace_state(&self.peer.workspace)?
                    .and_then(|ws| ws.member(&self.peer.member).map(|m| m.role));
                if self.role.is_none() {
                    return Ok(vec![ServerMessage::Stop {
                        reason: "no longer a member of this team".into(),
                        erase: true,
                    }]);
                }
                self.updates(storage, cursor, !lacking.is_empty())
            }
            ClientMessage::Ack { cursor } => {
                match self.in_flight.take() {
                    Some(f) if f.cursor == cursor => {
                        storage.update_device_docs(&self.peer.device, &f.added, &f.removed)?;
                        storage.settle_sent(&self.peer.device, cursor)?;
                        self.holds.extend(f.added.iter().cloned());
                        for d in &f.removed {
                            self.holds.remove(d);
                        }
                        self.held = Some(cursor);
                    }
                    Some(f) => {
                        self.in_flight = Some(f);
                        return Ok(stop("acknowledged a cursor that was not sent"));
                    }
                    None => return Ok(stop("acknowledged nothing in flight")),
                }
                self.poll(storage)
            }
            ClientMessage::Push { batch, docs } => {
                if self.held.is_none() {
                    return Ok(stop("push before hello"));
                }
                docs.into_iter()
                    .map(|d| self.ingest(storage, batch, d))
                    .collect()
            }
        }
    }

    /// Whether a change just stored in `doc` (a case assigned to `assigned`) may concern this
    /// device: the driver polls only those sessions, so one push does not wake every
    /// device of the team.
    pub fn cares_about(&self, doc: &DocRef, assigned: &BTreeSet<MemberId>) -> bool {
        matches!(doc, DocRef::Workspace(_))
            || self.holds.contains(doc)
            || assigned.contains(&self.peer.member)
            || self.role == Some(Role::TeamLead)
    }

    /// Sends what the feed gained since the device's last acknowledgement, if the device is
    /// not still taking in an earlier answer. The driver calls this when another session
    /// stored changes in the same workspace (live push).
    pub fn poll(&mut self, storage: &mut impl ServerStorage) -> Result<Vec<ServerMessage>> {
        if self.superseded(storage)? {
            return Ok(stop(SUPERSEDED));
        }
        match (self.held, &self.in_flight) {
            (Some(cursor), None) if storage.feed_head(&self.peer.workspace)? > cursor => {
                self.updates(storage, cursor, false)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// What the device lacks after `cursor`. With `recheck`, its holdings are compared with
    /// what it may see even when the feed has not moved.
    fn updates(
        &mut self,
        storage: &mut impl ServerStorage,
        cursor: u64,
        recheck: bool,
    ) -> Result<Vec<ServerMessage>> {
        let ws_id = self.peer.workspace.clone();
        let head = storage.feed_head(&ws_id)?;
        let have = storage.device_docs(&self.peer.device)?;
        // Sent whole but not acknowledged: the device may hold them, so they are erased
        // from it too when it may no longer see them.
        let maybe = storage.sent_docs(&self.peer.device)?;
        self.holds = have.union(&maybe).cloned().collect();
        if head == cursor && !have.is_empty() && !recheck {
            return Ok(vec![ServerMessage::UpToDate { cursor }]);
        }
        let ws = storage.workspace_state(&ws_id)?.ok_or(Error::NoWorkspace)?;
        let Some(member) = ws.member(&self.peer.member) else {
            return Ok(vec![ServerMessage::Stop {
                reason: "no longer a member of this team".into(),
                erase: true,
            }]);
        };
        self.role = Some(member.role);
        let mut visible: BTreeSet<DocRef> = match member.role {
            Role::Admin => BTreeSet::new(),
            role => storage
                .visible_cases(&ws_id, &self.peer.member, role == Role::TeamLead)?
                .into_iter()
                .map(DocRef::Case)
                .collect(),
        };
        visible.insert(DocRef::Workspace(ws_id.clone()));
        let added: Vec<DocRef> = visible.difference(&have).cloned().collect();
        let removed: Vec<DocRef> = self.holds.difference(&visible).cloned().collect();

        let mut changes: BTreeMap<DocRef, Vec<u8>> = BTreeMap::new();
        let mut order = Vec::new();
        // A device that holds nothing gets every document whole: the feed is not read.
        let feed = if have.is_empty() {
            Vec::new()
        } else {
            storage.feed_since(&ws_id, cursor)?
        };
        for entry in feed {
            if entry.device == self.peer.device
                || !have.contains(&entry.doc)
                || !visible.contains(&entry.doc)
            {
                continue;
            }
            let bytes = changes.entry(entry.doc.clone()).or_insert_with(|| {
                order.push(entry.doc.clone());
                Vec::new()
            });
            bytes.extend_from_slice(&entry.changes);
        }

        let mut updates = Vec::new();
        for doc in &added {
            if let Some((bytes, heads)) = storage.document(doc)? {
                updates.push(DocUpdate {
                    doc: doc.clone(),
                    payload: Payload::Full(bytes),
                    heads,
                });
            }
        }
        for doc in order {
            let bytes = changes.remove(&doc).unwrap_or_default();
            // Past this size the compacted document is smaller, and within every limit.
            let payload = if bytes.len() > FULL_AFTER_BYTES {
                match storage.document(&doc)? {
                    Some((full, _)) => Payload::Full(full),
                    None => continue,
                }
            } else {
                Payload::Changes(bytes)
            };
            let heads = storage.heads(&doc)?;
            updates.push(DocUpdate {
                doc,
                payload,
                heads,
            });
        }
        for doc in &removed {
            updates.push(DocUpdate {
                doc: doc.clone(),
                payload: Payload::Remove,
                heads: Heads::default(),
            });
        }
        storage.record_sent(&self.peer.device, head, &added)?;
        self.in_flight = Some(InFlight {
            cursor: head,
            added,
            removed,
        });
        Ok(paginate(updates, cursor, head))
    }

    /// Whether the device opened a newer session since this one's hello. Frames still on
    /// the way on an abandoned connection must not act after the newer session began: a
    /// push from there could bring back a case the device has since set aside.
    fn superseded(&self, storage: &impl ServerStorage) -> Result<bool> {
        Ok(storage.current_session(&self.peer.device)? != self.number)
    }

    /// Whether this device's member may see and write `case` now: a case of this team
    /// assigned to them, or any case of the team for a team lead.
    fn may_work_on(&self, ws: &Workspace, case: &crate::model::Case) -> bool {
        let team_lead = ws
            .member(&self.peer.member)
            .is_some_and(|m| m.role == Role::TeamLead);
        case.workspace == self.peer.workspace
            && (team_lead || case.assigned.contains(&self.peer.member))
    }

    /// Whether the member may see a document as the server holds it now. Judged on
    /// storage, not on this session's view: another connection of the same device may
    /// have stored the case meanwhile.
    fn may_see(&self, storage: &impl ServerStorage, doc: &DocRef) -> Result<bool> {
        Ok(match doc {
            DocRef::Workspace(id) => *id == self.peer.workspace,
            DocRef::Case(id) => match (
                storage.workspace_state(&self.peer.workspace)?,
                storage.case(id)?,
            ) {
                (Some(ws), Some(case)) => self.may_work_on(&ws, case.case()),
                _ => false,
            },
        })
    }

    fn ingest(
        &mut self,
        storage: &mut impl ServerStorage,
        batch: u64,
        d: DocChanges,
    ) -> Result<ServerMessage> {
        let author = Author {
            member: self.peer.member.clone(),
            device: self.peer.device.clone(),
        };
        let ws_id = self.peer.workspace.clone();
        let refused = |e: Error, heads: Heads| ServerMessage::Refused {
            batch,
            doc: d.doc.clone(),
            reason: e.to_string(),
            heads,
        };
        let outcome = match &d.doc {
            DocRef::Workspace(id) if *id == ws_id => storage
                .workspace(&ws_id)?
                .ok_or(Error::NoWorkspace)?
                .ingest(&d.changes, &author, &self.limits)
                .and_then(|doc| {
                    let heads = Heads::from_refs(&doc.heads());
                    storage.store_workspace(&doc, &d.changes, &self.peer.device)?;
                    Ok(heads)
                }),
            DocRef::Case(id) => {
                let ws = storage.workspace_state(&ws_id)?.ok_or(Error::NoWorkspace)?;
                let existing = storage.case(id)?;
                // Writing into an existing case needs the right to it now, not only when
                // the change was made: another team's case, or one taken off this member,
                // is refused whole.
                if let Some(e) = &existing
                    && !self.may_work_on(&ws, e.case())
                {
                    return Ok(refused(
                        crate::rules::RuleViolation::NotAuthorized {
                            action: crate::rules::Action::EditCase,
                        }
                        .into(),
                        Heads::default(),
                    ));
                }
                let before = existing.as_ref().map(CaseDoc::heads).unwrap_or_default();
                CaseDoc::ingest(existing.as_ref(), &d.changes, &author, &ws, &self.limits).and_then(
                    |doc| {
                        // The document must be the case named, of this team: never a way
                        // to write over another document under a borrowed id.
                        if doc.id() != id || doc.case().workspace != ws_id {
                            return Err(
                                crate::untrusted::wrong_kind("case named in the push").into()
                            );
                        }
                        let heads = doc.heads();
                        if heads != before {
                            // Only what is new goes into the feed: a re-sent push adds nothing.
                            let new = doc.changes_since(&before);
                            storage.store_case(&ws_id, &doc, &new, &self.peer.device)?;
                        }
                        Ok(Heads::from_refs(&heads))
                    },
                )
            }
            DocRef::Workspace(_) => {
                Err(crate::untrusted::wrong_kind("document of this workspace").into())
            }
        };
        Ok(match outcome {
            Ok(heads) => {
                // The device holds what it pushed: recorded, so that it is told to erase
                // the case once it may no longer see it (a case it opened, then handed
                // over), and is never sent back its own case whole.
                if self.holds.insert(d.doc.clone()) {
                    storage.update_device_docs(
                        &self.peer.device,
                        std::slice::from_ref(&d.doc),
                        &[],
                    )?;
                }
                ServerMessage::Accepted {
                    batch,
                    doc: d.doc.clone(),
                    heads,
                }
            }
            Err(e @ (Error::Rule(_) | Error::Untrusted(_) | Error::Malformed { .. })) => {
                // The device's replica goes back to what the server holds, if it may see it.
                let heads = if self.may_see(storage, &d.doc)? {
                    storage.heads(&d.doc)?
                } else {
                    Heads::default()
                };
                refused(e, heads)
            }
            Err(e) => return Err(e),
        })
    }
}

/// Splits updates over messages of about [`PAGE_BYTES`]; only the last carries `head`.
fn paginate(updates: Vec<DocUpdate>, cursor: u64, head: u64) -> Vec<ServerMessage> {
    let mut pages: Vec<Vec<DocUpdate>> = vec![Vec::new()];
    let mut size = 0;
    for u in updates {
        let len = match &u.payload {
            Payload::Full(b) | Payload::Changes(b) => b.len(),
            Payload::Remove => 0,
        };
        if size + len > PAGE_BYTES && pages.last().is_some_and(|p| !p.is_empty()) {
            pages.push(Vec::new());
            size = 0;
        }
        size += len;
        if let Some(page) = pages.last_mut() {
            page.push(u);
        }
    }
    let last = pages.len() - 1;
    pages
        .into_iter()
        .enumerate()
        .map(|(i, docs)| ServerMessage::Updates {
            cursor: if i == last { head } else { cursor },
            docs,
            more: i != last,
        })
        .collect()
}
