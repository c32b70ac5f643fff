//! Bearer tokens: `name:role:token` lines (role = admin or read), compared in constant time.
use crate::config::{SecretError, SecretRef};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Read status and observations.
    Read,
    /// Read, and send commands.
    Admin,
}

impl Grant {
    /// The role's name in audit records: `read` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    name: String,
    grant: Grant,
    secret: Vec<u8>,
}

/// The tokens the API accepts.
#[derive(Debug, Clone, Default)]
pub struct Tokens(Vec<Token>);

/// Why a token file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// The secret could not be read.
    #[error("api tokens: {0}")]
    Secret(#[from] SecretError),
    /// A line is malformed.
    #[error("api tokens, line {line}: {problem}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: &'static str,
    },
}

impl Tokens {
    /// Reads tokens: one per line, `name:role:token`, `name:token` (admin) or a bare token
    /// (admin, named `token<N>`). Blank lines and `#` comments are skipped.
    pub fn load(source: Option<&SecretRef>) -> Result<Self, TokensError> {
        let Some(source) = source else {
            return Ok(Self::default());
        };
        Self::parse(source.resolve()?.expose())
    }

    /// Parses the text of a token file.
    pub fn parse(text: &str) -> Result<Self, TokensError> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parts: Vec<&str> = line.splitn(3, ':').collect();
            let (name, grant, secret) = match parts.as_slice() {
                [t] => (format!("token{}", i + 1), Grant::Admin, *t),
                [n, t] => ((*n).to_owned(), Grant::Admin, *t),
                [n, "admin", t] => ((*n).to_owned(), Grant::Admin, *t),
                [n, "read", t] => ((*n).to_owned(), Grant::Read, *t),
                _ => {
                    return Err(TokensError::Line {
                        line: i + 1,
                        problem: "role must be admin or read",
                    });
                }
            };
            if secret.len() < 16 {
                return Err(TokensError::Line {
                    line: i + 1,
                    problem: "token shorter than 16 characters",
                });
            }
            out.push(Token {
                name,
                grant,
                secret: secret.as_bytes().to_vec(),
            });
        }
        Ok(Self(out))
    }

    /// Whether any token is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Finds the token presented; returns its name and grant.
    pub fn check(&self, presented: &str) -> Option<(&str, Grant)> {
        // NB: every configured token is compared, in constant time each, so timing tells
        // neither which token matched nor how much of one did.
        let mut found = None;
        for t in &self.0 {
            if constant_time_eq(&t.secret, presented.as_bytes()) {
                found = Some((t.name.as_str(), t.grant));
            }
        }
        found
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_a_name_and_a_grant() {
        let t = Tokens::parse("# ops\nalice:admin:aaaaaaaaaaaaaaaa\ngrafana:read:rrrrrrrrrrrrrrrr\nbbbbbbbbbbbbbbbb\n").unwrap();
        assert_eq!(t.check("aaaaaaaaaaaaaaaa"), Some(("alice", Grant::Admin)));
        assert_eq!(t.check("rrrrrrrrrrrrrrrr"), Some(("grafana", Grant::Read)));
        assert_eq!(t.check("bbbbbbbbbbbbbbbb"), Some(("token4", Grant::Admin)));
        assert_eq!(t.check("aaaaaaaaaaaaaaa"), None);
        assert_eq!(t.check("aaaaaaaaaaaaaaaaa"), None);
        assert_eq!(t.check(""), None);
    }

    #[test]
    fn short_tokens_and_unknown_roles_are_refused() {
        assert!(Tokens::parse("x:admin:short").is_err());
        assert!(Tokens::parse("x:root:aaaaaaaaaaaaaaaa").is_err());
    }

    #[test]
    fn constant_time_eq_is_plain_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"\xff"));
    }
}
