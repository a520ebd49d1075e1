//! The guarantees, checked after healing. Each check names what broke and where, never
//! only "assertion failed".

use std::collections::BTreeSet;

use keukentafel_core::model::{DecisionStatus, Role};
use keukentafel_core::rules::check_case_state;
use keukentafel_core::sync::{DocRef, ServerStorage};
use keukentafel_core::{CaseDoc, CaseId, ChangeRef, ConflictKind};

use super::{World, fail, server_err};

pub(super) fn all(w: &mut World) -> Result<(), String> {
    integrity(w)?;
    acknowledged(w)?;
    convergence_and_isolation(w)?;
    committed(w)?;
    rulebook(w)
}

fn integrity(w: &mut World) -> Result<(), String> {
    if !w.server.storage.integrity_check().map_err(server_err)? {
        return Err("the server's database failed its integrity check".into());
    }
    for (d, dev) in w.devices.iter().enumerate() {
        if let Some(store) = &dev.store {
            store
                .integrity_check()
                .map_err(|e| format!("device {d}'s store failed its integrity check: {e}"))?;
        }
    }
    Ok(())
}

fn server_case(w: &World, id: &CaseId) -> Result<Option<CaseDoc>, String> {
    w.server.storage.case(id).map_err(fail)
}

fn holds(doc: &CaseDoc, change: &ChangeRef) -> bool {
    doc.state_at(change).is_ok()
}

/// Every change the server said was durable is in its store, across restarts.
fn acknowledged(w: &World) -> Result<(), String> {
    for (doc, heads) in &w.acked {
        let DocRef::Case(id) = doc else {
            return Err("the workload pushed a workspace change it never makes".into());
        };
        let stored = server_case(w, id)?
            .ok_or_else(|| format!("acknowledged case {} is gone from the server", id.short()))?;
        if let Some(h) = heads.to_refs().iter().find(|h| !holds(&stored, h)) {
            return Err(format!(
                "change {h} of case {} was acknowledged, then lost by the server",
                id.short()
            ));
        }
    }
    Ok(())
}

/// Every device still in the team holds exactly the documents it may see, each equal to
/// the server's; every device revoked or whose member left holds nothing.
fn convergence_and_isolation(w: &mut World) -> Result<(), String> {
    let ws_id = w.server.workspace.clone();
    let team = w
        .server
        .storage
        .workspace_state(&ws_id)
        .map_err(fail)?
        .ok_or("the server lost the workspace")?;
    for d in 0..w.devices.len() {
        let (id, member) = (w.devices[d].id.clone(), w.devices[d].member.clone());
        let erased = w.devices[d].erased;
        let revoked = w.server.revoked.contains(&id);
        let role = team.member(&member).map(|m| m.role);
        let Some(store) = w.devices[d].store.as_mut() else {
            return Err(format!("device {d} was not reopened after healing"));
        };
        let held: BTreeSet<CaseId> = store
            .list_cases(&Default::default())
            .map_err(fail)?
            .into_iter()
            .map(|c| c.id)
            .collect();
        let Some(role) = role.filter(|_| !revoked) else {
            if !erased || !held.is_empty() || store.workspace().is_ok() {
                return Err(format!(
                    "device {d} ({}) still holds team data",
                    if revoked {
                        "revoked"
                    } else {
                        "its member left"
                    }
                ));
            }
            continue;
        };
        let visible: BTreeSet<CaseId> = if role == Role::Admin {
            BTreeSet::new()
        } else {
            w.server
                .storage
                .visible_cases(&ws_id, &member, role == Role::TeamLead)
                .map_err(fail)?
        };
        if let Some(extra) = held.difference(&visible).next() {
            return Err(format!(
                "device {d} holds case {} that its member may not see",
                extra.short()
            ));
        }
        if let Some(missing) = visible.difference(&held).next() {
            return Err(format!(
                "device {d} lacks case {} that its member may see",
                missing.short()
            ));
        }
        if store.workspace().map_err(fail)? != &team {
            return Err(format!("device {d}'s team differs from the server's"));
        }
        for case in &visible {
            let on_server = w
                .server
                .storage
                .case(case)
                .map_err(fail)?
                .ok_or("a visible case has no document")?;
            let Some(store) = w.devices[d].store.as_mut() else {
                continue;
            };
            if store.case(case).map_err(fail)? != *on_server.case() {
                return Err(format!(
                    "device {d} and the server disagree on case {}",
                    case.short()
                ));
            }
        }
    }
    Ok(())
}

