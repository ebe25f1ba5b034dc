//! Pause points for tests that must interleave threads exactly (feature
//! `test-hooks`, enabled only by the workspace's test suites; release builds
//! have none of this). A hook is set for the calling thread only, so tests
//! running in parallel never see each other's.

use std::cell::RefCell;

thread_local! {
    static BEFORE_CAPTURE_LOCK: RefCell<Option<Box<dyn FnMut()>>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread whenever `record_captured` has validated its
/// events and is about to take the buffer lock (until cleared with `None`).
pub fn before_capture_lock(f: Option<Box<dyn FnMut()>>) {
    BEFORE_CAPTURE_LOCK.with(|h| *h.borrow_mut() = f);
}

/// Called by the engine at that point.
pub(crate) fn reached_capture_lock() {
    BEFORE_CAPTURE_LOCK.with(|h| {
        if let Some(f) = h.borrow_mut().as_mut() {
            f();
        }
    });
}
