// The one place where the generated types (ConsentGateFFI, imported
// `internal`) become the Swift API's types and back. Every `switch` is
// exhaustive, so a case the core adds breaks this file's compilation instead
// of reaching app code as something unknown. Providers.swift converts the
// provider types; nothing else converts.
import Foundation
internal import ConsentGateFFI

/// Conversions between the generated types and the API's.
enum Convert {
    static func state(_ s: ConsentGateFFI.ConsentState) -> ConsentState {
        ConsentState(
            isLoading: false,
            policyID: s.policyId,
            revision: s.revision,
            needsPrompt: s.needsPrompt,
            promptReasons: s.promptReasons.map(promptReason),
            needsAcknowledgement: s.needsAcknowledgement.map {
                PolicyChange(fromRevision: $0.fromRevision, toRevision: $0.toRevision, noticeURL: $0.noticeUrl)
            },
            purposes: s.purposes.map(purpose),
            allowedCategories: s.allowedCategories,
            ageRestricted: s.ageRestricted,
            gpc: s.gpc,
            storeRecovery: s.storeRecovery.map {
                StoreRecovery(reason: $0.reason, movedTo: $0.movedTo,
                              deletionRequestsUnreadable: $0.deletionRequestsUnreadable)
            },
            version: s.version,
            interop: s.interop.map(InteropState.init(ffi:)))
    }

    static func purpose(_ p: ConsentGateFFI.PurposeState) -> PurposeState {
        let kind: PurposeKind
        switch p.kind {
        case .necessary: kind = .necessary
        case .consent: kind = .consent
        }
        return PurposeState(
            id: p.id, kind: kind, status: status(p.status), decidedAtMs: p.decidedAtMs,
            expiresAtMs: p.expiresAtMs, source: p.source.map(source), reason: p.reason.map(promptReason))
    }

    static func promptReason(_ r: ConsentGateFFI.PromptReason) -> PromptReason {
        switch r {
        case .noDecision: return .noDecision
        case .policyChanged: return .policyChanged
        case .newPurpose: return .newPurpose
        case .expired: return .expired
        }
    }

    static func status(_ s: ConsentGateFFI.ConsentStatus) -> ConsentStatus {
        switch s {
        case .granted: return .granted
        case .denied: return .denied
        case .unset: return .unset
        }
    }

    static func source(_ s: ConsentGateFFI.ConsentSource) -> ConsentSource {
        switch s {
        case .banner: return .banner
        case .settings: return .settings
        case .api: return .api
        case .gpc: return .gpc
        case .ageGate: return .ageGate
        case .expiry: return .expiry
        case .deletion: return .deletion
        case .migration: return .migration
        case .tcf: return .tcf
        case .gpp: return .gpp
        }
    }

    static func source(_ s: ConsentSource) -> ConsentGateFFI.ConsentSource {
        switch s {
        case .banner: return .banner
        case .settings: return .settings
        case .api: return .api
        case .gpc: return .gpc
        case .ageGate: return .ageGate
        case .expiry: return .expiry
        case .deletion: return .deletion
        case .migration: return .migration
        case .tcf: return .tcf
        case .gpp: return .gpp
        }
    }

    static func level(_ l: ConsentGateFFI.LogLevel) -> LogLevel {
        switch l {
        case .error: return .error
        case .warn: return .warn
        case .info: return .info
        case .debug: return .debug
        case .trace: return .trace
        }
    }

    static func level(_ l: LogLevel) -> ConsentGateFFI.LogLevel {
        switch l {
        case .error: return .error
        case .warn: return .warn
        case .info: return .info
        case .debug: return .debug
        case .trace: return .trace
        }
    }

    static func ticket(_ t: ConsentGateFFI.DeletionTicket) -> DeletionTicket {
        let status: DeletionStatus
        switch t.status {
        case .pending: status = .pending
        case let .acknowledged(receiptId, s): status = .acknowledged(receiptID: receiptId, status: s)
        case let .failed(s): status = .failed(httpStatus: Int(s))
        }
        return DeletionTicket(
            requestID: t.requestId, createdAtMs: t.createdAtMs, installationIDs: t.installationIds,
            endpoints: t.endpoints, reason: t.reason, status: status)
    }

