//! One gate per data directory: an OS advisory lock (`flock` on Unix, a
//! file lock elsewhere) on `<data_dir>/consentgate.lock`, held for the gate's
//! life. A second open of a held directory — from this process or another —
//! fails at once with `GateError::Busy`; it never waits. The lock goes with
//! the file handle: released on close, on drop, and by the OS when the
//! process dies (kill -9 included), so a crash never leaves it stuck.

use std::fs::{self, File, TryLockError};
use std::path::Path;

use crate::error::{Error, Result};
use crate::GateError;

/// File name of the lock inside the data directory.
pub const LOCK_FILE: &str = "consentgate.lock";

/// The held lock of a data directory; released when dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    /// `None` only where the directory is read-only to this process and has
    /// no lock file: nothing can be written there by anyone this process
    /// could race with through the lock.
    _file: Option<File>,
}

impl DirLock {
    /// Takes the lock of `dir` (creating the directory if needed), or fails
    /// with `Busy` when a live gate holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::Invalid(format!(
                "data directory {} is a file, not a directory",
                dir.display()
            )));
        }
        fs::create_dir_all(dir)?;
        let path = dir.join(LOCK_FILE);
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = match options.open(&path) {
            Ok(f) => f,
            Err(e) if is_read_only(&e) => match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    log::info!("consentgate: data directory is read-only here; not locked");
                    return Ok(DirLock { _file: None });
                }
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: Some(file) }),
            Err(TryLockError::WouldBlock) => Err(Error::Gate(GateError::Busy {
                data_dir: dir.display().to_string(),
            })),
            Err(TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

fn is_read_only(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}
