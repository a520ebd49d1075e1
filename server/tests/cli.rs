//! The admin tool as an admin uses it: create a workspace, add a member, invite a device,
//! list and revoke devices, read a case's access log.

use std::process::Command;

fn run(db: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keukentafel-server"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run admin tool");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no `{key}` in {out}"))
}

#[test]
fn an_admin_sets_up_a_team_and_manages_devices() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("server.db");
    let (ok, out, _) = run(
        &db,
        &[
            "workspace",
            "create",
            "--name",
            "Wijkteam Noord",
            "--area",
            "Noord",
        ],
    );
    assert!(ok, "{out}");
    let ws = field(&out, "workspace ");
    let (ok, out, err) = run(
        &db,
        &[
            "member",
            "add",
            "--workspace",
            &ws,
            "--name",
            "Sanne",
            "--role",
            "practitioner",
            "--mandate",
            "huishoudelijke_hulp=2500",
        ],
    );
    assert!(ok, "{err}");
    let member = field(&out, "member ");

    let (ok, _, err) = run(
        &db,
        &[
            "member",
            "add",
            "--workspace",
            &ws,
            "--name",
            "X",
            "--role",
            "practitioner",
            "--mandate",
            "onbekend=10",
        ],
    );
    assert!(
        !ok && err.contains("unknown category"),
        "a wrong category is explained: {err}"
    );
    let (ok, _, err) = run(
        &db,
        &["device", "invite", "--workspace", &ws, "--member", "nobody"],
    );
    assert!(!ok && err.contains("not an active member"), "{err}");

    let (ok, code, _) = run(
        &db,
        &["device", "invite", "--workspace", &ws, "--member", &member],
    );
    assert!(ok);
    let code = code.trim();
    assert_eq!(code.len(), 14, "a code of three groups: {code}");
    let mut storage = keukentafel_server::SqliteStorage::open(&db).expect("db");
    let device = storage
        .enrol(
            &keukentafel_server::auth::code_hash(&code.to_lowercase()),
            b"hash",
            "telefoon",
            keukentafel_core::model::Timestamp::now(),
        )
        .expect("the printed code enrols, typed in lower case too");
    drop(storage);

    let (ok, out, _) = run(&db, &["device", "list", "--workspace", &ws]);
    assert!(
        ok && out.contains(device.device.as_str()) && out.contains("active"),
        "{out}"
    );
    let (ok, _, _) = run(
        &db,
        &["device", "revoke", "--device", device.device.as_str()],
    );
    assert!(ok);
    let (_, out, _) = run(&db, &["device", "list", "--workspace", &ws]);
    assert!(out.contains("revoked"), "{out}");
    let (ok, _, err) = run(&db, &["device", "revoke", "--device", "unknown"]);
    assert!(!ok, "{err}");
    let (ok, _, _) = run(&db, &["access-log", "--case", "0123456789abcdef"]);
    assert!(ok);
}
