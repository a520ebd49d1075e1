package nl.keukentafel.demo

import java.awt.BorderLayout
import java.awt.Color
import java.awt.Component
import java.awt.Dimension
import java.awt.Font
import java.awt.GridLayout
import java.time.Instant
import java.time.LocalDate
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import javax.swing.*
import nl.keukentafel.*

/** Screens of the app. */
sealed interface Screen {
    object Enrol : Screen
    object Cases : Screen
    data class CaseView(val case: CaseId, val tab: Int = 0) : Screen
    data class NewDecisionView(val case: CaseId) : Screen
    data class Conflicts(val case: CaseId) : Screen
}

private val dayFormat = DateTimeFormatter.ofPattern("d-M-yyyy")
private fun day(d: LocalDate?) = d?.format(dayFormat) ?: "–"
/** Text from people (and from other devices) shown inside an HTML label: never markup. */
fun esc(text: String): String =
    text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;")

/** A conflict's place in Dutch: "goal G-1a2b3c" as "doel G-1a2b3c". */
private fun dutchItem(item: String): String {
    val words = mapOf("case" to "zaak", "person" to "persoon", "conversation" to "gesprek",
        "participant" to "deelnemer", "agreement" to "afspraak", "decision" to "besluit", "goal" to "doel",
        "progress" to "voortgang", "assessment" to "ZRM", "knelpunt" to "knelpunt", "signal" to "knelpunt",
        "workspace" to "team", "member" to "teamlid", "budget" to "budget")
    return item.split(" ").joinToString(" ") { words[it] ?: it }
}

/** The Dutch words for a domain value, from the core's labels. */
private fun words(e: Enum<*>): String = when (e) {
    is CaseStatus -> caseStatusLabel(e)
    is Law -> lawLabel(e)
    is HouseholdRole -> householdRoleLabel(e)
    is LifeDomain -> lifeDomainLabel(e)
    is ProvisionCategory -> provisionCategoryLabel(e)
    is DecisionStatus -> decisionStatusLabel(e)
    is GoalStatus -> goalStatusLabel(e)
    is KnelpuntCategory -> knelpuntCategoryLabel(e)
    else -> e.name.lowercase().replace('_', ' ')
}
private fun euros(cents: Long) = "€ %,.2f".format(java.util.Locale.GERMANY, cents / 100.0)
private fun moment(ms: Long?) = ms?.let {
    Instant.ofEpochMilli(it).atZone(ZoneId.systemDefault()).format(DateTimeFormatter.ofPattern("d-M HH:mm"))
} ?: "?"

/**
 * One phone-sized window of the app. Every screen is drawn from the repository's current
 * data. The status bar follows every change; lists follow the team's changes as they
 * arrive; a screen where the user is typing is never redrawn under them: it offers
 * "Vernieuwen" instead. Build and use it on the Swing event thread.
 */
class App(val repo: CaseRepository, title: String, private val defaultServer: String) {
    val frame = JFrame(title)
    private val status = JLabel().apply { name = "status"; font = font.deriveFont(Font.BOLD, 12f) }
    private val offline = JToggleButton("Vliegtuigmodus").apply { name = "offline" }
    private val syncNow = button("Nu synchroniseren", "syncNow") { repo.syncNow() }
    private val refresh = button("Vernieuwen", "refresh") { render() }
    private val content = JPanel(BorderLayout())
    var screen: Screen = if (repo.device.isEnrolled()) Screen.Cases else Screen.Enrol
        private set
    /** The last message for the user (refusals, errors), shown in the status line. */
    private var message: String? = null

    init {
        val bar = JPanel(BorderLayout()).apply {
            border = BorderFactory.createEmptyBorder(6, 8, 6, 8)
            background = Color(0xE8, 0xF0, 0xF8)
            add(status, BorderLayout.CENTER)
            add(JPanel().apply {
                isOpaque = false
                add(offline)
                add(syncNow)
                add(refresh)
            }, BorderLayout.SOUTH)
        }
        offline.addActionListener { if (offline.isSelected) repo.goOffline() else repo.goOnline() }
        frame.contentPane.add(bar, BorderLayout.NORTH)
        frame.contentPane.add(content, BorderLayout.CENTER)
        frame.size = Dimension(400, 760)
        frame.defaultCloseOperation = WindowConstants.DISPOSE_ON_CLOSE
        frame.addWindowListener(object : java.awt.event.WindowAdapter() {
            override fun windowClosed(e: java.awt.event.WindowEvent) { Thread { repo.close() }.start() }
        })
        repo.onChange { change -> SwingUtilities.invokeLater { changed(change) } }
        render()
    }

