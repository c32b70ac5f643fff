//! A move of the active role, step by step: claim, fence, (wait for lag zero), promote, swap DNS,
//! verify. Each step's action is sent, its outcome advances the step; silence past the step
//! timeout sends it again; a failure past `max_attempts` asks an operator. A failback wraps a
//! switchover: capture the tail, reseed, wait, (switchover), restore the home mirrors.
use super::action::Action;
use super::decision::Decision;
use super::event::{CaptureResult, ClaimResult, Event, FenceResult, StepResult};
use super::instant::Instant;
use super::observation::{Health, Observation};
use super::ownership::Ownership;
use super::policy::Policy;
use super::reason::{FenceHow, Reason};
use super::state::{BlockCause, Kind, Move, Need, Phase, State, Step};
use super::world;
use crate::model::{Epoch, Region};

/// The epoch before `e`: the one a move's claim replaces.
fn prev(e: Epoch) -> Epoch {
    Epoch(e.0.saturating_sub(1))
}

/// The compare-and-swap of the record from `from` (at the epoch before) to `to` at `epoch`.
fn claim(from: &Region, to: &Region, epoch: Epoch) -> Action {
    Action::ClaimEpoch {
        expect: Ownership {
            region: from.clone(),
            epoch: prev(epoch),
        },
        claim: Ownership {
            region: to.clone(),
            epoch,
        },
    }
}

/// The action that performs `m`'s current step, if the step has one.
pub(super) fn step_action(m: &Move, state: &State, policy: &Policy) -> Option<Action> {
    let prev = prev(m.epoch);
    match m.step {
        Step::ClaimEpoch => Some(claim(&m.from, &m.to, m.epoch)),
        // The roll-back lifts exactly the fence the fence step set.
        Step::Fence | Step::RollBackUnfence => {
            let (region, epoch) = (m.from.clone(), m.epoch);
            let streams = world::fence_list(&state.catalog, &m.from, policy);
            Some(if m.step == Step::Fence {
                Action::Fence {
                    region,
                    epoch,
                    streams,
                }
            } else {
                Action::Unfence {
                    region,
                    epoch,
                    streams,
                }
            })
        }
        Step::Promote => Some(Action::Promote {
            region: m.to.clone(),
            epoch: m.epoch,
            streams: world::promote_list(&state.catalog, &m.to, policy),
        }),
        Step::SwapDns => Some(Action::SwapDns {
            from: m.from.clone(),
            to: m.to.clone(),
            epoch: m.epoch,
        }),
        Step::RollBackClaim => Some(claim(&m.to, &m.from, m.epoch)),
        // The old primary's tail goes to the current primary, which still owns `prev`.
        Step::CaptureTail => Some(Action::CaptureTail {
            region: m.to.clone(),
            into: m.from.clone(),
            epoch: prev,
            streams: world::twin_list(&state.catalog, &m.to, policy),
        }),
        Step::Reseed => Some(Action::Reseed {
            region: m.to.clone(),
            source: m.from.clone(),
            epoch: prev,
            streams: world::twin_list(&state.catalog, &m.to, policy),
        }),
        Step::RestoreMirrors => Some(Action::Reseed {
            region: m.from.clone(),
            source: m.to.clone(),
            epoch: m.epoch,
            streams: world::twin_list(&state.catalog, &m.from, policy),
        }),
        Step::WaitLagZero | Step::Verify | Step::WaitReseeded => None,
    }
}

/// Enters (or re-enters) `m`'s current step: sends its action now.
pub(super) fn enter(
    mut next: State,
    kind: Kind,
    mut m: Move,
    now: Instant,
    policy: &Policy,
    reason: Reason,
) -> Decision {
    // NB: not for an operator's failover: it lands between rounds, and the old primary may have
    // come back since the last one (a restarted watchdog there, vouched for again, serves
    // unfenced): the fence is attempted.
    if m.step == Step::Fence
        && kind == Kind::Failover
        && !m.forced
        && next.health.get(&m.from) == Some(&Health::Down)
        && counts_fenced(&next, &m, now, policy)
    {
        // The rule is to fence the old primary when reachable. This watchdog's latest
        // round found it down (unreachable or a minority), and its lease has surely run out, so
        // an attempt could only end in the outcome that counts it fenced, after a probe timeout
        // of RTO. A region that comes back is fenced as a stale twin within a probe interval.
        m.step = Step::Promote;
        m.attempts = 0;
        let reason = Reason::FenceDone {
            region: m.from.clone(),
            how: FenceHow::SeenDown,
        };
        return enter(next, kind, m, now, policy, reason);
    }
    m.step_since = now;
    let action = step_action(&m, &next, policy);
    m.inflight = action.is_some();
    m.attempts += u32::from(action.is_some());
    next.phase = kind.wrap(m);
    Decision::new(next, action.into_iter().collect(), reason)
}

