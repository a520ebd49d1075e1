// The demo's own UI test: two app windows and a real server, driven through the screens
// on the Swing event thread, with a screenshot of every screen in the output folder.
// Run under Xvfb by mobile-demo/test.sh.

import java.awt.Component
import java.awt.Container
import java.awt.Window
import java.awt.image.BufferedImage
import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import javax.imageio.ImageIO
import javax.swing.*
import javax.swing.text.JTextComponent
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import nl.keukentafel.*
import nl.keukentafel.demo.*

val shots = File(System.getenv("DEMO_SCREENSHOTS") ?: "target/mobile-demo/screenshots").apply { mkdirs() }

fun <T> edt(block: () -> T): T {
    var result: Result<T>? = null
    SwingUtilities.invokeAndWait { result = runCatching(block) }
    return result!!.getOrThrow()
}

fun Container.all(): Sequence<Component> = components.asSequence().flatMap {
    sequenceOf(it) + ((it as? Container)?.all() ?: emptySequence())
}

inline fun <reified T : Component> App.find(name: String): T = edt {
    frame.all().filterIsInstance<T>().firstOrNull { it.name == name && it.isShowing }
        ?: error("no $name on screen $screen")
}

fun App.click(name: String) = find<AbstractButton>(name).let { b -> edt { b.doClick() } }
fun App.type(name: String, text: String) = find<JTextComponent>(name).let { f -> edt { f.text = text } }
fun App.shown(): String = edt { frame.all().mapNotNull { (it as? JLabel)?.text ?: (it as? AbstractButton)?.text }.joinToString("\n") }
fun App.status(): String = find<JLabel>("status").let { l -> edt { l.text } }
fun App.tab(index: Int) = find<JTabbedPane>("tabs").let { t -> edt { t.selectedIndex = index } }

fun shot(window: Window, name: String) = edt {
    val img = BufferedImage(window.width, window.height, BufferedImage.TYPE_INT_RGB)
    window.paint(img.graphics)
    ImageIO.write(img, "png", File(shots, "$name.png"))
}
fun App.shot(name: String) = shot(frame, name)

fun eventually(what: String, condition: () -> Boolean) {
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
    while (!condition()) {
        check(System.nanoTime() < deadline) { "timed out waiting until $what" }
        Thread.sleep(100)
    }
}

fun App.go(next: Screen) = edt { show(next) }
fun App.current(): Screen = edt { screen }

fun App.caseId(number: String): CaseId = repo.device.myCases().single { it.caseNumber == number }.id

fun enrolThroughTheScreen(app: App, team: TeamServer, name: String) {
    assertEquals(Screen.Enrol, app.current())
    app.type("server", team.url)
    app.type("code", team.codes.getValue(name))
    app.shot("01-aanmelden-$name")
    app.click("enrol")
    eventually("$name is enrolled and up to date") {
        app.current() == Screen.Cases && app.status().contains("Bijgewerkt") && app.shown().contains("2026-0412")
    }
}

fun main() {
    val dir = Files.createTempDirectory("keukentafel-demo").toFile()
    // Swing's threads keep the JVM alive: the outcome decides the exit code explicitly.
    val outcome = runCatching { TeamServer(dir).use { team -> run(dir, team) } }
    dir.deleteRecursively()
    outcome.exceptionOrNull()?.let {
        it.printStackTrace()
        System.err.println("demo UI test failed; screenshots so far in $shots")
        System.exit(1)
    }
    println("demo UI test: all passed; screenshots in $shots")
    System.exit(0)
}

