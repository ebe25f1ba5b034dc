// The one place where the generated types (dev.consentgate.ffi) become the
// Kotlin API's types and back. Every `when` is exhaustive, so a variant the
// core adds breaks this file's compilation instead of reaching app code as
// something unknown. Nothing else in the library converts.
package dev.consentgate

import dev.consentgate.ffi.InternalException
import dev.consentgate.ffi.ConsentModeSignals as N_ConsentModeSignals
import dev.consentgate.ffi.ConsentModeStatus as N_ConsentModeStatus
import dev.consentgate.ffi.InstallReferrer as N_InstallReferrer
import dev.consentgate.ffi.InteropMode as N_InteropMode
import dev.consentgate.ffi.InteropState as N_InteropState
import dev.consentgate.ffi.KeyWrite as N_KeyWrite
import dev.consentgate.ffi.SignalReport as N_SignalReport
import dev.consentgate.ffi.SignalStatus as N_SignalStatus
import dev.consentgate.ffi.AttStatus as N_AttStatus
import dev.consentgate.ffi.ConsentSource as N_ConsentSource
import dev.consentgate.ffi.ConsentState as N_ConsentState
import dev.consentgate.ffi.ConsentStatus as N_ConsentStatus
import dev.consentgate.ffi.DeletionStatus as N_DeletionStatus
import dev.consentgate.ffi.DeletionTicket as N_DeletionTicket
import dev.consentgate.ffi.DeviceInfo as N_DeviceInfo
import dev.consentgate.ffi.DropReason as N_DropReason
import dev.consentgate.ffi.FlushReport as N_FlushReport
import dev.consentgate.ffi.GateException as N_GateException
import dev.consentgate.ffi.LedgerCheck as N_LedgerCheck
import dev.consentgate.ffi.LedgerEntry as N_LedgerEntry
import dev.consentgate.ffi.LedgerKind as N_LedgerKind
import dev.consentgate.ffi.LogLevel as N_LogLevel
import dev.consentgate.ffi.PlatformSignals as N_PlatformSignals
import dev.consentgate.ffi.PromptReason as N_PromptReason
import dev.consentgate.ffi.PurposeKind as N_PurposeKind
import dev.consentgate.ffi.PurposeState as N_PurposeState
import dev.consentgate.ffi.QueueStats as N_QueueStats
import dev.consentgate.ffi.RecordOutcome as N_RecordOutcome
import dev.consentgate.ffi.StoreRecovery as N_StoreRecovery
import dev.consentgate.ffi.UploadRequest as N_UploadRequest
import dev.consentgate.ffi.UploadResult as N_UploadResult
import dev.consentgate.ffi.UploadTask as N_UploadTask

/** Conversions between the generated types and the API's. */
internal object Convert {
    fun state(s: N_ConsentState): ConsentState = ConsentState(
        isLoading = false,
        policyId = s.policyId,
        revision = s.revision,
        needsPrompt = s.needsPrompt,
        promptReasons = s.promptReasons.map(::promptReason),
        purposes = s.purposes.map(::purpose),
        allowedCategories = s.allowedCategories,
        ageRestricted = s.ageRestricted,
        gpc = s.gpc,
        storeRecovery = s.storeRecovery?.let(::recovery),
        version = s.version,
        needsAcknowledgement = s.needsAcknowledgement?.let { PolicyChange(it.fromRevision, it.toRevision, it.noticeUrl) },
        interop = s.interop?.let(::interop),
    )

    private fun purpose(p: N_PurposeState) = PurposeState(
        id = p.id,
        kind = when (p.kind) {
            N_PurposeKind.NECESSARY -> PurposeKind.NECESSARY
            N_PurposeKind.CONSENT -> PurposeKind.CONSENT
        },
        status = status(p.status),
        decidedAtMs = p.decidedAtMs,
        expiresAtMs = p.expiresAtMs,
        source = p.source?.let(::source),
        reason = p.reason?.let(::promptReason),
    )