/// Every change a device committed is on the server, or in that device's quarantine
/// (refused, or set aside when the case was taken off it), or erased with the device on
/// the server's order.
fn committed(w: &mut World) -> Result<(), String> {
    let ledger = std::mem::take(&mut w.ledger);
    for (d, case, heads) in &ledger {
        if w.devices[*d].erased {
            continue;
        }
        let on_server = server_case(w, case)?;
        let missing: Vec<&ChangeRef> = heads
            .iter()
            .filter(|h| !on_server.as_ref().is_some_and(|doc| holds(doc, h)))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let Some(store) = w.devices[*d].store.as_ref() else {
            continue;
        };
        let set_aside: BTreeSet<ChangeRef> = store
            .quarantine()
            .map_err(fail)?
            .into_iter()
            .filter(|q| q.doc == DocRef::Case(case.clone()))
            .flat_map(|q| change_hashes(&q.changes))
            .collect();
        if let Some(h) = missing.iter().find(|h| !set_aside.contains(h)) {
            return Err(format!(
                "change {h} committed on device {d} to case {} is neither on the server nor in the device's quarantine",
                case.short()
            ));
        }
    }
    w.ledger = ledger;
    Ok(())
}

/// The hashes of the changes in concatenated Automerge change chunks (what the quarantine
/// keeps). Parsed one chunk at a time: quarantined changes may reuse sequence numbers of
/// changes the server holds (the device went on from the server's state), so they cannot
/// all be applied to one document.
fn change_hashes(mut bytes: &[u8]) -> Vec<ChangeRef> {
    let mut out = Vec::new();
    while bytes.len() > 9 {
        // magic (4), checksum (4), type (1), then the body's length as unsigned LEB128.
        let (mut len, mut shift, mut pos) = (0usize, 0u32, 9usize);
        while let Some(b) = bytes.get(pos) {
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            pos += 1;
            if b & 0x80 == 0 || shift > 56 {
                break;
            }
        }
        let Some(chunk) = bytes.get(..pos + len) else {
            break;
        };
        if let Ok(change) = automerge::Change::try_from(chunk)
            && let Ok(h) = ChangeRef::parse(&change.hash().to_string())
        {
            out.push(h);
        }
        bytes = &bytes[pos + len..];
    }
    out
}

/// On the server: every broken invariant of a case is shown as a conflict for a person,
/// every change names the member its device was enrolled for, and every second signature
/// is someone else's.
fn rulebook(w: &World) -> Result<(), String> {
    let ws_id = w.server.workspace.clone();
    let lead = w
        .team
        .iter()
        .find(|m| m.role == Role::TeamLead)
        .ok_or("no team lead")?;
    let all = w
        .server
        .storage
        .visible_cases(&ws_id, &lead.id, true)
        .map_err(fail)?;
    for id in &all {
        let doc = server_case(w, id)?.ok_or("a listed case has no document")?;
        let conflicts = doc.conflicts();
        for v in check_case_state(doc.case()) {
            let shown = conflicts
                .iter()
                .any(|c| matches!(&c.kind, ConflictKind::Rule(r) if *r == v));
            if !shown {
                return Err(format!(
                    "case {} breaks a rule without showing it: {v}",
                    id.short()
                ));
            }
        }
        for entry in doc.history() {
            let (Some(device), Some(member)) = (&entry.device, &entry.member) else {
                return Err(format!("a change of case {} has no author", id.short()));
            };
            if w.server.enrolled.get(device) != Some(member) {
                return Err(format!(
                    "a change of case {} names a member its device was not enrolled for",
                    id.short()
                ));
            }
        }
        for decision in doc.case().decisions.values() {
            let signed = matches!(
                decision.status,
                DecisionStatus::Approved | DecisionStatus::Rejected
            );
            if signed
                && decision
                    .signed_by
                    .as_ref()
                    .is_none_or(|s| *s == decision.decided_by)
            {
                return Err(format!(
                    "decision {} of case {} has no second signature of someone else",
                    decision.id.short(),
                    id.short()
                ));
            }
        }
    }
    Ok(())
}
