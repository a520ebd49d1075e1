//! Who makes a change, from which device, and when.

use automerge::ActorId;
use serde::{Deserialize, Serialize};

use crate::ids::{DeviceId, MemberId};
use crate::item::ItemRef;
use crate::model::{Timestamp, Workspace};

/// The author of a change: a member working on a device. The device is the change's
/// Automerge actor; the member travels in the change's message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// The member.
    pub member: MemberId,
    /// The device.
    pub device: DeviceId,
}

/// Everything a change is judged against: the author, the time (injected, never read from
/// a clock here) and the workspace whose members and mandates the rulebook consults.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The team's workspace as this replica knows it.
    pub workspace: &'a Workspace,
    /// Who makes the change.
    pub author: &'a Author,
    /// When.
    pub now: Timestamp,
}

pub(crate) fn actor_for(device: &DeviceId) -> ActorId {
    ActorId::from(device.as_str().as_bytes())
}

pub(crate) fn device_of(actor: &ActorId) -> Option<DeviceId> {
    std::str::from_utf8(actor.to_bytes())
        .ok()
        .and_then(|s| DeviceId::parse(s).ok())
}

/// What a change's message carries: who made it and what it did, in words.
#[derive(Serialize, Deserialize)]
pub(crate) struct ChangeNote {
    pub member: MemberId,
    pub summary: String,
    /// Set on a change that resolves a conflict of this item: the rulebook judges it so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolves: Option<ItemRef>,
}

impl ChangeNote {
    pub fn encode(member: &MemberId, summary: &str, resolves: Option<&ItemRef>) -> String {
        let note = ChangeNote {
            member: member.clone(),
            summary: summary.to_owned(),
            resolves: resolves.cloned(),
        };
        serde_json::to_string(&note).unwrap_or_default()
    }

    pub fn decode(message: Option<&str>) -> Option<ChangeNote> {
        message.and_then(|m| serde_json::from_str(m).ok())
    }
}
