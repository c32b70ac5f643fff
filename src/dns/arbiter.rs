//! The arbiter: a compare-and-swap register that decides which region owns which epoch.
use std::future::Future;

use super::{DnsError, Ownership};

/// The outcome of a claim that reached the arbiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimResult {
    /// Our update replaced `expected` with `new`: we own the new epoch.
    Won,
    /// `new` was already there: an earlier attempt of ours (or an identical claim) landed. We
    /// own the new epoch just as if we had won; an idempotent retry ends here.
    AlreadyOurs,
    /// The arbiter held something other than `expected`: someone else moved first. Stand down
    /// and re-read the world.
    Lost {
        /// What the arbiter holds now (`None` if the record is gone).
        current: Option<Ownership>,
    },
}

/// A linearisable register holding the current [`Ownership`]; the single source of truth for
/// epochs. Claims are compare-and-swap: at most one of any number of concurrent claimers from
/// the same `expected` value wins.
///
/// NB: methods return `impl Future + Send` rather than being `async fn`, so that callers can
/// spawn them on a multi-threaded runtime. There is no `dyn Arbiter`: the driver is generic
/// over its executors (tests substitute fakes through the generic parameter).
pub trait Arbiter {
    /// Reads the current owner straight from the authority (no cache). `None` when the record
    /// does not exist.
    fn read(&self) -> impl Future<Output = Result<Option<Ownership>, DnsError>> + Send;

    /// Replaces `expected` by `new` if and only if the arbiter holds exactly `expected`.
    ///
    /// `new.epoch` must be greater than `expected.epoch`. After any failure of the write the
    /// record is read back, so an `Err` means the outcome is still unknown (and the error says
    /// whether retrying may help); a retry of a claim that landed returns
    /// [`ClaimResult::AlreadyOurs`].
    fn claim(
        &self,
        expected: &Ownership,
        new: &Ownership,
    ) -> impl Future<Output = Result<ClaimResult, DnsError>> + Send;
}
