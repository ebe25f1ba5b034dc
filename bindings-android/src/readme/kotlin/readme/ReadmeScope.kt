// What the README snippets that are not whole files may assume: the names an
// app has in scope where it shows a banner (an Activity or a Fragment).
// jvm-test.sh compiles each such snippet as an extension function of this
// interface, and every snippet against the Kotlin API and the Android stubs,
// so a snippet that no longer compiles fails the build.
package readme

import android.content.Context
import dev.consentgate.ConsentGate
import dev.consentgate.DeletionTicket
import kotlinx.coroutines.CoroutineScope

/** The app's own names the README snippets use, as an Activity would have them. */
interface ReadmeScope {
    /** The app's gate, opened in `Application.onCreate` (`(application as App).gate`). */
    val gate: ConsentGate

    /** The Activity's `lifecycleScope` (androidx.lifecycle). */
    val lifecycleScope: CoroutineScope

    /** The Activity's `applicationContext`. */
    val applicationContext: Context

    /** The app's banner: shown or hidden. */
    fun showBanner(visible: Boolean)

    /** The app's way of telling the user something. */
    fun showMessage(text: String)

    /** The app's settings screen, listing the deletion requests. */
    fun showDeletionStatus(tickets: List<DeletionTicket>)
}
