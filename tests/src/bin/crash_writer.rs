//! A device writing as fast as it can, for the crash test: each agreement it adds is
//! reported on stdout only after the store has acknowledged it, so whatever it printed
//! must survive a SIGKILL at any moment.
//!
//! Usage: crash_writer STORE_PATH KEY_HEX

use std::io::Write;
use std::path::PathBuf;

use keukentafel_core::model::NewAgreement;
use keukentafel_core::{DeviceStore, NotesEdit, StoreKey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().ok_or("missing store path")?);
    let key_hex = args.next().ok_or("missing key")?;
    let mut key = [0u8; 32];
    hex_decode(&key_hex, &mut key)?;
    let mut store = DeviceStore::open(&path, &StoreKey::from_bytes(key))?;
    let case = store
        .my_cases()?
        .first()
        .ok_or("no case in the store")?
        .id
        .clone();
    let current = store.case(&case)?;
    let conversation = current
        .conversations
        .keys()
        .next()
        .ok_or("no conversation")?
        .clone();
    let mut n = current.conversations[&conversation].agreements.len();
    let mut out = std::io::stdout().lock();
    loop {
        let what = format!("taak {n}");
        store.edit_case(&case, |doc, ctx| {
            doc.add_agreement(
                ctx,
                &conversation,
                NewAgreement {
                    what: what.clone(),
                    who: "wijkteam".into(),
                    due: None,
                },
            )?;
            doc.edit_notes(
                ctx,
                &conversation,
                NotesEdit::Splice {
                    at: 0,
                    delete: 0,
                    insert: format!("{n} "),
                },
            )
        })?;
        writeln!(out, "{what}")?;
        out.flush()?;
        n += 1;
    }
}

fn hex_decode(s: &str, out: &mut [u8; 32]) -> Result<(), Box<dyn std::error::Error>> {
    if s.len() != 64 {
        return Err("key must be 64 hex digits".into());
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)?;
    }
    Ok(())
}