    private fun changed(change: CaseRepository.Change) {
        val typing = when (val s = screen) {
            Screen.Enrol, is Screen.NewDecisionView -> true
            is Screen.CaseView -> change is CaseRepository.Change.Data && s.case in change.cases
            else -> false
        }
        when {
            change is CaseRepository.Change.Status -> renderStatus()
            typing -> { refresh.isVisible = true; renderStatus() }
            screen is Screen.CaseView -> renderStatus()
            else -> render()
        }
    }

    /** Shows [text] in the status line (an error the user should see). */
    fun tell(text: String) {
        message = text
        renderStatus()
    }

    fun show(next: Screen) {
        screen = next
        message = null
        render()
    }

    private fun renderStatus() {
        val error = message ?: repo.lastError
        status.text = "<html>${esc(describe(repo.syncState, repo.online))}" +
            (if (refresh.isVisible) "<br>Er zijn wijzigingen van collega's binnengekomen" else "") +
            (error?.let { "<br><font color='#a00000'>${esc(it)}</font>" } ?: "") + "</html>"
        offline.isSelected = !repo.online
        syncNow.isEnabled = repo.online
    }

    /** Redraws the status bar and the current screen from the repository's data. */
    fun render() {
        refresh.isVisible = false
        renderStatus()
        content.removeAll()
        val panel = runCatching {
            when (val s = screen) {
                Screen.Enrol -> enrolScreen()
                Screen.Cases -> casesScreen()
                is Screen.CaseView -> caseScreen(s)
                is Screen.NewDecisionView -> decisionScreen(s.case)
                is Screen.Conflicts -> conflictsScreen(s.case)
            }
        }.getOrElse { JLabel(esc(describe(it))) }
        content.add(panel, BorderLayout.CENTER)
        content.revalidate()
        content.repaint()
    }

    private fun fail(e: Throwable) {
        message = describe(e)
        render()
    }

    /** Runs a change; shows the refusal or error in the status line when there is one. */
    private fun <T> change(after: (T) -> Unit = {}, block: Device.() -> T) {
        repo.edit(block).onSuccess { message = null; after(it); render() }.onFailure(::fail)
    }

    // ----- screens

    private fun enrolScreen(): JComponent {
        val server = field("server", defaultServer)
        val code = field("code", "")
        return form(
            "Aanmelden bij je wijkteam",
            "Serveradres" to server,
            "Eenmalige code van de beheerder" to code,
        ).apply {
            add(button("Aanmelden", "enrol") {
                repo.enrol(server.text, code.text, frame.title) { error ->
                    SwingUtilities.invokeLater {
                        if (error == null) { repo.goOnline(); show(Screen.Cases) } else { message = error; render() }
                    }
                }
            })
        }
    }

    private fun casesScreen(): JComponent {
        val me = repo.device.me()
        val list = column()
        list.add(heading("Mijn zaken · ${me.displayName}"))
        for (c in repo.device.myCases()) {
            val badges = listOfNotNull(
                if (c.openConflicts > 0u) "⚠ ${c.openConflicts} conflict" else null,
                if (c.awaitingSignature > 0u) "✍ wacht op handtekening" else null,
                if (c.unsynced) "↑ nog niet gesynchroniseerd" else null,
            )
            list.add(button(
                "<html><b>${esc(c.caseNumber)}</b> · ${words(c.status)} · termijn ${day(c.nextDeadline)}" +
                    (if (badges.isEmpty()) "" else "<br><font color='#a05000'>${badges.joinToString(" · ")}</font>") + "</html>",
                "case-${c.caseNumber}",
            ) { show(Screen.CaseView(c.id)) })
        }
        val pending = repo.device.awaitingMySignature()
        if (pending.isNotEmpty()) {
            list.add(heading("Wacht op mijn handtekening"))
            for (p in pending) list.add(JLabel("${euros(p.amount)} ${words(p.category)}"))
        }
        return scroll(list)
    }