/// Whether the old primary of a failover has surely fenced itself by now: a majority stopped
/// vouching for it at `m.down_since`, counted from no earlier than anyone last saw it serving
/// (a sighting may have renewed its lease after the outage began), plus the lease's expiry.
fn lease_expired(state: &State, m: &Move, now: Instant, policy: &Policy) -> bool {
    let seen = state.seen_serving.get(&m.from).copied();
    m.down_since
        .map(|t| seen.map_or(t, |s| t.max(s)) + policy.lease_expiry())
        .is_some_and(|e| now >= e)
}

/// Whether an old primary that cannot be fenced now counts as fenced: its lease has surely run
/// out, and its watchdog guarded it (so it fenced itself), or an operator's break-glass vouched
/// for it. A primary whose watchdog was stopped or dead while it kept serving fences nothing.
fn counts_fenced(state: &State, m: &Move, now: Instant, policy: &Policy) -> bool {
    lease_expired(state, m, now, policy) && (m.waive_guard || state.guarded(&m.from, policy))
}

fn advance(
    next: State,
    kind: Kind,
    mut m: Move,
    step: Step,
    now: Instant,
    policy: &Policy,
    reason: Reason,
) -> Decision {
    m.step = step;
    m.attempts = 0;
    enter(next, kind, m, now, policy, reason)
}

fn blocked(mut next: State, step: Step, error: String, now: Instant) -> Decision {
    let cause = BlockCause::NeedsOperator {
        need: Need::StepFailed { step, error },
    };
    next.phase = Phase::Blocked {
        cause: cause.clone(),
        since: now,
    };
    Decision::quiet(next, Reason::Blocked { cause })
}

fn retry_or_block(
    mut next: State,
    kind: Kind,
    mut m: Move,
    retryable: bool,
    error: String,
    now: Instant,
    policy: &Policy,
) -> Decision {
    if !retryable || m.attempts >= policy.params().max_attempts {
        return blocked(next, m.step, error, now);
    }
    m.inflight = false;
    let reason = Reason::StepRetry {
        step: m.step,
        attempt: m.attempts,
        error,
    };
    next.phase = kind.wrap(m);
    Decision::quiet(next, reason)
}

/// A probe round during a move: notice being superseded, wait for lag zero, verify, or resend a
/// step whose outcome is overdue.
pub(super) fn on_observation(
    next: State,
    obs: &Observation,
    now: Instant,
    policy: &Policy,
) -> Decision {
    let Some((kind, m)) = next.phase.moving().map(|(k, m)| (k, m.clone())) else {
        return Decision::quiet(next, Reason::StaleOutcome);
    };
    let p = policy.params();
    let rolling_back = matches!(m.step, Step::RollBackClaim | Step::RollBackUnfence);
    if let Some(seen) = &obs.arbiter
        && !rolling_back
        && (seen.epoch > m.epoch || (seen.epoch == m.epoch && seen.region != m.to))
    {
        let mut next = next;
        next.phase = Phase::StoodDown {
            winner: seen.clone(),
            since: now,
        };
        return Decision::quiet(next, Reason::Superseded { seen: seen.clone() });
    }
    let mut m = m;
    if m.step == Step::Fence {
        // Level-triggered lease accounting: the old primary may be vouched for again.
        let evidence = world::evidence(obs, &m.from, &m.to, policy);
        m.down_since = world::votes_confirm(&evidence, policy).then(|| m.down_since.unwrap_or(now));
    }
    let next = State {
        phase: kind.wrap(m.clone()),
        ..next
    };
    let claim = Ownership {
        region: m.to.clone(),
        epoch: m.epoch,
    };
    let overdue = !m.inflight || now.since(m.step_since) >= p.step_timeout;
    let at = obs.at;
    let r = InMove {
        next,
        kind,
        m,
        now,
        policy,
    };
    match r.m.step {
        Step::WaitLagZero => r.wait_lag_zero(obs),
        Step::WaitReseeded => r.wait_reseeded(obs),
        // NB: a round that began before the last step landed shows the world before it (the
        // mirrors not yet promoted, the old record): acting on it would redo every step.
        Step::Verify if at < r.m.step_since => Decision::quiet(r.next, Reason::VerifyAwaitsRound),
        Step::Verify => r.verify(obs),
        // The claim landed but its answer was lost: the record is ours, carry on.
        Step::ClaimEpoch if overdue && obs.arbiter.as_ref() == Some(&claim) => {
            let mut r = r;
            r.next.known = Some(claim.clone());
            r.advance(Step::Fence, Reason::ClaimWon { ownership: claim })
        }
        Step::ClaimEpoch
        | Step::Fence
        | Step::Promote
        | Step::SwapDns
        | Step::RollBackClaim
        | Step::RollBackUnfence
        | Step::CaptureTail
        | Step::Reseed
        | Step::RestoreMirrors => r.resend_if_overdue(overdue),
    }
}

