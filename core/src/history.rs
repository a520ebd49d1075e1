//! The audit trail of a document: every change with its author, device, time and summary.

use automerge::Automerge;
use serde::Serialize;

use crate::change::ChangeRef;
use crate::context::{ChangeNote, device_of};
use crate::ids::{DeviceId, MemberId};
use crate::model::Timestamp;

/// Longest summary kept from a change: the text came from another device.
const MAX_SUMMARY: usize = 200;

/// One change in a document's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The change, to look at the state right after it.
    pub change: ChangeRef,
    /// The member who made it, when recorded.
    pub member: Option<MemberId>,
    /// The device it was made on.
    pub device: Option<DeviceId>,
    /// When (the device's clock).
    pub at: Timestamp,
    /// What it did, in words.
    pub summary: String,
}

pub(crate) fn entries(doc: &Automerge) -> Vec<HistoryEntry> {
    doc.get_changes_meta(&[])
        .into_iter()
        .map(|m| {
            let note = ChangeNote::decode(m.message.as_deref());
            HistoryEntry {
                change: ChangeRef::from_hash(&m.hash),
                device: device_of(&m.actor),
                at: Timestamp(m.timestamp),
                summary: note
                    .as_ref()
                    .map(|n| n.summary.chars().take(MAX_SUMMARY).collect())
                    .unwrap_or_default(),
                member: note.map(|n| n.member),
            }
        })
        .collect()
}
