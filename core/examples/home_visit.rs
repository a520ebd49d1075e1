//! An offline home visit: open an encrypted store, open a case, record the kitchen-table
//! conversation, decide within mandate, ask a second signature above it, and print the
//! case history. No network involved: everything here works without a connection.
//!
//! Run: `cargo run -p keukentafel-core --example home_visit [-- STORE_PATH]`

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use keukentafel_core::model::{
    HouseholdRole, KnelpuntCategory, Law, LifeDomain, Mandate, Money, NewAgreement, NewAssessment,
    NewCase, NewConversation, NewDecision, NewHouseholdMember, NewKnelpuntSignal, NewMember,
    NewParticipant, ParticipantKind, Period, ProvisionCategory, Role, ZrmVersion,
};
use keukentafel_core::{DeviceStore, MemberId, NotesEdit, StoreKey};
use time::macros::date;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile_dir()?;
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("device.db"));
    // On a phone the key lives in the Android Keystore or iOS Keychain.
    let key = StoreKey::generate()?;
    let mut store = DeviceStore::open(&path, &key)?;

    // The team lead sets up the team; normally this arrives from the server at enrolment.
    store.create_workspace(
        "Wijkteam Noord",
        "Utrecht Noord",
        NewMember {
            display_name: "Fatima (teamleider)".into(),
            role: Role::TeamLead,
            mandate: Mandate::default()
                .with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(5_000))
                .with(ProvisionCategory::Woningaanpassing, Money::euros(25_000)),
        },
    )?;
    let practitioner = MemberId::random();
    store.edit_workspace(|ws, author, now| {
        ws.add_member(
            author,
            now,
            &practitioner,
            NewMember {
                display_name: "Sanne".into(),
                role: Role::Practitioner,
                mandate: Mandate::default()
                    .with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(2_500))
                    .with(ProvisionCategory::Woningaanpassing, Money::euros(1_000)),
            },
        )
    })?;
    let workspace = store.export_workspace()?;
    let mut lead = store;

    // Sanne's phone: joins the team, then goes on a home visit without a connection.
    let phone_path = path.with_extension("sanne.db");
    let mut phone = DeviceStore::open(&phone_path, &key)?;
    let phone_id = phone.device_id().clone();
    phone.join_workspace(&workspace, &practitioner, &phone_id)?;
    let case = phone.create_case(NewCase {
        case_number: "2026-0412".into(),
        law: Law::Wmo,
        melding_date: date!(2026 - 11 - 02),
        household: vec![NewHouseholdMember {
            name: "Mevrouw J. de Vries".into(),
            birth_date: Some(date!(1941 - 03 - 14)),
            role: HouseholdRole::Resident,
        }],
        assigned: vec![],
    })?;
    let conversation = phone.edit_case(&case, |doc, ctx| {
        doc.record_conversation(
            ctx,
            NewConversation {
                date: date!(2026 - 11 - 20),
                place: "thuis, aan de keukentafel".into(),
                participants: vec![
                    NewParticipant { kind: ParticipantKind::Resident, name: "mevrouw De Vries".into(), person: None, member: None },
                    NewParticipant { kind: ParticipantKind::Mantelzorger, name: "dochter Anja".into(), person: None, member: None },
                ],
                question: "Ik wil in mijn eigen huis blijven wonen, maar de trap en het huishouden lukken niet meer.".into(),
                domains: BTreeSet::from([LifeDomain::Huisvesting, LifeDomain::Adl]),
                notes: "Mevrouw is sinds haar heupoperatie minder mobiel.".into(),
                agreements: vec![NewAgreement { what: "Offerte traplift opvragen".into(), who: "wijkteam".into(), due: Some(date!(2026 - 12 - 04)) }],
                client_support_offered: true,
            },
        )
    })?;
    phone.edit_case(&case, |doc, ctx| {
        doc.edit_notes(
            ctx,
            &conversation,
            NotesEdit::Splice {
                at: 49,
                delete: 0,
                insert: " Dochter komt twee keer per week.".into(),
            },
        )
    })?;
    phone.edit_case(&case, |doc, ctx| {
        let mut scores = BTreeMap::new();
        scores.insert(LifeDomain::Huisvesting, 3);
        scores.insert(LifeDomain::Adl, 2);
        doc.record_assessment(
            ctx,
            NewAssessment {
                version: ZrmVersion::Elf,
                date: date!(2026 - 11 - 20),
                scores,
            },
        )
    })?;

    let period = Period {
        start: date!(2026 - 12 - 01),
        end: date!(2027 - 11 - 30),
    };
    let within = NewDecision {
        provision: "Huishoudelijke hulp, 3 uur per week".into(),
        category: ProvisionCategory::HuishoudelijkeHulp,
        period,
        amount: Money::euros(1_200),
        legal_ground: "Wmo 2015 art. 2.3.5".into(),
        motivation: "Mevrouw kan na haar heupoperatie het zware huishouden niet zelf; dochter doet boodschappen.".into(),
        deviation: None,
        supersedes: None,
    };
    println!(
        "mandate check: {:?}",
        phone.mandate_check(within.category, within.amount)?
    );
    phone.edit_case(&case, |doc, ctx| {
        let d = doc.draft_decision(ctx, within)?;
        doc.decide(ctx, &d)
    })?;

    let above = NewDecision {
        provision: "Traplift".into(),
        category: ProvisionCategory::Woningaanpassing,
        period,
        amount: Money::euros(9_800),
        legal_ground: "Wmo 2015 art. 2.3.5".into(),
        motivation: "Verhuizen is voor mevrouw geen passende oplossing: zij woont er 50 jaar en haar netwerk is in de buurt.".into(),
        deviation: None,
        supersedes: None,
    };
    println!(
        "mandate check: {:?}",
        phone.mandate_check(above.category, above.amount)?
    );
    let lift = phone.edit_case(&case, |doc, ctx| doc.draft_decision(ctx, above))?;
    match phone.edit_case(&case, |doc, ctx| doc.decide(ctx, &lift)) {
        Err(e) => println!("deciding alone is refused: {e}"),
        Ok(()) => return Err("the rulebook let a decision above mandate through".into()),
    }
    phone.edit_case(&case, |doc, ctx| doc.request_signature(ctx, &lift))?;
    phone.edit_case(&case, |doc, ctx| {
        doc.raise_signal(
            ctx,
            NewKnelpuntSignal {
                blocking_rule: "Levertijd trapliften".into(),
                category: KnelpuntCategory::Aanbod,
                description: "Leverancier noemt 14 weken levertijd; bewoner kan zo lang niet veilig naar boven.".into(),
            },
        )
    })?;

    // Back at the office: the team lead's device receives the case (the sync server will
    // carry it), gives the second signature, and the signature flows back to the phone.
    lead.import_case(&phone.export_case(&case)?)?;
    for pending in lead.awaiting_my_signature()? {
        println!("team lead signs {} of {}", pending.amount, pending.category);
        lead.edit_case(&pending.case, |doc, ctx| {
            doc.approve(ctx, &pending.decision)
        })?;
    }
    phone.import_case(&lead.export_case(&case)?)?;

    println!("\nmy cases:");
    for c in phone.my_cases()? {
        println!(
            "  {} {} next deadline {:?}, {} awaiting signature",
            c.case_number, c.status, c.next_deadline, c.awaiting_signature
        );
    }
    println!("\nhistory of case {}:", case.short());
    let team = phone.workspace()?.clone();
    for h in phone.history(&case)? {
        let who = h
            .member
            .as_ref()
            .and_then(|m| team.members.get(m))
            .map_or("?", |m| m.display_name.as_str());
        println!("  {}  {:<20} {}", h.at, who, h.summary);
    }
    println!(
        "\nstores written to {}",
        path.parent()
            .map_or_else(String::new, |p| p.display().to_string())
    );
    Ok(())
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("keukentafel-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
