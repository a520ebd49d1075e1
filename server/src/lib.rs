//! Keukentafel sync server: the axum + tokio driver of the core's sync engine, with device
//! enrolment and authentication, the SQLite store, and the admin tool's operations.

pub mod app;
pub mod auth;
pub mod error;
pub mod storage;

pub use app::{AppState, ServerConfig, app, serve};
pub use error::{ServerError, ServerResult};
pub use storage::SqliteStorage;