    private fun recovery(r: N_StoreRecovery) = StoreRecovery(r.reason, r.movedTo)

    private fun promptReason(r: N_PromptReason) = when (r) {
        N_PromptReason.NO_DECISION -> PromptReason.NO_DECISION
        N_PromptReason.POLICY_CHANGED -> PromptReason.POLICY_CHANGED
        N_PromptReason.NEW_PURPOSE -> PromptReason.NEW_PURPOSE
        N_PromptReason.EXPIRED -> PromptReason.EXPIRED
    }

    fun status(s: N_ConsentStatus) = when (s) {
        N_ConsentStatus.GRANTED -> ConsentStatus.GRANTED
        N_ConsentStatus.DENIED -> ConsentStatus.DENIED
        N_ConsentStatus.UNSET -> ConsentStatus.UNSET
    }

    fun source(s: N_ConsentSource) = when (s) {
        N_ConsentSource.BANNER -> ConsentSource.BANNER
        N_ConsentSource.SETTINGS -> ConsentSource.SETTINGS
        N_ConsentSource.API -> ConsentSource.API
        N_ConsentSource.GPC -> ConsentSource.GPC
        N_ConsentSource.AGE_GATE -> ConsentSource.AGE_GATE
        N_ConsentSource.EXPIRY -> ConsentSource.EXPIRY
        N_ConsentSource.DELETION -> ConsentSource.DELETION
        N_ConsentSource.MIGRATION -> ConsentSource.MIGRATION
        N_ConsentSource.TCF -> ConsentSource.TCF
        N_ConsentSource.GPP -> ConsentSource.GPP
    }

    fun source(s: ConsentSource) = when (s) {
        ConsentSource.BANNER -> N_ConsentSource.BANNER
        ConsentSource.SETTINGS -> N_ConsentSource.SETTINGS
        ConsentSource.API -> N_ConsentSource.API
        ConsentSource.GPC -> N_ConsentSource.GPC
        ConsentSource.AGE_GATE -> N_ConsentSource.AGE_GATE
        ConsentSource.EXPIRY -> N_ConsentSource.EXPIRY
        ConsentSource.DELETION -> N_ConsentSource.DELETION
        ConsentSource.MIGRATION -> N_ConsentSource.MIGRATION
        ConsentSource.TCF -> N_ConsentSource.TCF
        ConsentSource.GPP -> N_ConsentSource.GPP
    }

    fun signals(s: PlatformSignals) = N_PlatformSignals(
        attStatus = when (s.attStatus) {
            AttStatus.NOT_APPLICABLE -> N_AttStatus.NOT_APPLICABLE
            AttStatus.NOT_DETERMINED -> N_AttStatus.NOT_DETERMINED
            AttStatus.RESTRICTED -> N_AttStatus.RESTRICTED
            AttStatus.DENIED -> N_AttStatus.DENIED
            AttStatus.AUTHORIZED -> N_AttStatus.AUTHORIZED
        },
        limitAdTracking = s.limitAdTracking,
        gpc = s.gpc,
    )

    fun level(l: N_LogLevel) = when (l) {
        N_LogLevel.ERROR -> LogLevel.ERROR
        N_LogLevel.WARN -> LogLevel.WARN
        N_LogLevel.INFO -> LogLevel.INFO
        N_LogLevel.DEBUG -> LogLevel.DEBUG
        N_LogLevel.TRACE -> LogLevel.TRACE
    }

    fun level(l: LogLevel) = when (l) {
        LogLevel.ERROR -> N_LogLevel.ERROR
        LogLevel.WARN -> N_LogLevel.WARN
        LogLevel.INFO -> N_LogLevel.INFO
        LogLevel.DEBUG -> N_LogLevel.DEBUG
        LogLevel.TRACE -> N_LogLevel.TRACE
    }

