//! An in-memory arbiter and client record with the RFC 2136 semantics, for testing callers.
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{
    Arbiter, ClaimResult, ClientRecord, ClientTarget, DnsError, Ownership, SwapResult, settled,
};

/// A failure to inject into [`MemoryDns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every call fails with a retryable [`DnsError::Timeout`] until the fault is cleared.
    Unreachable,
    /// The next write lands, but the caller gets [`DnsError::Timeout`], as when both the answer
    /// and [`Rfc2136`](super::Rfc2136)'s read-back are lost. One shot.
    LandThenTimeout,
}

/// What [`MemoryDns`] holds and what is injected.
#[derive(Debug, Default)]
struct Zone {
    owner: Option<Ownership>,
    client: Option<ClientTarget>,
    fault: Option<Fault>,
}

/// An [`Arbiter`] and [`ClientRecord`] in memory, with the same compare-and-swap and
/// classification as [`Rfc2136`](super::Rfc2136) (`Won`/`AlreadyOurs`/`Lost`, epochs must
/// grow). Clones share one zone, so several watchdogs in a test can race on it.
#[derive(Debug, Clone, Default)]
pub struct MemoryDns {
    zone: Arc<Mutex<Zone>>,
}

/// The address reported in injected errors: there is no server.
const NO_SERVER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl MemoryDns {
    /// A zone holding this owner and client target.
    pub fn new(owner: Option<Ownership>, client: Option<ClientTarget>) -> Self {
        Self {
            zone: Arc::new(Mutex::new(Zone {
                owner,
                client,
                fault: None,
            })),
        }
    }

    /// Injects a fault (or clears it with `None`).
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.lock().fault = fault;
    }

    /// The current owner, bypassing faults (for assertions).
    pub fn owner(&self) -> Option<Ownership> {
        self.lock().owner.clone()
    }

    /// The current client target, bypassing faults (for assertions).
    pub fn client(&self) -> Option<ClientTarget> {
        self.lock().client.clone()
    }

    /// Overwrites the owner unconditionally, as an operator or another tool might.
    pub fn set_owner(&self, owner: Option<Ownership>) {
        self.lock().owner = owner;
    }

    fn lock(&self) -> MutexGuard<'_, Zone> {
        // NB: a panic while holding the lock cannot leave the zone half-written (every
        // critical section is one assignment), so a poisoned lock is still consistent.
        self.zone
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn timeout() -> DnsError {
        DnsError::Timeout {
            server: NO_SERVER,
            after: Duration::ZERO,
        }
    }

    /// Fails a read if the zone is unreachable.
    fn reachable(zone: &Zone) -> Result<(), DnsError> {
        match zone.fault {
            Some(Fault::Unreachable) => Err(Self::timeout()),
            Some(Fault::LandThenTimeout) | None => Ok(()),
        }
    }

    /// Applies a write and reports it as the injected fault dictates.
    fn written<T>(zone: &mut Zone, outcome: T) -> Result<T, DnsError> {
        match zone.fault {
            Some(Fault::LandThenTimeout) => {
                zone.fault = None;
                Err(Self::timeout())
            }
            Some(Fault::Unreachable) | None => Ok(outcome),
        }
    }
}

impl Arbiter for MemoryDns {
    async fn read(&self) -> Result<Option<Ownership>, DnsError> {
        let zone = self.lock();
        Self::reachable(&zone)?;
        Ok(zone.owner.clone())
    }

    async fn claim(&self, expected: &Ownership, new: &Ownership) -> Result<ClaimResult, DnsError> {
        expected.must_precede(new)?;
        let mut zone = self.lock();
        Self::reachable(&zone)?;
        match &zone.owner {
            Some(current) if current == expected => {
                zone.owner = Some(new.clone());
                Self::written(&mut zone, ClaimResult::Won)
            }
            current => Ok(settled(current.clone(), new)),
        }
    }
}

impl ClientRecord for MemoryDns {
    async fn read(&self) -> Result<Option<ClientTarget>, DnsError> {
        let zone = self.lock();
        Self::reachable(&zone)?;
        Ok(zone.client.clone())
    }

