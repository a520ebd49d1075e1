package nl.keukentafel.demo

import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import nl.keukentafel.*

/**
 * The data layer of the app, as an Android app has it: one [Device] per installation, sync on
 * a background thread, and listeners told whenever what the screens show may have changed.
 * Screens read through it and never touch the network themselves.
 */
class CaseRepository(val device: Device, name: String) : AutoCloseable {
    private val worker = Executors.newSingleThreadExecutor { Thread(it, "sync-$name").apply { isDaemon = true } }
    private val listeners = CopyOnWriteArrayList<(Change) -> Unit>()
    private var live: LiveSync? = null

    /** What changed, so that a screen with a form being filled in is not redrawn under the user. */
    sealed interface Change {
        /** Only the sync state (or an error to show). */
        object Status : Change
        /** Data from the team arrived: these cases changed or left the device. */
        data class Data(val cases: List<CaseId>) : Change
    }

    val syncState: SyncState get() = device.syncState()
    @Volatile var lastError: String? = null
        private set
    /** Whether the user allows the network ("vliegtuigmodus" off). */
    @Volatile var online = false
        private set

    init {
        device.observeSyncState(object : SyncStateObserver {
            override fun onStateChanged(state: SyncState) = tell(Change.Status)
        })
    }

    /** [listener] runs (on a background thread) whenever what the screens show may change. */
    fun onChange(listener: (Change) -> Unit) { listeners += listener }

    private fun tell(change: Change) = listeners.forEach { it(change) }

    fun enrol(server: String, code: String, label: String, done: (String?) -> Unit) = worker.execute {
        val error = runCatching { device.enrol(server, code, label) }.exceptionOrNull()
        done(error?.let(::describe))
    }

    /** Connects and stays connected: the team's work arrives as it happens. */
    fun goOnline() {
        online = true
        lastError = null
        worker.execute {
            if (live == null) {
                runCatching {
                    device.startLiveSync(object : ChangeListener {
                        override fun onRemoteChange(change: RemoteChange) =
                            tell(Change.Data(change.changedCases + change.removedCases))
                    })
                }.onSuccess { live = it }.onFailure { lastError = describe(it) }
            }
            tell(Change.Status)
        }
    }

    /** As without a connection: everything recorded stays on the device until online again. */
    fun goOffline() {
        online = false
        worker.execute {
            live?.stop()
            live = null
            tell(Change.Status)
        }
    }

    /** One sync round now; not while offline. */
    fun syncNow() {
        if (!online) return
        worker.execute {
            lastError = runCatching { device.syncNow(null, null) }.exceptionOrNull()?.let(::describe)
            tell(Change.Status)
        }
    }

    /** Runs a local change (durable when it returns); the caller redraws. */
    fun <T> edit(change: Device.() -> T): Result<T> = runCatching { device.change() }

    private val closed = java.util.concurrent.atomic.AtomicBoolean(false)

    override fun close() {
        if (closed.getAndSet(true)) return
        worker.execute { live?.stop(); live = null }
        worker.shutdown()
        worker.awaitTermination(10, TimeUnit.SECONDS)
        device.observeSyncState(null)
        device.close()
    }
}

/** A message for the user, in Dutch, for what went wrong. */
fun describe(e: Throwable): String = when (e) {
    is KeukentafelException.Refused -> "Niet toegestaan: ${e.reason}"
    is KeukentafelException.Network -> "Geen verbinding met de server. Niets gaat verloren; probeer het later opnieuw."
    is KeukentafelException.Unauthorized -> "Aanmelden mislukt: ${e.reason}. Vraag de beheerder om een nieuwe code."
    is KeukentafelException.InvalidInput -> "Controleer de invoer: ${e.reason}"
    is KeukentafelException.NotFound -> "Niet gevonden op dit toestel."
    is KeukentafelException.StaleConflict -> "Het conflict is intussen veranderd; kies opnieuw."
    else -> "Er ging iets mis: ${e.message}"
}

/** The sync state in the words of the status bar. */
fun describe(state: SyncState, online: Boolean): String = when (state) {
    is SyncState.Offline -> if (online) "Verbinden…" else "Offline: alles blijft op dit toestel bewaard"
    is SyncState.Syncing -> "Synchroniseren… ${state.progress.documentsReceived} ontvangen, " +
        "${state.progress.documentsSent}/${state.progress.documentsToSend} verstuurd"
    is SyncState.UpToDate -> "Bijgewerkt"
    is SyncState.Refused -> "Geweigerd door de server: ${state.reason}"
    is SyncState.Stopped -> if (state.wiped) "Toestel gewist: ${state.reason}" else "Gestopt: ${state.reason}"
}
