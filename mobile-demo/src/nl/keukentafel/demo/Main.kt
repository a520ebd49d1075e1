package nl.keukentafel.demo

import java.io.File
import javax.swing.SwingUtilities
import javax.swing.UIManager
import nl.keukentafel.*

/**
 * Starts the demo: `seed SERVER CODE DIR` fills the workspace as the team lead; `app SERVER
 * DIR NAME CODE [NAME CODE ...]` opens one phone window per practitioner, enrolled with the
 * codes given, side by side.
 */
fun main(args: Array<String>) {
    when (args.firstOrNull()) {
        "seed" -> println("seeded ${seed(args[1], args[2], File(args[3]))} cases")
        "app" -> {
            val server = args[1]
            val dir = File(args[2]).apply { mkdirs() }
            args.drop(3).chunked(2).forEachIndexed { i, (name, code) ->
                val app = openApp(server, dir, name)
                SwingUtilities.invokeLater {
                    app.frame.setLocation(40 + i * 420, 40)
                    app.frame.isVisible = true
                }
                app.repo.enrol(server, code, "telefoon $name") { error ->
                    SwingUtilities.invokeLater {
                        if (error == null) { app.repo.goOnline(); app.show(Screen.Cases) } else app.tell(error)
                    }
                }
            }
        }
        else -> System.err.println("usage: seed SERVER CODE DIR | app SERVER DIR NAME CODE [NAME CODE ...]")
    }
}

/** One installation of the app: its own encrypted store and window, built on the Swing thread. */
fun openApp(server: String, dir: File, name: String): App {
    // Swing has no Dutch texts of its own for its dialogs.
    UIManager.put("OptionPane.cancelButtonText", "Annuleren")
    UIManager.put("OptionPane.okButtonText", "OK")
    // A real app keeps this key in the Android Keystore; the demo keeps it beside the store.
    val keyFile = File(dir, "$name.key")
    if (!keyFile.exists()) keyFile.writeBytes(generateStoreKey())
    val device = Device.open(File(dir, "$name.db").path, keyFile.readBytes())
    val repo = CaseRepository(device, name)
    var app: App? = null
    SwingUtilities.invokeAndWait { app = App(repo, "Keukentafel · $name", server) }
    return app!!
}
