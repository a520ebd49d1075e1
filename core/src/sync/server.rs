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
    /// Records documents a device acknowledged receiving or erasing.
    fn update_device_docs(
        &mut self,
        device: &DeviceId,
        added: &[DocRef],
        removed: &[DocRef],
    ) -> Result<()>;
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
    in_flight: Option<InFlight>,
    /// The documents the device holds and its member's role, as of the last answer: to
    /// tell which stored changes concern it without asking storage.
    holds: BTreeSet<DocRef>,
    role: Option<Role>,
}

fn stop(reason: &str) -> Vec<ServerMessage> {
    vec![ServerMessage::Stop {
        reason: reason.to_owned(),
        erase: false,
    }]
}

impl ServerSession {
    /// A session for an authenticated device.
    pub fn new(peer: Peer, limits: Limits) -> Self {
        ServerSession {
            peer,
            limits,
            held: None,
            in_flight: None,
            holds: BTreeSet::new(),
            role: None,
        }
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
        match msg {
            ClientMessage::Hello { cursor, lacking } => {
                if lacking.len() > 100_000 {
                    return Ok(stop("too many documents listed"));
                }
                storage.update_device_docs(&self.peer.device, &[], &lacking)?;
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
        self.holds.clone_from(&have);
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
        let removed: Vec<DocRef> = have.difference(&visible).cloned().collect();

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
        self.in_flight = Some(InFlight {
            cursor: head,
            added,
            removed,
        });
        Ok(paginate(updates, cursor, head))
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
                if let Some(e) = &existing {
                    let team_lead = ws
                        .member(&self.peer.member)
                        .is_some_and(|m| m.role == Role::TeamLead);
                    let allowed = e.case().workspace == ws_id
                        && (team_lead || e.case().assigned.contains(&self.peer.member));
                    if !allowed {
                        return Ok(refused(
                            crate::rules::RuleViolation::NotAuthorized {
                                action: crate::rules::Action::EditCase,
                            }
                            .into(),
                            Heads::default(),
                        ));
                    }
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
            Ok(heads) => ServerMessage::Accepted {
                batch,
                doc: d.doc.clone(),
                heads,
            },
            Err(e @ (Error::Rule(_) | Error::Untrusted(_) | Error::Malformed { .. })) => {
                // The device's replica goes back to what the server holds, if it may see it.
                let heads = if self.holds.contains(&d.doc) {
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
