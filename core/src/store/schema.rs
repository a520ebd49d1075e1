//! The device store's tables.
//!
//! Documents are kept as a compacted snapshot plus the changes appended since; the other
//! tables are projections of the case documents, rebuilt on every write of a case, so that
//! lists of thousands of cases never load a document.

pub(super) const VERSION: i64 = 1;

pub(super) const SCHEMA: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE documents (
    doc_id        TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('workspace', 'case')),
    snapshot      BLOB NOT NULL,
    pending       INTEGER NOT NULL DEFAULT 0,
    pending_bytes INTEGER NOT NULL DEFAULT 0,
    server_heads  BLOB NOT NULL DEFAULT x'',
    dirty         INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX documents_dirty ON documents(dirty) WHERE dirty = 1;

CREATE TABLE lacking (
    doc_id TEXT PRIMARY KEY
) STRICT;

CREATE TABLE quarantine (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    reason  TEXT NOT NULL,
    changes BLOB NOT NULL
) STRICT;

CREATE TABLE changes (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    data   BLOB NOT NULL
) STRICT;
CREATE INDEX changes_by_doc ON changes(doc_id, seq);

CREATE TABLE cases (
    case_id            TEXT PRIMARY KEY,
    case_number        TEXT NOT NULL,
    status             TEXT NOT NULL,
    melding_date       TEXT NOT NULL,
    next_deadline      TEXT,
    open_conflicts     INTEGER NOT NULL,
    awaiting_signature INTEGER NOT NULL
) STRICT;
CREATE INDEX cases_by_status ON cases(status, next_deadline);
CREATE INDEX cases_by_deadline ON cases(next_deadline);

CREATE TABLE case_assignees (
    case_id   TEXT NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (case_id, member_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX assignees_by_member ON case_assignees(member_id, case_id);

CREATE TABLE pending_signatures (
    decision_id  TEXT PRIMARY KEY,
    case_id      TEXT NOT NULL,
    category     TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    decided_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX pending_by_case ON pending_signatures(case_id);

CREATE TABLE access_log (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    member_id TEXT,
    device_id TEXT NOT NULL,
    case_id   TEXT NOT NULL,
    action    TEXT NOT NULL
) STRICT;
";
