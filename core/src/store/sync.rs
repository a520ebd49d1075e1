//! The device's side of sync, on the store: what to send, and taking in what comes back.
//! Everything received is durable before it is acknowledged.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{DeviceStore, meta, replace_snapshot, set_meta};
use crate::change::ChangeRef;
use crate::error::{Error, Result};
use crate::ids::CaseId;
use crate::ids::{DeviceId, MemberId, WorkspaceId};
use crate::model::Timestamp;
use crate::sync::wire::{
    ClientMessage, DocChanges, DocRef, DocUpdate, Heads, Payload, ServerMessage,
};
use crate::sync::{EnrolResponse, Enrolment};

/// What one server message led to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStep {
    /// Messages to send back.
    pub replies: Vec<ClientMessage>,
    /// The device holds everything the server had for it (until the next change).
    pub up_to_date: bool,
    /// The server ended the sync, with why; with `erased`, this device's data is gone.
    pub stopped: Option<String>,
    /// Whether local data was erased on the server's order (revoked, or left the team).
    pub erased: bool,
}

/// One sync over a connection, from the device's side: settled once the server has
/// answered the hello and every pushed document. A transport driver sends what
/// [`DeviceStore::sync_start`] returned, then feeds every server message to both
/// [`DeviceStore::sync_receive`] and [`SyncRound::observe`] until [`SyncRound::settled`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRound {
    hello_answered: bool,
    docs_unanswered: usize,
}

impl SyncRound {
    /// A round for the messages a sync started with. Without a hello among them (pushes on
    /// a connection already open), only the pushes wait for answers.
    pub fn new(sent: &[ClientMessage]) -> SyncRound {
        let docs = sent
            .iter()
            .map(|m| match m {
                ClientMessage::Push { docs, .. } => docs.len(),
                _ => 0,
            })
            .sum();
        SyncRound {
            hello_answered: !sent
                .iter()
                .any(|m| matches!(m, ClientMessage::Hello { .. })),
            docs_unanswered: docs,
        }
    }

    /// Takes note of a server message.
    pub fn observe(&mut self, msg: &ServerMessage) {
        match msg {
            ServerMessage::UpToDate { .. } | ServerMessage::Updates { more: false, .. } => {
                self.hello_answered = true
            }
            ServerMessage::Accepted { .. } | ServerMessage::Refused { .. } => {
                self.docs_unanswered = self.docs_unanswered.saturating_sub(1);
            }
            ServerMessage::Stop { .. } => {
                self.hello_answered = true;
                self.docs_unanswered = 0;
            }
            ServerMessage::Updates { more: true, .. } => {}
        }
    }

    /// Whether everything sent has been answered.
    pub fn settled(&self) -> bool {
        self.hello_answered && self.docs_unanswered == 0
    }
}

/// Local changes the server refused, kept aside: never silently dropped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuarantinedChanges {
    /// The document.
    pub doc: DocRef,
    /// When they were refused.
    pub at: Timestamp,
    /// Why, as the server said.
    pub reason: String,
    /// The refused changes, encoded, for export.
    pub changes: Vec<u8>,
}

/// Bytes of changes per push message.
const PUSH_BYTES: usize = 4 * 1024 * 1024;

impl DeviceStore {
    /// Completes an enrolment: joins the workspace the server sent, as the member and device
    /// it issued, and keeps where and how to sync (`server`, the credential) in this
    /// encrypted store. Everything or nothing is written.
    pub fn enrol(&mut self, server: &str, response: &EnrolResponse) -> Result<WorkspaceId> {
        use base64::Engine;
        let doc = base64::engine::general_purpose::STANDARD
            .decode(&response.workspace_doc)
            .map_err(|_| crate::UntrustedInput::Malformed {
                kind: "document",
                reason: "workspace document is not base64".into(),
            })?;
        let member = MemberId::parse(&response.member_id)?;
        let device = DeviceId::parse(&response.device_id)?;
        let named = WorkspaceId::parse(&response.workspace_id)?;
        self.join_workspace_then(&doc, &member, &device, |tx, id| {
            if *id != named {
                return Err(crate::UntrustedInput::WrongKind {
                    kind: "document",
                    expected: "workspace the server named",
                }
                .into());
            }
            set_meta(tx, "server_url", server)?;
            set_meta(tx, "credential", &response.credential)
        })
    }

    /// Where and how this device syncs, once enrolled.
    pub fn enrolment(&self) -> Result<Option<Enrolment>> {
        Ok(
            match (
                meta(&self.conn, "server_url")?,
                meta(&self.conn, "credential")?,
            ) {
                (Some(server), Some(credential)) => Some(Enrolment { server, credential }),
                _ => None,
            },
        )
    }