fun run(dir: File, team: TeamServer) {
    assertEquals(4, seed(team.url, team.codes.getValue("fatima"), dir))
    val sanne = openApp(team.url, dir, "Sanne")
    val daan = openApp(team.url, dir, "Daan")
    edt { sanne.frame.isVisible = true; daan.frame.setLocation(420, 0); daan.frame.isVisible = true }
    enrolThroughTheScreen(sanne, team, "sanne")
    enrolThroughTheScreen(daan, team, "daan")

    // My cases, by legal deadline.
    val list = sanne.shown()
    // Melding 30, 20 and 12 days ago: the onderzoek deadlines (6 weeks) come in that order.
    val order = listOf("2026-0412", "2026-0431", "2026-0418").map { list.indexOf(it) }
    assertTrue(order.all { it >= 0 } && order == order.sorted(), "soonest deadline first:\n$list")
    assertTrue(!list.contains("2026-0427"), "Daan's case is not on Sanne's phone")
    sanne.shot("02-mijn-zaken")

    // A home visit: record the conversation of a household not visited before.
    sanne.click("case-2026-0431")
    sanne.shot("03-zaak-huishouden")
    sanne.tab(1)
    sanne.type("question", "Na de operatie red ik het huishouden niet alleen.")
    sanne.type("participants", "mevrouw Bakker, dochter Petra")
    sanne.type("notes", "Kan niet tillen tot maart. Dochter doet boodschappen.")
    sanne.type("agreement", "Thuiszorg belt voor intake")
    sanne.find<JCheckBox>("clientSupport").let { c -> edt { c.isSelected = true } }
    sanne.shot("04-gesprek-vastleggen")
    sanne.click("saveConversation")
    val bakker = sanne.caseId("2026-0431")
    assertEquals("Kan niet tillen tot maart. Dochter doet boodschappen.",
        sanne.repo.device.case(bakker).conversations.single().notes)
    assertTrue(sanne.shown().contains("Na de operatie red ik het huishouden niet alleen."), sanne.shown())
    assertTrue(sanne.repo.device.case(bakker).conversations.single().clientSupportOffered)
    sanne.shot("05-gesprek")

    sanne.tab(2)
    sanne.find<JSpinner>("zrm-HUISVESTING").let { s -> edt { s.value = 2 } }
    sanne.click("saveZrm")
    assertEquals(2u, sanne.repo.device.case(bakker).assessments.single().scores.single { it.domain == LifeDomain.HUISVESTING }.score)
    sanne.shot("06-zrm")
    sanne.tab(3)
    sanne.shot("07-doelen")

    // A decision above the mandate becomes a request for a second signature.
    sanne.click("newDecision")
    sanne.type("provision", "4 uur huishoudelijke hulp per week")
    sanne.type("amount", "4000")
    sanne.type("motivation", "Tijdelijk niet in staat tot tillen; geen netwerk doordeweeks.")
    eventually("the mandate check is shown") {
        sanne.find<JLabel>("mandateCheck").let { l -> edt { l.text } }.contains("tweede handtekening")
    }
    sanne.shot("08-besluit-boven-mandaat")
    sanne.click("saveDecision")
    assertEquals(DecisionStatus.AWAITING_SIGNATURE, sanne.repo.device.case(bakker).decisions.single().status)
    sanne.shot("09-besluiten")

    // A knelpunt in a few taps.
    val raise = sanne.find<AbstractButton>("raiseSignal")
    SwingUtilities.invokeLater { raise.doClick() }
    lateinit var dialog: JDialog
    eventually("the knelpunt dialog opens") {
        Window.getWindows().filterIsInstance<JDialog>().firstOrNull { it.isShowing && it.title == "Knelpunt melden" }
            ?.also { dialog = it } != null
    }
    shot(dialog, "10-knelpunt")
    val ok = UIManager.getString("OptionPane.okButtonText")
    edt { dialog.all().filterIsInstance<JButton>().first { it.text == ok }.doClick() }
    eventually("the knelpunt is raised") { sanne.repo.device.case(bakker).signals.size == 1 }

    // Both offline, both edit the shared case; back online the notes merge and the goal's
    // status is a conflict, shown on both phones with who and when.
    val shared = sanne.caseId("2026-0412")
    for (app in listOf(sanne, daan)) {
        app.go(Screen.Cases)
        app.click("offline")
        eventually("offline") { app.status().contains("Offline") }
        app.click("case-2026-0412")
        app.tab(1)
    }
    val seeded = sanne.repo.device.case(shared).conversations.single().notes
    sanne.type("notes", "Sanne: traplift aangevraagd. $seeded")
    sanne.click("saveNotes")
    daan.type("notes", "$seeded Daan: dochter helpt op zaterdag.")
    daan.click("saveNotes")
    sanne.tab(3)
    daan.tab(3)
    sanne.find<JComboBox<*>>("goal-status").let { b -> edt { b.selectedItem = GoalStatus.ACHIEVED } }
    daan.find<JComboBox<*>>("goal-status").let { b -> edt { b.selectedItem = GoalStatus.STOPPED } }
    sanne.go(Screen.Cases)
    assertTrue(sanne.shown().contains("nog niet gesynchroniseerd"), sanne.shown())
    sanne.shot("11-offline-niet-gesynchroniseerd")

    for (app in listOf(sanne, daan)) app.click("offline")
    for (app in listOf(sanne, daan)) {
        eventually("the edits meet on ${app.frame.title}") {
            val notes = app.repo.device.case(shared).conversations.single().notes
            notes.contains("traplift aangevraagd") && notes.contains("dochter helpt op zaterdag") &&
                app.repo.device.conflicts(shared).isNotEmpty()
        }
    }
    sanne.go(Screen.Cases)
    eventually("the conflict badge shows") { sanne.shown().contains("conflict") }
    sanne.shot("12-mijn-zaken-conflict")
    for ((app, name) in listOf(sanne to "sanne", daan to "daan")) {
        app.go(Screen.Conflicts(shared))
        val shown = app.shown()
        assertTrue(shown.contains("behaald") && shown.contains("gestopt") && shown.contains("Sanne") && shown.contains("Daan"), shown)
        app.shot("13-conflict-$name")
    }
    sanne.click("choose-0")
    for (app in listOf(sanne, daan)) {
        eventually("resolved on ${app.frame.title}") { app.repo.device.conflicts(shared).isEmpty() }
    }
    assertEquals(sanne.repo.device.case(shared).goals, daan.repo.device.case(shared).goals)
    daan.go(Screen.CaseView(shared, 3))
    daan.shot("14-opgelost-daan")
    for (app in listOf(sanne, daan)) { app.repo.close(); edt { app.frame.dispose() } }
}