    private fun caseScreen(s: Screen.CaseView): JComponent {
        val case = repo.device.case(s.case)
        val top = column().apply {
            add(button("← Mijn zaken", "back") { show(Screen.Cases) })
            add(heading("Zaak ${case.caseNumber} · ${words(case.law)}"))
            add(JLabel("Status ${words(case.status)} · onderzoek vóór ${day(case.deadlines.onderzoek)}"))
            val conflicts = repo.device.conflicts(s.case)
            if (conflicts.isNotEmpty()) {
                add(button("⚠ ${conflicts.size} conflict(en) bekijken", "conflicts") { show(Screen.Conflicts(s.case)) })
            }
            add(JPanel(GridLayout(1, 2)).apply {
                add(button("Nieuw besluit", "newDecision") { show(Screen.NewDecisionView(s.case)) })
                add(button("Knelpunt melden", "raiseSignal") { signalDialog(s.case) })
            })
        }
        val tabs = JTabbedPane().apply {
            name = "tabs"
            addTab("Huishouden", scroll(column().apply {
                case.household.forEach { add(JLabel("${it.name} (${words(it.role)}) ${day(it.birthDate)}")) }
            }))
            addTab("Gesprek", conversationTab(case))
            addTab("ZRM", zrmTab(case))
            addTab("Doelen", goalsTab(case))
            addTab("Besluiten", decisionsTab(case))
            selectedIndex = s.tab
            addChangeListener { screen = s.copy(tab = selectedIndex) }
        }
        return JPanel(BorderLayout()).apply { add(top, BorderLayout.NORTH); add(tabs, BorderLayout.CENTER) }
    }

    private fun conversationTab(case: Case): JComponent {
        val talk = case.conversations.lastOrNull()
        if (talk == null) {
            val question = field("question", "")
            val notes = area("notes", "")
            val present = field("participants", "")
            val agreement = field("agreement", "")
            val support = JCheckBox("Onafhankelijke cliëntondersteuning aangeboden").apply { name = "clientSupport" }
            return form(
                "Keukentafelgesprek vastleggen",
                "Vraag van de bewoner (eigen woorden)" to question,
                "Aanwezig: eerst de bewoner, dan gezinsleden (komma's)" to present,
                "Aantekeningen" to JScrollPane(notes),
                "Afspraak" to agreement,
                "" to support,
            ).apply {
                add(button("Gesprek opslaan", "saveConversation") {
                    change {
                        recordConversation(case.id, NewConversation(
                            LocalDate.now(), "thuis",
                            present.text.split(",").map { it.trim() }.filter { it.isNotEmpty() }
                                .mapIndexed { i, who ->
                                    NewParticipant(if (i == 0) ParticipantKind.RESIDENT else ParticipantKind.HOUSEHOLD_MEMBER, who, null, null)
                                },
                            question.text, emptyList(), notes.text,
                            listOfNotNull(agreement.text.takeIf { it.isNotBlank() }?.let { NewAgreement(it, "bewoner", null) }),
                            support.isSelected,
                        ))
                    }
                })
            }
        }
        val notes = area("notes", talk.notes)
        return form(
            "Gesprek ${day(talk.date)} · ${talk.place}",
            "Vraag" to JLabel("<html>${esc(talk.question)}</html>"),
            "Aanwezig" to JLabel(talk.participants.joinToString { it.name }),
            "Aantekeningen (samen bewerkbaar)" to JScrollPane(notes),
            "Afspraken" to JLabel("<html>" + talk.agreements.joinToString("<br>") { (if (it.done) "✔ " else "• ") + esc(it.what) } + "</html>"),
        ).apply {
            add(button("Aantekeningen opslaan", "saveNotes") { change { replaceNotes(case.id, talk.id, notes.text) } })
        }
    }

    private fun zrmTab(case: Case): JComponent {
        val latest = case.assessments.lastOrNull()?.scores?.associate { it.domain to it.score } ?: emptyMap()
        val domains = listOf(LifeDomain.FINANCIEN, LifeDomain.HUISVESTING, LifeDomain.HUISELIJKE_RELATIES,
            LifeDomain.GEESTELIJKE_GEZONDHEID, LifeDomain.LICHAMELIJKE_GEZONDHEID, LifeDomain.ADL,
            LifeDomain.SOCIAAL_NETWERK, LifeDomain.MAATSCHAPPELIJKE_PARTICIPATIE)
        val spinners = domains.associateWith { d ->
            // 0: not scored this time; only scored domains are saved.
            JSpinner(SpinnerNumberModel((latest[d] ?: 0u).toInt(), 0, 5, 1)).apply { name = "zrm-${d.name}" }
        }
        val pairs = spinners.map { (d, s) -> words(d) to (s as JComponent) }.toTypedArray()
        return form("ZRM (1 acuut – 5 volledig zelfredzaam, 0 niet gescoord) · ${case.assessments.size} eerder", *pairs).apply {
            add(button("Score opslaan", "saveZrm") {
                change {
                    recordAssessment(case.id, NewAssessment(ZrmVersion.ELF, LocalDate.now(),
                        spinners.filter { (_, s) -> s.value as Int > 0 }.map { (d, s) -> ZrmScore(d, (s.value as Int).toUByte()) }))
                }
            })
        }
    }

