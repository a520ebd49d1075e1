//! Multi-document sync between devices and the server, sans I/O.
//!
//! One connection carries every document a device may see. The server numbers each change
//! it stores in a per-workspace feed; a device remembers the feed position (its cursor) it
//! has fully taken in, and which of its documents have local changes the server lacks.
//! Reconnecting with nothing changed is one `Hello { cursor }` answered by
//! `UpToDate { cursor }`, whatever the number of documents; otherwise only the changes the
//! other side lacks travel. See `docs/protocol.md`.
//!
//! The engines take decoded messages and return messages to send; they never touch a
//! socket or a clock. The server engine works against a [`ServerStorage`], whose writes are
//! durable when they return, so an acknowledgement always follows durability.

mod enrol;
mod memory;
mod server;
pub mod wire;

pub use enrol::{EnrolRequest, EnrolResponse, Enrolment};
pub use memory::MemoryStorage;
pub use server::{FeedEntry, Peer, ServerSession, ServerStorage};
pub use wire::{ClientMessage, DocChanges, DocRef, DocUpdate, Heads, Payload, ServerMessage};
