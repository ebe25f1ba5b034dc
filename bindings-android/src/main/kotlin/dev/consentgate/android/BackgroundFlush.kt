// Flush when the app goes to the background: a process-lifecycle observer
// that enqueues FlushWorker's one-time work on every ON_STOP. It decides
// nothing about what is sent; the core does, when the work runs.
package dev.consentgate.android

import android.content.Context
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner

/**
 * Delivers what is queued when the user leaves the app, in addition to the
 * periodic [FlushWorker]: on every move of the whole app to the background
 * (the process lifecycle's `ON_STOP`, after the last activity stopped) it
 * enqueues [FlushWorker.flushSoon], which WorkManager runs once a network is
 * there, even if the process is stopped first.
 *
 * ```kotlin
 * override fun onCreate() {               // Application.onCreate, on the main thread
 *     super.onCreate()
 *     BackgroundFlush.install(this)
 * }
 * ```
 *
 * Needs `androidx.lifecycle:lifecycle-process` (a dependency of this module).
 */
object BackgroundFlush {
    @Volatile
    private var observer: Observer? = null

    /**
     * Starts flushing on every move to the background. Call once, on the
     * main thread (the lifecycle requires it); later calls do nothing.
     */
    @JvmStatic
    @JvmOverloads
    fun install(context: Context, policyAsset: String = ConsentGateAndroid.DEFAULT_POLICY_ASSET) {
        val o = synchronized(this) {
            if (observer != null) return
            Observer((context.applicationContext ?: context), policyAsset).also { observer = it }
        }
        ProcessLifecycleOwner.get().lifecycle.addObserver(o)
    }

    /** Stops flushing on the way to the background. Main thread. */
    @JvmStatic
    fun uninstall() {
        val o = synchronized(this) { observer.also { observer = null } } ?: return
        ProcessLifecycleOwner.get().lifecycle.removeObserver(o)
    }

    private class Observer(private val app: Context, private val policyAsset: String) : DefaultLifecycleObserver {
        override fun onStop(owner: LifecycleOwner) {
            FlushWorker.flushSoon(app, policyAsset)
        }
    }
}
