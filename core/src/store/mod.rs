//! The durable, encrypted device store.
//!
//! SQLCipher (SQLite with encryption at rest) in WAL mode with `synchronous=FULL`: a write
//! call returns only after its change is in the fsynced log, so a process killed at any
//! moment reopens with every acknowledged change. Each change is appended as it is made;
//! a document is compacted to one snapshot once enough changes pile up. Lists come from
//! projection tables written in the same transaction as the change, so they never lag the
//! documents and never need a document loaded.

mod key;
mod schema;
mod sync;

pub use key::StoreKey;
pub use sync::{QuarantinedChanges, SyncRound, SyncStep};

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use time::Date;

use crate::am::{format_date, parse_date};
use crate::change::ChangeRef;
use crate::conflict::Conflict;
use crate::context::{Author, Context};
use crate::doc::{CaseDoc, WorkspaceDoc};
use crate::error::{Error, Result};
use crate::history::HistoryEntry;
use crate::ids::{CaseId, DecisionId, DeviceId, MemberId, WorkspaceId};
use crate::model::{
    Case, CaseStatus, Money, NewCase, NewMember, ProvisionCategory, Role, Timestamp, Workspace,
};
use crate::rules::{self, MandateCheck};
use crate::untrusted::Limits;

/// SQLCipher page size. A compacted case is a few KiB; with 4 KiB pages one snapshot per
/// page wastes over a third of the file, 2 KiB pages keep storage within about 1.1x of
/// Automerge's own `save()`. Part of the file format: every open must use the same value.
const PAGE_SIZE: i64 = 2048;
/// Changes appended to a document before it is compacted into one snapshot.
const COMPACT_AFTER_CHANGES: i64 = 64;
/// Bytes appended to a document before it is compacted, whatever the count.
const COMPACT_AFTER_BYTES: i64 = 256 * 1024;

/// A case as listed: what a caseload screen needs, read from the projection tables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaseSummary {
    /// The case.
    pub id: CaseId,
    /// The municipality's case number.
    pub case_number: String,
    /// Status.
    pub status: CaseStatus,
    /// Day of the melding.
    pub melding_date: Date,
    /// The earliest legal deadline still running.
    pub next_deadline: Option<Date>,
    /// Open conflicts, to badge.
    pub open_conflicts: u32,
    /// Decisions waiting for a second signature.
    pub awaiting_signature: u32,
    /// Changes made on this device that the server has not yet accepted.
    pub unsynced: bool,
}

/// Which cases to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Only cases in this status.
    pub status: Option<CaseStatus>,
    /// Only cases assigned to this member.
    pub assignee: Option<MemberId>,
}

/// A decision waiting for a second signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PendingSignature {
    /// The decision.
    pub decision: DecisionId,
    /// Its case.
    pub case: CaseId,
    /// Its category.
    pub category: ProvisionCategory,
    /// Its amount.
    pub amount: Money,
    /// Who asked for the signature.
    pub decided_by: MemberId,
}

/// What a member did with a case, for the access log (NEN 7513). Changes are not logged
/// here: each one is already in the case's own history, with member, device and time, and
/// travels with the document; this log holds what the history cannot show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AccessAction {
    /// Opened the case.
    Read,
    /// Looked at its history or a past state.
    History,
    /// Exported the whole document.
    Export,
}

impl AccessAction {
    fn as_str(self) -> &'static str {
        match self {
            AccessAction::Read => "read",
            AccessAction::History => "history",
            AccessAction::Export => "export",
        }
    }

    fn from_str(s: &str) -> Option<Self> {
        Some(match s {
            "read" => AccessAction::Read,
            "history" => AccessAction::History,
            "export" => AccessAction::Export,
            _ => return None,
        })
    }
}

/// One line of the access log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub member: Option<MemberId>,
    /// On which device.
    pub device: DeviceId,
    /// Which case.
    pub case: CaseId,
    /// What.
    pub action: AccessAction,
}

