//! The server's SQLite store: documents, the per-workspace change feed, devices and their
//! credentials, enrolment codes and the access log. One file, WAL, `synchronous=FULL`:
//! every write is durable when it returns, so the sync engine's acknowledgements follow
//! durability.

use std::collections::BTreeSet;
use std::path::Path;

use keukentafel_core::model::{NewMember, Timestamp, Workspace};
use keukentafel_core::sync::{DocRef, FeedEntry, Heads, ServerStorage};
use keukentafel_core::{Author, CaseDoc, CaseId, DeviceId, MemberId, WorkspaceDoc, WorkspaceId};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{ServerError, ServerResult};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS workspaces (
    workspace_id TEXT PRIMARY KEY,
    admin_member TEXT NOT NULL,
    admin_device TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS documents (
    doc_id       TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('workspace', 'case')),
    snapshot     BLOB NOT NULL,
    heads        BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS feed (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL,
    doc_id       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    changes      BLOB NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS feed_by_workspace ON feed(workspace_id, seq);
CREATE TABLE IF NOT EXISTS case_assignees (
    case_id      TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    PRIMARY KEY (case_id, member_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS assignees_by_member ON case_assignees(workspace_id, member_id);
CREATE TABLE IF NOT EXISTS device_docs (
    device_id TEXT NOT NULL,
    doc_id    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    PRIMARY KEY (device_id, doc_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS device_docs_sent (
    device_id TEXT NOT NULL,
    doc_id    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    cursor    INTEGER NOT NULL,
    PRIMARY KEY (device_id, doc_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS device_sessions (
    device_id TEXT PRIMARY KEY,
    session   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS devices (
    device_id       TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    member_id       TEXT NOT NULL,
    credential_hash BLOB NOT NULL UNIQUE,
    label           TEXT NOT NULL,
    enrolled_at     INTEGER NOT NULL,
    revoked_at      INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS enrolments (
    code_hash    BLOB PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS access_log (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    workspace_id TEXT,
    member_id    TEXT,
    device_id    TEXT,
    doc_id       TEXT,
    action       TEXT NOT NULL,
    outcome      TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS access_by_doc ON access_log(doc_id, seq);
";

/// A device as the server knows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeviceRecord {
    /// The device.
    pub device: DeviceId,
    /// Its member.
    pub member: MemberId,
    /// Their workspace.
    pub workspace: WorkspaceId,
    /// A name for people ("telefoon Sanne").
    pub label: String,
    /// When it enrolled.
    pub enrolled_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// One line of the server's access log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AccessRecord {
    /// When.
    pub at: Timestamp,
    /// The member.
    pub member: Option<String>,
    /// The device.
    pub device: Option<String>,
    /// The document.
    pub doc: Option<String>,
    /// What happened ("sent", "accepted", "refused", "enrolled", "revoked").
    pub action: String,
    /// The outcome or the rule broken.
    pub outcome: String,
}

/// A savepoint: its own transaction when none is open, nested inside one otherwise, so that
/// a step of the sync engine can run in one outer transaction ([`SqliteStorage::immediate`]).
/// Dropped without `commit`, it rolls back.
struct Atomic<'c> {
    conn: &'c Connection,
    done: bool,
}

impl<'c> Atomic<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<Self> {
        conn.execute_batch("SAVEPOINT atomic")?;
        Ok(Atomic { conn, done: false })
    }

    fn commit(mut self) -> rusqlite::Result<()> {
        self.done = true;
        self.conn.execute_batch("RELEASE atomic")
    }
}

impl Drop for Atomic<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self
                .conn
                .execute_batch("ROLLBACK TO atomic; RELEASE atomic");
        }
    }
}

impl std::ops::Deref for Atomic<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// The server's store.
pub struct SqliteStorage {
    conn: Connection,
    /// The last workspace state read, by its heads: every push and answer consults it,
    /// and it changes rarely.
    workspace_cache: std::sync::Mutex<Option<(WorkspaceId, Vec<u8>, Workspace)>>,
}

impl SqliteStorage {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> ServerResult<SqliteStorage> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStorage {
            conn,
            workspace_cache: std::sync::Mutex::new(None),
        })
    }

    fn put_document(
        &self,
        doc: &DocRef,
        workspace: &WorkspaceId,
        snapshot: &[u8],
        heads: &Heads,
    ) -> rusqlite::Result<()> {
        let (id, kind) = (doc.id(), doc.kind());
        // An id already taken by a document of another kind or team is never overwritten.
        let n = self.conn.execute(
            "INSERT INTO documents (doc_id, workspace_id, kind, snapshot, heads) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(doc_id) DO UPDATE SET snapshot = excluded.snapshot, heads = excluded.heads
             WHERE documents.kind = excluded.kind AND documents.workspace_id = excluded.workspace_id",
            params![id, workspace.as_str(), kind, snapshot, heads.to_blob()],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(rusqlite::Error::StatementChangedRows(n))
        }
    }

    fn append_feed(
        &self,
        workspace: &WorkspaceId,
        doc: &DocRef,
        device: &DeviceId,
        changes: &[u8],
    ) -> rusqlite::Result<u64> {
        let (id, kind) = (doc.id(), doc.kind());
        let seq: i64 = self.conn.query_row(
            "INSERT INTO feed (workspace_id, doc_id, kind, device_id, changes) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
            params![workspace.as_str(), id, kind, device.as_str(), changes],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(seq).unwrap_or(0))
    }

    /// Creates a workspace whose first member is its admin; the server acts for that admin
    /// in the admin tool. Returns the workspace and the admin's member id.
    pub fn create_workspace(
        &mut self,
        name: &str,
        area: &str,
        admin: NewMember,
    ) -> ServerResult<(WorkspaceId, MemberId)> {
        let author = Author {
            member: MemberId::random(),
            device: DeviceId::random(),
        };
        let (mut doc, id) = WorkspaceDoc::create(&author, Timestamp::now(), name, area, admin)?;
        let changes: Vec<u8> = doc
            .take_changes()
            .into_iter()
            .flat_map(|c| c.bytes)
            .collect();
        let tx = Atomic::begin(&self.conn)?;
        tx.execute(
            "INSERT INTO workspaces (workspace_id, admin_member, admin_device, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id.as_str(), author.member.as_str(), author.device.as_str(), Timestamp::now().0],
        )?;
        self.put_document(
            &DocRef::Workspace(id.clone()),
            &id,
            &doc.save(),
            &Heads::from_refs(&doc.heads()),
        )?;
        self.append_feed(
            &id,
            &DocRef::Workspace(id.clone()),
            &author.device,
            &changes,
        )?;
        tx.commit()?;
        Ok((id, author.member))
    }

    /// Changes the workspace (add members, set mandates) in the name of `acting` (an admin
    /// or team lead calling the admin API), or of the workspace's founding admin (the admin
    /// tool). The server writes these changes with its own actor for the workspace, never a
    /// device's. Read and write are one transaction: a concurrent writer makes this fail,
    /// never lose a change.
    pub fn edit_workspace<T>(
        &mut self,
        workspace: &WorkspaceId,
        acting: Option<&MemberId>,
        f: impl FnOnce(&mut WorkspaceDoc, &Author, Timestamp) -> keukentafel_core::Result<T>,
    ) -> ServerResult<T> {
        let tx = Atomic::begin(&self.conn)?;
        let (member, device): (String, String) = tx
            .query_row(
                "SELECT admin_member, admin_device FROM workspaces WHERE workspace_id = ?1",
                [workspace.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or(ServerError::NotFound("workspace"))?;
        let author = Author {
            member: acting
                .cloned()
                .map_or_else(|| MemberId::parse(&member), Ok)?,
            device: DeviceId::parse(&device)?,
        };
        let mut doc = self
            .workspace(workspace)?
            .ok_or(ServerError::NotFound("workspace"))?;
        let out = f(&mut doc, &author, Timestamp::now())?;
        let changes: Vec<u8> = doc
            .take_changes()
            .into_iter()
            .flat_map(|c| c.bytes)
            .collect();
        if changes.is_empty() {
            // Nothing changed (a mandate set to what it was): nothing for the feed.
            return Ok(out);
        }
        self.put_document(
            &DocRef::Workspace(workspace.clone()),
            workspace,
            &doc.save(),
            &Heads::from_refs(&doc.heads()),
        )?;
        self.append_feed(
            workspace,
            &DocRef::Workspace(workspace.clone()),
            &author.device,
            &changes,
        )?;
        tx.commit()?;
        Ok(out)
    }

    /// Stores an enrolment code's hash for `member`, valid until `expires_at`.
    pub fn add_enrolment(
        &mut self,
        code_hash: &[u8],
        workspace: &WorkspaceId,
        member: &MemberId,
        expires_at: Timestamp,
    ) -> ServerResult<()> {
        self.conn.execute(
            "INSERT INTO enrolments (code_hash, workspace_id, member_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![code_hash, workspace.as_str(), member.as_str(), expires_at.0],
        )?;
        Ok(())
    }

    /// Uses an enrolment code (once, before it expires) to register a device with a
    /// credential hash. Returns the new device's record.
    pub fn enrol(
        &mut self,
        code_hash: &[u8],
        credential_hash: &[u8],
        label: &str,
        now: Timestamp,
    ) -> ServerResult<DeviceRecord> {
        let tx = Atomic::begin(&self.conn)?;
        let found: Option<(String, String, i64, Option<i64>)> = tx
            .query_row(
                "SELECT workspace_id, member_id, expires_at, used_at FROM enrolments WHERE code_hash = ?1",
                [code_hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (workspace, member) = match found {
            None => return Err(ServerError::Unauthorized("unknown enrolment code")),
            Some((_, _, _, Some(_))) => {
                return Err(ServerError::Unauthorized("enrolment code already used"));
            }
            Some((_, _, expires, None)) if expires < now.0 => {
                return Err(ServerError::Unauthorized("enrolment code expired"));
            }
            Some((w, m, _, None)) => (WorkspaceId::parse(&w)?, MemberId::parse(&m)?),
        };
        // A code outlives nothing: a member who left in the meantime enrols no device.
        let active = self
            .workspace_state(&workspace)?
            .is_some_and(|ws| ws.member(&member).is_some());
        if !active {
            return Err(ServerError::Unauthorized(
                "the member of this code is no longer active",
            ));
        }
        let device = DeviceId::random();
        tx.execute(
            "UPDATE enrolments SET used_at = ?2 WHERE code_hash = ?1",
            params![code_hash, now.0],
        )?;
        tx.execute(
            "INSERT INTO devices (device_id, workspace_id, member_id, credential_hash, label, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![device.as_str(), workspace.as_str(), member.as_str(), credential_hash, label, now.0],
        )?;
        tx.commit()?;
        Ok(DeviceRecord {
            device,
            member,
            workspace,
            label: label.to_owned(),
            enrolled_at: now,
            revoked_at: None,
        })
    }

    /// The device a credential belongs to, if any (revoked ones too: the caller decides).
    pub fn device_by_credential(
        &self,
        credential_hash: &[u8],
    ) -> ServerResult<Option<DeviceRecord>> {
        self.device_where("credential_hash = ?1", credential_hash)
    }

    /// A device by id.
    pub fn device(&self, device: &DeviceId) -> ServerResult<Option<DeviceRecord>> {
        self.device_where("device_id = ?1", device.as_str())
    }

    fn device_where(
        &self,
        clause: &str,
        arg: impl rusqlite::ToSql,
    ) -> ServerResult<Option<DeviceRecord>> {
        let sql = format!(
            "SELECT device_id, member_id, workspace_id, label, enrolled_at, revoked_at FROM devices WHERE {clause}"
        );
        let row: Option<(String, String, String, String, i64, Option<i64>)> = self
            .conn
            .query_row(&sql, [arg], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .optional()?;
        row.map(|(d, m, w, label, at, revoked)| {
            Ok(DeviceRecord {
                device: DeviceId::parse(&d)?,
                member: MemberId::parse(&m)?,
                workspace: WorkspaceId::parse(&w)?,
                label,
                enrolled_at: Timestamp(at),
                revoked_at: revoked.map(Timestamp),
            })
        })
        .transpose()
    }

    /// Revokes a device; its connections are refused from now on.
    pub fn revoke(&mut self, device: &DeviceId, now: Timestamp) -> ServerResult<()> {
        let n = self.conn.execute(
            "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?2) WHERE device_id = ?1",
            params![device.as_str(), now.0],
        )?;
        if n == 0 {
            return Err(ServerError::NotFound("device"));
        }
        Ok(())
    }

    /// The devices of a workspace.
    pub fn devices(&self, workspace: &WorkspaceId) -> ServerResult<Vec<DeviceRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT device_id FROM devices WHERE workspace_id = ?1 ORDER BY enrolled_at",
        )?;
        let ids: Vec<String> = stmt
            .query_map([workspace.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(d) = self.device(&DeviceId::parse(&id)?)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Appends to the access log.
    pub fn log(
        &self,
        device: Option<&DeviceRecord>,
        doc: Option<&str>,
        action: &str,
        outcome: &str,
    ) -> ServerResult<()> {
        self.conn.execute(
            "INSERT INTO access_log (at, workspace_id, member_id, device_id, doc_id, action, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                Timestamp::now().0,
                device.map(|d| d.workspace.as_str()),
                device.map(|d| d.member.as_str()),
                device.map(|d| d.device.as_str()),
                doc,
                action,
                outcome
            ],
        )?;
        Ok(())
    }

    /// The access log of one document, oldest first.
    pub fn access_log(&self, doc: &str) -> ServerResult<Vec<AccessRecord>> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, member_id, device_id, doc_id, action, outcome FROM access_log WHERE doc_id = ?1 ORDER BY seq")?;
        let rows = stmt.query_map([doc], |r| {
            Ok(AccessRecord {
                at: Timestamp(r.get(0)?),
                member: r.get(1)?,
                device: r.get(2)?,
                doc: r.get(3)?,
                action: r.get(4)?,
                outcome: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The members a case is assigned to.
    pub fn case_members(&self, case: &CaseId) -> ServerResult<BTreeSet<MemberId>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT member_id FROM case_assignees WHERE case_id = ?1")?;
        let rows = stmt.query_map([case.as_str()], |r| r.get::<_, String>(0))?;
        let mut out = BTreeSet::new();
        for row in rows {
            out.insert(MemberId::parse(&row?)?);
        }
        Ok(out)
    }

    /// Runs `f` in one write transaction taken at once (`BEGIN IMMEDIATE`): a read followed
    /// by a write inside it cannot interleave with another process's (the admin tool), and
    /// everything in it costs one disk sync. Rolled back on error.
    pub fn immediate<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> ServerResult<T>,
    ) -> ServerResult<T> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        // A panic inside must not leave the transaction open for every later step.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) {
            Ok(Ok(v)) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(v)
            }
            Ok(Err(e)) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
            Err(panic) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// The documents a query of `(doc_id, kind)` rows lists for a device.
    fn docs_of(&self, sql: &str, device: &DeviceId) -> keukentafel_core::Result<BTreeSet<DocRef>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([device.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = BTreeSet::new();
        for row in rows {
            let (id, kind) = row?;
            out.insert(DocRef::parse(&id, &kind)?);
        }
        Ok(out)
    }

    /// Runs SQLite's integrity check.
    pub fn integrity_check(&self) -> ServerResult<bool> {
        let r: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(r == "ok")
    }
}

impl ServerStorage for SqliteStorage {
    fn workspace(&self, id: &WorkspaceId) -> keukentafel_core::Result<Option<WorkspaceDoc>> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT snapshot FROM documents WHERE doc_id = ?1 AND kind = 'workspace'",
                [id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        bytes.map(|b| WorkspaceDoc::load(&b)).transpose()
    }

    fn workspace_state(&self, id: &WorkspaceId) -> keukentafel_core::Result<Option<Workspace>> {
        let heads: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT heads FROM documents WHERE doc_id = ?1 AND kind = 'workspace'",
                [id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(heads) = heads else { return Ok(None) };
        let mut cache = self
            .workspace_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some((cid, ch, ws)) = cache.as_ref()
            && cid == id
            && *ch == heads
        {
            return Ok(Some(ws.clone()));
        }
        let Some(doc) = self.workspace(id)? else {
            return Ok(None);
        };
        let ws = doc.workspace().clone();
        *cache = Some((id.clone(), heads, ws.clone()));
        Ok(Some(ws))
    }

    fn case(&self, id: &CaseId) -> keukentafel_core::Result<Option<CaseDoc>> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT snapshot FROM documents WHERE doc_id = ?1 AND kind = 'case'",
                [id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        bytes.map(|b| CaseDoc::load(&b)).transpose()
    }

    fn document(&self, doc: &DocRef) -> keukentafel_core::Result<Option<(Vec<u8>, Heads)>> {
        let (id, kind) = (doc.id(), doc.kind());
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT snapshot, heads FROM documents WHERE doc_id = ?1 AND kind = ?2",
                [id, kind],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.map(|(s, h)| (s, Heads::from_blob(&h))))
    }

    fn heads(&self, doc: &DocRef) -> keukentafel_core::Result<Heads> {
        let (id, kind) = (doc.id(), doc.kind());
        let h: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT heads FROM documents WHERE doc_id = ?1 AND kind = ?2",
                [id, kind],
                |r| r.get(0),
            )
            .optional()?;
        Ok(h.map(|h| Heads::from_blob(&h)).unwrap_or_default())
    }

    fn store_case(
        &mut self,
        workspace: &WorkspaceId,
        doc: &CaseDoc,
        changes: &[u8],
        device: &DeviceId,
    ) -> keukentafel_core::Result<u64> {
        let tx = Atomic::begin(&self.conn)?;
        let id = doc.id();
        let r = DocRef::Case(id.clone());
        self.put_document(&r, workspace, &doc.save(), &Heads::from_refs(&doc.heads()))?;
        tx.execute(
            "DELETE FROM case_assignees WHERE case_id = ?1",
            [id.as_str()],
        )?;
        for m in &doc.case().assigned {
            tx.execute(
                "INSERT INTO case_assignees (case_id, workspace_id, member_id) VALUES (?1, ?2, ?3)",
                params![id.as_str(), workspace.as_str(), m.as_str()],
            )?;
        }
        let seq = self.append_feed(workspace, &r, device, changes)?;
        tx.commit()?;
        Ok(seq)
    }

    fn store_workspace(
        &mut self,
        doc: &WorkspaceDoc,
        changes: &[u8],
        device: &DeviceId,
    ) -> keukentafel_core::Result<u64> {
        let tx = Atomic::begin(&self.conn)?;
        let id = doc.workspace().id.clone();
        let r = DocRef::Workspace(id.clone());
        self.put_document(&r, &id, &doc.save(), &Heads::from_refs(&doc.heads()))?;
        let seq = self.append_feed(&id, &r, device, changes)?;
        tx.commit()?;
        Ok(seq)
    }

    fn feed_since(
        &self,
        workspace: &WorkspaceId,
        cursor: u64,
    ) -> keukentafel_core::Result<Vec<FeedEntry>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, doc_id, kind, device_id, changes FROM feed WHERE workspace_id = ?1 AND seq > ?2 ORDER BY seq")?;
        let rows = stmt.query_map(
            params![
                workspace.as_str(),
                i64::try_from(cursor).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, id, kind, device, changes) = row?;
            out.push(FeedEntry {
                seq: u64::try_from(seq).unwrap_or(0),
                doc: DocRef::parse(&id, &kind)?,
                device: DeviceId::parse(&device)?,
                changes,
            });
        }
        Ok(out)
    }

    fn feed_head(&self, workspace: &WorkspaceId) -> keukentafel_core::Result<u64> {
        let seq: Option<i64> = self.conn.query_row(
            "SELECT MAX(seq) FROM feed WHERE workspace_id = ?1",
            [workspace.as_str()],
            |r| r.get(0),
        )?;
        Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    }

    fn visible_cases(
        &self,
        workspace: &WorkspaceId,
        member: &MemberId,
        all: bool,
    ) -> keukentafel_core::Result<BTreeSet<CaseId>> {
        let mut stmt = if all {
            self.conn.prepare_cached("SELECT doc_id FROM documents WHERE workspace_id = ?1 AND kind = 'case' AND ?2 = ?2")?
        } else {
            self.conn.prepare_cached(
                "SELECT case_id FROM case_assignees WHERE workspace_id = ?1 AND member_id = ?2",
            )?
        };
        let rows = stmt.query_map(params![workspace.as_str(), member.as_str()], |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = BTreeSet::new();
        for row in rows {
            out.insert(CaseId::parse(&row?)?);
        }
        Ok(out)
    }

    fn device_docs(&self, device: &DeviceId) -> keukentafel_core::Result<BTreeSet<DocRef>> {
        self.docs_of(
            "SELECT doc_id, kind FROM device_docs WHERE device_id = ?1",
            device,
        )
    }

    fn update_device_docs(
        &mut self,
        device: &DeviceId,
        added: &[DocRef],
        removed: &[DocRef],
    ) -> keukentafel_core::Result<()> {
        let tx = Atomic::begin(&self.conn)?;
        for d in added {
            let (id, kind) = (d.id(), d.kind());
            tx.execute(
                "INSERT OR IGNORE INTO device_docs (device_id, doc_id, kind) VALUES (?1, ?2, ?3)",
                params![device.as_str(), id, kind],
            )?;
        }
        for d in removed {
            tx.execute(
                "DELETE FROM device_docs WHERE device_id = ?1 AND doc_id = ?2",
                params![device.as_str(), d.id()],
            )?;
            tx.execute(
                "DELETE FROM device_docs_sent WHERE device_id = ?1 AND doc_id = ?2",
                params![device.as_str(), d.id()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn record_sent(
        &mut self,
        device: &DeviceId,
        cursor: u64,
        docs: &[DocRef],
    ) -> keukentafel_core::Result<()> {
        let tx = Atomic::begin(&self.conn)?;
        for d in docs {
            tx.execute(
                "INSERT INTO device_docs_sent (device_id, doc_id, kind, cursor) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (device_id, doc_id) DO UPDATE SET cursor = excluded.cursor",
                params![device.as_str(), d.id(), d.kind(), cursor_param(cursor)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn sent_docs(&self, device: &DeviceId) -> keukentafel_core::Result<BTreeSet<DocRef>> {
        self.docs_of(
            "SELECT doc_id, kind FROM device_docs_sent WHERE device_id = ?1",
            device,
        )
    }

    fn open_session(&mut self, device: &DeviceId) -> keukentafel_core::Result<u64> {
        let n: i64 = self.conn.query_row(
            "INSERT INTO device_sessions (device_id, session) VALUES (?1, 1)
             ON CONFLICT (device_id) DO UPDATE SET session = session + 1 RETURNING session",
            [device.as_str()],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn current_session(&self, device: &DeviceId) -> keukentafel_core::Result<u64> {
        let n: Option<i64> = self
            .conn
            .prepare_cached("SELECT session FROM device_sessions WHERE device_id = ?1")?
            .query_row([device.as_str()], |r| r.get(0))
            .optional()?;
        Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }

    fn settle_sent(&mut self, device: &DeviceId, cursor: u64) -> keukentafel_core::Result<()> {
        let tx = Atomic::begin(&self.conn)?;
        tx.execute(
            "INSERT OR IGNORE INTO device_docs (device_id, doc_id, kind)
             SELECT device_id, doc_id, kind FROM device_docs_sent WHERE device_id = ?1 AND cursor <= ?2",
            params![device.as_str(), cursor_param(cursor)],
        )?;
        tx.execute(
            "DELETE FROM device_docs_sent WHERE device_id = ?1 AND cursor <= ?2",
            params![device.as_str(), cursor_param(cursor)],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// Feed positions are SQLite integers; a cursor beyond them (a hostile hello) compares
/// as the largest.
fn cursor_param(cursor: u64) -> i64 {
    i64::try_from(cursor).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keukentafel_core::model::{Mandate, Money, ProvisionCategory, Role};

    /// Found by the simulation: a no-op edit (a mandate set to what it was) appended an
    /// empty entry to the feed, which devices then failed on.
    #[test]
    fn a_workspace_edit_that_changes_nothing_adds_nothing_to_the_feed() {
        let dir = tempfile::tempdir().expect("dir");
        let mut s = SqliteStorage::open(&dir.path().join("s.db")).expect("open");
        let mandate =
            Mandate::default().with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(2_500));
        let (ws, admin) = s
            .create_workspace(
                "Wijkteam Zuid",
                "Zuid",
                NewMember {
                    display_name: "Beheer".into(),
                    role: Role::Admin,
                    mandate: mandate.clone(),
                },
            )
            .expect("workspace");
        let set = |s: &mut SqliteStorage| {
            s.edit_workspace(&ws, None, |doc, author, now| {
                doc.set_mandate(author, now, &admin, &mandate)
            })
            .expect("edit")
        };
        set(&mut s);
        let head = s.feed_head(&ws).expect("head");
        set(&mut s);
        assert_eq!(s.feed_head(&ws).expect("head"), head);
        assert!(
            s.feed_since(&ws, 0)
                .expect("feed")
                .iter()
                .all(|e| !e.changes.is_empty())
        );
    }
}
