//! The typed domain model: plain Rust values read from (and written to) Automerge documents.
//!
//! Nothing here exposes Automerge types: a [`Case`] or a [`Workspace`] is a snapshot of a
//! document at some point, produced by [`crate::CaseDoc`] / [`crate::WorkspaceDoc`].

mod case;
mod conversation;
mod decision;
mod goal;
mod signal;
mod values;
mod workspace;
mod zrm;

pub use case::{
    Case, CaseStatus, ClosureReason, Deadlines, HouseholdMember, HouseholdRole, Law, NewCase,
    NewHouseholdMember, Retention,
};
pub use conversation::{
    Agreement, Conversation, NewAgreement, NewConversation, NewParticipant, Participant,
    ParticipantKind,
};
pub use decision::{Decision, DecisionStatus, NewDecision, ProvisionCategory};
pub use goal::{Goal, GoalStatus, NewGoal, PlanKind, ProgressNote};
pub use signal::{KnelpuntCategory, KnelpuntSignal, NewKnelpuntSignal};
pub use values::{Money, Period, Timestamp};
pub use workspace::{Budget, Mandate, Member, NewMember, Role, Workspace};
pub use zrm::{LifeDomain, NewAssessment, ZrmAssessment, ZrmVersion};

pub(crate) use case::read_case;
pub(crate) use workspace::read_workspace;

/// Declares a closed set of values stored as stable snake_case strings in documents.
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $s:literal / $label:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable name stored in documents and the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            /// The Dutch label users see.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            /// Reads the stored name back; `None` for a name this version does not know.
            pub fn from_name(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.label())
            }
        }

        impl crate::am::StoredEnum for $name {
            fn stored(self) -> &'static str {
                self.as_str()
            }
            fn from_stored(s: &str) -> Option<Self> {
                Self::from_name(s)
            }
        }
    };
}
pub(crate) use string_enum;