    static func device(_ d: ConsentGateFFI.DeviceInfo) -> DeviceInfo {
        DeviceInfo(
            os: d.os, osVersion: d.osVersion, model: d.model, manufacturer: d.manufacturer, locale: d.locale,
            timezone: d.timezone, carrier: d.carrier, appVersion: d.appVersion, screen: d.screen)
    }

    static func stats(_ q: ConsentGateFFI.QueueStats) -> QueueStats {
        QueueStats(
            events: Int(q.events), bytes: Int(q.bytes), oldestMs: q.oldestMs, evicted: Int(q.evicted),
            droppedNoConsent: Int(q.droppedNoConsent), delivered: Int(q.delivered), rejected: Int(q.rejected))
    }

    /// One round of the core's flush; `ConsentGate.flush` adds up the rounds and the waits between them.
    static func flush(_ r: ConsentGateFFI.FlushReport) -> FlushReport {
        FlushReport(
            requests: Int(r.requests), batchesDelivered: Int(r.batchesDelivered),
            eventsDelivered: Int(r.eventsDelivered), eventsRejected: Int(r.eventsRejected),
            retries: Int(r.retries), deletionsAcknowledged: Int(r.deletionsAcknowledged),
            deletionsFailed: Int(r.deletionsFailed), waitMs: r.waitMs, waitedMs: 0)
    }

    static func entry(_ e: ConsentGateFFI.LedgerEntry) -> LedgerEntry {
        LedgerEntry(
            seq: e.seq, txn: e.txn, atMs: e.atMs, kind: kind(e.kind),
            purpose: e.purpose, status: status(e.status), source: source(e.source), policyID: e.policyId,
            revision: e.revision, acknowledgedFrom: e.acknowledgedFrom, policyHash: e.policyHash,
            appVersion: e.appVersion, region: e.region, installationID: e.installationId,
            signalHash: e.signalHash, prevHash: e.prevHash, hash: e.hash)
    }

    static func kind(_ k: ConsentGateFFI.LedgerKind) -> LedgerKind {
        switch k {
        case .decision: return .decision
        case .acknowledgement: return .acknowledgement
        }
    }

    static func outcome(_ o: ConsentGateFFI.RecordOutcome) -> RecordOutcome {
        switch o {
        case let .recorded(seq): return .recorded(seq: seq)
        case .dropped(.noConsent): return .droppedNoConsent
        }
    }

    static func check(_ c: ConsentGateFFI.LedgerCheck) -> LedgerCheck {
        LedgerCheck(intact: c.intact, entries: Int(c.entries), firstBadSeq: c.firstBadSeq, problem: c.problem)
    }

    /// The API's error for whatever a call into the core threw: the core's
    /// errors case for case; anything else (a Rust panic or a broken buffer,
    /// UniFFI's own internal errors) is `.internal` with its description.
    static func error(_ e: any Error) -> ConsentGateError {
        if let e = e as? ConsentGateError { return e }
        guard let g = e as? GateError else {
            return .internal(detail: "a call into the core failed: \(e.localizedDescription)")
        }
        switch g {
        case let .InvalidPolicy(path, message, errors):
            return .invalidPolicy(path: path, detail: message, errors: errors)
        case let .InvalidArgument(message): return .invalidArgument(detail: message)
        case let .UnknownPurpose(purpose): return .unknownPurpose(purpose: purpose)
        case let .AgeRestricted(purpose, minAge): return .ageRestricted(purpose: purpose, minimumAge: Int(minAge))
        case let .NotWithdrawable(purpose): return .notWithdrawable(purpose: purpose)
        case let .GpcRestricted(purpose): return .gpcRestricted(purpose: purpose)
        case let .Storage(message): return .storage(detail: message)
        case .Closed: return .closed
        case let .Busy(dataDir): return .busy(dataDirectory: dataDir)
        case let .Internal(message): return .internal(detail: message)
        }
    }
}
