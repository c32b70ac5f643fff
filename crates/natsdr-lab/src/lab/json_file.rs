//! The lab's JSON state files (the manifest, the fault table): read whole, written atomically,
//! so the controller, the tests and netd never see half of one.
use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a lab state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JsonFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// The file holds something else than `what` (or one from an incompatible version).
    #[error("{path} is not a {what}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the file should hold, e.g. `lab manifest`.
        what: &'static str,
        /// What serde refused.
        #[source]
        source: serde_json::Error,
    },
}

impl JsonFileError {
    /// True when the file is not there at all (as opposed to unreadable or malformed).
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Reads the `what` held in `path`.
pub fn read<T: DeserializeOwned>(path: PathBuf, what: &'static str) -> Result<T, JsonFileError> {
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| JsonFileError::Parse {
            path,
            what,
            source,
        }),
        Err(source) => Err(JsonFileError::Io { path, source }),
    }
}

/// Writes `value`, a `what`, to `path` as pretty JSON, atomically.
pub fn write(
    path: PathBuf,
    what: &'static str,
    value: &impl Serialize,
) -> Result<(), JsonFileError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| JsonFileError::Parse {
        path: path.clone(),
        what,
        source,
    })?;
    super::process::write_atomic(&path, &bytes).map_err(|source| JsonFileError::Io { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_holding_something_else_is_refused_naming_what_it_should_hold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        write(path.clone(), "list", &["a", "b"]).unwrap();
        assert_eq!(
            read::<Vec<String>>(path.clone(), "list").unwrap(),
            ["a", "b"]
        );
        let e = read::<u64>(path.clone(), "number").unwrap_err();
        assert!(!e.is_missing());
        assert!(e.to_string().contains("is not a number"), "{e}");
        let e = read::<u64>(dir.path().join("absent.json"), "number").unwrap_err();
        assert!(e.is_missing(), "{e}");
    }
}