    fun ticket(t: N_DeletionTicket) = DeletionTicket(
        requestId = t.requestId,
        createdAtMs = t.createdAtMs,
        installationIds = t.installationIds,
        endpoints = t.endpoints,
        reason = t.reason,
        status = when (val s = t.status) {
            N_DeletionStatus.Pending -> DeletionStatus.Pending
            is N_DeletionStatus.Acknowledged -> DeletionStatus.Acknowledged(s.receiptId, s.status)
            is N_DeletionStatus.Failed -> DeletionStatus.Failed(s.status)
        },
    )

    fun device(d: N_DeviceInfo) = DeviceInfo(
        os = d.os,
        osVersion = d.osVersion,
        model = d.model,
        manufacturer = d.manufacturer,
        locale = d.locale,
        timezone = d.timezone,
        carrier = d.carrier,
        appVersion = d.appVersion,
        screen = d.screen,
    )

    fun stats(q: N_QueueStats) = QueueStats(
        events = q.events,
        bytes = q.bytes,
        oldestMs = q.oldestMs,
        evicted = q.evicted,
        droppedNoConsent = q.droppedNoConsent,
        delivered = q.delivered,
        rejected = q.rejected,
    )

    /** One round of the core's flush; [ConsentGate.flush] adds up the rounds and the waits between them. */
    fun flush(r: N_FlushReport) = FlushReport(
        requests = r.requests,
        batchesDelivered = r.batchesDelivered,
        eventsDelivered = r.eventsDelivered,
        eventsRejected = r.eventsRejected,
        retries = r.retries,
        deletionsAcknowledged = r.deletionsAcknowledged,
        deletionsFailed = r.deletionsFailed,
        waitMs = r.waitMs,
        waitedMs = 0,
    )

    fun entry(e: N_LedgerEntry) = LedgerEntry(
        seq = e.seq,
        txn = e.txn,
        atMs = e.atMs,
        purpose = e.purpose,
        status = status(e.status),
        source = source(e.source),
        policyId = e.policyId,
        revision = e.revision,
        policyHash = e.policyHash,
        appVersion = e.appVersion,
        region = e.region,
        installationId = e.installationId,
        prevHash = e.prevHash,
        hash = e.hash,
        kind = when (e.kind) {
            N_LedgerKind.DECISION -> LedgerKind.DECISION
            N_LedgerKind.ACKNOWLEDGEMENT -> LedgerKind.ACKNOWLEDGEMENT
        },
        acknowledgedFrom = e.acknowledgedFrom,
        signalHash = e.signalHash,
    )

    fun check(c: N_LedgerCheck) = LedgerCheck(c.intact, c.entries, c.firstBadSeq, c.problem)

    private fun dropReason(r: N_DropReason) = when (r) {
        N_DropReason.NO_CONSENT -> DropReason.NO_CONSENT
    }

    fun outcome(o: N_RecordOutcome): RecordOutcome = when (o) {
        is N_RecordOutcome.Recorded -> RecordOutcome.Recorded(o.seq)
        is N_RecordOutcome.Dropped -> RecordOutcome.Dropped(dropReason(o.reason))
    }

    fun uploadRequest(r: N_UploadRequest) =
        UploadRequest(r.requestId, r.method, r.url, r.headers.map { HttpHeader(it.name, it.value) }, r.body)

    fun uploadResult(r: UploadResult): N_UploadResult = when (r) {
        is UploadResult.Http -> N_UploadResult.Http(r.status, r.retryAfterS, r.body)
        is UploadResult.NetworkError -> N_UploadResult.NetworkError(r.message)
    }

    fun task(t: N_UploadTask): UploadTask = when (t) {
        is N_UploadTask.Upload -> UploadTask.Send(uploadRequest(t.request))
        is N_UploadTask.Wait -> UploadTask.Wait(t.ms)
        N_UploadTask.Done -> UploadTask.Done
    }

