//! A team and a case to test against.
#![allow(dead_code)]

use std::collections::BTreeSet;

use keukentafel_core::model::{
    HouseholdRole, Law, LifeDomain, Mandate, Money, NewCase, NewConversation, NewDecision,
    NewHouseholdMember, NewMember, NewParticipant, ParticipantKind, Period, ProvisionCategory,
    Role, Timestamp, Workspace,
};
use keukentafel_core::{Author, CaseDoc, Context, DeviceId, MemberId, WorkspaceDoc};
use time::macros::date;

/// Wijkteam Noord: a team lead with a large mandate, two practitioners with small ones, and
/// an admin who manages the workspace but works no cases.
pub struct Team {
    pub workspace: Workspace,
    pub doc: WorkspaceDoc,
    pub lead: Author,
    pub sanne: Author,
    pub piet: Author,
    pub admin: Author,
}

pub fn author() -> Author {
    Author {
        member: MemberId::random(),
        device: DeviceId::random(),
    }
}

/// The same member on another device (each replica needs its own actor).
pub fn other_device(a: &Author) -> Author {
    Author {
        member: a.member.clone(),
        device: DeviceId::random(),
    }
}

pub const T0: Timestamp = Timestamp(1_795_000_000_000);

pub fn team() -> Team {
    let lead = author();
    let (mut doc, _) = WorkspaceDoc::create(
        &lead,
        T0,
        "Wijkteam Noord",
        "Noord",
        NewMember {
            display_name: "Fatima".into(),
            role: Role::TeamLead,
            mandate: Mandate::default()
                .with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(10_000))
                .with(ProvisionCategory::Woningaanpassing, Money::euros(50_000)),
        },
    )
    .expect("create workspace");
    let sanne = author();
    let piet = author();
    let admin = author();
    let small = Mandate::default()
        .with(ProvisionCategory::HuishoudelijkeHulp, Money::euros(2_500))
        .with(ProvisionCategory::Woningaanpassing, Money::euros(1_000));
    for (who, name, role, mandate) in [
        (&sanne, "Sanne", Role::Practitioner, small.clone()),
        (&piet, "Piet", Role::Practitioner, small),
        (&admin, "Ad", Role::Admin, Mandate::default()),
    ] {
        doc.add_member(
            &lead,
            T0,
            &who.member,
            NewMember {
                display_name: name.into(),
                role,
                mandate,
            },
        )
        .expect("add member");
    }
    Team {
        workspace: doc.workspace().clone(),
        doc,
        lead,
        sanne,
        piet,
        admin,
    }
}

impl Team {
    pub fn ctx<'a>(&'a self, author: &'a Author) -> Context<'a> {
        Context {
            workspace: &self.workspace,
            author,
            now: T0,
        }
    }

    /// A case opened by Sanne, assigned to her.
    pub fn case(&self) -> CaseDoc {
        CaseDoc::create(&self.ctx(&self.sanne), new_case())
            .expect("create case")
            .0
    }
}

pub fn new_case() -> NewCase {
    NewCase {
        case_number: "2026-0412".into(),
        law: Law::Wmo,
        melding_date: date!(2026 - 11 - 02),
        household: vec![NewHouseholdMember {
            name: "Johanna de Vries".into(),
            birth_date: Some(date!(1941 - 03 - 14)),
            role: HouseholdRole::Resident,
        }],
        assigned: vec![],
    }
}

pub fn conversation() -> NewConversation {
    NewConversation {
        date: date!(2026 - 11 - 20),
        place: "thuis".into(),
        participants: vec![NewParticipant {
            kind: ParticipantKind::Resident,
            name: "mevrouw De Vries".into(),
            person: None,
            member: None,
        }],
        question: "Ik wil thuis blijven wonen.".into(),
        domains: BTreeSet::from([LifeDomain::Huisvesting]),
        notes: String::new(),
        agreements: vec![],
        client_support_offered: true,
    }
}

pub fn decision(category: ProvisionCategory, euros: i64) -> NewDecision {
    NewDecision {
        provision: "Huishoudelijke hulp, 3 uur per week".into(),
        category,
        period: Period {
            start: date!(2026 - 12 - 01),
            end: date!(2027 - 11 - 30),
        },
        amount: Money::euros(euros),
        legal_ground: "Wmo 2015 art. 2.3.5".into(),
        motivation: "Kan het zware huishouden niet zelf.".into(),
        deviation: None,
        supersedes: None,
    }
}