/// A move in its phase as a probe round finds it: the state so far, the move and its kind.
struct InMove<'a> {
    next: State,
    kind: Kind,
    m: Move,
    now: Instant,
    policy: &'a Policy,
}

impl InMove<'_> {
    fn advance(self, step: Step, reason: Reason) -> Decision {
        advance(
            self.next,
            self.kind,
            self.m,
            step,
            self.now,
            self.policy,
            reason,
        )
    }

    fn blocked(self, error: String) -> Decision {
        blocked(self.next, self.m.step, error, self.now)
    }

    /// Switchover: promote once every mirror holds every message; past the lag timeout, roll
    /// back.
    fn wait_lag_zero(mut self, obs: &Observation) -> Decision {
        let waited = self.now.since(self.m.step_since);
        let region = self.m.to.clone();
        if world::lag_zero(obs, &self.m.to, self.policy) {
            self.advance(Step::Promote, Reason::CaughtUp { region })
        } else if waited > self.policy.params().switchover_lag_timeout {
            self.m.epoch = self.m.epoch.next();
            self.advance(Step::RollBackClaim, Reason::LagTimeout { waited })
        } else {
            Decision::quiet(self.next, Reason::WaitingForLag { region, waited })
        }
    }

    /// Failback: claim once the reseeded mirrors caught up; past the reseed timeout, page.
    fn wait_reseeded(self, obs: &Observation) -> Decision {
        let region = self.m.to.clone();
        let Err(behind) = world::reseeded(obs, &self.m.to, self.policy) else {
            return self.advance(Step::ClaimEpoch, Reason::CaughtUp { region });
        };
        let waited = self.now.since(self.m.step_since);
        if waited > self.policy.params().reseed_timeout {
            // Nothing to undo: the old primary is a mirror catching up. Stop and page; a
            // repeated failback finds the mirrors in place and waits again.
            let behind = behind.map_or_else(
                || "lag not measured".to_owned(),
                |n| format!("{n} messages behind"),
            );
            let error =
                format!("reseeded mirrors in {region} not caught up after {waited:?} ({behind})");
            return self.blocked(error);
        }
        Decision::quiet(self.next, Reason::Reseeding { region, behind })
    }

    /// Check the world matches the move: complete it (or, in a failback, restore the home
    /// mirrors next), or go back to the first step found undone.
    fn verify(self, obs: &Observation) -> Decision {
        let claim = Ownership {
            region: self.m.to.clone(),
            epoch: self.m.epoch,
        };
        match world::gap(obs, &self.next.catalog, &claim, self.policy) {
            None if self.kind == Kind::Failback => self.advance(
                Step::RestoreMirrors,
                Reason::SwitchedBack { ownership: claim },
            ),
            None => complete(self.next, self.kind, claim),
            Some(step) => self.advance(step, Reason::VerifyFoundGap { step }),
        }
    }

    /// A step whose outcome is awaited: wait, send it again once overdue, or give up after
    /// `max_attempts`.
    fn resend_if_overdue(self, overdue: bool) -> Decision {
        let (step, attempts) = (self.m.step, self.m.attempts);
        if !overdue {
            let reason = Reason::StepPending {
                step,
                attempt: attempts,
            };
            Decision::quiet(self.next, reason)
        } else if attempts >= self.policy.params().max_attempts {
            self.blocked(format!("no outcome after {attempts} attempts"))
        } else {
            let reason = Reason::StepSent {
                step,
                attempt: attempts + 1,
            };
            enter(self.next, self.kind, self.m, self.now, self.policy, reason)
        }
    }
}

