//! The server's one error type, and how it is shown to clients: without internals or
//! personal data.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Result with [`ServerError`].
pub type ServerResult<T> = Result<T, ServerError>;

/// What can go wrong in the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The caller is not (or no longer) allowed.
    #[error("not authorized: {0}")]
    Unauthorized(&'static str),
    /// Authenticated, but the member's role does not allow this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The thing named does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is malformed.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The request is larger than the server takes.
    #[error("too large: {0}")]
    TooLarge(&'static str),
    /// The client is over a limit (failed attempts, open connections); it may try later.
    #[error("too many requests: {0}")]
    TooMany(&'static str),
    /// The request took longer than the server waits.
    #[error("request timed out")]
    Timeout,
    /// The core refused or failed.
    #[error(transparent)]
    Core(#[from] keukentafel_core::Error),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    /// A blocking task failed to finish.
    #[error("internal task failed")]
    Task,
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            ServerError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, (*m).to_owned()),
            ServerError::Forbidden(m) => (StatusCode::FORBIDDEN, (*m).to_owned()),
            ServerError::NotFound(m) => (StatusCode::NOT_FOUND, format!("{m} not found")),
            ServerError::BadRequest(m) => (StatusCode::BAD_REQUEST, (*m).to_owned()),
            ServerError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, (*m).to_owned()),
            ServerError::TooMany(m) => (StatusCode::TOO_MANY_REQUESTS, (*m).to_owned()),
            ServerError::Timeout => (StatusCode::REQUEST_TIMEOUT, "request timed out".to_owned()),
            ServerError::Core(keukentafel_core::Error::Rule(v)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, v.to_string())
            }
            _ => {
                tracing::error!(error = %self, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                )
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}
