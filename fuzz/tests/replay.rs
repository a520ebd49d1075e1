//! Every committed corpus and regression input runs cleanly through its target, so that
//! `cargo test --workspace` keeps every fixed finding fixed; and the targets reach what they
//! claim to (a seed push is accepted, an admin call with the credential succeeds), so that a
//! broken harness cannot pass by refusing everything at the door.

use std::panic::{AssertUnwindSafe, catch_unwind};

use keukentafel_core::Limits;
use keukentafel_core::sync::{
    ClientMessage, MemoryStorage, ServerMessage, ServerSession, ServerStorage,
};
use keukentafel_fuzz::fixture::Fixture;
use keukentafel_fuzz::targets::http_api::HttpApiTarget;
use keukentafel_fuzz::targets::{NAMES, target};
use keukentafel_fuzz::{corpus_dir, framing, inputs_in, regressions_dir};

#[test]
fn every_corpus_and_regression_input_runs_cleanly() {
    let fixture = Fixture::load().expect("committed fixture");
    let mut failures = Vec::new();
    for name in NAMES {
        let mut t = target(name, &fixture).expect("target sets up");
        let corpus = inputs_in(&corpus_dir(name)).expect("corpus dir");
        assert!(corpus.len() >= 5, "{name} has a corpus");
        let regressions = inputs_in(&regressions_dir(name)).expect("regressions dir");
        for path in corpus.iter().chain(&regressions) {
            let input = std::fs::read(path).expect("input readable");
            if catch_unwind(AssertUnwindSafe(|| t.run(&input))).is_err() {
                failures.push(path.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "inputs that fail: {failures:#?}");
}

#[test]
fn seed_pushes_reach_the_rulebook_and_are_stored() {
    let fixture = Fixture::load().expect("committed fixture");
    let input =
        std::fs::read(corpus_dir("server_session").join("push-conversation")).expect("seed input");
    let case = fixture.case_doc().expect("fixture case");
    let mut storage = MemoryStorage::with_workspace(&fixture.workspace_doc().expect("workspace"));
    storage
        .store_case(
            &fixture.peer.workspace,
            &case,
            &case.changes_since(&[]),
            &fixture.peer.device,
        )
        .expect("store case");
    let mut session =
        ServerSession::new(fixture.peer.clone(), Limits::default(), &mut storage).expect("session");
    let mut replies = Vec::new();
    for frame in framing::split(&input) {
        assert!(ClientMessage::decode(frame).is_ok(), "seed frames decode");
        replies.extend(session.receive(&mut storage, frame).expect("receive"));
    }
    assert!(
        replies
            .iter()
            .any(|r| matches!(r, ServerMessage::Accepted { .. })),
        "the seed push is accepted: {replies:?}"
    );
}

#[test]
fn seed_requests_reach_the_handlers() {
    let mut http = HttpApiTarget::new().expect("template store");
    let status = |http: &mut HttpApiTarget, name: &str| {
        let input = std::fs::read(corpus_dir("http_api").join(name)).expect("seed input");
        http.status(&input).expect("a request").as_u16()
    };
    for (name, expected) in [
        ("enrol", 200),
        ("enrol-wrong-code", 401),
        ("add-member", 200),
        ("add-member-unauthorized", 401),
        ("invite", 200),
        ("devices", 200),
        ("revoke", 200),
        ("access-log", 200),
        ("access-log-workspace", 404),
    ] {
        assert_eq!(status(&mut http, name), expected, "{name}");
    }
}
