//! Device store figures for the README: durable edit latency, opening and listing a large
//! caseload, and storage per case against Automerge's own `save()`.
//!
//! Run: `cargo bench -p keukentafel-core --bench store` (add `-- --quick` for a smoke run).

use std::path::Path;
use std::time::{Duration, Instant};

use keukentafel_core::model::*;
use keukentafel_core::sample::{self, new_case};
use keukentafel_core::{Author, CaseFilter, CaseId, DeviceStore, NotesEdit, StoreKey};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(mut v: Vec<Duration>, p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn key() -> StoreKey {
    StoreKey::from_bytes([7; 32])
}

fn store(path: &Path) -> DeviceStore {
    let mut s = DeviceStore::open(path, &key()).expect("open");
    s.create_workspace(
        "Wijkteam Bench",
        "Bench",
        NewMember {
            display_name: "Lead".into(),
            role: Role::TeamLead,
            mandate: Mandate::default()
                .with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(100_000)),
        },
    )
    .expect("workspace");
    s
}

/// A case shaped like a real one (see [`sample::realistic_case`]), stored on the device.
fn realistic_case(s: &mut DeviceStore, i: usize) -> CaseId {
    let author = Author {
        member: s.member_id().expect("member").clone(),
        device: s.device_id().clone(),
    };
    let (doc, _) = sample::realistic_case(s.workspace().expect("workspace"), &author, new_case(i))
        .expect("case");
    s.import_case(&doc.save()).expect("import")
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = tempfile::tempdir().expect("dir");
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    println!();
    println!("| measure | result | target |");
    println!("|---|---|---|");

    // 1. One domain edit, committed durably.
    let mut s = store(&dir.path().join("edit.db"));
    let case = realistic_case(&mut s, 1);
    let conv = s
        .case(&case)
        .expect("case")
        .conversations
        .keys()
        .next()
        .expect("conv")
        .clone();
    let edits = if quick { 50 } else { 500 };
    let mut times = Vec::with_capacity(edits);
    for k in 0..edits {
        let t = Instant::now();
        s.edit_case(&case, |doc, ctx| {
            doc.edit_notes(
                ctx,
                &conv,
                NotesEdit::Splice {
                    at: 0,
                    delete: 0,
                    insert: format!("{k} "),
                },
            )
        })
        .expect("edit");
        times.push(t.elapsed());
    }
    println!(
        "| durable edit (notes splice), median of {edits} | {} (p95 {}) | < 2 ms |",
        ms(median(times.clone())),
        ms(percentile(times, 95))
    );

    // 2. Opening a store with N cases and listing them by status.
    let n = if quick { 500 } else { 5_000 };
    let path = dir.path().join("caseload.db");
    let mut s = store(&path);
    let build = Instant::now();
    for i in 0..n {
        let c = s.create_case(new_case(i)).expect("case");
        if i.is_multiple_of(4) {
            s.edit_case(&c, |doc, ctx| doc.set_status(ctx, CaseStatus::Onderzoek))
                .expect("status");
        }
    }
    let built = build.elapsed();
    drop(s);
    let mut open_list = Vec::new();
    let mut listed = 0;
    for _ in 0..7 {
        let t = Instant::now();
        let s = DeviceStore::open(&path, &key()).expect("open");
        let melding = s
            .list_cases(&CaseFilter {
                status: Some(CaseStatus::Melding),
                assignee: None,
            })
            .expect("list");
        let onderzoek = s
            .list_cases(&CaseFilter {
                status: Some(CaseStatus::Onderzoek),
                assignee: None,
            })
            .expect("list");
        open_list.push(t.elapsed());
        listed = melding.len() + onderzoek.len();
    }
    assert_eq!(listed, n);
    println!(
        "| open store with {n} cases + list by status, median of 7 | {} | < 100 ms |",
        ms(median(open_list))
    );
    println!(
        "| (building that store: {n} cases, {} durable writes) | {:.1} s | |",
        n + n / 4,
        built.as_secs_f64()
    );

    // 3. Storage per case after compaction, against Automerge's own save().
    let m = if quick { 20 } else { 200 };
    let path = dir.path().join("storage.db");
    let mut s = store(&path);
    let empty = file_size(&path, &mut s);
    let ids: Vec<_> = (0..m).map(|i| realistic_case(&mut s, i)).collect();
    s.compact_all().expect("compact");
    let saved: usize = ids
        .iter()
        .map(|id| s.export_case(id).expect("save").len())
        .sum();
    let total = file_size(&path, &mut s) - empty;
    let per_case = total as f64 / m as f64;
    let documents: i64 = s
        .table_sizes()
        .expect("dbstat")
        .iter()
        .filter(|(t, _)| t == "documents")
        .map(|(_, b)| *b)
        .sum();
    let doc_per_case = documents as f64 / (m + 1) as f64;
    let save_per_case = saved as f64 / m as f64;
    println!(
        "| document storage per realistic case after compaction ({m} cases) | {doc_per_case:.0} B vs save() {save_per_case:.0} B = {:.2}x | < 1.5x |",
        doc_per_case / save_per_case
    );
    println!(
        "| whole file per case (documents, projections, access log) | {per_case:.0} B = {:.2}x save() | |",
        per_case / save_per_case
    );
}

fn file_size(path: &Path, s: &mut DeviceStore) -> u64 {
    s.checkpoint_and_vacuum().expect("vacuum");
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
