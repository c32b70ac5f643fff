//! Domain newtypes shared by every layer: regions, epochs, stream and bucket names.
use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("must not be empty")]
    Empty,
    /// The name is longer than the server accepts.
    #[error("is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// Length of the refused name.
        len: usize,
        /// Longest accepted length.
        max: usize,
    },
    /// The name holds a character NATS refuses in stream names (or DNS in region names).
    #[error(
        "contains {0:?}, which is not allowed here (stream and bucket names may not hold '.', '*', '>', '/', '\\\\' or white space)"
    )]
    BadChar(char),
}

/// Checks what every kind of name must be: not empty, at most `max` characters long, and free
/// of any character `refused` says no to.
fn checked(s: String, max: usize, refused: impl Fn(char) -> bool) -> Result<String, NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.len() > max {
        return Err(NameError::TooLong { len: s.len(), max });
    }
    if let Some(c) = s.chars().find(|c| refused(*c)) {
        return Err(NameError::BadChar(c));
    }
    Ok(s)
}

/// The conversions a checked name shares with text: out as `&str` or `String`, in only through
/// its `new` (so serde refuses what `new` refuses), and displayed as itself.
macro_rules! name_text {
    ($name:ident) => {
        impl $name {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> Self {
                n.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A region's identifier, e.g. `us-east-1`. Lower-case letters, digits and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    /// Parses a region id: 1-63 characters of `[a-z0-9-]` (usable as a DNS label and a metric label).
    pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
        checked(s.into(), 63, |c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
        .map(Self)
    }
}

name_text!(Region);

/// A fencing token. Every change of the active region bumps it by one; anything acting on an
/// older epoch stands down. Epochs only grow.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl Epoch {
    /// The epoch that follows this one.
    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A JetStream stream name (also used for a KV bucket's backing stream `KV_<bucket>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamName(String);

impl StreamName {
    /// Parses a stream name as nats-server accepts it: no `.`, `*`, `>`, path separators or white
    /// space, at most 255 characters (the server's limit for file-backed streams).
    pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
        checked(s.into(), 255, |c| {
            matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace() || c.is_control()
        })
        .map(Self)
    }
}

name_text!(StreamName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_with_dots_are_refused_because_the_server_refuses_them() {
        assert_eq!(StreamName::new("metrics.v1"), Err(NameError::BadChar('.')));
        assert!(StreamName::new("events-us").is_ok());
        assert_eq!(StreamName::new(""), Err(NameError::Empty));
    }

    #[test]
    fn region_ids_are_dns_labels() {
        assert!(Region::new("eu-central-1").is_ok());
        assert_eq!(Region::new("EU"), Err(NameError::BadChar('E')));
        assert_eq!(
            Region::new("a".repeat(64)).unwrap_err(),
            NameError::TooLong { len: 64, max: 63 }
        );
    }

    #[test]
    fn epochs_only_grow_by_one() {
        assert_eq!(Epoch(7).next(), Epoch(8));
    }
}

/// Whether some subject matches both NATS subject patterns (`*` = one token, `>` = one or more
/// trailing tokens). Two streams in one domain whose subjects overlap cannot coexist (10065).
pub fn subjects_overlap(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    let mut i = 0;
    loop {
        match (a.get(i), b.get(i)) {
            (Some(&">"), Some(_)) | (Some(_), Some(&">")) => return true,
            (Some(x), Some(y)) if *x == "*" || *y == "*" || x == y => i += 1,
            (Some(_), Some(_)) => return false,
            (None, None) => return true,
            (None, Some(_)) | (Some(_), None) => return false,
        }
    }
}

#[cfg(test)]
mod subject_tests {
    use super::subjects_overlap;

    #[test]
    fn overlap_follows_nats_wildcard_rules() {
        assert!(subjects_overlap("events.*", "events.created"));
        assert!(subjects_overlap("events.>", "events.a.b"));
        assert!(subjects_overlap("*.pii.*", "eu.*.x"));
        assert!(!subjects_overlap("events.*", "eu.events.*"));
        assert!(!subjects_overlap("events.*", "events.a.b"));
        assert!(!subjects_overlap("events.>", "events"));
        assert!(subjects_overlap("a", "a"));
        assert!(!subjects_overlap("a.b", "a"));
    }
}