    private fun goalsTab(case: Case): JComponent {
        val list = column()
        for (g in case.goals) {
            val box = JComboBox(GoalStatus.entries.toTypedArray()).apply { name = "goal-status"; selectedItem = g.status; renderer = words() }
            box.addActionListener {
                val chosen = box.selectedItem as GoalStatus
                if (chosen != g.status) change { setGoalStatus(case.id, g.id, chosen) }
            }
            list.add(JPanel(BorderLayout()).apply {
                add(JLabel("<html>${esc(g.description)}</html>"), BorderLayout.CENTER)
                add(box, BorderLayout.EAST)
            })
        }
        val description = field("goalDescription", "")
        list.add(form("Nieuw doel", "Omschrijving" to description).apply {
            add(button("Doel toevoegen", "addGoal") {
                change { addGoal(case.id, NewGoal(PlanKind.PERSOONLIJK_PLAN, case.household.first().id, description.text)) }
            })
        })
        return scroll(list)
    }

    private fun decisionsTab(case: Case): JComponent {
        val me = repo.device.me().id
        val list = column()
        for (d in case.decisions) {
            list.add(JLabel("<html><b>${esc(d.provision)}</b><br>${euros(d.amount)} · ${esc(d.legalGround)} · ${words(d.status)}</html>"))
            if (d.status == DecisionStatus.AWAITING_SIGNATURE && d.decidedBy != me) {
                list.add(button("Tweede handtekening zetten", "approve") { change { approve(case.id, d.id) } })
            }
        }
        return scroll(list)
    }

    private fun decisionScreen(caseId: CaseId): JComponent {
        val provision = field("provision", "")
        val category = JComboBox(ProvisionCategory.entries.toTypedArray()).apply { name = "category"; renderer = words() }
        val amount = field("amount", "")
        val ground = field("legalGround", "Wmo 2015 art. 2.3.5")
        val motivation = area("motivation", "")
        val check = JLabel(" ").apply { name = "mandateCheck" }
        fun cents(): Long? {
            // "1.250,50" (Dutch) or "1250.50": a comma, when present, is the decimal mark.
            val text = amount.text.trim().let { if (',' in it) it.replace(".", "").replace(',', '.') else it }
            return text.toBigDecimalOrNull()?.movePointRight(2)?.takeIf { it.scale() <= 0 || it.stripTrailingZeros().scale() <= 0 }
                ?.toLong()
        }
        fun checked(): MandateCheck? = cents()?.let { repo.device.mandateCheck(category.selectedItem as ProvisionCategory, it) }
        fun updateCheck() {
            check.text = "<html>" + when (val c = checked()) {
                null -> "Vul een bedrag in"
                is MandateCheck.Within -> "Binnen je mandaat (tot ${euros(c.limit)}): je kunt zelf besluiten"
                is MandateCheck.AboveLimit -> "Boven je mandaat (${euros(c.limit)}): er is een tweede handtekening nodig"
                is MandateCheck.CategoryNotInMandate -> "Niet in je mandaat: er is een tweede handtekening nodig"
            } + "</html>"
        }
        amount.document.addDocumentListener(object : javax.swing.event.DocumentListener {
            override fun insertUpdate(e: javax.swing.event.DocumentEvent) = updateCheck()
            override fun removeUpdate(e: javax.swing.event.DocumentEvent) = updateCheck()
            override fun changedUpdate(e: javax.swing.event.DocumentEvent) = updateCheck()
        })
        category.addActionListener { updateCheck() }
        updateCheck()
        return form(
            "Nieuw besluit (maatwerk)",
            "Voorziening" to provision,
            "Categorie" to category,
            "Bedrag in euro" to amount,
            "Wettelijke grondslag" to ground,
            "Motivering: waarom dit, hier" to JScrollPane(motivation),
            "Mandaat" to check,
        ).apply {
            add(button("Opslaan", "saveDecision") {
                val cents = cents() ?: return@button fail(IllegalArgumentException("bedrag ontbreekt"))
                val new = NewDecision(provision.text, category.selectedItem as ProvisionCategory,
                    Period(LocalDate.now(), LocalDate.now().plusYears(1)), cents, ground.text, motivation.text, null, null)
                change(after = { _: Unit -> screen = Screen.CaseView(caseId, 4) }) {
                    val id = draftDecision(caseId, new)
                    if (checked() is MandateCheck.Within) decide(caseId, id) else requestSignature(caseId, id)
                }
            })
            add(button("Annuleren", "cancel") { show(Screen.CaseView(caseId, 4)) })
        }
    }

