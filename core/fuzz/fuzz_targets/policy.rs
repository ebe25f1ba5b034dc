//! Fuzz target `policy`: arbitrary bytes as a policy document.
//!
//! `Policy::parse` must never panic. When it accepts a document, the
//! canonical form it produced must parse again to the very same policy (same
//! fields, same hash): the stored policy and its hash are what the ledger
//! points at, so re-reading them may not drift. When it rejects one, every
//! issue must name a path and a problem.
#![no_main]

use consentgate::policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::parse(text) {
        Ok(policy) => {
            let again = Policy::parse(&policy.canonical_json)
                .expect("the canonical form of an accepted policy must be accepted");
            assert_eq!(again, policy, "canonical form does not round-trip");
            assert_eq!(policy.hash.len(), 64, "hash is not hex sha256");
            assert!(
                !policy.endpoints.is_empty(),
                "accepted a policy without endpoints"
            );
        }
        Err(issues) => {
            assert!(!issues.is_empty(), "rejected without naming an issue");
            for i in &issues {
                assert!(!i.path.is_empty(), "issue without a path: {i:?}");
                assert!(!i.message.is_empty(), "issue without a message: {i:?}");
            }
        }
    }
});
