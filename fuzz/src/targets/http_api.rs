//! The real axum router over a fresh copy of a SQLite store holding a team, an enrolled
//! team lead's device, an open enrolment code and a case, driven in-process with
//! `oneshot`. The first byte picks the route and whether the team lead's credential goes
//! along; the rest is a path segment, a newline and the JSON body. Placeholders in segment
//! and body stand for the store's real ids: `$W` workspace, `$L` the team lead, `$P` a
//! practitioner, `$D` the team lead's device, `$C` the case. A 5xx or a panic is a finding.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use keukentafel_core::model::{
    HouseholdRole, Law, Mandate, Money, NewCase, NewHouseholdMember, NewMember, ProvisionCategory,
    Role, Timestamp,
};
use keukentafel_core::sync::ServerStorage;
use keukentafel_core::{Author, CaseDoc, Context, MemberId};
use keukentafel_server::{AppState, SqliteStorage, app, auth};
use tower::ServiceExt;

use super::{Target, copy_db, scratch_dir};

/// The team lead's device credential in the template store.
pub const CREDENTIAL: &str = "fuzz-team-lead-credential";
/// An enrolment code left open in the template store, for a practitioner's device.
pub const OPEN_CODE: &str = "FUZZ-CODE-0001";

/// The routes, by the first byte's low three bits: method, path before and after the
/// segment (empty after when the route has no segment).
pub const ROUTES: [(&str, &str, &str); 8] = [
    ("POST", "/v1/enrol", ""),
    ("POST", "/v1/admin/members", ""),
    ("POST", "/v1/admin/invites", ""),
    ("GET", "/v1/admin/devices", ""),
    ("POST", "/v1/admin/devices/", "/revoke"),
    ("GET", "/v1/admin/access-log/", ""),
    ("GET", "/health", ""),
    ("GET", "/metrics", ""),
];

/// The first byte of an input for `route` (an index into [`ROUTES`]), with or without the
/// team lead's credential.
pub fn selector(route: usize, authorized: bool) -> u8 {
    u8::try_from(route % ROUTES.len()).unwrap_or(0) | if authorized { 0x08 } else { 0 }
}

/// The enrolment and admin API against hostile requests.
pub struct HttpApiTarget {
    _dir: tempfile::TempDir,
    template: PathBuf,
    work: PathBuf,
    runtime: tokio::runtime::Runtime,
    ids: Vec<(&'static [u8], String)>,
}

impl HttpApiTarget {
    /// Builds the template store.
    pub fn new() -> anyhow::Result<Self> {
        let dir = scratch_dir("keukentafel-fuzz-http")?;
        let template = dir.path().join("template.db");
        let mut s = SqliteStorage::open(&template)?;
        let mandate =
            Mandate::default().with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(10_000));
        let (ws, lead) = s.create_workspace(
            "Wijkteam Noord",
            "Noord",
            NewMember {
                display_name: "Fatima".into(),
                role: Role::TeamLead,
                mandate: mandate.clone(),
            },
        )?;
        let practitioner = MemberId::random();
        s.edit_workspace(&ws, None, |doc, author, now| {
            doc.add_member(
                author,
                now,
                &practitioner,
                NewMember {
                    display_name: "Sanne".into(),
                    role: Role::Practitioner,
                    mandate,
                },
            )
        })?;
        let later = Timestamp(Timestamp::now().0 + 365 * 24 * 3_600_000);
        s.add_enrolment(&auth::code_hash("LEAD-CODE-0001"), &ws, &lead, later)?;
        s.add_enrolment(&auth::code_hash(OPEN_CODE), &ws, &practitioner, later)?;
        let device = s.enrol(
            &auth::code_hash("LEAD-CODE-0001"),
            &auth::credential_hash(CREDENTIAL),
            "laptop",
            Timestamp::now(),
        )?;
        let state = s
            .workspace_state(&ws)?
            .ok_or_else(|| anyhow::anyhow!("the template workspace was not stored"))?;
        let author = Author {
            member: lead.clone(),
            device: device.device.clone(),
        };
        let (mut case, case_id) = CaseDoc::create(
            &Context {
                workspace: &state,
                author: &author,
                now: Timestamp::now(),
            },
            NewCase {
                case_number: "2026-0001".into(),
                law: Law::Wmo,
                melding_date: time::macros::date!(2026 - 11 - 02),
                household: vec![NewHouseholdMember {
                    name: "J. de Vries".into(),
                    birth_date: None,
                    role: HouseholdRole::Resident,
                }],
                assigned: vec![],
            },
        )?;
        let changes: Vec<u8> = case
            .take_changes()
            .into_iter()
            .flat_map(|c| c.bytes)
            .collect();
        s.store_case(&ws, &case, &changes, &author.device)?;
        drop(s);
        Ok(HttpApiTarget {
            work: dir.path().join("work.db"),
            template,
            _dir: dir,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            ids: vec![
                (b"$W", ws.to_string()),
                (b"$L", lead.to_string()),
                (b"$P", practitioner.to_string()),
                (b"$D", device.device.to_string()),
                (b"$C", case_id.to_string()),
            ],
        })
    }

    fn substitute(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut rest = bytes;
        'outer: while let Some((first, tail)) = rest.split_first() {
            for (key, value) in &self.ids {
                if let Some(after) = rest.strip_prefix(*key) {
                    out.extend_from_slice(value.as_bytes());
                    rest = after;
                    continue 'outer;
                }
            }
            out.push(*first);
            rest = tail;
        }
        out
    }
}

/// Percent-encodes everything but unreserved characters, so any bytes make a valid path.
fn path_segment(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(b) {
                char::from(*b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl HttpApiTarget {
    /// Sends the request an input describes to a fresh copy of the template store; its
    /// status, `None` for an empty input.
    pub fn status(&mut self, data: &[u8]) -> Option<StatusCode> {
        let (selector, rest) = data.split_first()?;
        let (method, before, after) = ROUTES[usize::from(*selector) % ROUTES.len()];
        let (segment, body) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (&[][..], rest),
        };
        let uri = if before.ends_with('/') {
            format!("{before}{}{after}", path_segment(&self.substitute(segment)))
        } else {
            before.to_owned()
        };
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET))
            .uri(&uri)
            .header("content-type", "application/json");
        if selector & 0x08 != 0 {
            req = req.header("authorization", format!("Bearer {CREDENTIAL}"));
        } else if selector & 0x10 != 0 {
            req = req.header("authorization", "Bearer not-a-credential");
        }
        let req = match req.body(Body::from(self.substitute(body))) {
            Ok(r) => r,
            Err(e) => panic!("request not built: {e}"),
        };
        if let Err(e) = copy_db(&self.template, &self.work) {
            panic!("cannot copy the template store: {e}");
        }
        let storage = match SqliteStorage::open(&self.work) {
            Ok(s) => s,
            Err(e) => panic!("the server store does not open: {e}"),
        };
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let state: Arc<AppState> = AppState::new(storage, stopped);
        let response = self.runtime.block_on(async {
            match app(state).oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        });
        Some(response.status())
    }
}

impl Target for HttpApiTarget {
    fn run(&mut self, data: &[u8]) {
        if let Some(status) = self.status(data) {
            let route = ROUTES[usize::from(data[0]) % ROUTES.len()];
            assert!(
                !status.is_server_error(),
                "{} {}…{} answered {status}",
                route.0,
                route.1,
                route.2
            );
        }
    }
}
