"""A practitioner's day through the Python bindings, against a real server."""

import datetime

import pytest

import keukentafel as kt


def open_device(tmp_path, name):
    return kt.Device.open(str(tmp_path / f"{name}.db"), kt.generate_store_key())


class Progress(kt.SyncProgressListener):
    def __init__(self):
        self.seen = []

    def on_progress(self, progress):
        self.seen.append(progress)


class States(kt.SyncStateObserver):
    def __init__(self):
        self.seen = []

    def on_state_changed(self, state):
        self.seen.append(state)


def huishoudelijke_hulp(euros):
    today = datetime.date.today()
    return kt.NewDecision(
        provision="3 uur huishoudelijke hulp per week",
        category=kt.ProvisionCategory.HUISHOUDELIJKE_HULP,
        period=kt.Period(start=today.isoformat(), end=today.replace(year=today.year + 1).isoformat()),
        amount=euros * 100,
        legal_ground="Wmo 2015 art. 2.3.5",
        motivation="Kan de trap niet meer op; partner werkt.",
        deviation=None,
        supersedes=None,
    )


def test_a_practitioners_day(team, tmp_path):
    url, codes = team
    today = datetime.date.today().isoformat()

    sanne = open_device(tmp_path, "sanne")
    states = States()
    sanne.observe_sync_state(states)
    workspace = sanne.enrol(url, codes["sanne"], "telefoon Sanne")
    assert workspace.name == "Wijkteam Noord"
    assert sanne.me().display_name == "Sanne"

    # At the kitchen table, without a connection: the case, the conversation, decisions.
    case = sanne.create_case(
        kt.NewCase(
            case_number="2026-0412",
            law=kt.Law.WMO,
            melding_date=today,
            household=[kt.NewHouseholdMember(name="J. de Vries", birth_date=None, role=kt.HouseholdRole.RESIDENT)],
            assigned=[],
        )
    )
    conversation = sanne.record_conversation(
        case,
        kt.NewConversation(
            date=today,
            place="thuis",
            participants=[kt.NewParticipant(kind=kt.ParticipantKind.RESIDENT, name="mevrouw De Vries", person=None, member=None)],
            question="Ik wil thuis blijven wonen.",
            domains=[kt.LifeDomain.HUISVESTING],
            notes="Trap lukt niet meer.",
            agreements=[],
            client_support_offered=True,
        ),
    )
    sanne.insert_notes(case, conversation, 0, "Bezoek 10:00. ")
    within = sanne.draft_decision(case, huishoudelijke_hulp(1_000))
    sanne.decide(case, within)

    above = huishoudelijke_hulp(4_000)
    check = sanne.mandate_check(above.category, above.amount)
    assert check.is_above_limit() and check.limit == 250_000
    larger = sanne.draft_decision(case, above)
    with pytest.raises(kt.KeukentafelError.Refused):
        sanne.decide(case, larger)
    sanne.request_signature(case, larger)
    assert [c.id for c in sanne.my_cases()] == [case]

    progress = Progress()
    report = sanne.sync_now(progress, None)
    assert report.state.is_up_to_date(), report
    assert report.documents_sent >= 1 and report.refused == []
    assert progress.seen, "progress was reported"
    assert any(s.is_syncing() for s in states.seen) and states.seen[-1].is_up_to_date()

    # The team lead's phone receives the case and the request, and signs.
    fatima = open_device(tmp_path, "fatima")
    fatima.enrol(url, codes["fatima"], "telefoon Fatima")
    fatima.sync_now(None, None)
    pending = fatima.awaiting_my_signature()
    assert [(p.case, p.decision) for p in pending] == [(case, larger)]
    assert fatima.case(case).conversations[0].notes == "Bezoek 10:00. Trap lukt niet meer."
    fatima.approve(case, larger)
    assert fatima.sync_now(None, None).state.is_up_to_date()

    # Sanne's phone receives the signature.
    report = sanne.sync_now(None, None)
    assert case in report.changed_cases
    decision = next(d for d in sanne.case(case).decisions if d.id == larger)
    assert decision.status == kt.DecisionStatus.APPROVED
    assert kt.decision_status_label(decision.status) == "goedgekeurd"
    assert decision.signed_by == fatima.me().id


def test_errors_arrive_as_typed_exceptions(team, tmp_path):
    url, codes = team
    path = str(tmp_path / "s.db")
    kt.Device.open(path, bytes(32))
    with pytest.raises(kt.KeukentafelError.WrongKey):
        kt.Device.open(path, bytes([1] * 32))
    device = kt.Device.open(path, bytes(32))
    with pytest.raises(kt.KeukentafelError.NotEnrolled):
        device.my_cases()
    with pytest.raises(kt.KeukentafelError.Unauthorized):
        device.enrol(url, "AAAA-BBBB-CCCC", "telefoon")
    with pytest.raises(kt.KeukentafelError.InvalidInput):
        device.case("../../etc/passwd")
