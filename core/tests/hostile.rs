//! Bytes from elsewhere: truncated, random, oversized and crafted documents and changes give
//! an error, never a panic, an abort or a runaway allocation. Several of the crafted inputs
//! abort a process that hands them to Automerge 0.12 directly, so this test binary would
//! die if the quarantine were removed.

mod common;

use common::{conversation, decision, team};
use keukentafel_core::model::ProvisionCategory;
use keukentafel_core::{CaseDoc, Error, Limits, UntrustedInput};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

fn uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        out.push(if done { byte } else { byte | 0x80 });
        if done {
            return;
        }
    }
}

/// A chunk with a valid checksum, so Automerge goes on to decode its columns.
fn chunk(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut header = vec![kind];
    uleb(&mut header, data.len() as u64);
    let hash = Sha256::new()
        .chain_update(&header)
        .chain_update(data)
        .finalize();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&hash[..4]);
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out
}

/// A document chunk with one actor, no heads and the given change and op columns.
fn document(change_cols: &[(u64, Vec<u8>)], op_cols: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut d = vec![];
    uleb(&mut d, 1);
    uleb(&mut d, 16);
    d.extend_from_slice(&[1u8; 16]);
    uleb(&mut d, 0);
    for cols in [change_cols, op_cols] {
        uleb(&mut d, cols.len() as u64);
        for (spec, bytes) in cols {
            uleb(&mut d, *spec);
            uleb(&mut d, bytes.len() as u64);
        }
    }
    for cols in [change_cols, op_cols] {
        for (_, bytes) in cols {
            d.extend_from_slice(bytes);
        }
    }
    chunk(0, &d)
}

fn run(count: i64, value: u64) -> Vec<u8> {
    let mut v = vec![];
    sleb(&mut v, count);
    uleb(&mut v, value);
    v
}

fn deflated_zeros(n: usize) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(vec![], flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(zeros.len());
        e.write_all(&zeros[..k]).expect("deflate");
        left -= k;
    }
    e.finish().expect("deflate")
}

fn refused(bytes: &[u8]) -> UntrustedInput {
    match CaseDoc::load(bytes) {
        Err(Error::Untrusted(e)) => e,
        other => panic!("expected the input to be refused, got {other:?}"),
    }
}

#[test]
fn a_run_of_two_to_the_forty_actors_is_refused_before_allocation() {
    // 40 bytes that make Automerge 0.12 try to allocate 4 GiB and abort.
    let bomb = document(&[(0x01, run(1 << 40, 0))], &[]);
    assert!(bomb.len() < 64);
    assert!(matches!(refused(&bomb), UntrustedInput::Malformed { .. }));
}

#[test]
fn an_op_count_bomb_is_refused() {
    // An op column claiming 2^31 operations: Automerge sizes its index from it up front.
    let cols: Vec<(u64, Vec<u8>)> = [0x21, 0x23, 0x42, 0x56, 0x80]
        .iter()
        .map(|s| (*s, run(1 << 31, 1)))
        .collect();
    assert!(matches!(
        refused(&document(&[], &cols)),
        UntrustedInput::Malformed { .. }
    ));
}

#[test]
fn a_deflate_bomb_is_refused() {
    // 256 MiB of zeros in a deflated column: a few hundred KiB on the wire.
    let bomb = document(&[(0x23 | 0x08, deflated_zeros(256 << 20))], &[]);
    assert!(bomb.len() < 1 << 20);
    assert!(matches!(refused(&bomb), UntrustedInput::Malformed { .. }));
    let compressed_change = {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[0; 4]);
        out.push(2);
        let body = deflated_zeros(256 << 20);
        uleb(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
        out
    };
    assert!(matches!(
        refused(&compressed_change),
        UntrustedInput::Malformed { .. }
    ));
}

#[test]
fn a_change_claiming_millions_of_ops_is_refused() {
    let t = team();
    let mut case = t.case();
    let mut d = vec![];
    uleb(&mut d, 0);
    uleb(&mut d, 16);
    d.extend_from_slice(&[7u8; 16]);
    uleb(&mut d, 1);
    uleb(&mut d, 1);
    sleb(&mut d, 0);
    uleb(&mut d, 0);
    uleb(&mut d, 0);
    let big = 10_000_000i64;
    let key = {
        let mut v = vec![];
        sleb(&mut v, big);
        uleb(&mut v, 1);
        v.push(b'a');
        v
    };
    let cols: Vec<(u64, Vec<u8>)> = vec![
        (0x15, key),
        (0x42, run(big, 1)),
        (0x56, run(big, 0)),
        (0x70, run(big, 0)),
    ];
    uleb(&mut d, cols.len() as u64);
    for (s, b) in &cols {
        uleb(&mut d, *s);
        uleb(&mut d, b.len() as u64);
    }
    for (_, b) in &cols {
        d.extend_from_slice(b);
    }
    let bomb = chunk(1, &d);
    let before = case.heads();
    let r = case.apply_remote(&bomb, &Limits::default());
    assert!(
        matches!(r, Err(Error::Untrusted(UntrustedInput::Malformed { .. }))),
        "{r:?}"
    );
    assert_eq!(case.heads(), before, "the live document is untouched");
}

