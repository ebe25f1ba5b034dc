// Background delivery on Android: a periodic WorkManager job, and a one-time
// job when the app goes to the background (BackgroundFlush). The core decides
// what may be sent and when (backoff); these only supply the HTTP and the
// schedule.
package dev.consentgate.android

import android.content.Context
import androidx.work.Constraints
import androidx.work.Data
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.ExistingWorkPolicy
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequest
import androidx.work.PeriodicWorkRequest
import androidx.work.WorkManager
import androidx.work.Worker
import androidx.work.WorkerParameters
import dev.consentgate.GateException
import dev.consentgate.HttpUploader
import java.util.concurrent.TimeUnit

/**
 * Flushes the queue in the background with WorkManager, when a network is
 * available: deletion requests first, then batches of what is still allowed.
 *
 * ```kotlin
 * FlushWorker.schedule(context)             // every 6 hours, on any network
 * FlushWorker.flushSoon(context)            // once, as soon as a network is there
 * ```
 *
 * A run waits out a backoff of up to [dev.consentgate.ConsentGate.DEFAULT_FLUSH_WAIT_MS]
 * (see [dev.consentgate.ConsentGate.flush]); when something still waits
 * after that, it asks WorkManager to retry (its own backoff) rather than
 * waiting for the next period.
 */
class FlushWorker(context: Context, params: WorkerParameters) : Worker(context, params) {

    override fun doWork(): Result {
        val asset = inputData.getString(KEY_POLICY_ASSET) ?: ConsentGateAndroid.DEFAULT_POLICY_ASSET
        return try {
            // The process may have been started for this work alone; this
            // thread is WorkManager's, so waiting for the open here is fine.
            val gate = ConsentGateAndroid.open(applicationContext, asset)
            val report = gate.flushBlocking(HttpUploader())
            if (report.waitMs != null) Result.retry() else Result.success()
        } catch (e: GateException) {
            // An invalid or missing policy will not fix itself; anything else may.
            if (e is GateException.InvalidPolicy) Result.failure() else Result.retry()
        }
    }

    companion object {
        /** The unique name of the periodic work, for WorkManager queries. */
        const val UNIQUE_WORK_NAME = "consentgate-flush"

        /** The unique name of the one-time work [flushSoon] enqueues. */
        const val UNIQUE_ONE_TIME_WORK_NAME = "consentgate-flush-soon"

        private const val KEY_POLICY_ASSET = "policy_asset"

        private fun constraints() = Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build()

        private fun input(policyAsset: String) = Data.Builder().putString(KEY_POLICY_ASSET, policyAsset).build()

        /**
         * Schedules the periodic flush (keeps an existing schedule). WorkManager's
         * minimum interval is 15 minutes.
         */
        @JvmStatic
        @JvmOverloads
        fun schedule(
            context: Context,
            policyAsset: String = ConsentGateAndroid.DEFAULT_POLICY_ASSET,
            repeatInterval: Long = 6,
            unit: TimeUnit = TimeUnit.HOURS,
        ) {
            val request = PeriodicWorkRequest.Builder(FlushWorker::class.java, repeatInterval, unit)
                .setConstraints(constraints())
                .setInputData(input(policyAsset))
                .build()
            WorkManager.getInstance(context)
                .enqueueUniquePeriodicWork(UNIQUE_WORK_NAME, ExistingPeriodicWorkPolicy.KEEP, request)
        }

        /**
         * Enqueues one flush to run as soon as a network is available (keeps
         * one already waiting). WorkManager runs it even if the process is
         * stopped meanwhile, so it is the safe thing to do on the way to the
         * background ([BackgroundFlush] does).
         */
        @JvmStatic
        @JvmOverloads
        fun flushSoon(context: Context, policyAsset: String = ConsentGateAndroid.DEFAULT_POLICY_ASSET) {
            val request = OneTimeWorkRequest.Builder(FlushWorker::class.java)
                .setConstraints(constraints())
                .setInputData(input(policyAsset))
                .build()
            WorkManager.getInstance(context)
                .enqueueUniqueWork(UNIQUE_ONE_TIME_WORK_NAME, ExistingWorkPolicy.KEEP, request)
        }

        /** Cancels the periodic flush and a pending one-time flush. */
        @JvmStatic
        fun cancel(context: Context) {
            val wm = WorkManager.getInstance(context)
            wm.cancelUniqueWork(UNIQUE_WORK_NAME)
            wm.cancelUniqueWork(UNIQUE_ONE_TIME_WORK_NAME)
        }
    }
}
