//! Secrets in config: referenced (a file or an environment variable), resolved when used,
//! never printed.
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// Where a secret comes from. Resolved at use time, so `check-config` works on a machine that
/// does not hold the secrets, and a rotated file is picked up on the next connection.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretRef {
    /// Written inline in the config (discouraged; shown redacted).
    Inline(#[serde(serialize_with = "redacted")] String),
    /// Read from this file (a mounted Kubernetes Secret); surrounding white space is trimmed.
    File(PathBuf),
    /// Read from this environment variable.
    Env(String),
}

fn redacted<S: serde::Serializer>(_: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("<redacted>")
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
            Self::File(p) => write!(f, "File({})", p.display()),
            Self::Env(v) => write!(f, "Env({v})"),
        }
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The secret file could not be read.
    #[error("cannot read secret file {path}: {source}")]
    File {
        /// The file named in the config.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The environment variable is not set (or not UTF-8).
    #[error("environment variable {0} is not set")]
    Env(String),
}

impl SecretRef {
    /// Reads the secret's current value.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        match self {
            Self::Inline(s) => Ok(Secret(s.clone())),
            Self::File(path) => std::fs::read_to_string(path)
                .map(|s| Secret(s.trim().to_owned()))
                .map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                }),
            Self::Env(var) => std::env::var(var)
                .map(Secret)
                .map_err(|_| SecretError::Env(var.clone())),
        }
    }
}

/// A secret value. Its `Debug` never shows the value, so it cannot leak into logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The value, for the one place that must send it (a connection, a signature).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_or_serialized_output() {
        let r = SecretRef::Inline("hunter2".into());
        assert!(!format!("{r:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&r).unwrap().contains("hunter2"));
        assert!(!format!("{:?}", r.resolve().unwrap()).contains("hunter2"));
    }

    #[test]
    fn file_secrets_are_trimmed_and_missing_ones_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tok");
        std::fs::write(&p, "s3cret\n").unwrap();
        assert_eq!(
            SecretRef::File(p.clone()).resolve().unwrap().expose(),
            "s3cret"
        );
        let err = SecretRef::File(dir.path().join("nope"))
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("nope"));
    }
}