    /// The server feed position this device has fully taken in.
    pub fn sync_cursor(&self) -> Result<u64> {
        Ok(meta(&self.conn, "sync_cursor")?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }

    /// Opens a sync: the hello with this device's cursor, and the local changes the server
    /// lacks, per document. With nothing changed on the device, that is one small message.
    pub fn sync_start(&mut self) -> Result<Vec<ClientMessage>> {
        let lacking: Vec<DocRef> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT doc_id FROM lacking ORDER BY doc_id")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.map(|id| Ok(DocRef::Case(CaseId::parse(&id?)?)))
                .collect::<Result<_>>()?
        };
        // Once this hello is answered the server knows of these; see `hello_answered`.
        let listed: Vec<&str> = lacking.iter().map(DocRef::id).collect();
        set_meta(&self.conn, "lacking_listed", &listed.join(","))?;
        let mut out = vec![ClientMessage::Hello {
            cursor: self.sync_cursor()?,
            lacking,
        }];
        out.extend(self.sync_pushes()?);
        Ok(out)
    }

    /// The local changes the server lacks, as pushes, without a hello: for a connection
    /// that stays open (live sync), where the server already streams its changes. Call it
    /// once the pushes already out are answered ([`SyncRound::settled`]): a refusal sets a
    /// document back, and a push built on the refused changes that was already on its way
    /// could still be stored (if the rule it broke no longer applies by then), leaving the
    /// server with changes this device has set aside.
    pub fn sync_pushes(&mut self) -> Result<Vec<ClientMessage>> {
        let mut out = Vec::new();
        let dirty: Vec<(String, String, Vec<u8>)> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT doc_id, kind, server_heads FROM documents WHERE dirty = 1 ORDER BY doc_id",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut docs = Vec::new();
        for (id, kind, server_heads) in dirty {
            let since = Heads::from_blob(&server_heads).to_refs();
            let doc = DocRef::parse(&id, &kind)?;
            let changes = match &doc {
                DocRef::Workspace(_) => self
                    .workspace
                    .as_ref()
                    .ok_or(Error::NoWorkspace)?
                    .changes_since(&since),
                DocRef::Case(case) => {
                    self.ensure_loaded(case)?;
                    self.cases
                        .get(case)
                        .map(|c| c.changes_since(&since))
                        .unwrap_or_default()
                }
            };
            if !changes.is_empty() {
                docs.push(DocChanges { doc, changes });
            }
        }
        // Several pushes of a few MiB each, well within a frame.
        let mut batches: Vec<Vec<DocChanges>> = Vec::new();
        let mut size = PUSH_BYTES;
        for d in docs {
            if size + d.changes.len() > PUSH_BYTES {
                batches.push(Vec::new());
                size = 0;
            }
            size += d.changes.len();
            if let Some(b) = batches.last_mut() {
                b.push(d);
            }
        }
        for docs in batches {
            let batch: u64 = meta(&self.conn, "next_batch")?
                .and_then(|b| b.parse().ok())
                .unwrap_or(1);
            set_meta(&self.conn, "next_batch", &(batch + 1).to_string())?;
            out.push(ClientMessage::Push { batch, docs });
        }
        Ok(out)
    }

    /// Takes in one message from the server, durably, and says what to send back.
    pub fn sync_receive(&mut self, msg: &ServerMessage) -> Result<SyncStep> {
        let mut step = SyncStep::default();
        match msg {
            ServerMessage::Updates { cursor, docs, more } => {
                for update in docs {
                    self.take_update(update)?;
                }
                if !more {
                    self.hello_answered()?;
                    set_meta(&self.conn, "sync_cursor", &cursor.to_string())?;
                    step.replies.push(ClientMessage::Ack { cursor: *cursor });
                    step.up_to_date = !self.has_unsent()?;
                }
            }
            ServerMessage::UpToDate { cursor } => {
                self.hello_answered()?;
                set_meta(&self.conn, "sync_cursor", &cursor.to_string())?;
                step.up_to_date = !self.has_unsent()?;
            }
            ServerMessage::Accepted { doc, heads, .. } => {
                if self.holds(doc)? {
                    self.set_server_heads(doc, heads)?;
                } else if let DocRef::Case(id) = doc {
                    // Erased here since the push went out (an earlier push of it refused,
                    // or unassigned meanwhile), yet stored there: the server now counts it
                    // as held, so the next hello says it is not.
                    self.mark_lacking(id)?;
                }
                step.up_to_date = !self.has_unsent()?;
            }
            ServerMessage::Refused {
                doc, reason, heads, ..
            } => {
                if !heads.0.is_empty() && self.holds(doc)? {
                    if !self.has_all(doc, heads)? {
                        // The server went on with changes this device has not received
                        // yet, so the document cannot be set back to its heads now. The
                        // local changes stay unsent: the next sync brings the server's
                        // changes before the refusal again, and then they are set aside.
                        return Ok(step);
                    }
                    self.record_server_heads(doc, heads)?;
                }
                self.set_aside(doc, reason, false)?;
                step.up_to_date = !self.has_unsent()?;
            }
            ServerMessage::Stop { reason, erase } => {
                if *erase {
                    self.erase_all()?;
                    step.erased = true;
                }
                step.stopped = Some(reason.clone());
            }
        }
        Ok(step)
    }