    fun interop(i: N_InteropState) = InteropState(
        mode = when (i.mode) {
            N_InteropMode.FOLLOW -> InteropMode.FOLLOW
            N_InteropMode.CMP -> InteropMode.CMP
        },
        consentMode = consentMode(i.consentMode),
        canRequestAds = i.canRequestAds,
        privacyOptionsRequired = i.privacyOptionsRequired,
        tcf = report(i.tcf),
        gpp = i.gpp?.let(::report),
        gdprApplies = i.gdprApplies,
    )

    fun consentMode(c: N_ConsentModeSignals) = ConsentModeSignals(
        adStorage = consentModeStatus(c.adStorage),
        analyticsStorage = consentModeStatus(c.analyticsStorage),
        adUserData = consentModeStatus(c.adUserData),
        adPersonalization = consentModeStatus(c.adPersonalization),
    )

    private fun consentModeStatus(s: N_ConsentModeStatus) = when (s) {
        N_ConsentModeStatus.GRANTED -> ConsentModeStatus.GRANTED
        N_ConsentModeStatus.DENIED -> ConsentModeStatus.DENIED
    }

    private fun report(r: N_SignalReport) = SignalReport(
        status = when (r.status) {
            N_SignalStatus.NOT_CONNECTED -> SignalStatus.NOT_CONNECTED
            N_SignalStatus.MISSING -> SignalStatus.MISSING
            N_SignalStatus.INVALID -> SignalStatus.INVALID
            N_SignalStatus.APPLIED -> SignalStatus.APPLIED
            N_SignalStatus.WRITTEN -> SignalStatus.WRITTEN
        },
        string = r.string,
        stringHash = r.stringHash,
        problem = r.problem,
    )

    fun keyWrite(w: N_KeyWrite): KeyWrite = when (w) {
        is N_KeyWrite.SetString -> KeyWrite.SetString(w.key, w.value)
        is N_KeyWrite.SetInt -> KeyWrite.SetInt(w.key, w.value)
        is N_KeyWrite.Remove -> KeyWrite.Remove(w.key)
    }

    fun referrer(r: N_InstallReferrer) = InstallReferrer(r.referrer, r.clickedAtS, r.installBeganAtS)

    fun referrer(r: InstallReferrer) = N_InstallReferrer(r.referrer, r.clickedAtS, r.installBeganAtS)

    /**
     * The API's exception for whatever a call into the core threw. Core
     * errors map variant for variant; a Rust panic (UniFFI's
     * InternalException) is [GateException.Internal]; a string the
     * generated code cannot encode as UTF-8 (a lone surrogate, which never
     * reaches the core) is [GateException.InvalidArgument]; anything else is
     * returned as it is (a JVM error, an app exception).
     */
    fun error(e: Throwable): Throwable = when (e) {
        is N_GateException -> gateError(e)
        is InternalException -> GateException.Internal(e.message ?: "a call into the core failed")
        is java.nio.charset.CharacterCodingException -> GateException.InvalidArgument(
            "a string argument holds a lone surrogate (U+D800-U+DFFF), which UTF-8 cannot carry",
        )
        else -> e
    }

    private fun gateError(e: N_GateException): GateException = when (e) {
        is N_GateException.InvalidPolicy -> GateException.InvalidPolicy(e.path, e.detail, e.errors)
        is N_GateException.InvalidArgument -> GateException.InvalidArgument(e.detail)
        is N_GateException.UnknownPurpose -> GateException.UnknownPurpose(e.purpose)
        is N_GateException.AgeRestricted -> GateException.AgeRestricted(e.purpose, e.minAge)
        is N_GateException.NotWithdrawable -> GateException.NotWithdrawable(e.purpose)
        is N_GateException.GpcRestricted -> GateException.GpcRestricted(e.purpose)
        is N_GateException.Storage -> GateException.Storage(e.detail)
        is N_GateException.Closed -> GateException.Closed()
        is N_GateException.Busy -> GateException.Busy(e.dataDir)
        is N_GateException.Internal -> GateException.Internal(e.detail)
    }
}