/// The store on a device: the team's workspace, the cases this member may see, and the
/// access log, encrypted with a [`StoreKey`].
pub struct DeviceStore {
    conn: Connection,
    device: DeviceId,
    member: Option<MemberId>,
    workspace: Option<WorkspaceDoc>,
    cases: HashMap<CaseId, CaseDoc>,
    limits: Limits,
    clock: Clock,
}

/// Where a store reads the time it stamps on changes and log lines.
type Clock = std::sync::Arc<dyn Fn() -> Timestamp + Send + Sync>;

impl std::fmt::Debug for DeviceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceStore")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

fn is_wrong_key(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase)
}

impl DeviceStore {
    /// Opens the store at `path` with `key`, creating it when the file does not exist.
    /// A wrong key fails with [`Error::WrongKey`] before anything is written.
    pub fn open(path: &Path, key: &StoreKey) -> Result<DeviceStore> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "key", key.pragma_value())?;
        conn.pragma_update(None, "cipher_page_size", PAGE_SIZE)?;
        // The first read is what tells a wrong key: SQLCipher cannot decrypt page 1.
        match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(_) => {}
            Err(e) if is_wrong_key(&e) => return Err(Error::WrongKey),
            Err(e) => return Err(e.into()),
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version == 0 {
            conn.execute_batch(&format!(
                "BEGIN; {} PRAGMA user_version = {}; COMMIT;",
                schema::SCHEMA,
                schema::VERSION
            ))?;
        } else if version != schema::VERSION {
            return Err(Error::Corrupt {
                what: "store written by an unknown version",
            });
        }
        let device = match meta(&conn, "device_id")? {
            Some(d) => DeviceId::parse(&d)?,
            None => {
                let d = DeviceId::random();
                set_meta(&conn, "device_id", d.as_str())?;
                d
            }
        };
        let member = meta(&conn, "member_id")?
            .map(|m| MemberId::parse(&m))
            .transpose()?;
        let mut store = DeviceStore {
            conn,
            device,
            member,
            workspace: None,
            cases: HashMap::new(),
            limits: Limits::default(),
            clock: std::sync::Arc::new(Timestamp::now),
        };
        if let Some(ws) = meta(&store.conn, "workspace_id")? {
            store.workspace = Some(store.load_workspace(&ws)?);
        }
        Ok(store)
    }

    /// This device's id (also its Automerge actor).
    pub fn device_id(&self) -> &DeviceId {
        &self.device
    }

    /// The member signed in on this device, once a workspace is created or joined.
    pub fn member_id(&self) -> Option<&MemberId> {
        self.member.as_ref()
    }

    /// The team's workspace.
    pub fn workspace(&self) -> Result<&Workspace> {
        Ok(self
            .workspace
            .as_ref()
            .ok_or(Error::NoWorkspace)?
            .workspace())
    }

    fn author(&self) -> Result<Author> {
        Ok(Author {
            member: self.member.clone().ok_or(Error::NoWorkspace)?,
            device: self.device.clone(),
        })
    }

    /// Creates a new workspace with the signed-in member as its first member (an admin or
    /// team lead). Used when a team starts; devices that join use
    /// [`DeviceStore::join_workspace`].
    pub fn create_workspace(
        &mut self,
        name: &str,
        area: &str,
        founder: NewMember,
    ) -> Result<WorkspaceId> {
        if self.workspace.is_some() {
            return Err(already_joined());
        }
        let author = Author {
            member: MemberId::random(),
            device: self.device.clone(),
        };
        let (mut doc, id) = WorkspaceDoc::create(&author, self.now(), name, area, founder)?;
        doc.take_changes();
        let tx = self.conn.transaction()?;
        insert_document(&tx, id.as_str(), "workspace", &doc.save())?;
        set_meta(&tx, "workspace_id", id.as_str())?;
        set_meta(&tx, "member_id", author.member.as_str())?;
        tx.commit()?;
        self.member = Some(author.member);
        self.workspace = Some(doc);
        Ok(id)
    }

    /// Joins a workspace whose document came from elsewhere (the server, at enrolment), as
    /// `member`, who must be an active member of it, with the device id the server issued.
    pub fn join_workspace(
        &mut self,
        workspace_doc: &[u8],
        member: &MemberId,
        device: &DeviceId,
    ) -> Result<WorkspaceId> {
        self.join_workspace_then(workspace_doc, member, device, |_, _| Ok(()))
    }

    /// [`DeviceStore::join_workspace`], with `also` written in the same transaction; when
    /// `also` fails, nothing is written.
    fn join_workspace_then(
        &mut self,
        workspace_doc: &[u8],
        member: &MemberId,
        device: &DeviceId,
        also: impl FnOnce(&Connection, &WorkspaceId) -> Result<()>,
    ) -> Result<WorkspaceId> {
        if self.workspace.is_some() {
            return Err(already_joined());
        }
        let doc = WorkspaceDoc::load(workspace_doc)?;
        let ws = doc.workspace();
        if ws.member(member).is_none() {
            return Err(rules::RuleViolation::UnknownMember {
                member: member.clone(),
            }
            .into());
        }
        let id = ws.id.clone();
        let tx = self.conn.transaction()?;
        insert_document(&tx, id.as_str(), "workspace", &doc.save())?;
        set_meta(&tx, "workspace_id", id.as_str())?;
        set_meta(&tx, "member_id", member.as_str())?;
        // The server issues the device id at enrolment; it is this store's actor from now on.
        set_meta(&tx, "device_id", device.as_str())?;
        also(&tx, &id)?;
        tx.commit()?;
        self.member = Some(member.clone());
        self.device = device.clone();
        self.workspace = Some(doc);
        Ok(id)
    }

    /// The whole workspace document, for a device that joins.
    pub fn export_workspace(&self) -> Result<Vec<u8>> {
        Ok(self.workspace.as_ref().ok_or(Error::NoWorkspace)?.save())
    }

    /// Changes the workspace through `f` (add members, set mandates and budgets), durably.
    pub fn edit_workspace<T>(
        &mut self,
        f: impl FnOnce(&mut WorkspaceDoc, &Author, Timestamp) -> Result<T>,
    ) -> Result<T> {
        let author = self.author()?;
        let now = self.now();
        let doc = self.workspace.as_mut().ok_or(Error::NoWorkspace)?;
        let result = f(doc, &author, now).and_then(|out| {
            let changes: Vec<Vec<u8>> = doc.take_changes().into_iter().map(|c| c.bytes).collect();
            let id = doc.workspace().id.clone();
            let snapshot = || doc.save();
            let tx = self.conn.transaction()?;
            append_in(&tx, id.as_str(), &changes, true, snapshot)?;
            tx.commit()?;
            Ok(out)
        });
        if result.is_err() {
            // Nothing of a failed edit is kept: back to what the disk holds.
            self.reload_workspace()?;
        }
        result
    }

    /// Applies workspace changes from elsewhere (members, mandates, budgets changed at the
    /// office). Untrusted: checked and quarantined; durable when this returns.
    pub fn apply_remote_workspace_changes(&mut self, bytes: &[u8]) -> Result<bool> {
        let doc = self.workspace.as_mut().ok_or(Error::NoWorkspace)?;
        if !doc.apply_remote(bytes, &self.limits)? {
            return Ok(false);
        }
        let id = doc.workspace().id.clone();
        let snapshot = || doc.save();
        let persisted = self.conn.transaction().map_err(Error::from).and_then(|tx| {
            append_in(&tx, id.as_str(), &[bytes], false, snapshot)?;
            Ok(tx.commit()?)
        });
        if let Err(e) = persisted {
            self.reload_workspace()?;
            return Err(e);
        }
        Ok(true)
    }

    /// Whether a decision of `amount` in `category` is within the signed-in member's mandate:
    /// to show before saving.
    pub fn mandate_check(
        &self,
        category: ProvisionCategory,
        amount: Money,
    ) -> Result<MandateCheck> {
        let author = self.author()?;
        Ok(rules::mandate_check(
            self.workspace()?,
            &author.member,
            category,
            amount,
        ))
    }

    /// Opens a new case; durable when this returns.
    pub fn create_case(&mut self, new: NewCase) -> Result<CaseId> {
        let author = self.author()?;
        let ws = self.workspace()?;
        let ctx = Context {
            workspace: ws,
            author: &author,
            now: self.now(),
        };
        let (mut doc, id) = CaseDoc::create(&ctx, new)?;
        doc.take_changes();
        let tx = self.conn.transaction()?;
        insert_document(&tx, id.as_str(), "case", &doc.save())?;
        tx.execute(
            "UPDATE documents SET dirty = 1 WHERE doc_id = ?1",
            [id.as_str()],
        )?;
        project(&tx, doc.case(), &doc.conflicts())?;
        tx.commit()?;
        self.cases.insert(id.clone(), doc);
        Ok(id)
    }

    /// Changes a case through `f`, which calls [`CaseDoc`] operations with the given
    /// context. Every change `f` made is durable when this returns; on any error nothing of
    /// it is kept.
    /// For example `store.edit_case(&case, |doc, ctx| doc.decide(ctx, &decision))`.
    pub fn edit_case<T>(
        &mut self,
        id: &CaseId,
        f: impl FnOnce(&mut CaseDoc, &Context<'_>) -> Result<T>,
    ) -> Result<T> {
        let author = self.author()?;
        let now = self.now();
        self.ensure_loaded(id)?;
        let ws = self
            .workspace
            .as_ref()
            .ok_or(Error::NoWorkspace)?
            .workspace();
        let doc = self.cases.get_mut(id).ok_or_else(|| not_found(id))?;
        let ctx = Context {
            workspace: ws,
            author: &author,
            now,
        };
        let result = f(doc, &ctx).and_then(|out| {
            let changes: Vec<Vec<u8>> = doc.take_changes().into_iter().map(|c| c.bytes).collect();
            if !changes.is_empty() {
                persist_case(&mut self.conn, doc, &changes, true)?;
            }
            Ok(out)
        });
        if result.is_err() {
            // An operation of `f` may have succeeded before a later one failed: the
            // document in memory is then ahead of the disk. The disk is the truth.
            self.cases.remove(id);
        }
        result
    }

    /// The case as it stands now. Logged as a read.
    pub fn case(&mut self, id: &CaseId) -> Result<Case> {
        self.ensure_loaded(id)?;
        self.log(id, AccessAction::Read)?;
        Ok(self
            .cases
            .get(id)
            .ok_or_else(|| not_found(id))?
            .case()
            .clone())
    }

    /// Open conflicts of a case. Logged as a read: the values are case contents.
    pub fn conflicts(&mut self, id: &CaseId) -> Result<Vec<Conflict>> {
        self.ensure_loaded(id)?;
        self.log(id, AccessAction::Read)?;
        Ok(self.cases.get(id).ok_or_else(|| not_found(id))?.conflicts())
    }

    /// The history of a case, oldest first. Logged.
    pub fn history(&mut self, id: &CaseId) -> Result<Vec<HistoryEntry>> {
        self.ensure_loaded(id)?;
        self.log(id, AccessAction::History)?;
        Ok(self.cases.get(id).ok_or_else(|| not_found(id))?.history())
    }

    /// The case as it was right after `change`. Logged.
    pub fn case_at(&mut self, id: &CaseId, change: &ChangeRef) -> Result<Case> {
        self.ensure_loaded(id)?;
        self.log(id, AccessAction::History)?;
        self.cases
            .get(id)
            .ok_or_else(|| not_found(id))?
            .state_at(change)
    }

    /// The whole case document, compacted, e.g. for a first sync. Logged as an export.
    pub fn export_case(&mut self, id: &CaseId) -> Result<Vec<u8>> {
        self.ensure_loaded(id)?;
        self.log(id, AccessAction::Export)?;
        Ok(self.cases.get(id).ok_or_else(|| not_found(id))?.save())
    }

    /// Takes in a whole case document from elsewhere (a first sync). Untrusted: checked and
    /// quarantined before anything is stored. Merges with the local replica if there is one.
    pub fn import_case(&mut self, bytes: &[u8]) -> Result<CaseId> {
        let incoming = CaseDoc::load_with_limits(bytes, &self.limits)?;
        let id = incoming.id().clone();
        if self.has_case(&id)? {
            self.apply_remote_changes(&id, bytes)?;
            return Ok(id);
        }
        if incoming.case().workspace != self.workspace()?.id {
            return Err(crate::untrusted::wrong_kind("case of this workspace").into());
        }
        let tx = self.conn.transaction()?;
        insert_document(&tx, id.as_str(), "case", &incoming.save())?;
        project(&tx, incoming.case(), &incoming.conflicts())?;
        tx.commit()?;
        self.cases.insert(id.clone(), incoming);
        Ok(id)
    }

    /// Applies changes from elsewhere to a case this device holds. Untrusted: size-limited,
    /// checked and quarantined; durable when this returns. Returns whether anything changed.
    pub fn apply_remote_changes(&mut self, id: &CaseId, bytes: &[u8]) -> Result<bool> {
        self.ensure_loaded(id)?;
        let doc = self.cases.get_mut(id).ok_or_else(|| not_found(id))?;
        let result = doc.apply_remote(bytes, &self.limits).and_then(|changed| {
            if changed {
                persist_case(&mut self.conn, doc, &[bytes], false).map(|()| true)
            } else {
                Ok(false)
            }
        });
        if result.is_err() {
            self.cases.remove(id);
        }
        result
    }

    /// Cases from the projection, soonest deadline first. Loads no document.
    pub fn list_cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>> {
        let mut sql = String::from(
            "SELECT c.case_id, c.case_number, c.status, c.melding_date, c.next_deadline, c.open_conflicts, c.awaiting_signature, \
             COALESCE(d.dirty, 0) FROM cases c LEFT JOIN documents d ON d.doc_id = c.case_id",
        );
        let mut args: Vec<String> = Vec::new();
        let mut clauses = Vec::new();
        if let Some(m) = &filter.assignee {
            sql.push_str(" JOIN case_assignees a ON a.case_id = c.case_id");
            clauses.push("a.member_id = ?");
            args.push(m.to_string());
        }
        if let Some(s) = filter.status {
            clauses.push("c.status = ?");
            args.push(s.as_str().to_owned());
        }
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(" ORDER BY c.next_deadline IS NULL, c.next_deadline, c.case_number");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, u32>(5)?,
                r.get::<_, u32>(6)?,
                r.get::<_, bool>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, number, status, melding, deadline, conflicts, awaiting, unsynced) = row?;
            out.push(CaseSummary {
                id: CaseId::parse(&id)?,
                case_number: number,
                status: CaseStatus::from_name(&status).ok_or_else(corrupt)?,
                melding_date: parse_date(&melding).ok_or_else(corrupt)?,
                next_deadline: deadline.as_deref().and_then(parse_date),
                open_conflicts: conflicts,
                awaiting_signature: awaiting,
                unsynced,
            });
        }
        Ok(out)
    }

    /// The signed-in member's cases, soonest deadline first.
    pub fn my_cases(&self) -> Result<Vec<CaseSummary>> {
        let me = self.author()?.member;
        self.list_cases(&CaseFilter {
            status: None,
            assignee: Some(me),
        })
    }

    /// Decisions waiting for a second signature that the signed-in member may give: their
    /// mandate covers it, they did not ask for it themselves, and they may work the case
    /// (assigned to it, or team lead).
    pub fn awaiting_my_signature(&self) -> Result<Vec<PendingSignature>> {
        let me = self.author()?.member;
        let ws = self.workspace()?;
        let team_lead = ws.member(&me).is_some_and(|m| m.role == Role::TeamLead);
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.decision_id, p.case_id, p.category, p.amount_cents, p.decided_by FROM pending_signatures p
             WHERE ?1 OR EXISTS (SELECT 1 FROM case_assignees a WHERE a.case_id = p.case_id AND a.member_id = ?2)
             ORDER BY p.created_at",
        )?;
        let rows = stmt.query_map(params![team_lead, me.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (decision, case, category, amount, decided_by) = row?;
            let p = PendingSignature {
                decision: DecisionId::parse(&decision)?,
                case: CaseId::parse(&case)?,
                category: ProvisionCategory::from_name(&category).ok_or_else(corrupt)?,
                amount: Money(amount),
                decided_by: MemberId::parse(&decided_by)?,
            };
            if p.decided_by != me
                && rules::mandate_check(ws, &me, p.category, p.amount).allows_deciding()
            {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Cases with open conflicts, and how many each.
    pub fn cases_with_conflicts(&self) -> Result<Vec<(CaseId, u32)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT case_id, open_conflicts FROM cases WHERE open_conflicts > 0 ORDER BY case_id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))?;
        rows.map(|r| {
            let (id, n) = r?;
            Ok((CaseId::parse(&id)?, n))
        })
        .collect()
    }

    /// The access log, oldest first.
    pub fn access_log(&self) -> Result<Vec<AccessEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, member_id, device_id, case_id, action FROM access_log ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (at, member, device, case, action) = row?;
            out.push(AccessEntry {
                at: Timestamp(at),
                member: member.map(|m| MemberId::parse(&m)).transpose()?,
                device: DeviceId::parse(&device)?,
                case: CaseId::parse(&case)?,
                action: AccessAction::from_str(&action).ok_or_else(corrupt)?,
            });
        }
        Ok(out)
    }

    /// Compacts every document with appended changes into one snapshot, e.g. when the app
    /// goes idle. Writes happen in one transaction; reads are unaffected.
    pub fn compact_all(&mut self) -> Result<usize> {
        let due: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT doc_id FROM documents WHERE pending > 0 AND kind = 'case'")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for doc_id in &due {
            self.ensure_loaded(&CaseId::parse(doc_id)?)?;
        }
        let tx = self.conn.transaction()?;
        for doc_id in &due {
            let doc = self
                .cases
                .get(&CaseId::parse(doc_id)?)
                .ok_or(Error::Corrupt {
                    what: "document vanished",
                })?;
            replace_snapshot(&tx, doc_id, &doc.save())?;
        }
        tx.commit()?;
        Ok(due.len())
    }

    /// Moves the write-ahead log into the main file and gives free pages back to the file
    /// system, e.g. after compaction or before measuring the store's size.
    pub fn checkpoint_and_vacuum(&mut self) -> Result<()> {
        self.conn.execute_batch(
            "PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);",
        )?;
        Ok(())
    }

    /// Bytes each table and index takes in the file.
    pub fn table_sizes(&self) -> Result<Vec<(String, i64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Runs SQLite's integrity check; `Ok(())` when the store is intact.
    pub fn integrity_check(&self) -> Result<()> {
        let result: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(Error::Corrupt {
                what: "integrity check failed",
            })
        }
    }

    fn has_case(&self, id: &CaseId) -> Result<bool> {
        Ok(self.cases.contains_key(id)
            || self
                .conn
                .query_row(
                    "SELECT 1 FROM documents WHERE doc_id = ?1 AND kind = 'case'",
                    [id.as_str()],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
    }

    fn log(&self, id: &CaseId, action: AccessAction) -> Result<()> {
        let author = self.author()?;
        log_access(&self.conn, &author, id, action, self.now())
    }

    fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// Makes the store read the time from `clock` instead of the system clock. Times are
    /// only recorded, never compared across devices, so a phone whose clock is off changes
    /// nothing but the times shown; a simulation sets skewed clocks to prove it.
    pub fn set_clock(&mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) {
        self.clock = std::sync::Arc::new(clock);
    }

    /// The heads of a case on this device: the changes everything here builds on. Equal
    /// heads mean equal contents; a change is held here when it is among or before them.
    pub fn heads(&mut self, id: &CaseId) -> Result<Vec<ChangeRef>> {
        self.ensure_loaded(id)?;
        Ok(self.cases.get(id).ok_or_else(|| not_found(id))?.heads())
    }

    fn load_bytes(&self, doc_id: &str) -> Result<Vec<u8>> {
        self.conn
            .query_row(
                "SELECT snapshot FROM documents WHERE doc_id = ?1",
                [doc_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::NotFound {
                what: "document",
                id: doc_id.to_owned(),
            })
    }

    /// The changes appended since the last compaction, concatenated: Automerge takes them
    /// as one batch, so the document is copied once, not once per change.
    fn pending_changes(&self, doc_id: &str) -> Result<Vec<u8>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT data FROM changes WHERE doc_id = ?1 ORDER BY seq")?;
        let mut rows = stmt.query([doc_id])?;
        let mut all = Vec::new();
        while let Some(row) = rows.next()? {
            let blob: Vec<u8> = row.get(0)?;
            all.extend_from_slice(&blob);
        }
        Ok(all)
    }

    fn ensure_loaded(&mut self, id: &CaseId) -> Result<()> {
        if self.cases.contains_key(id) {
            return Ok(());
        }
        let snapshot = self.load_bytes(id.as_str()).map_err(|_| not_found(id))?;
        let mut doc = CaseDoc::load_with_limits(&snapshot, &self.limits)?;
        let pending = self.pending_changes(id.as_str())?;
        if !pending.is_empty() {
            doc.apply_remote(&pending, &self.replay_limits())?;
        }
        self.cases.insert(id.clone(), doc);
        Ok(())
    }

    /// What this store itself appended is bounded by compaction, not by the limit for one
    /// batch from elsewhere.
    fn replay_limits(&self) -> Limits {
        Limits {
            max_changes_bytes: self.limits.max_document_bytes,
            ..self.limits.clone()
        }
    }

    fn load_workspace(&self, id: &str) -> Result<WorkspaceDoc> {
        let mut doc = WorkspaceDoc::load(&self.load_bytes(id)?)?;
        let pending = self.pending_changes(id)?;
        if !pending.is_empty() {
            doc.apply_remote(&pending, &self.replay_limits())?;
        }
        Ok(doc)
    }

    fn reload_workspace(&mut self) -> Result<()> {
        self.workspace = None;
        let id = meta(&self.conn, "workspace_id")?.ok_or(Error::NoWorkspace)?;
        self.workspace = Some(self.load_workspace(&id)?);
        Ok(())
    }
}

/// Appends a case's changes in one durable transaction, with its projection, compacting
/// when due.
fn persist_case(
    conn: &mut Connection,
    doc: &CaseDoc,
    changes: &[impl AsRef<[u8]>],
    local: bool,
) -> Result<()> {
    let tx = conn.transaction()?;
    append_in(&tx, doc.id().as_str(), changes, local, || doc.save())?;
    project(&tx, doc.case(), &doc.conflicts())?;
    tx.commit()?;
    Ok(())
}

/// `local`: the changes were made here, so the server lacks them until it accepts them.
fn append_in(
    tx: &Transaction<'_>,
    doc_id: &str,
    changes: &[impl AsRef<[u8]>],
    local: bool,
    snapshot: impl FnOnce() -> Vec<u8>,
) -> Result<()> {
    let mut insert = tx.prepare_cached("INSERT INTO changes (doc_id, data) VALUES (?1, ?2)")?;
    let mut bytes = 0i64;
    for c in changes {
        let c = c.as_ref();
        insert.execute(params![doc_id, c])?;
        bytes = bytes.saturating_add(i64::try_from(c.len()).unwrap_or(i64::MAX));
    }
    let n = i64::try_from(changes.len()).unwrap_or(i64::MAX);
    let (pending, pending_bytes): (i64, i64) = tx.query_row(
        "UPDATE documents SET pending = pending + ?2, pending_bytes = pending_bytes + ?3, dirty = dirty OR ?4 WHERE doc_id = ?1 RETURNING pending, pending_bytes",
        params![doc_id, n, bytes, local],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if pending >= COMPACT_AFTER_CHANGES || pending_bytes >= COMPACT_AFTER_BYTES {
        replace_snapshot(tx, doc_id, &snapshot())?;
    }
    Ok(())
}

/// Erases a case and its projection (the access log keeps what happened).
fn erase_case_in(tx: &Connection, id: &CaseId) -> Result<()> {
    for table in ["changes", "documents"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE doc_id = ?1"),
            [id.as_str()],
        )?;
    }
    for table in ["cases", "case_assignees", "pending_signatures"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE case_id = ?1"),
            [id.as_str()],
        )?;
    }
    Ok(())
}

