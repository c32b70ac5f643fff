//! Waiting until a DNS change is seen: the one poll loop every verification uses.
use std::fmt::Display;
use std::time::Duration;

use tokio::time::Instant;

use super::{ClientTarget, DnsError};

/// What one look found: the expected value, or what stands there instead.
pub(super) enum Seen {
    /// The expected value is there: the wait is over.
    Expected,
    /// Something else (or nothing, or an error): described for the timeout error.
    Other(String),
}

impl Seen {
    /// Compares one read of the client record with `expected`. A failed read is not fatal: the
    /// server may be restarting or the change still travelling, so it is described and retried.
    pub(super) fn target<E: Display>(
        read: Result<Option<ClientTarget>, E>,
        expected: &ClientTarget,
    ) -> Self {
        match read {
            Ok(Some(seen)) if seen == *expected => Self::Expected,
            Ok(Some(seen)) => Self::Other(seen.to_string()),
            Ok(None) => Self::Other("no records".into()),
            Err(e) => Self::Other(format!("error: {e}")),
        }
    }
}

/// Where the wait stops: the clock started at `started`, the budget `within`, and what the
/// timeout error names (the record `name` and the `expected` value).
pub(super) struct Deadline<'a> {
    /// When the wait (or the verification it is a phase of) began.
    pub started: Instant,
    /// How long after `started` to keep looking.
    pub within: Duration,
    /// The record (or change) waited on, as the timeout error names it.
    pub name: &'a str,
    /// The value waited for, as the timeout error names it.
    pub expected: &'a str,
}

impl<'a> Deadline<'a> {
    /// A wait that starts now and lasts at most `within`.
    pub(super) fn from_now(within: Duration, name: &'a str, expected: &'a str) -> Self {
        Self {
            started: Instant::now(),
            within,
            name,
            expected,
        }
    }
}

/// Calls `look` every `every` until it sees the expected value, and returns how long after
/// `deadline.started` that was. `look` ends the wait early with an error only when looking
/// again cannot help; at the deadline the error says what was seen last.
pub(super) async fn until_seen<F, Fut>(
    deadline: Deadline<'_>,
    every: Duration,
    mut look: F,
) -> Result<Duration, DnsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Seen, DnsError>>,
{
    let Deadline {
        started,
        within,
        name,
        expected,
    } = deadline;
    loop {
        let last_seen = match look().await? {
            Seen::Expected => return Ok(started.elapsed()),
            Seen::Other(last_seen) => last_seen,
        };
        if started.elapsed() >= within {
            return Err(DnsError::NotVisible {
                name: name.to_owned(),
                expected: expected.to_owned(),
                last_seen,
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(every).await;
    }
}