fn complete(mut next: State, kind: Kind, claim: Ownership) -> Decision {
    match kind {
        Kind::Failover => {
            next.phase = Phase::FailedOver { epoch: claim.epoch };
            Decision::quiet(next, Reason::FailoverComplete { ownership: claim })
        }
        Kind::Switchover => {
            next.phase = Phase::Healthy;
            Decision::quiet(next, Reason::SwitchoverComplete { ownership: claim })
        }
        Kind::Failback => {
            next.phase = Phase::Healthy;
            let tail = next.tail.clone();
            Decision::quiet(
                next,
                Reason::FailbackComplete {
                    ownership: claim,
                    tail,
                },
            )
        }
    }
}

fn raise_known(next: &mut State, seen: &Ownership) {
    if next.known.as_ref().is_none_or(|k| seen.epoch >= k.epoch) {
        next.known = Some(seen.clone());
    }
}

/// The outcome of an action. Outcomes that do not match the current step and epoch are stale
/// (a late answer to an earlier attempt) and change nothing.
pub(super) fn on_outcome(state: &State, event: &Event, now: Instant, policy: &Policy) -> Decision {
    let Some((kind, m)) = state.phase.moving().map(|(k, m)| (k, m.clone())) else {
        return outside_move(state, event);
    };
    let o = Outcome {
        state,
        kind,
        m,
        now,
        policy,
    };
    match event {
        Event::Claimed { claim, result } => o.claimed(claim, result),
        Event::Fenced {
            region,
            epoch,
            result,
        } => o.fenced(region, *epoch, result),
        Event::Promoted {
            region,
            epoch,
            result,
        } => o.promoted(region, *epoch, result),
        Event::DnsSwapped { epoch, result } => o.dns_swapped(*epoch, result),
        Event::Unfenced {
            region,
            epoch,
            result,
        } => o.unfenced(region, *epoch, result),
        Event::TailCaptured {
            region,
            epoch,
            result,
        } => o.tail_captured(region, *epoch, result),
        Event::Reseeded {
            region,
            epoch,
            result,
        } => o.reseeded(region, *epoch, result),
        Event::Working { action } => o.working(action),
        Event::Observed(_) | Event::Command(_) => o.stale(),
    }
}

/// An outcome outside a move. Repair and self-fences live there: one that did not land is sent
/// again by the next round instead of waiting out the step timeout.
fn outside_move(state: &State, event: &Event) -> Decision {
    let mut next = state.clone();
    if let Event::Fenced {
        result: FenceResult::NoQuorum | FenceResult::Unreachable | FenceResult::Failed { .. },
        ..
    } = event
    {
        next.repair_sent = None;
    }
    Decision::quiet(next, Reason::StaleOutcome)
}

/// An outcome arriving during a move: the state before it, and the move with its kind.
struct Outcome<'a> {
    state: &'a State,
    kind: Kind,
    m: Move,
    now: Instant,
    policy: &'a Policy,
}

