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
//! Untrusted bytes (documents and changes from elsewhere) pass through size limits, a
//! structural check and a panic quarantine before Automerge sees them; see [`Limits`].
//!
//! # An offline edit and a sync
//!
//! ```
//! use std::collections::BTreeSet;
//! use keukentafel_core::model::*;
//! use keukentafel_core::{Author, CaseDoc, Context, DeviceId, Limits, MemberId, WorkspaceDoc};
//! use time::macros::date;
//!
//! # fn main() -> keukentafel_core::Result<()> {
//! // A team lead and a practitioner, each on their own device.
//! let lead = Author { member: MemberId::random(), device: DeviceId::random() };
//! let sanne = Author { member: MemberId::random(), device: DeviceId::random() };
//! let mandate = Mandate::default().with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(2_500));
//! let (mut team, _) = WorkspaceDoc::create(&lead, Timestamp::now(), "Wijkteam Noord", "Noord",
//!     NewMember { display_name: "Fatima".into(), role: Role::TeamLead, mandate: mandate.clone() })?;
//! team.add_member(&lead, Timestamp::now(), &sanne.member,
//!     NewMember { display_name: "Sanne".into(), role: Role::Practitioner, mandate })?;
//! let ws = team.workspace().clone();
//!
//! // On Sanne's phone, without a connection: open a case and record the visit.
//! let ctx = Context { workspace: &ws, author: &sanne, now: Timestamp::now() };
//! let (mut phone, _case) = CaseDoc::create(&ctx, NewCase {
//!     case_number: "2026-0412".into(), law: Law::Wmo, melding_date: date!(2026 - 11 - 02),
//!     household: vec![NewHouseholdMember { name: "J. de Vries".into(), birth_date: None, role: HouseholdRole::Resident }],
//!     assigned: vec![],
//! })?;
//! let office = CaseDoc::load(&phone.save())?; // the office already had the case
//! phone.record_conversation(&ctx, NewConversation {
//!     date: date!(2026 - 11 - 20), place: "thuis".into(),
//!     participants: vec![NewParticipant { kind: ParticipantKind::Resident, name: "mevrouw De Vries".into(), person: None, member: None }],
//!     question: "Ik wil thuis blijven wonen.".into(), domains: BTreeSet::new(),
//!     notes: "Trap lukt niet meer.".into(), agreements: vec![], client_support_offered: true,
//! })?;
//!
//! // Back at the office: only the changes the office lacks travel, and merge.
//! let mut office = office;
//! let missing = phone.changes_since(&office.heads());
//! office.apply_remote(&missing, &Limits::default())?;
//! assert_eq!(office.case(), phone.case());
//! assert_eq!(office.case().conversations.len(), 1);
//! # Ok(()) }
//! ```

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
pub mod sample;
pub mod sync;
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
    AccessAction, AccessEntry, CaseFilter, CaseSummary, DeviceStore, PendingSignature,
    QuarantinedChanges, StoreKey, SyncRound, SyncStep,
};
