//! The wire format: versioned, binary, specified in `docs/protocol.md`.
//!
//! A frame is one protocol-version byte followed by one message in postcard encoding
//! (varint integers, length-prefixed byte strings and sequences, enum variants by index).
//! Automerge changes travel as raw byte strings, so the protocol adds only a few bytes per
//! document to the changes themselves.

use serde::{Deserialize, Serialize};

use crate::change::ChangeRef;
use crate::error::UntrustedInput;
use crate::ids::{CaseId, WorkspaceId};

/// The protocol version this core speaks.
pub const PROTOCOL_VERSION: u8 = 1;

/// Largest frame accepted; a sender splits larger work over several messages.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// A document that sync moves.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DocRef {
    /// The team's workspace document.
    Workspace(WorkspaceId),
    /// A case document.
    Case(CaseId),
}

impl std::fmt::Display for DocRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocRef::Workspace(id) => write!(f, "workspace {}", id.short()),
            DocRef::Case(id) => write!(f, "case {}", id.short()),
        }
    }
}

impl DocRef {
    /// The document's id, as stored.
    pub fn id(&self) -> &str {
        match self {
            DocRef::Workspace(id) => id.as_str(),
            DocRef::Case(id) => id.as_str(),
        }
    }

    /// The kind, as stored: `workspace` or `case`.
    pub fn kind(&self) -> &'static str {
        match self {
            DocRef::Workspace(_) => "workspace",
            DocRef::Case(_) => "case",
        }
    }

    /// Reads a stored id and kind back.
    pub fn parse(id: &str, kind: &str) -> crate::Result<DocRef> {
        Ok(match kind {
            "workspace" => DocRef::Workspace(WorkspaceId::parse(id)?),
            _ => DocRef::Case(CaseId::parse(id)?),
        })
    }
}

/// The heads of a document: the hashes of its latest changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heads(pub Vec<[u8; 32]>);

impl Heads {
    /// The heads of a document, from its change references.
    pub fn from_refs(refs: &[ChangeRef]) -> Heads {
        Heads(
            refs.iter()
                .filter_map(ChangeRef::to_hash)
                .map(|h| h.0)
                .collect(),
        )
    }

    /// As change references.
    pub fn to_refs(&self) -> Vec<ChangeRef> {
        self.0
            .iter()
            .map(|h| ChangeRef::from_hash(&automerge::ChangeHash(*h)))
            .collect()
    }
}

impl Heads {
    /// The hashes concatenated, for storage.
    pub fn to_blob(&self) -> Vec<u8> {
        self.0.concat()
    }

    /// Reads stored hashes back; a trailing partial hash is ignored.
    pub fn from_blob(blob: &[u8]) -> Heads {
        Heads(
            blob.chunks_exact(32)
                .filter_map(|c| <[u8; 32]>::try_from(c).ok())
                .collect(),
        )
    }
}

/// Changes of one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocChanges {
    /// The document.
    pub doc: DocRef,
    /// Encoded Automerge changes, concatenated.
    #[serde(with = "serde_bytes")]
    pub changes: Vec<u8>,
}

/// What the server sends about one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// The whole document, compacted: the device did not have it.
    Full(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The changes the device lacks, concatenated.
    Changes(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The device may no longer see this document and must erase it.
    Remove,
}

/// An update of one document from the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocUpdate {
    /// The document.
    pub doc: DocRef,
    /// What to do with it.
    pub payload: Payload,
    /// The server's heads of the document after this update.
    pub heads: Heads,
}

/// A message from a device to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// Opens a sync: the device holds everything the server's feed had up to `cursor`.
    Hello {
        /// Position in the server's change feed the device has fully taken in.
        cursor: u64,
        /// Documents the server believes the device holds but it does not (it erased one
        /// before its acknowledgement arrived): the server sends them whole.
        lacking: Vec<DocRef>,
    },
    /// Local changes the server lacks, for some documents.
    Push {
        /// The device's number for this batch, echoed in the answers.
        batch: u64,
        /// Per document, its changes.
        docs: Vec<DocChanges>,
    },
    /// The device has durably taken in everything up to `cursor`.
    Ack {
        /// The cursor of the last [`ServerMessage::Updates`] with `more: false`.
        cursor: u64,
    },
}

/// A message from the server to a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// Documents the device lacks or must change. Large updates come in several messages;
    /// only the last (`more: false`) carries the new cursor to acknowledge.
    Updates {
        /// The feed position the device holds once it has taken in this and the earlier
        /// messages of the same answer.
        cursor: u64,
        /// The updates.
        docs: Vec<DocUpdate>,
        /// Whether more messages of this answer follow.
        more: bool,
    },
    /// The device is up to date at `cursor`.
    UpToDate {
        /// The feed position.
        cursor: u64,
    },
    /// A document's pushed changes are durable on the server.
    Accepted {
        /// The device's batch.
        batch: u64,
        /// The document.
        doc: DocRef,
        /// The server's heads of it now.
        heads: Heads,
    },
    /// A document's pushed changes were refused; none of them was stored.
    Refused {
        /// The device's batch.
        batch: u64,
        /// The document.
        doc: DocRef,
        /// Why, in words that name no personal data.
        reason: String,
        /// The server's heads of the document (empty when the device may not see it): the
        /// device sets its replica back to these.
        heads: Heads,
    },
    /// The device must stop: revoked, or a protocol error. With `erase`, it must erase
    /// its local data.
    Stop {
        /// Why.
        reason: String,
        /// Whether the device must erase its local data.
        erase: bool,
    },
}

fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = vec![PROTOCOL_VERSION];
    // Serializing these types into a Vec cannot fail: no maps with non-string keys, no
    // unsupported serde features.
    if let Ok(body) = postcard::to_allocvec(msg) {
        out.extend_from_slice(&body);
    }
    out
}

fn decode<'a, T: Deserialize<'a>>(frame: &'a [u8]) -> Result<T, UntrustedInput> {
    let malformed = |reason: &str| UntrustedInput::Malformed {
        kind: "message",
        reason: reason.to_owned(),
    };
    if frame.len() > MAX_FRAME_BYTES {
        return Err(UntrustedInput::TooLarge {
            kind: "message",
            size: frame.len(),
            limit: MAX_FRAME_BYTES,
        });
    }
    match frame.split_first() {
        None => Err(malformed("empty frame")),
        Some((&PROTOCOL_VERSION, body)) => match postcard::take_from_bytes(body) {
            Ok((msg, [])) => Ok(msg),
            Ok(_) => Err(malformed("trailing bytes")),
            Err(_) => Err(malformed("not a message of this protocol")),
        },
        Some(_) => Err(malformed("unsupported protocol version")),
    }
}

impl ClientMessage {
    /// The frame to send.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a frame from a device. Untrusted: size-limited, never panics.
    pub fn decode(frame: &[u8]) -> Result<ClientMessage, UntrustedInput> {
        decode(frame)
    }
}

impl ServerMessage {
    /// The frame to send.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a frame from the server.
    pub fn decode(frame: &[u8]) -> Result<ServerMessage, UntrustedInput> {
        decode(frame)
    }
}
