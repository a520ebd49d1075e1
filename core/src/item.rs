//! References to the parts of a document, used by rule violations, conflicts and history.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{
    AgreementId, AssessmentId, ConversationId, DecisionId, GoalId, MemberId, ParticipantId,
    PersonId, ProgressId, SignalId,
};

/// One part of a case or workspace document. Carries identifiers only, never personal
/// data, so it is safe in error messages and logs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ItemRef {
    /// The case's own fields (status, dates, assignment).
    Case,
    /// A person of the household.
    Person(PersonId),
    /// A conversation.
    Conversation(ConversationId),
    /// A participant of a conversation.
    Participant(ConversationId, ParticipantId),
    /// An agreement of a conversation.
    Agreement(ConversationId, AgreementId),
    /// A decision.
    Decision(DecisionId),
    /// A plan goal.
    Goal(GoalId),
    /// A progress note of a goal.
    Progress(GoalId, ProgressId),
    /// A ZRM assessment.
    Assessment(AssessmentId),
    /// A knelpunt signal.
    Signal(SignalId),
    /// The workspace's own fields.
    Workspace,
    /// A member of the workspace.
    Member(MemberId),
    /// The team budget of a period (by the period's first day).
    Budget(String),
}

impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemRef::Case => f.write_str("case"),
            ItemRef::Person(id) => write!(f, "person {}", id.short()),
            ItemRef::Conversation(id) => write!(f, "conversation {}", id.short()),
            ItemRef::Participant(c, p) => {
                write!(f, "participant {} of conversation {}", p.short(), c.short())
            }
            ItemRef::Agreement(c, a) => {
                write!(f, "agreement {} of conversation {}", a.short(), c.short())
            }
            ItemRef::Decision(id) => write!(f, "decision {}", id.short()),
            ItemRef::Goal(id) => write!(f, "goal {}", id.short()),
            ItemRef::Progress(g, p) => {
                write!(f, "progress note {} of goal {}", p.short(), g.short())
            }
            ItemRef::Assessment(id) => write!(f, "ZRM assessment {}", id.short()),
            ItemRef::Signal(id) => write!(f, "knelpunt {}", id.short()),
            ItemRef::Workspace => f.write_str("workspace"),
            ItemRef::Member(id) => write!(f, "member {}", id.short()),
            ItemRef::Budget(start) => write!(f, "budget from {start}"),
        }
    }
}