    async fn swap(
        &self,
        from: Option<&ClientTarget>,
        to: &ClientTarget,
    ) -> Result<SwapResult, DnsError> {
        if matches!(to, ClientTarget::Addresses(addrs) if addrs.is_empty()) {
            return Err(DnsError::InvalidTarget("no addresses".into()));
        }
        let mut zone = self.lock();
        Self::reachable(&zone)?;
        if zone.client.as_ref() == from {
            zone.client = Some(to.clone());
            Self::written(&mut zone, SwapResult::Swapped)
        } else {
            Ok(settled(zone.client.clone(), to))
        }
    }

    async fn verify(
        &self,
        expected: &ClientTarget,
        within: Duration,
    ) -> Result<Duration, DnsError> {
        let zone = self.lock();
        Self::reachable(&zone)?;
        match &zone.client {
            Some(current) if current == expected => Ok(Duration::ZERO),
            current => Err(DnsError::NotVisible {
                name: "memory".into(),
                expected: expected.to_string(),
                last_seen: current
                    .as_ref()
                    .map_or_else(|| "no records".into(), ToString::to_string),
                waited: within,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Epoch, Region};

    fn own(region: &str, epoch: u64) -> Ownership {
        Ownership::new(Region::new(region).unwrap(), Epoch(epoch))
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn claims_follow_the_same_compare_and_swap_rules_as_the_real_arbiter() {
        let dns = MemoryDns::new(Some(own("us-east-1", 1)), None);
        let (expected, new) = (own("us-east-1", 1), own("eu-central-1", 2));
        run(async {
            assert_eq!(dns.claim(&expected, &new).await.unwrap(), ClaimResult::Won);
            assert_eq!(
                dns.claim(&expected, &new).await.unwrap(),
                ClaimResult::AlreadyOurs
            );
            assert_eq!(
                dns.claim(&expected, &own("us-east-1", 2)).await.unwrap(),
                ClaimResult::Lost {
                    current: Some(new.clone())
                }
            );
            assert!(matches!(
                dns.claim(&new, &own("us-east-1", 2)).await,
                Err(DnsError::EpochNotIncreasing { .. })
            ));
        });
    }

    #[test]
    fn a_write_that_lands_but_times_out_is_found_on_retry() {
        let dns = MemoryDns::new(Some(own("us-east-1", 1)), None);
        dns.set_fault(Some(Fault::LandThenTimeout));
        let (expected, new) = (own("us-east-1", 1), own("eu-central-1", 2));
        run(async {
            let err = dns.claim(&expected, &new).await.unwrap_err();
            assert!(err.is_retryable());
            assert_eq!(dns.owner(), Some(new.clone()));
            assert_eq!(
                dns.claim(&expected, &new).await.unwrap(),
                ClaimResult::AlreadyOurs
            );
        });
    }

    #[test]
    fn an_unreachable_zone_fails_every_call_and_changes_nothing() {
        let us = ClientTarget::addresses(["127.1.0.1".parse().unwrap()]);
        let eu = ClientTarget::addresses(["127.2.0.1".parse().unwrap()]);
        let dns = MemoryDns::new(Some(own("us-east-1", 1)), Some(us.clone()));
        dns.set_fault(Some(Fault::Unreachable));
        run(async {
            assert!(Arbiter::read(&dns).await.unwrap_err().is_retryable());
            assert!(dns.swap(Some(&us), &eu).await.unwrap_err().is_retryable());
            assert!(
                dns.verify(&us, Duration::ZERO)
                    .await
                    .unwrap_err()
                    .is_retryable()
            );
        });
        assert_eq!(dns.client(), Some(us.clone()));
        dns.set_fault(None);
        run(async {
            assert_eq!(dns.swap(Some(&us), &eu).await.unwrap(), SwapResult::Swapped);
            assert_eq!(
                dns.verify(&eu, Duration::ZERO).await.unwrap(),
                Duration::ZERO
            );
            assert_eq!(
                dns.swap(Some(&us), &eu).await.unwrap(),
                SwapResult::AlreadyThere
            );
        });
    }
}
