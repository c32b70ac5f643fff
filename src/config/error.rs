//! Config errors: each names the key and the problem on one line.
use std::path::PathBuf;

/// Why a config was refused. `natsdr` exits with 64 (EX_USAGE) on any of these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file does not exist or cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no setting at all (empty, or comments only).
    #[error(
        "config file {path} is empty: it needs at least [watchdog] and two [[regions]] (see config/natsdr.example.toml)"
    )]
    Empty {
        /// The file given.
        path: PathBuf,
    },
    /// The file is not UTF-8 text (TOML must be).
    #[error(
        "config file {path} is not UTF-8 text: invalid byte at line {line}, column {column} (save it as UTF-8)"
    )]
    NotUtf8 {
        /// The file given.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
        /// 1-based byte column of the first invalid byte.
        column: usize,
    },
    /// The file (or an environment override) does not parse: bad TOML, unknown key, wrong type.
    #[error("{key}: {problem}")]
    Syntax {
        /// Dotted path of the offending key (empty for the whole file).
        key: String,
        /// What is wrong.
        problem: String,
    },
    /// A value parses but breaks a rule (bad duration, missing region, duplicate stream,
    /// a mirror of itself, a GDPR stream leaving its region, timing rules...).
    #[error("{key}: {problem}")]
    Invalid {
        /// Dotted path of the offending key.
        key: String,
        /// What is wrong, and where useful what to write instead.
        problem: String,
    },
}

impl ConfigError {
    /// A rule broken at `key`.
    pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        // NB: figment prefixes keys with the profile ("default."); users never wrote that.
        let key = e
            .path
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(".");
        let mut problem = e.kind.to_string();
        if let Some(meta) = &e.metadata {
            problem.push_str(&format!(" (in {})", meta.name));
        }
        Self::Syntax { key, problem }
    }
}
