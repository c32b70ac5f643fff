//! `NamePattern`: a consumer name, or a glob of one, for `[consumers] include` / `exclude`.
use serde::Serialize;

/// A consumer name in which `*` matches any run of characters (`billing-*`, `*`). Checked when
/// the config is read: the characters a consumer name may not hold are refused here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NamePattern(String);

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// An empty pattern matches nothing: surely a mistake.
    #[error("empty pattern")]
    Empty,
    /// A consumer name never holds this character, so the pattern could never match.
    #[error("{pattern:?}: a consumer name cannot contain {found:?}")]
    BadChar {
        /// The pattern.
        pattern: String,
        /// The character.
        found: char,
    },
}

impl NamePattern {
    /// A checked pattern.
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        if let Some(found) = pattern
            .chars()
            .find(|c| c.is_whitespace() || matches!(c, '.' | '>' | '/' | '\\'))
        {
            return Err(PatternError::BadChar {
                pattern: pattern.to_owned(),
                found,
            });
        }
        Ok(Self(pattern.to_owned()))
    }

    /// Whether `name` matches: every literal piece in order, `*` between them.
    pub fn matches(&self, name: &str) -> bool {
        let mut pieces = self.0.split('*');
        let first = pieces.next().unwrap_or_default();
        let Some(mut rest) = name.strip_prefix(first) else {
            return false;
        };
        let pieces: Vec<&str> = pieces.collect();
        let Some((last, middle)) = pieces.split_last() else {
            // No `*`: the whole name is the literal.
            return rest.is_empty();
        };
        for piece in middle {
            match rest.find(piece) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> NamePattern {
        NamePattern::new(s).unwrap()
    }

    #[test]
    fn a_pattern_without_a_star_matches_only_that_name() {
        assert!(p("billing").matches("billing"));
        assert!(!p("billing").matches("billing2"));
        assert!(!p("billing").matches("xbilling"));
    }

    #[test]
    fn stars_match_any_run_of_characters_including_none() {
        assert!(p("*").matches("anything"));
        assert!(p("billing-*").matches("billing-"));
        assert!(p("billing-*").matches("billing-eu"));
        assert!(!p("billing-*").matches("audit-eu"));
        assert!(p("*-eu").matches("billing-eu"));
        assert!(p("a*b*c").matches("abc"));
        assert!(p("a*b*c").matches("a-x-b-y-c"));
        assert!(!p("a*b*c").matches("a-c-b"));
        assert!(!p("ab*ba").matches("aba"));
    }

    #[test]
    fn patterns_a_consumer_name_could_never_match_are_refused() {
        assert_eq!(NamePattern::new(""), Err(PatternError::Empty));
        assert!(NamePattern::new("a.b").is_err());
        assert!(NamePattern::new("a b").is_err());
        assert!(NamePattern::new(">").is_err());
    }

    #[test]
    fn a_consumer_is_tracked_when_included_and_not_excluded() {
        let c = crate::config::Consumers {
            sync_interval: std::time::Duration::from_secs(1),
            include: vec![p("billing-*"), p("audit")],
            exclude: vec![p("*-tmp")],
        };
        assert!(c.admits("billing-eu"));
        assert!(c.admits("audit"));
        assert!(!c.admits("billing-tmp"), "excluded wins over included");
        assert!(!c.admits("ledger"), "not included");
    }
}
