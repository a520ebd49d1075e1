//! Enrolment: how a new device joins its team, in the shape the server's `POST /v1/enrol`
//! takes and answers (JSON). Shared by the server and the device so the two cannot drift.

use serde::{Deserialize, Serialize};

/// What a device sends to enrol: the one-time code an admin handed out.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// The code the admin handed out.
    pub code: String,
    /// A name for people ("telefoon Sanne").
    pub label: String,
}

/// What a device receives at enrolment.
#[derive(Clone, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// Its id (also its Automerge actor).
    pub device_id: String,
    /// Its credential for every later call. Secret: the device keeps it only in its
    /// encrypted store.
    pub credential: String,
    /// Its member.
    pub member_id: String,
    /// The workspace.
    pub workspace_id: String,
    /// The workspace document, base64.
    pub workspace_doc: String,
}

/// Kept out of logs: the credential is a secret.
impl std::fmt::Debug for EnrolResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolResponse")
            .field("device_id", &self.device_id)
            .field("member_id", &self.member_id)
            .field("workspace_id", &self.workspace_id)
            .finish_non_exhaustive()
    }
}

/// Where and how a device syncs, kept in its encrypted store after enrolment.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// The server's base address, e.g. `https://wijkteam.example.nl`.
    pub server: String,
    /// The device's credential (a bearer token).
    pub credential: String,
}

/// Kept out of logs: the credential is a secret.
impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}
