// ConsentGate: the Swift API of consentgate that app code imports (SPEC §8 iOS).
//
// It owns the Swift idiom around the core — the `ConsentGate` type, async
// calls, `AsyncStream` state, `URLSessionUploader`, the platform adapters —
// and no rule of its own: every consent rule lives in the Rust core, reached
// through the generated `ConsentGateFFI` module. That API is not written yet
// (issue 13, after the Kotlin redesign of issue 12); today this target ships
// the SDK's privacy manifest (PrivacyInfo.xcprivacy) and nothing else.
//
// The generated layer is imported `internal`, not re-exported: its types use
// unsigned integers and FFI plumbing (RustBuffer, FfiConverter…) that app code
// must not see, and its `ConsentGate` class is not the one apps use. With an
// internal import the compiler rejects any public declaration here that
// mentions a ConsentGateFFI type, so nothing leaks by accident.
internal import ConsentGateFFI
