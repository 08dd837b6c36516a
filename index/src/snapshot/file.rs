//! Snapshot files: a snapshot's columns in one flat, versioned, checksummed little-endian file,
//! memory-mapped on load. (Being written: see the module's tests for the contract.)

use std::path::Path;

use super::Snapshot;

#[derive(Debug)]
pub enum FileError {
    Io(std::io::Error),
    Invalid(String),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Io(e) => write!(f, "{e}"),
            FileError::Invalid(why) => write!(f, "{why}"),
        }
    }
}

/// Write `snapshot` and the caller's `stamp` to `path` (created or truncated, then fsynced).
pub fn save(_snapshot: &Snapshot, _stamp: &[u8], _path: &Path) -> Result<(), FileError> {
    Err(FileError::Invalid(
        "snapshot files are not written yet".into(),
    ))
}

/// The snapshot in `path` and its stamp, or why the file cannot be used.
pub fn load(_path: &Path, _generation: u64) -> Result<(Snapshot, Vec<u8>), FileError> {
    Err(FileError::Invalid("snapshot files are not read yet".into()))
}
