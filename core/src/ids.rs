//! Typed identifiers.
//!
//! Every identifier is a short ASCII string (a random UUID in simple form for the ones this
//! code creates), so that it can be a key in an Automerge map, a column in SQLite and an
//! argument in a binding without conversion. Each concept has its own type so that a
//! `CaseId` can never be passed where a `MemberId` is meant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest identifier accepted from outside; keeps keys and log lines bounded.
const MAX_ID_LEN: usize = 64;

fn validate(kind: &'static str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId { kind })
    }
}

thread_local! {
    /// The state of this thread's seeded identifier sequence, when one is set.
    static SEEDED: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Makes the identifiers created on this thread come from `seed` (`None`: the system's
/// random source again). A deterministic simulation replays a run from its seed only if
/// every identifier it creates is the same each time; apps never call this.
pub fn seed_ids_on_this_thread(seed: Option<u64>) {
    SEEDED.with(|s| s.set(seed));
}

fn new_id() -> String {
    SEEDED.with(|s| match s.get() {
        None => uuid::Uuid::new_v4().simple().to_string(),
        Some(state) => {
            // SplitMix64, two outputs: 128 bits shaped like the UUIDs made otherwise.
            let mut next = state;
            let mut word = || {
                next = next.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = next;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            };
            let id = format!("{:016x}{:016x}", word(), word());
            s.set(Some(next));
            id
        }
    })
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A new random identifier.
            pub fn random() -> Self {
                Self(new_id())
            }

            /// Checks and wraps an identifier that came from outside (a binding, a
            /// document, the database).
            pub fn parse(s: &str) -> Result<Self> {
                validate($kind, s)?;
                Ok(Self(s.to_owned()))
            }

            /// The identifier as stored.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A short reference for people, e.g. in history summaries: the kind's
            /// prefix and the first six characters.
            pub fn short(&self) -> String {
                let head: String = self.0.chars().take(6).collect();
                format!("{}-{}", $prefix, head.to_uppercase())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                validate($kind, &s)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

typed_id!(
    /// A team's workspace document.
    WorkspaceId, "workspace", "W"
);
typed_id!(
    /// A member of a team (practitioner, team lead or admin).
    MemberId, "member", "M"
);
typed_id!(
    /// One enrolled device; also its Automerge actor, so every change names its device.
    DeviceId, "device", "DEV"
);
typed_id!(
    /// A case (one household) and its document.
    CaseId, "case", "C"
);
typed_id!(
    /// A person in a household.
    PersonId, "person", "P"
);
typed_id!(
    /// A kitchen-table conversation within a case.
    ConversationId, "conversation", "KTG"
);
typed_id!(
    /// An agreement made in a conversation.
    AgreementId, "agreement", "A"
);
typed_id!(
    /// A participant of a conversation.
    ParticipantId, "participant", "PT"
);
typed_id!(
    /// A maatwerk decision within a case.
    DecisionId, "decision", "D"
);
typed_id!(
    /// A goal of a persoonlijk plan or familiegroepsplan.
    GoalId, "goal", "G"
);
typed_id!(
    /// A progress note on a goal.
    ProgressId, "progress", "PR"
);
typed_id!(
    /// A ZRM assessment within a case.
    AssessmentId, "assessment", "ZRM"
);
typed_id!(
    /// A knelpunt signal raised from a case.
    SignalId, "knelpunt", "K"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_outside_are_checked() {
        assert!(CaseId::parse("abc-123_x").is_ok());
        assert!(CaseId::parse("").is_err());
        assert!(CaseId::parse("a/b").is_err());
        assert!(CaseId::parse("'; drop table cases; --").is_err());
        assert!(CaseId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn short_reference_names_the_kind() {
        let id = DecisionId::parse("3f2a1cdeadbeef").expect("valid id");
        assert_eq!(id.short(), "D-3F2A1C");
    }
}