    /// Local changes the server refused, oldest first.
    pub fn quarantine(&self) -> Result<Vec<QuarantinedChanges>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT doc_id, kind, at, reason, changes FROM quarantine ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Vec<u8>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, at, reason, changes) = row?;
            out.push(QuarantinedChanges {
                doc: DocRef::parse(&id, &kind)?,
                at: Timestamp(at),
                reason,
                changes,
            });
        }
        Ok(out)
    }

    fn holds(&self, doc: &DocRef) -> Result<bool> {
        Ok(match doc {
            DocRef::Case(id) => self.has_case(id)?,
            DocRef::Workspace(_) => self.workspace.is_some(),
        })
    }

    fn has_all(&mut self, doc: &DocRef, heads: &Heads) -> Result<bool> {
        let refs = heads.to_refs();
        Ok(match doc {
            DocRef::Workspace(_) => self.workspace.as_ref().is_some_and(|w| w.has_all(&refs)),
            DocRef::Case(id) => {
                self.ensure_loaded(id)?;
                self.cases.get(id).is_some_and(|c| c.has_all(&refs))
            }
        })
    }

    /// The server believes this device holds a case it does not: the next hello says so,
    /// and the server sends it whole if the member may see it.
    fn mark_lacking(&self, id: &CaseId) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO lacking (doc_id) VALUES (?1)",
            [id.as_str()],
        )?;
        Ok(())
    }

    /// The answer to this connection's hello is complete: the server has taken note of the
    /// documents it listed as lacking (and sent those the member may see), so they are not
    /// listed again, which would cost every later reconnect its fast path.
    fn hello_answered(&self) -> Result<()> {
        if let Some(listed) = meta(&self.conn, "lacking_listed")?.filter(|l| !l.is_empty()) {
            for id in listed.split(',') {
                self.conn
                    .execute("DELETE FROM lacking WHERE doc_id = ?1", [id])?;
            }
            set_meta(&self.conn, "lacking_listed", "")?;
        }
        Ok(())
    }

    fn record_server_heads(&self, doc: &DocRef, heads: &Heads) -> Result<()> {
        self.conn.execute(
            "UPDATE documents SET server_heads = ?2 WHERE doc_id = ?1",
            params![doc.id(), heads.to_blob()],
        )?;
        Ok(())
    }

    fn has_unsent(&self) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM documents WHERE dirty = 1 LIMIT 1",
                [],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn local_heads(&self, doc: &DocRef) -> Option<Heads> {
        match doc {
            DocRef::Workspace(_) => self
                .workspace
                .as_ref()
                .map(|w| Heads::from_refs(&w.heads())),
            DocRef::Case(id) => self.cases.get(id).map(|c| Heads::from_refs(&c.heads())),
        }
    }

    /// Records what the server holds of a document; it is dirty while this device has more.
    fn set_server_heads(&mut self, doc: &DocRef, heads: &Heads) -> Result<()> {
        if let DocRef::Case(id) = doc {
            self.ensure_loaded(id)?;
        }
        let mut local = self.local_heads(doc).unwrap_or_default().0;
        let mut server = heads.0.clone();
        local.sort_unstable();
        server.sort_unstable();
        self.conn.execute(
            "UPDATE documents SET server_heads = ?2, dirty = ?3 WHERE doc_id = ?1",
            params![doc.id(), heads.to_blob(), local != server],
        )?;
        Ok(())
    }

    fn take_update(&mut self, update: &DocUpdate) -> Result<()> {
        match (&update.doc, &update.payload) {
            (DocRef::Case(_), Payload::Remove) => {
                // Work not yet sent is kept aside, never erased with the case.
                self.set_aside(
                    &update.doc,
                    "the case is no longer yours to see; your unsent changes are kept here",
                    true,
                )?;
            }
            (DocRef::Workspace(_), Payload::Remove) => return Err(Error::NoWorkspace),
            (DocRef::Case(id), Payload::Full(bytes)) => {
                self.import_case(bytes)?;
                self.conn
                    .execute("DELETE FROM lacking WHERE doc_id = ?1", [id.as_str()])?;
            }
            (DocRef::Case(id), Payload::Changes(bytes)) => {
                if !self.has_case(id)? {
                    // The server thinks this device holds the case (an erase raced its
                    // acknowledgement): ask for it whole at the next hello.
                    return self.mark_lacking(id);
                }
                self.apply_remote_changes(id, bytes)?;
            }
            (DocRef::Workspace(id), Payload::Full(bytes) | Payload::Changes(bytes)) => {
                if self.workspace()?.id != *id {
                    return Err(crate::untrusted::wrong_kind("document of this workspace").into());
                }
                self.apply_remote_workspace_changes(bytes)?;
            }
        }
        if update.payload != Payload::Remove {
            self.set_server_heads(&update.doc, &update.heads)?;
        }
        Ok(())
    }

    /// Keeps refused local changes in the quarantine and sets the document back to what the
    /// server holds, so that later work builds on an accepted state.
    /// With `erase`, the document goes entirely (it may no longer be seen) instead of
    /// being set back.
    fn set_aside(&mut self, doc: &DocRef, reason: &str, erase: bool) -> Result<()> {
        if let DocRef::Case(id) = doc
            && !self.has_case(id)?
        {
            // Already erased, its unsent work already set aside.
            return Ok(());
        }
        let server_heads: Vec<u8> = self
            .conn
            .query_row(
                "SELECT server_heads FROM documents WHERE doc_id = ?1",
                [doc.id()],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_default();
        let since: Vec<ChangeRef> = Heads::from_blob(&server_heads).to_refs();
        let (kind, changes, snapshot) = match doc {
            DocRef::Case(id) => {
                self.ensure_loaded(id)?;
                let case = self.cases.get(id).ok_or_else(|| super::not_found(id))?;
                let rolled = if since.is_empty() || erase {
                    None
                } else {
                    Some(case.at(&since)?)
                };
                (
                    "case",
                    case.changes_since(&since),
                    rolled.map(|r| {
                        let bytes = r.save();
                        (bytes, r)
                    }),
                )
            }
            DocRef::Workspace(_) => {
                let ws = self.workspace.as_ref().ok_or(Error::NoWorkspace)?;
                ("workspace", ws.changes_since(&since), None)
            }
        };
        let at = self.now();
        let tx = self.conn.transaction()?;
        if !changes.is_empty() {
            tx.execute(
                "INSERT INTO quarantine (doc_id, kind, at, reason, changes) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![doc.id(), kind, at.0, reason, changes],
            )?;
        }
        match (doc, &snapshot) {
            (DocRef::Case(id), None) => super::erase_case_in(&tx, id)?,
            (DocRef::Case(_), Some((bytes, rolled))) => {
                replace_snapshot(&tx, doc.id(), bytes)?;
                super::project(&tx, rolled.case(), &rolled.conflicts())?;
            }
            (DocRef::Workspace(_), _) => {
                if let Some(ws) = self.workspace.as_ref() {
                    replace_snapshot(&tx, doc.id(), &ws.at(&since)?.save())?;
                }
            }
        }
        tx.execute(
            "UPDATE documents SET dirty = 0 WHERE doc_id = ?1",
            [doc.id()],
        )?;
        tx.commit()?;
        match doc {
            DocRef::Case(id) => {
                self.cases.remove(id);
            }
            DocRef::Workspace(_) => self.reload_workspace()?,
        }
        Ok(())
    }

    /// Erases every case, the workspace and who is signed in: the server's order for a
    /// revoked device. The access log and the device's identity stay.
    fn erase_all(&mut self) -> Result<()> {
        self.conn.execute_batch(
            "BEGIN;
             DELETE FROM changes; DELETE FROM documents; DELETE FROM cases; DELETE FROM case_assignees;
             DELETE FROM pending_signatures; DELETE FROM quarantine;
             DELETE FROM meta WHERE key IN ('member_id', 'workspace_id', 'sync_cursor', 'next_batch',
                                             'server_url', 'credential');
             COMMIT;",
        )?;
        self.cases.clear();
        self.workspace = None;
        self.member = None;
        Ok(())
    }
}
