//! Keukentafel core: the data model, rulebook and device store shared by the phone and the
//! sync server.
//!
//! - [`model`]: typed domain (workspace, case, conversation, decision, goal, ZRM, knelpunt)
//!   read from Automerge documents; no Automerge types in the public API.
//! - [`CaseDoc`] / [`WorkspaceDoc`]: a document as a replica; every operation is one
//!   Automerge change, judged by the [`rules`] before it is kept.
//! - [`rules`]: the rulebook, the one place every domain rule lives.
//! - [`Conflict`]: concurrent edits are shown to people, never resolved silently.
//! - [`DeviceStore`]: the durable, encrypted store on the phone.
//!
//! Untrusted bytes (documents and changes from elsewhere) pass through size limits and a
//! panic quarantine before Automerge sees them; see [`Limits`].

mod am;
mod change;
mod conflict;
mod context;
mod doc;
mod error;
mod history;
mod ids;
mod item;
pub mod model;
pub mod rules;
mod untrusted;

pub use change::{ChangeRef, LocalChange};
pub use conflict::{Conflict, ConflictId, ConflictKind, ConflictValue};
pub use context::{Author, Context};
pub use doc::{CaseDoc, NotesEdit, WorkspaceDoc};
pub use error::{Error, Result, UntrustedInput};
pub use history::HistoryEntry;
pub use ids::*;
pub use item::ItemRef;
pub use untrusted::Limits;
mod store;
pub use store::{
    AccessAction, AccessEntry, CaseFilter, CaseSummary, DeviceStore, PendingSignature, StoreKey,
};