    private fun conflictsScreen(caseId: CaseId): JComponent {
        val members = repo.device.workspace().members.associate { it.id to it.displayName }
        val list = column()
        list.add(button("← Zaak", "back") { show(Screen.CaseView(caseId)) })
        list.add(heading("Conflicten: kies welke waarde blijft"))
        for (c in repo.device.conflicts(caseId)) {
            list.add(JLabel("<html><b>${esc(dutchItem(c.item))}</b> · ${esc(c.field)}${c.rule?.let { "<br>" + esc(it) } ?: ""}</html>"))
            val row = JPanel(GridLayout(1, maxOf(c.values.size, 1), 6, 0)).apply { name = "conflict-values" }
            c.values.forEachIndexed { i, v ->
                row.add(column().apply {
                    border = BorderFactory.createLineBorder(Color.GRAY)
                    add(JLabel("<html><b>${esc(v.value)}</b><br>${esc(members[v.member] ?: "?")} · ${moment(v.at)}</html>"))
                    add(button("Kies deze", "choose-$i") { change { resolveConflict(caseId, c.id, i.toUInt()) } })
                })
            }
            list.add(row)
        }
        return scroll(list)
    }

    private fun signalDialog(caseId: CaseId) {
        val category = JComboBox(KnelpuntCategory.entries.toTypedArray()).apply { renderer = words() }
        val rule = JTextField("Eigen bijdrage huishoudelijke hulp")
        val description = JTextArea("Eigen bijdrage weerhoudt bewoner van hulp die nodig is.", 3, 20)
        val ok = JOptionPane.showConfirmDialog(frame, arrayOf("Categorie", category, "Welke regel", rule,
            "Wat gaat er mis (zonder namen)", JScrollPane(description)), "Knelpunt melden", JOptionPane.OK_CANCEL_OPTION)
        if (ok == JOptionPane.OK_OPTION) {
            change { raiseSignal(caseId, NewKnelpuntSignal(rule.text, category.selectedItem as KnelpuntCategory, description.text)) }
        }
    }

    // ----- small building blocks

    /** Shows an enum value as words ("HUISHOUDELIJKE_HULP" as "huishoudelijke hulp"). */
    private fun words() = object : DefaultListCellRenderer() {
        override fun getListCellRendererComponent(list: JList<*>?, value: Any?, index: Int, selected: Boolean, focus: Boolean): Component =
            super.getListCellRendererComponent(list, (value as? Enum<*>)?.let { words(it) } ?: value, index, selected, focus)
    }

    private fun button(text: String, id: String, action: () -> Unit) =
        JButton(text).apply { name = id; alignmentX = Component.LEFT_ALIGNMENT; addActionListener { action() } }

    private fun field(id: String, text: String) = JTextField(text).apply { name = id }
    private fun area(id: String, text: String) = JTextArea(text, 5, 20).apply { name = id; lineWrap = true; wrapStyleWord = true }
    private fun heading(text: String) = JLabel(text).apply { font = font.deriveFont(Font.BOLD, 15f) }
    /** A column of left-aligned rows, each no taller than it needs (bar text areas). */
    private fun column(): JPanel = object : JPanel() {
        override fun addImpl(comp: Component, constraints: Any?, index: Int) {
            (comp as? JComponent)?.let {
                it.alignmentX = Component.LEFT_ALIGNMENT
                if (it !is JScrollPane) it.maximumSize = Dimension(Int.MAX_VALUE, it.preferredSize.height)
            }
            super.addImpl(comp, constraints, index)
        }
    }.apply {
        layout = BoxLayout(this, BoxLayout.Y_AXIS)
        border = BorderFactory.createEmptyBorder(6, 8, 6, 8)
    }
    private fun scroll(c: JComponent) = JScrollPane(c).apply { border = null }
    private fun form(title: String, vararg rows: Pair<String, JComponent>) = column().apply {
        add(heading(title))
        for ((label, input) in rows) {
            add(JLabel(label))
            add(input)
        }
    }
}