impl Outcome<'_> {
    /// Late or duplicate: nothing changes.
    fn stale(&self) -> Decision {
        Decision::quiet(self.state.clone(), Reason::StaleOutcome)
    }

    fn advance(self, next: State, step: Step, reason: Reason) -> Decision {
        advance(next, self.kind, self.m, step, self.now, self.policy, reason)
    }

    fn failed(self, next: State, retryable: bool, error: &str) -> Decision {
        let (kind, m, now, policy) = (self.kind, self.m, self.now, self.policy);
        retry_or_block(next, kind, m, retryable, error.to_owned(), now, policy)
    }

    /// A plain step's result: done goes on by `done`, a failure is retried or blocks.
    fn step_result(
        self,
        result: &StepResult,
        done: impl FnOnce(Self, State) -> Decision,
    ) -> Decision {
        let next = self.state.clone();
        match result {
            StepResult::Done => done(self, next),
            StepResult::Failed { retryable, error } => self.failed(next, *retryable, error),
        }
    }

    /// The arbiter's answer to the claim, or to the claim back of a rolled-back switchover.
    fn claimed(self, claim: &Ownership, result: &ClaimResult) -> Decision {
        let m = &self.m;
        let expected = match m.step {
            Step::ClaimEpoch => Ownership {
                region: m.to.clone(),
                epoch: m.epoch,
            },
            Step::RollBackClaim => Ownership {
                region: m.from.clone(),
                epoch: m.epoch,
            },
            Step::Fence
            | Step::WaitLagZero
            | Step::Promote
            | Step::SwapDns
            | Step::Verify
            | Step::RollBackUnfence
            | Step::CaptureTail
            | Step::Reseed
            | Step::WaitReseeded
            | Step::RestoreMirrors => {
                return self.stale();
            }
        };
        if *claim != expected {
            return self.stale();
        }
        let mut next = self.state.clone();
        match result {
            ClaimResult::Won => {
                raise_known(&mut next, claim);
                let step = if m.step == Step::ClaimEpoch {
                    Step::Fence
                } else {
                    Step::RollBackUnfence
                };
                let reason = Reason::ClaimWon {
                    ownership: claim.clone(),
                };
                self.advance(next, step, reason)
            }
            ClaimResult::Lost { seen } => {
                raise_known(&mut next, seen);
                if m.step == Step::RollBackClaim {
                    return blocked(next, m.step, format!("the arbiter holds {seen}"), self.now);
                }
                next.phase = Phase::StoodDown {
                    winner: seen.clone(),
                    since: self.now,
                };
                Decision::quiet(next, Reason::ClaimLost { seen: seen.clone() })
            }
            ClaimResult::Failed { retryable, error } => self.failed(next, *retryable, error),
        }
    }

    /// The fence of the old primary. A failover may count an unreachable or quorum-less one
    /// fenced once its lease has surely run out; a switchover or failback needs a true fence.
    fn fenced(self, region: &Region, epoch: Epoch, result: &FenceResult) -> Decision {
        if self.m.step != Step::Fence || *region != self.m.from || epoch != self.m.epoch {
            return self.stale();
        }
        let after = match self.kind {
            Kind::Failover => Step::Promote,
            Kind::Switchover | Kind::Failback => Step::WaitLagZero,
        };
        let done = |how| Reason::FenceDone {
            region: region.clone(),
            how,
        };
        let next = self.state.clone();
        match (result, self.kind) {
            (FenceResult::Fenced, Kind::Failover | Kind::Switchover | Kind::Failback) => {
                self.advance(next, after, done(FenceHow::Fenced))
            }
            // A region without quorum takes no writes now, but may regain it at any moment,
            // unfenced. Like an unreachable one, it counts as fenced only once its own
            // watchdog's lease has surely run out (it then fences itself on recovery), even
            // when an operator forced the failover: break-glass waives the RPO, never this.
            (FenceResult::NoQuorum | FenceResult::Unreachable, Kind::Failover) => {
                if counts_fenced(self.state, &self.m, self.now, self.policy) {
                    let how = if *result == FenceResult::NoQuorum {
                        FenceHow::NoQuorum
                    } else {
                        FenceHow::LeaseExpired
                    };
                    return self.advance(next, after, done(how));
                }
                self.fence_waits_for_lease(next, region)
            }
            (
                FenceResult::NoQuorum | FenceResult::Unreachable,
                Kind::Switchover | Kind::Failback,
            ) => {
                let error = "a planned switchover needs a reachable primary with quorum";
                self.failed(next, true, error)
            }
            (
                FenceResult::Failed { retryable, error },
                Kind::Failover | Kind::Switchover | Kind::Failback,
            ) => self.failed(next, *retryable, error),
        }
    }

    /// An old primary not (yet) counted fenced: not a failure yet; the fence is sent again after
    /// the step timeout (it may become reachable, or the lease expire), `max_attempts` bounding
    /// the wait.
    fn fence_waits_for_lease(self, next: State, region: &Region) -> Decision {
        let Outcome {
            state,
            kind,
            mut m,
            now,
            policy,
        } = self;
        if m.attempts >= policy.params().max_attempts {
            let error = if state.guarded(&m.from, policy) || m.waive_guard {
                "old primary not fenced and not confirmed down long enough".to_owned()
            } else {
                "old primary not fenced, and its watchdog does not guard it: fence it \
                 by hand (or restore its watchdog), then fail over with allow_data_loss"
                    .to_owned()
            };
            return blocked(next, m.step, error, now);
        }
        m.step_since = now;
        let seen = state.seen_serving.get(&m.from).copied();
        let remaining = m
            .down_since
            .map(|t| seen.map_or(t, |s| t.max(s)) + policy.lease_expiry())
            .map_or(policy.lease_expiry(), |e| e.since(now));
        let mut next = next;
        next.phase = kind.wrap(m);
        Decision::quiet(
            next,
            Reason::FenceWaitingForLease {
                region: region.clone(),
                remaining,
            },
        )
    }

    fn promoted(self, region: &Region, epoch: Epoch, result: &StepResult) -> Decision {
        if self.m.step != Step::Promote || *region != self.m.to || epoch != self.m.epoch {
            return self.stale();
        }
        self.step_result(result, |o, next| {
            let region = region.clone();
            o.advance(
                next,
                Step::SwapDns,
                Reason::PromotedMirrors { region, epoch },
            )
        })
    }

    fn dns_swapped(self, epoch: Epoch, result: &StepResult) -> Decision {
        if self.m.step != Step::SwapDns || epoch != self.m.epoch {
            return self.stale();
        }
        self.step_result(result, |o, next| {
            let reason = Reason::DnsSwapped { to: o.m.to.clone() };
            o.advance(next, Step::Verify, reason)
        })
    }

    /// The unfence that ends a rolled-back switchover: the old primary serves again.
    fn unfenced(self, region: &Region, epoch: Epoch, result: &StepResult) -> Decision {
        if self.m.step != Step::RollBackUnfence || *region != self.m.from || epoch != self.m.epoch {
            return self.stale();
        }
        self.step_result(result, |o, mut next| {
            next.phase = Phase::Healthy;
            let ownership = Ownership {
                region: o.m.from.clone(),
                epoch: o.m.epoch,
            };
            Decision::quiet(next, Reason::SwitchoverRolledBack { ownership })
        })
    }

    fn tail_captured(self, region: &Region, epoch: Epoch, result: &CaptureResult) -> Decision {
        if self.m.step != Step::CaptureTail || *region != self.m.to || epoch != prev(self.m.epoch) {
            return self.stale();
        }
        let mut next = self.state.clone();
        match result {
            CaptureResult::Done { tail } => {
                next.tail = tail.clone();
                let reason = Reason::TailCaptured {
                    region: region.clone(),
                    tail: tail.clone(),
                };
                self.advance(next, Step::Reseed, reason)
            }
            CaptureResult::Failed { retryable, error } => self.failed(next, *retryable, error),
        }
    }

    /// Reseeding the old primary carries the current owner's epoch; restoring the home
    /// mirrors, after the switch back, the new one.
    fn reseeded(self, region: &Region, epoch: Epoch, result: &StepResult) -> Decision {
        let m = &self.m;
        let expected = match m.step {
            Step::Reseed => (&m.to, prev(m.epoch)),
            Step::RestoreMirrors => (&m.from, m.epoch),
            Step::ClaimEpoch
            | Step::Fence
            | Step::WaitLagZero
            | Step::Promote
            | Step::SwapDns
            | Step::Verify
            | Step::RollBackClaim
            | Step::RollBackUnfence
            | Step::CaptureTail
            | Step::WaitReseeded => return self.stale(),
        };
        if expected != (region, epoch) {
            return self.stale();
        }
        let restored = m.step == Step::RestoreMirrors;
        self.step_result(result, |o, next| {
            if restored {
                let claim = Ownership {
                    region: o.m.to.clone(),
                    epoch: o.m.epoch,
                };
                return complete(next, o.kind, claim);
            }
            let reason = Reason::Reseeded {
                region: region.clone(),
            };
            o.advance(next, Step::WaitReseeded, reason)
        })
    }

    /// A sign of life from the executor of the current attempt: the step is not overdue. Only
    /// for an action that is out; a late heartbeat from an attempt whose outcome already came
    /// changes nothing.
    fn working(self, action: &Action) -> Decision {
        let current = step_action(&self.m, self.state, self.policy);
        if !self.m.inflight || !current.is_some_and(|c| c.same_work(action)) {
            return self.stale();
        }
        let Outcome {
            state,
            kind,
            mut m,
            now,
            ..
        } = self;
        m.step_since = now;
        let reason = Reason::StepWorking {
            step: m.step,
            attempt: m.attempts,
        };
        let mut next = state.clone();
        next.phase = kind.wrap(m);
        Decision::quiet(next, reason)
    }
}
