// A real sync server for the Kotlin tests (binding test and demo UI test): starts
// tests/bindings/team-server.sh and reads the enrolment codes and address it prints.

import java.io.File
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

class TeamServer(dir: File) : AutoCloseable {
    private val process: Process
    val url: String
    val codes = mutableMapOf<String, String>()

    init {
        process = ProcessBuilder("bash", "tests/bindings/team-server.sh", dir.path)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start()
        // Read on a thread of its own, so that a silent server cannot block the test.
        val lines = LinkedBlockingQueue<String>()
        Thread {
            runCatching { process.inputStream.bufferedReader().forEachLine { lines.put(it) } }
        }.apply { isDaemon = true }.start()
        var found: String? = null
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
        while (found == null) {
            val left = deadline - System.nanoTime()
            val line = lines.poll(maxOf(left, 0), TimeUnit.NANOSECONDS) ?: break
            if (line.startsWith("code ")) {
                val (_, name, code) = line.split(" ")
                codes[name] = code
            }
            found = Regex("listening on (http://\\S+)").find(line)?.groupValues?.get(1)
        }
        url = checkNotNull(found) { "the server did not start" }
    }

    override fun close() {
        process.destroy()
        process.waitFor(30, TimeUnit.SECONDS)
    }
}
