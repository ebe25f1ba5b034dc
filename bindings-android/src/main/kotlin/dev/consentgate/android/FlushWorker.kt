package dev.consentgate.android

import android.content.Context
import androidx.work.Constraints
import androidx.work.Data
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.NetworkType
import androidx.work.PeriodicWorkRequest
import androidx.work.WorkManager
import androidx.work.Worker
import androidx.work.WorkerParameters
import dev.consentgate.HttpUploader
import dev.consentgate.ffi.GateException
import java.io.IOException
import java.util.concurrent.TimeUnit

/**
 * Flushes the queue in the background with WorkManager, when a network is
 * available: deletion requests first, then batches of what is still allowed.
 * The core decides what may be sent and when (backoff); this worker only
 * supplies the HTTP and the schedule.
 *
 * ```kotlin
 * FlushWorker.schedule(context)             // every 6 hours, on any network
 * ```
 */
class FlushWorker(context: Context, params: WorkerParameters) : Worker(context, params) {

    override fun doWork(): Result {
        val asset = inputData.getString(KEY_POLICY_ASSET) ?: ConsentGateAndroid.DEFAULT_POLICY_ASSET
        return try {
            // The process may have been started for this work alone.
            val gate = ConsentGateAndroid.open(applicationContext, asset)
            val report = gate.flush(HttpUploader())
            // Something is waiting on backoff (or on a 5xx): let WorkManager come back sooner.
            if (report.retries > 0) Result.retry() else Result.success()
        } catch (e: GateException) {
            if (e is GateException.InvalidPolicy) Result.failure() else Result.retry()
        } catch (e: IOException) {
            Result.failure() // the policy asset is missing: retrying will not help
        }
    }

    companion object {
        /** The unique work name, for WorkManager queries. */
        const val UNIQUE_WORK_NAME = "consentgate-flush"
        private const val KEY_POLICY_ASSET = "policy_asset"

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
                .setConstraints(Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build())
                .setInputData(Data.Builder().putString(KEY_POLICY_ASSET, policyAsset).build())
                .build()
            WorkManager.getInstance(context)
                .enqueueUniquePeriodicWork(UNIQUE_WORK_NAME, ExistingPeriodicWorkPolicy.KEEP, request)
        }

        /** Cancels the periodic flush. */
        @JvmStatic
        fun cancel(context: Context) {
            WorkManager.getInstance(context).cancelUniqueWork(UNIQUE_WORK_NAME)
        }
    }
}