/// Replaces a document's snapshot and drops the changes it now contains.
fn replace_snapshot(tx: &Connection, doc_id: &str, snapshot: &[u8]) -> Result<()> {
    tx.execute(
        "UPDATE documents SET snapshot = ?2, pending = 0, pending_bytes = 0 WHERE doc_id = ?1",
        params![doc_id, snapshot],
    )?;
    tx.execute("DELETE FROM changes WHERE doc_id = ?1", [doc_id])?;
    Ok(())
}

fn insert_document(tx: &Connection, doc_id: &str, kind: &str, snapshot: &[u8]) -> Result<()> {
    tx.execute(
        "INSERT INTO documents (doc_id, kind, snapshot) VALUES (?1, ?2, ?3)",
        params![doc_id, kind, snapshot],
    )?;
    Ok(())
}

fn project(tx: &Connection, case: &Case, conflicts: &[Conflict]) -> Result<()> {
    let id = case.id.as_str();
    let awaiting: Vec<_> = case.awaiting_signature().collect();
    tx.execute(
        "INSERT OR REPLACE INTO cases (case_id, case_number, status, melding_date, next_deadline, open_conflicts, awaiting_signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            case.case_number,
            case.status.as_str(),
            format_date(case.melding_date),
            case.next_deadline().map(format_date),
            i64::try_from(conflicts.len()).unwrap_or(i64::MAX),
            i64::try_from(awaiting.len()).unwrap_or(i64::MAX),
        ],
    )?;
    tx.execute("DELETE FROM case_assignees WHERE case_id = ?1", [id])?;
    let mut assign =
        tx.prepare_cached("INSERT INTO case_assignees (case_id, member_id) VALUES (?1, ?2)")?;
    for m in &case.assigned {
        assign.execute(params![id, m.as_str()])?;
    }
    tx.execute("DELETE FROM pending_signatures WHERE case_id = ?1", [id])?;
    let mut pending = tx.prepare_cached(
        "INSERT INTO pending_signatures (decision_id, case_id, category, amount_cents, decided_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for d in awaiting {
        pending.execute(params![
            d.id.as_str(),
            id,
            d.category.as_str(),
            d.amount.cents(),
            d.decided_by.as_str(),
            d.created_at.0
        ])?;
    }
    Ok(())
}

fn log_access(
    conn: &Connection,
    author: &Author,
    case: &CaseId,
    action: AccessAction,
    at: Timestamp,
) -> Result<()> {
    conn.prepare_cached("INSERT INTO access_log (at, member_id, device_id, case_id, action) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![at.0, author.member.as_str(), author.device.as_str(), case.as_str(), action.as_str()])?;
    Ok(())
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        [key, value],
    )?;
    Ok(())
}

fn already_joined() -> Error {
    Error::Rule(rules::RuleViolation::Invalid {
        item: crate::ItemRef::Workspace,
        field: "id",
        reason: "this device already holds a workspace",
    })
}

fn not_found(id: &CaseId) -> Error {
    Error::NotFound {
        what: "case",
        id: id.to_string(),
    }
}

fn corrupt() -> Error {
    Error::Corrupt {
        what: "unreadable projection row",
    }
}

#[cfg(test)]
mod tests {
    /// The bindings hold a store behind a mutex and call it from any thread.
    #[test]
    fn a_store_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<super::DeviceStore>();
        send::<crate::CaseDoc>();
    }
}
