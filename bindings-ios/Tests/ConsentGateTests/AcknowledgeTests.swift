// Policy changes that need no new consent, through the public Swift API: a
// non-material revision sets `needsAcknowledgement` until
// `acknowledgePolicy(source:)` records a ledger entry of its own kind; a
// material revision asks for consent instead. Rules: core/src/acknowledge.rs.
import Foundation
import XCTest

import ConsentGate

final class AcknowledgeTests: XCTestCase {
    /// The KZ example policy at `revision`, asking again for decisions made below `reconsentBelow`.
    private func policy(revision: Int, reconsentBelow: Int? = nil) throws -> String {
        try editedPolicyJSON { p in
            p["revision"] = revision
            if let reconsentBelow { p["reconsent_below_revision"] = reconsentBelow }
        }
    }

    /// A user who decided under revision 1; then the app ships `next` and starts again.
    private func decidedThen(_ next: String) async throws -> ConsentGate {
        let dir = try makeDataDirectory(for: self)
        let first = try ConsentGate.openBlocking(configuration(dir, policy: try policy(revision: 1)))
        try await first.acceptAll(source: .banner)
        first.close()
        return try openLoaded(dir, policy: next, for: self)
    }

    func testG5ANonMaterialRevisionIsShownOnceAndItsAcknowledgementIsInTheLedger() async throws {
        let gate = try await decidedThen(try policy(revision: 2))
        let due = try XCTUnwrap(gate.currentState.needsAcknowledgement)
        XCTAssertEqual(due.fromRevision, 1)
        XCTAssertEqual(due.toRevision, 2)
        XCTAssertFalse(due.noticeURL.isEmpty)
        XCTAssertFalse(gate.currentState.needsPrompt, "no new consent is needed")
        XCTAssertTrue(gate.allows("usage_events"), "the decisions still count")
        gate.recordEvent("screen_view")
        try await gate.persist()
        XCTAssertNotNil(gate.currentState.needsAcknowledgement, "continued use does not clear it")

        let state = try await gate.acknowledgePolicy(source: .banner)
        XCTAssertNil(state.needsAcknowledgement)
        XCTAssertNil(gate.currentState.needsAcknowledgement)
        let entries = try await gate.ledger()
        let ack = try XCTUnwrap(entries.last)
        XCTAssertEqual(ack.kind, .acknowledgement)
        XCTAssertEqual(ack.acknowledgedFrom, 1)
        XCTAssertEqual(ack.revision, 2)
        XCTAssertEqual(ack.source, .banner)
        let check = try await gate.verifyLedger()
        XCTAssertTrue(check.intact)
        let again = try await gate.ledger().count
        try await gate.acknowledgePolicy(source: .settings)
        let afterNoOp = try await gate.ledger().count
        XCTAssertEqual(afterNoOp, again, "acknowledging with nothing due writes nothing")
    }

    func testAMaterialRevisionAsksForConsentAndOwesNoAcknowledgement() async throws {
        let gate = try await decidedThen(try policy(revision: 2, reconsentBelow: 2))
        let state = gate.currentState
        XCTAssertNil(state.needsAcknowledgement)
        XCTAssertTrue(state.needsPrompt)
        XCTAssertEqual(state.promptReasons, [.policyChanged])
        XCTAssertFalse(gate.allows("usage_events"), "decisions of revision 1 no longer count (G1)")
    }

    func testOnlyTheAppAcknowledgesASourceTheCoreRecordsIsRefused() async throws {
        let gate = try await decidedThen(try policy(revision: 2))
        do {
            _ = try await gate.acknowledgePolicy(source: .tcf)
            XCTFail("tcf acknowledged a policy change")
        } catch {
            guard case .invalidArgument = error else { return XCTFail("got \(error)") }
        }
        XCTAssertNotNil(gate.currentState.needsAcknowledgement)
    }
}
