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
    private val listeners = CopyOnWriteArrayList<() -> Unit>()
    private var live: LiveSync? = null

    @Volatile var syncState: SyncState = device.syncState()
        private set
    @Volatile var progress: SyncProgress? = null
        private set
    @Volatile var lastError: String? = null
        private set
    /** Whether the user allows the network ("vliegtuigmodus" off). */
    @Volatile var online = false
        private set

    init {
        device.observeSyncState(object : SyncStateObserver {
            override fun onStateChanged(state: SyncState) {
                syncState = state
                if (state is SyncState.Syncing) progress = state.progress
                changed()
            }
        })
    }

    /** [listener] runs (on a background thread) whenever the screens should refresh. */
    fun onChange(listener: () -> Unit) { listeners += listener }

    private fun changed() = listeners.forEach { it() }

    fun enrol(server: String, code: String, label: String, done: (String?) -> Unit) = worker.execute {
        val error = runCatching { device.enrol(server, code, label) }.exceptionOrNull()
        done(error?.let(::describe))
        changed()
    }

    /** Connects and stays connected: the team's work arrives as it happens. */
    fun goOnline() {
        online = true
        worker.execute {
            if (live == null) {
                live = device.startLiveSync(object : ChangeListener {
                    override fun onRemoteChange(change: RemoteChange) = changed()
                })
            }
        }
        changed()
    }

    /** As without a connection: everything recorded stays on the device until online again. */
    fun goOffline() {
        online = false
        worker.execute {
            live?.stop()
            live = null
            changed()
        }
    }

    fun syncNow() = worker.execute {
        lastError = runCatching { device.syncNow(null, null) }.exceptionOrNull()?.let(::describe)
        changed()
    }

    /** Runs a local change; returns the error to show, or null. */
    fun <T> edit(change: Device.() -> T): Result<T> {
        val result = runCatching { device.change() }
        changed()
        return result
    }

    /** Waits until the background work queued so far is done (for tests and shutdown). */
    fun settle() {
        worker.submit {}.get(30, TimeUnit.SECONDS)
    }

    override fun close() {
        worker.execute { live?.stop(); live = null }
        worker.shutdown()
        worker.awaitTermination(10, TimeUnit.SECONDS)
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
    is KeukentafelException -> "Er ging iets mis: ${e.message}"
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