#[test]
fn every_truncation_of_a_real_document_is_refused_cleanly() {
    let t = team();
    let mut case = t.case();
    let conv = case
        .record_conversation(&t.ctx(&t.sanne), conversation())
        .expect("record");
    case.edit_notes(
        &t.ctx(&t.sanne),
        &conv,
        keukentafel_core::NotesEdit::Replace("Notities van het gesprek.".into()),
    )
    .expect("notes");
    case.draft_decision(
        &t.ctx(&t.sanne),
        decision(ProvisionCategory::HuishoudelijkeHulp, 500),
    )
    .expect("draft");
    let bytes = case.save();
    for len in 0..bytes.len() {
        assert!(
            CaseDoc::load(&bytes[..len]).is_err(),
            "prefix of {len} bytes accepted"
        );
    }
    assert!(CaseDoc::load(&bytes).is_ok());
    let change_bytes = case.changes_since(&[]);
    let mut replica = t.case();
    for len in [1, 10, change_bytes.len() / 2, change_bytes.len() - 1] {
        assert!(
            replica
                .apply_remote(&change_bytes[..len], &Limits::default())
                .is_err()
        );
    }
}

#[test]
fn oversized_input_is_refused_without_decoding() {
    let limits = Limits {
        max_document_bytes: 1024,
        max_changes_bytes: 512,
        ..Limits::default()
    };
    let r = CaseDoc::load_with_limits(&vec![0u8; 2048], &limits);
    assert!(
        matches!(
            r,
            Err(Error::Untrusted(UntrustedInput::TooLarge {
                size: 2048,
                limit: 1024,
                ..
            }))
        ),
        "{r:?}"
    );
    let t = team();
    let mut case = t.case();
    let r = case.apply_remote(&vec![0u8; 513], &limits);
    assert!(
        matches!(r, Err(Error::Untrusted(UntrustedInput::TooLarge { .. }))),
        "{r:?}"
    );
}

#[test]
fn a_workspace_offered_as_a_case_is_refused() {
    let t = team();
    assert!(matches!(
        refused(&t.doc.save()),
        UntrustedInput::WrongKind { .. }
    ));
}

#[test]
fn another_case_offered_as_changes_is_refused() {
    let t = team();
    let mut mine = t.case();
    let other = t.case();
    let r = mine.apply_remote(&other.save(), &Limits::default());
    assert!(r.is_err(), "{r:?}");
    assert_eq!(mine.case().id, *mine.id());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(CaseDoc::load(&bytes).is_err());
    }

    #[test]
    fn random_bytes_behind_a_valid_header_are_refused(kind in 0u8..3, body in prop::collection::vec(any::<u8>(), 0..256)) {
        prop_assert!(CaseDoc::load(&chunk(kind, &body)).is_err());
    }

    #[test]
    fn flipped_bytes_in_a_real_change_never_crash(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let t = team();
        let mut case = t.case();
        let mut bytes = case.changes_since(&[]);
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let mut replica = t.case();
        let _ = replica.apply_remote(&bytes, &Limits::default());
        let _ = CaseDoc::load(&bytes);
        case.take_changes();
    }
}

#[test]
fn many_chunks_each_within_the_row_limit_are_bounded_together() {
    let limits = Limits {
        max_rows: 1_000,
        max_total_rows: 1_500,
        ..Limits::default()
    };
    let one = document(&[(0x01, run(1_000, 0))], &[]);
    let mut batch = one.clone();
    batch.extend_from_slice(&one);
    let r = CaseDoc::load_with_limits(&batch, &limits);
    assert!(
        matches!(&r, Err(Error::Untrusted(UntrustedInput::Malformed { reason, .. })) if reason == "too many rows"),
        "{r:?}"
    );
    let r = CaseDoc::load_with_limits(&one, &limits);
    assert!(
        !matches!(&r, Err(Error::Untrusted(UntrustedInput::Malformed { reason, .. })) if reason == "too many rows"),
        "{r:?}"
    );
}
