// The Kotlin binding surface as an Android app uses it, against a real server: a
// practitioner's day, a team lead's second signature, typed exceptions, and live sync with a
// change listener that stops when told. Run by tests/bindings/kotlin/run.sh.

import java.io.File
import java.nio.file.Files
import java.time.LocalDate
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import nl.keukentafel.*

fun openDevice(dir: File, name: String): Device =
    Device.open(File(dir, "$name.db").path, generateStoreKey())

fun homeHelp(euros: Long) = NewDecision(
    provision = "3 uur huishoudelijke hulp per week",
    category = ProvisionCategory.HUISHOUDELIJKE_HULP,
    period = Period(start = LocalDate.now(), end = LocalDate.now().plusYears(1)),
    amount = euros * 100,
    legalGround = "Wmo 2015 art. 2.3.5",
    motivation = "Kan de trap niet meer op; partner werkt.",
    deviation = null,
    supersedes = null,
)

/** Waits, bounded, until [condition] holds. */
fun eventually(what: String, condition: () -> Boolean) {
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20)
    while (!condition()) {
        check(System.nanoTime() < deadline) { "timed out waiting until $what" }
        Thread.sleep(50)
    }
}

fun practitionersDay(dir: File, team: TeamServer) {
    val sanne = openDevice(dir, "sanne")
    val states = CopyOnWriteArrayList<SyncState>()
    sanne.observeSyncState(object : SyncStateObserver {
        override fun onStateChanged(state: SyncState) { states.add(state) }
    })
    assertEquals("Wijkteam Noord", sanne.enrol(team.url, team.codes.getValue("sanne"), "telefoon Sanne").name)

    // At the kitchen table, offline.
    val case = sanne.createCase(NewCase(
        caseNumber = "2026-0412",
        law = Law.WMO,
        meldingDate = LocalDate.now(),
        household = listOf(NewHouseholdMember("J. de Vries", null, HouseholdRole.RESIDENT)),
        assigned = emptyList(),
    ))
    val conversation = sanne.recordConversation(case, NewConversation(
        date = LocalDate.now(),
        place = "thuis",
        participants = listOf(NewParticipant(ParticipantKind.RESIDENT, "mevrouw De Vries", null, null)),
        question = "Ik wil thuis blijven wonen.",
        domains = listOf(LifeDomain.HUISVESTING),
        notes = "Trap lukt niet meer.",
        agreements = emptyList(),
        clientSupportOffered = true,
    ))
    sanne.replaceNotes(case, conversation, "Trap lukt niet meer. Dochter helpt op zaterdag.")
    val within = sanne.draftDecision(case, homeHelp(1_000))
    sanne.decide(case, within)

    val above = homeHelp(4_000)
    val check = sanne.mandateCheck(above.category, above.amount)
    assertTrue(check is MandateCheck.AboveLimit && check.limit == 250_000L, "$check")
    val larger = sanne.draftDecision(case, above)
    // A core refusal arrives as the typed exception, with the rule in words.
    val refused = assertFailsWith<KeukentafelException.Refused> { sanne.decide(case, larger) }
    assertTrue(refused.reason.isNotBlank())
    sanne.requestSignature(case, larger)

    val progress = CopyOnWriteArrayList<SyncProgress>()
    val report = sanne.syncNow(object : SyncProgressListener {
        override fun onProgress(p: SyncProgress) { progress.add(p) }
    }, null)
    assertEquals(SyncState.UpToDate, report.state)
    assertTrue(progress.isNotEmpty())
    assertTrue(states.any { it is SyncState.Syncing } && states.last() == SyncState.UpToDate, "$states")

    // The team lead signs on her phone.
    val fatima = openDevice(dir, "fatima")
    fatima.enrol(team.url, team.codes.getValue("fatima"), "telefoon Fatima")
    fatima.syncNow(null, null)
    assertEquals(listOf(larger), fatima.awaitingMySignature().map { it.decision })

    // Sanne stays connected; her listener hears of the signature as it happens.
    val changes = CopyOnWriteArrayList<RemoteChange>()
    val before = states.size
    val live = sanne.startLiveSync(object : ChangeListener {
        override fun onRemoteChange(change: RemoteChange) { changes.add(change) }
    })
    eventually("live sync is up") {
        val since = states.drop(before)
        since.any { it is SyncState.Syncing } && since.last() == SyncState.UpToDate
    }
    fatima.approve(case, larger)
    fatima.syncNow(null, null)
    eventually("the signature reaches Sanne") { changes.any { case in it.changedCases } }
    val decision = sanne.case(case).decisions.single { it.id == larger }
    assertEquals(DecisionStatus.APPROVED, decision.status)
    assertEquals(fatima.me().id, decision.signedBy)

    // An edit on Sanne's phone goes out at once while live.
    sanne.insertNotes(case, conversation, 0u, "Bezoek 10:00. ")
    eventually("Fatima receives the notes") {
        fatima.syncNow(null, null)
        fatima.case(case).conversations.single().notes.startsWith("Bezoek 10:00. ")
    }

    // Stopped, the listener hears nothing more.
    live.stop()
    assertFalse(live.isRunning())
    val heard = changes.size
    fatima.addGoal(case, NewGoal(PlanKind.PERSOONLIJK_PLAN, fatima.case(case).household.single().id, "Zelf boodschappen doen"))
    fatima.syncNow(null, null)
    Thread.sleep(1_000)
    assertEquals(heard, changes.size, "no change announced after stop")
    assertEquals(SyncState.Offline, sanne.syncState())
}

fun typedErrors(dir: File, team: TeamServer) {
    val path = File(dir, "errors.db").path
    Device.open(path, ByteArray(32))
    assertFailsWith<KeukentafelException.WrongKey> { Device.open(path, ByteArray(32) { 1 }) }
    val device = Device.open(path, ByteArray(32))
    assertFailsWith<KeukentafelException.NotEnrolled> { device.myCases() }
    assertFailsWith<KeukentafelException.Unauthorized> { device.enrol(team.url, "AAAA-BBBB-CCCC", "telefoon") }
    assertFailsWith<KeukentafelException.InvalidInput> { device.case("../../etc/passwd") }
}

fun main() {
    val dir = Files.createTempDirectory("keukentafel-kotlin").toFile()
    try {
        TeamServer(dir).use { team ->
            practitionersDay(dir, team)
            typedErrors(dir, team)
        }
        println("kotlin bindings: all passed")
    } finally {
        dir.deleteRecursively()
    }
}
