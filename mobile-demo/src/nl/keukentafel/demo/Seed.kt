package nl.keukentafel.demo

import java.io.File
import java.time.LocalDate
import nl.keukentafel.*

/**
 * Fills the demo workspace as the team lead's device would: a few households with plausible,
 * fictional data, shared out over the two practitioners, and synced to the server.
 * Returns the number of cases made.
 */
fun seed(server: String, code: String, dir: File): Int {
    val lead = Device.open(File(dir, "fatima.db").path, generateStoreKey())
    lead.enrol(server, code, "tablet Fatima")
    lead.syncNow(null, null)
    val members = lead.workspace().members.associate { it.displayName to it.id }
    val sanne = members.getValue("Sanne")
    val daan = members.getValue("Daan")
    val today = LocalDate.now()
    data class Household(val number: String, val law: Law, val days: Long, val people: List<Pair<String, HouseholdRole>>,
                         val assigned: List<MemberId>, val question: String, val goal: String)
    val households = listOf(
        Household("2026-0412", Law.WMO, 30, listOf("J. de Vries" to HouseholdRole.RESIDENT, "H. de Vries" to HouseholdRole.PARTNER),
            listOf(sanne, daan), "Ik wil thuis blijven wonen, maar de trap lukt niet meer.", "Zelfstandig boven kunnen slapen"),
        Household("2026-0418", Law.JEUGDWET, 12, listOf("A. El Amrani" to HouseholdRole.RESIDENT, "Y. El Amrani" to HouseholdRole.CHILD),
            listOf(sanne), "Mijn zoon gaat niet meer naar school.", "Yusuf gaat weer drie dagen naar school"),
        Household("2026-0427", Law.PARTICIPATIEWET, 5, listOf("M. Jansen" to HouseholdRole.RESIDENT),
            listOf(daan), "De schulden groeien me boven het hoofd.", "Overzicht van alle schulden"),
        Household("2026-0431", Law.WMO, 20, listOf("G. Bakker" to HouseholdRole.RESIDENT),
            listOf(sanne), "Na de operatie red ik het huishouden niet alleen.", "Weer zelf boodschappen doen"),
    )
    // The last household has not been visited yet: its conversation is still to be recorded.
    for ((i, h) in households.withIndex()) {
        val case = lead.createCase(NewCase(h.number, h.law, today.minusDays(h.days),
            h.people.map { (name, role) -> NewHouseholdMember(name, null, role) }, h.assigned))
        val resident = lead.case(case).household.first { it.role == HouseholdRole.RESIDENT }
        if (i < households.lastIndex) lead.recordConversation(case, NewConversation(today.minusDays(h.days - 2), "thuis",
            listOf(NewParticipant(ParticipantKind.RESIDENT, h.people.first().first, resident.id, null)),
            h.question, listOf(LifeDomain.HUISVESTING), "Eerste kennismaking aan de keukentafel.", emptyList(), true))
        lead.addGoal(case, NewGoal(PlanKind.PERSOONLIJK_PLAN, resident.id, h.goal))
    }
    lead.syncNow(null, null)
    lead.close()
    return households.size
}
