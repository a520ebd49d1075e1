//! `ServerMessage::decode` then [`DeviceStore::sync_receive`] on a copy of an enrolled
//! device's store holding the fixture's case: a hostile server must not crash a device
//! nor leave its store unreadable. After the frames, the store is closed, reopened and
//! every case in it must read.

use std::path::PathBuf;

use arbitrary::Unstructured;
use base64::Engine;
use keukentafel_core::sync::{DocRef, DocUpdate, EnrolResponse, Heads, Payload, ServerMessage};
use keukentafel_core::{CaseFilter, DeviceStore, StoreKey};

use super::{Target, copy_db, scratch_dir};
use crate::fixture::Fixture;
use crate::framing;
use crate::generate::{Pool, mutate_server_frame, mutate_some_frame, server_message};
use crate::mutate::Rng;

const KEY: [u8; 32] = [0x5a; 32];

/// A device's store against hostile server frames.
pub struct DeviceReceiveTarget {
    _dir: tempfile::TempDir,
    template: PathBuf,
    work: PathBuf,
}

impl DeviceReceiveTarget {
    /// Enrols a template store as the fixture's device and gives it the fixture's case.
    pub fn new(fixture: &Fixture) -> anyhow::Result<Self> {
        let dir = scratch_dir("keukentafel-fuzz-device")?;
        let template = dir.path().join("template.db");
        {
            let mut store = DeviceStore::open(&template, &StoreKey::from_bytes(KEY))?;
            store.enrol(
                "https://127.0.0.1:1",
                &EnrolResponse {
                    device_id: fixture.peer.device.to_string(),
                    credential: "fuzz".into(),
                    member_id: fixture.peer.member.to_string(),
                    workspace_id: fixture.peer.workspace.to_string(),
                    workspace_doc: base64::engine::general_purpose::STANDARD
                        .encode(&fixture.workspace),
                },
            )?;
            let case = fixture.case_doc()?;
            store.sync_receive(&ServerMessage::Updates {
                cursor: 1,
                docs: vec![DocUpdate {
                    doc: DocRef::Case(case.id().clone()),
                    payload: Payload::Full(fixture.case.clone()),
                    heads: Heads::from_refs(&case.heads()),
                }],
                more: false,
            })?;
            anyhow::ensure!(
                store.list_cases(&CaseFilter::default())?.len() == 1,
                "the template device did not take the case"
            );
        }
        Ok(DeviceReceiveTarget {
            work: dir.path().join("work.db"),
            template,
            _dir: dir,
        })
    }

    fn open(&self) -> DeviceStore {
        match DeviceStore::open(&self.work, &StoreKey::from_bytes(KEY)) {
            Ok(s) => s,
            Err(e) => panic!("the device store does not open: {e}"),
        }
    }
}

impl Target for DeviceReceiveTarget {
    fn run(&mut self, data: &[u8]) {
        if let Err(e) = copy_db(&self.template, &self.work) {
            panic!("cannot copy the template store: {e}");
        }
        {
            let mut store = self.open();
            for frame in framing::split(data) {
                let Ok(msg) = ServerMessage::decode(frame) else {
                    break;
                };
                let again = ServerMessage::decode(&msg.encode()).ok();
                assert!(
                    again.as_ref() == Some(&msg),
                    "a decoded message does not round-trip"
                );
                // A refused update is fine; what it leaves behind is checked below.
                if store.sync_receive(&msg).is_err() {
                    break;
                }
            }
        }
        let mut store = self.open();
        if let Err(e) = store.integrity_check() {
            panic!("the device store fails its integrity check: {e}");
        }
        let cases = match store.list_cases(&CaseFilter::default()) {
            Ok(c) => c,
            Err(e) => panic!("the device cannot list its cases: {e}"),
        };
        for c in cases {
            if let Err(e) = store.case(&c.id) {
                panic!("a case on the device no longer reads: {e}");
            }
        }
        if store.member_id().is_some()
            && let Err(e) = store.workspace()
        {
            panic!("the device's workspace no longer reads: {e}");
        }
    }

    fn generate(
        &self,
        u: &mut Unstructured<'_>,
        pool: &Pool,
    ) -> arbitrary::Result<Option<Vec<u8>>> {
        let frames = (0..u.int_in_range(1..=4)?)
            .map(|_| Ok(server_message(u, pool)?.encode()))
            .collect::<arbitrary::Result<Vec<_>>>()?;
        Ok(Some(framing::join(&frames)))
    }

    fn mutate_inside(&self, rng: &mut Rng, input: &[u8], pool: &Pool) -> Option<Vec<u8>> {
        mutate_some_frame(rng, input, pool, mutate_server_frame)
    }

    fn frames<'a>(&self, data: &'a [u8]) -> Vec<&'a [u8]> {
        framing::split(data)
    }
}
