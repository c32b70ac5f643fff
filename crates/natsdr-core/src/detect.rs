//! Observations outside a move: detect and confirm outages, hold for operators, fence stale twins,
//! keep the primary's lease, and resume interrupted moves from the world as it is.
use std::time::Duration;

use super::action::Action;
use super::decision::Decision;
use super::instant::Instant;
use super::model::{Epoch, StreamName};
use super::moves;
use super::observation::{Health, Observation};
use super::ownership::Ownership;
use super::policy::{Policy, Role, TwoSite};
use super::reason::Reason;
use super::state::{BlockCause, Evidence, Kind, Move, Need, Phase, State, Step};
use super::{rpo, world};

/// Handles a probe round in every phase but `FailingOver`/`SwitchingOver` (mode is `Active`).
pub(super) fn on_observation(
    prev: &State,
    next: State,
    obs: &Observation,
    now: Instant,
    policy: &Policy,
) -> Decision {
    let Some(owner) = next.known.clone() else {
        return unknown_owner(next, obs, now, policy);
    };
    let r = Round {
        obs,
        owner: &owner,
        now,
        policy,
    };
    match policy.params().role {
        Role::Witness => {
            let (phase, reason) = assess(prev, r);
            Decision::quiet(State { phase, ..next }, reason)
        }
        Role::Watchdog if owner.region == policy.params().me => primary_side(next, r),
        Role::Watchdog => standby_side(prev, next, r),
    }
}

/// What one probe round brings to every case below: the round, the owner it names, the time
/// and the policy.
#[derive(Clone, Copy)]
struct Round<'a> {
    obs: &'a Observation,
    owner: &'a Ownership,
    now: Instant,
    policy: &'a Policy,
}

/// No ownership record read yet. The home primary's watchdog still keeps its lease: whether it
/// is active or a stale twin, serving without a majority vouching for it is never safe.
fn unknown_owner(next: State, obs: &Observation, now: Instant, policy: &Policy) -> Decision {
    let p = policy.params();
    if p.role == Role::Witness || p.me != p.home_primary || !policy.lease_applies() {
        return Decision::quiet(next, Reason::ArbiterUnknown);
    }
    let unknown = Ownership {
        region: p.me.clone(),
        epoch: Epoch::default(),
    };
    let d = lease(
        next,
        Round {
            obs,
            owner: &unknown,
            now,
            policy,
        },
    );
    if matches!(d.next.phase, Phase::SelfFenced { .. }) {
        return d;
    }
    Decision {
        next: State {
            phase: Phase::Starting,
            ..d.next
        },
        ..d
    }
}

/// This watchdog's region is the active one.
fn primary_side(next: State, r: Round<'_>) -> Decision {
    match next.phase.clone() {
        // Ownership came back at a newer epoch (a rolled-back switchover): whoever moved it
        // unfences; this watchdog just starts afresh.
        Phase::SelfFenced { epoch, .. } if r.owner.epoch > epoch => {
            let next = State {
                phase: Phase::Starting,
                vouched_at: None,
                ..next
            };
            primary_side(next, r)
        }
        Phase::SelfFenced { epoch, streams } => fenced_primary(next, r, epoch, streams),
        Phase::Blocked {
            cause:
                cause @ (BlockCause::Flapping { .. }
                | BlockCause::NeedsOperator {
                    need: Need::StepFailed { .. },
                }),
            ..
        } => Decision::quiet(next, Reason::Blocked { cause }),
        Phase::StoodDown { winner, since } => stood_down(next, r, winner, since),
        Phase::FailedOver { epoch } => {
            let mut next = next;
            match repair(&mut next, r) {
                Some((actions, reason)) => Decision::new(next, actions, reason),
                None => Decision::quiet(next, Reason::HoldingAfterFailover { epoch }),
            }
        }
        Phase::Starting => starting_primary(next, r),
        Phase::Healthy
        | Phase::Degraded
        | Phase::Suspect { .. }
        | Phase::Isolated { .. }
        | Phase::Blocked { .. }
        | Phase::FailingOver(_)
        | Phase::SwitchingOver(_)
        | Phase::FailingBack(_) => serving_primary(next, r),
    }
}

/// Another watchdog won the claim for this region: it finished, or it gets `takeover_after`
/// before this one finishes its steps.
fn stood_down(next: State, r: Round<'_>, winner: Ownership, since: Instant) -> Decision {
    match world::gap(r.obs, &next.catalog, r.owner, r.policy) {
        None => {
            let epoch = r.owner.epoch;
            Decision::quiet(
                State {
                    phase: Phase::FailedOver { epoch },
                    ..next
                },
                Reason::WinnerFinished { winner },
            )
        }
        Some(step) if r.now.since(since) >= r.policy.params().takeover_after => resume(
            next,
            r.owner,
            step,
            r.now,
            r.policy,
            Reason::TakingOver { winner, step },
        ),
        Some(_) => {
            let remaining = r
                .policy
                .params()
                .takeover_after
                .saturating_sub(r.now.since(since));
            Decision::quiet(next, Reason::WaitingForWinner { winner, remaining })
        }
    }
}

/// A fresh start in the active region: finish a move the world shows unfinished, hold after a
/// failover away from home, or keep the lease.
fn starting_primary(next: State, r: Round<'_>) -> Decision {
    match world::gap(r.obs, &next.catalog, r.owner, r.policy) {
        Some(step) => {
            let reason = Reason::Resuming {
                ownership: r.owner.clone(),
                step,
            };
            resume(next, r.owner, step, r.now, r.policy, reason)
        }
        // Away from home the anti-flap hold survives restarts: no automatic move until `Ack`.
        None if r.owner.region != r.policy.params().home_primary => {
            let epoch = r.owner.epoch;
            let next = State {
                phase: Phase::FailedOver { epoch },
                ..next
            };
            Decision::quiet(next, Reason::HoldingAfterFailover { epoch })
        }
        None => lease(next, r),
    }
}

/// The active region in any other phase: repair a stale twin, stand by for a twin replica
/// finishing its move, or keep the lease.
fn serving_primary(mut next: State, r: Round<'_>) -> Decision {
    if let Some((actions, reason)) = repair(&mut next, r) {
        return Decision::new(next, actions, reason);
    }
    // Level-triggered: the arbiter names this region away from home, but the world does
    // not match yet. Another watchdog here (a twin replica) claimed and is at work; give
    // it `takeover_after`, then finish its steps (they are idempotent and epoch-guarded).
    // NB: never for the home primary, whose watchdog must keep its lease meanwhile.
    if r.owner.region != r.policy.params().home_primary
        && world::gap(r.obs, &next.catalog, r.owner, r.policy).is_some()
    {
        next.phase = Phase::StoodDown {
            winner: r.owner.clone(),
            since: r.now,
        };
        let reason = Reason::WaitingForWinner {
            winner: r.owner.clone(),
            remaining: r.policy.params().takeover_after,
        };
        return Decision::quiet(next, reason);
    }
    lease(next, r)
}

/// Fences a stale twin in the other region (an old primary back unfenced), at most once per
/// probe interval. `None` when there is nothing to repair.
fn repair(next: &mut State, r: Round<'_>) -> Option<(Vec<Action>, Reason)> {
    let other = r.policy.other(&r.owner.region).clone();
    if !world::stale_twin(r.obs, &next.catalog, &other, r.policy) {
        next.repair_sent = None;
        return None;
    }
    if next
        .repair_sent
        .is_some_and(|t| r.now.since(t) < r.policy.params().probe_interval)
    {
        return Some((Vec::new(), Reason::FencePending { region: other }));
    }
    let streams = world::fence_list(&next.catalog, &other, r.policy);
    next.repair_sent = Some(r.now);
    let action = Action::Fence {
        region: other.clone(),
        epoch: r.owner.epoch,
        streams,
    };
    Some((
        vec![action],
        Reason::StaleTwin {
            region: other,
            epoch: r.owner.epoch,
        },
    ))
}

/// Primary side: keep serving while a majority vouches; fence this region when the lease runs out.
fn lease(mut next: State, r: Round<'_>) -> Decision {
    let p = r.policy.params();
    let (phase, reason) = own_health(r.obs, r.policy);
    // Level-triggered: a region carrying its own self-fence is self-fenced, whatever this
    // watchdog remembers (it restarted, or left TILT), unless it is lifting that fence now.
    let lifting = next
        .unfence_sent
        .is_some_and(|t| r.now.since(t) < p.step_timeout);
    let found = world::self_fenced(r.obs, &next.catalog, &p.me, r.owner.epoch, r.policy);
    if !found.is_empty() && !lifting {
        next.phase = Phase::SelfFenced {
            epoch: r.owner.epoch,
            streams: found,
        };
        next.vouched_since = None;
        let reason = Reason::FoundSelfFenced {
            region: p.me.clone(),
            epoch: r.owner.epoch,
        };
        return Decision::quiet(next, reason);
    }
    // The lease only matters where a standby may fail over automatically: from the home primary.
    if !r.policy.lease_applies() || r.owner.region != p.home_primary {
        return Decision::quiet(State { phase, ..next }, reason);
    }
    let live = [world::vouched(r.obs, &p.me, r.policy), next.vouched_at]
        .into_iter()
        .flatten()
        .max();
    // A lease recorded in the region by this watchdog's predecessor (it crashed, or was replaced
    // without handing over) binds this process too: the standby may count on it.
    let recorded = r
        .obs
        .recorded_vouch
        .filter(|v| !v.released)
        .map(|v| v.ago.saturating_add(r.now.since(r.obs.at)));
    let unvouched = match (live.map(|v| r.now.since(v)), recorded) {
        (Some(l), Some(r)) => l.min(r),
        (Some(l), None) => l,
        (None, Some(r)) => r,
        (None, None) => return without_lease(next, r.owner, r.now, r.policy),
    };
    if live.is_some() {
        next.vouched_at = live;
    }
    next.lease_held = true;
    let vouched = r.now.minus(unvouched);
    if unvouched > p.self_fence_lease {
        let reason = Reason::SelfFencedIsolated {
            region: p.me.clone(),
            for_: unvouched,
            lease: p.self_fence_lease,
        };
        next.self_fences.push(r.now);
        self_fence(next, r.owner.epoch, r.now, r.policy, reason)
    } else if unvouched > p.report_max_age {
        let reason = Reason::Isolated {
            region: p.me.clone(),
            remaining: p.self_fence_lease.saturating_sub(unvouched),
        };
        Decision::quiet(
            State {
                phase: Phase::Isolated { since: vouched },
                ..next
            },
            reason,
        )
    } else {
        Decision::quiet(State { phase, ..next }, reason)
    }
}

/// This watchdog's region as its own probe sees it: the phase and reason while nothing else
/// (a fence, the lease) says more.
fn own_health(obs: &Observation, policy: &Policy) -> (Phase, Reason) {
    let p = policy.params();
    match obs.regions.get(&p.me).map(|v| (v.health(), v)) {
        Some((Health::Healthy, _)) => (
            Phase::Healthy,
            Reason::RegionHealthy {
                region: p.me.clone(),
            },
        ),
        Some((Health::Degraded, v)) => (
            Phase::Degraded,
            Reason::RegionDegraded {
                region: p.me.clone(),
                servers_up: v.servers_up,
                cluster_size: v.cluster_size,
            },
        ),
        Some((Health::Down, _)) | None => (
            Phase::Degraded,
            Reason::RegionUnreachable {
                region: p.me.clone(),
            },
        ),
    }
}

/// No lease at all: this process was never vouched for and no predecessor's lease binds it
/// (none recorded, or released on shutdown). Its peers do not count on it (its word says it
/// does not guard the region), so it gives them `failover_delay` to vouch, as they all start
/// at once, before it fences.
fn without_lease(mut next: State, owner: &Ownership, now: Instant, policy: &Policy) -> Decision {
    let p = policy.params();
    let waited = next.started_at.map_or(Duration::ZERO, |s| now.since(s));
    next.lease_held = false;
    if waited < p.failover_delay {
        let reason = Reason::AwaitingVouches {
            region: p.me.clone(),
            remaining: p.failover_delay.saturating_sub(waited),
        };
        return Decision::quiet(
            State {
                phase: Phase::Starting,
                ..next
            },
            reason,
        );
    }
    let reason = Reason::SelfFencedUnvouched {
        region: p.me.clone(),
    };
    next.self_fences.push(now);
    self_fence(next, owner.epoch, now, policy, reason)
}

/// Fences this watchdog's own region.
fn self_fence(
    mut next: State,
    epoch: Epoch,
    now: Instant,
    policy: &Policy,
    reason: Reason,
) -> Decision {
    let me = policy.params().me.clone();
    let streams = world::fence_list(&next.catalog, &me, policy);
    next.repair_sent = Some(now);
    next.phase = Phase::SelfFenced {
        epoch,
        streams: streams.clone(),
    };
    Decision::new(
        next,
        vec![Action::Fence {
            region: me,
            epoch,
            streams,
        }],
        reason,
    )
}

/// The active region, self-fenced at `epoch`: it unfences itself once a majority has vouched
/// for it for `self_unfence_after` without a break, at the arbiter's epoch, serving, and not
/// flapping; until then it keeps its fence.
///
/// NB: safe for the same reason serving under the lease is. The standby claims only after a
/// majority has seen this region down for `failover_delay` counted from its last sighting
/// serving, and the vouch that lifts the fence is such a sighting: after it, this watchdog's
/// lease runs again from it (`vouched_at`), so it fences itself again before any claim could
/// follow. A claim that landed before the unfence stamps its fence with a newer epoch, which
/// the unfence (older epoch) cannot lift.
fn fenced_primary(
    mut next: State,
    r: Round<'_>,
    epoch: Epoch,
    streams: Vec<StreamName>,
) -> Decision {
    let p = r.policy.params();
    let me = p.me.clone();
    let fresh =
        world::vouched(r.obs, &me, r.policy).filter(|v| r.now.since(*v) <= p.report_max_age);
    next.vouched_since = fresh.map(|_| next.vouched_since.unwrap_or(r.now));
    next.self_fences
        .retain(|t| r.now.since(*t) <= p.flap_window);
    let serves = r
        .obs
        .regions
        .get(&me)
        .is_some_and(|v| v.reachable && v.health().serves());
    let hold = match (p.self_unfence_after, next.vouched_since) {
        (Some(after), Some(since)) if epoch == r.owner.epoch && serves => {
            Some(after.saturating_sub(r.now.since(since)))
        }
        (Some(_) | None, Some(_) | None) => None,
    };
    let fences = u32::try_from(next.self_fences.len()).unwrap_or(u32::MAX);
    let waiting = match hold {
        Some(_) if fences > p.flap_max => Some(Reason::UnfenceHeld {
            region: me.clone(),
            fences,
            window: p.flap_window,
        }),
        Some(Duration::ZERO) => {
            let vouched_for = next
                .vouched_since
                .map_or(Duration::ZERO, |s| r.now.since(s));
            next.vouched_since = None;
            next.vouched_at = fresh;
            next.unfence_sent = Some(r.now);
            let unfence = Action::Unfence {
                region: me.clone(),
                epoch,
                streams,
            };
            let d = lease(next, r);
            let mut actions = vec![unfence];
            actions.extend(d.actions);
            let reason = Reason::SelfUnfenced {
                region: me,
                epoch,
                vouched_for,
            };
            return Decision::new(d.next, actions, reason);
        }
        Some(remaining) => Some(Reason::UnfencePending {
            region: me.clone(),
            remaining,
        }),
        None => None,
    };
    let d = refence(next, r, epoch.max(r.owner.epoch), streams);
    match (waiting, d.actions.is_empty()) {
        (Some(reason), true) => Decision { reason, ..d },
        (Some(_) | None, _) => d,
    }
}

/// Self-fenced: send the fence again (once per probe interval) while the region still takes writes.
fn refence(mut next: State, r: Round<'_>, epoch: Epoch, streams: Vec<StreamName>) -> Decision {
    let me = r.policy.params().me.clone();
    // Level-triggered: a region that was down when it fenced itself shows its streams only now.
    let mut streams = streams;
    for s in world::fence_list(&next.catalog, &me, r.policy) {
        if !streams.contains(&s) {
            streams.push(s);
        }
    }
    // The fence carries the newest epoch known (the arbiter may have moved on since).
    next.phase = Phase::SelfFenced {
        epoch,
        streams: streams.clone(),
    };
    let writable = r
        .obs
        .regions
        .get(&me)
        .filter(|v| v.reachable)
        .is_some_and(|v| {
            v.streams.iter().any(|s| {
                s.role == super::observation::StreamRole::Writable && streams.contains(&s.name)
            })
        });
    let due = next
        .repair_sent
        .is_none_or(|t| r.now.since(t) >= r.policy.params().probe_interval);
    if writable && due {
        next.repair_sent = Some(r.now);
        let action = Action::Fence {
            region: me.clone(),
            epoch,
            streams,
        };
        return Decision::new(next, vec![action], Reason::StillWritable { region: me });
    }
    Decision::quiet(next, Reason::StaysFenced { region: me, epoch })
}

/// Starts the remaining steps of a move the arbiter already records for this region.
fn resume(
    next: State,
    owner: &Ownership,
    step: Step,
    now: Instant,
    policy: &Policy,
    reason: Reason,
) -> Decision {
    // NB: when this watchdog restarted we cannot know since when the old primary lost its
    // majority: the fence step measures it afresh from the next rounds (`down_since` is `None`).
    let from = policy.other(&owner.region).clone();
    let m = Move::start(from, owner.region.clone(), owner.epoch, step, now);
    moves::enter(next, Kind::Failover, m, now, policy, reason)
}

/// This watchdog's region is not the active one: watch the active region and fail over when allowed.
fn standby_side(prev: &State, mut next: State, r: Round<'_>) -> Decision {
    let p = r.policy.params();
    if let Phase::SelfFenced { epoch, streams } = next.phase.clone() {
        return fenced_standby(next, r, epoch, streams);
    }
    let lost_ownership = prev
        .known
        .as_ref()
        .is_some_and(|k| k.region == p.me && k.epoch < r.owner.epoch);
    // NB: the home primary is the only region that can be a stale old primary (failback is not
    // automatic), so it fences whatever it still serves once another region owns the epoch, even
    // when it cannot see the promoted twins (a restart while cut off from the standby).
    let stale_primary =
        p.me == p.home_primary && world::writable_twins(r.obs, &next.catalog, &p.me, r.policy);
    if lost_ownership || stale_primary || world::stale_twin(r.obs, &next.catalog, &p.me, r.policy) {
        return self_fence(
            next,
            r.owner.epoch,
            r.now,
            r.policy,
            Reason::SelfFencedNewerEpoch {
                seen: r.owner.clone(),
            },
        );
    }
    let window = p.flap_window;
    let downs = count_down_edges(&mut next, r.obs, r.owner, r.now, window);
    if let Phase::Blocked {
        cause:
            cause @ (BlockCause::Flapping { .. }
            | BlockCause::NeedsOperator {
                need: Need::StepFailed { .. },
            }),
        ..
    } = &next.phase
    {
        let cause = cause.clone();
        return Decision::quiet(next, Reason::Blocked { cause });
    }
    if downs > p.flap_max {
        let cause = BlockCause::Flapping { downs, window };
        next.phase = Phase::Blocked {
            cause: cause.clone(),
            since: r.now,
        };
        return Decision::quiet(next, Reason::Blocked { cause });
    }
    let (phase, reason) = assess(prev, r);
    let Phase::Suspect { since, evidence } = phase else {
        return Decision::quiet(State { phase, ..next }, reason);
    };
    // A blocked watchdog already served the delay: it re-checks the gates at once.
    let held = matches!(next.phase, Phase::Blocked { .. });
    if !held && r.now.since(since) < p.failover_delay {
        return Decision::quiet(
            State {
                phase: Phase::Suspect { since, evidence },
                ..next
            },
            reason,
        );
    }
    // NB: the delay counts from the votes (which the lease rule is timed against); the mirrors'
    // testimony is required when acting, so their silence threshold does not add to the RTO.
    if !world::mirrors_testify(&evidence) {
        let reason = Reason::MirrorsInContact {
            region: r.owner.region.clone(),
            evidence,
        };
        return Decision::quiet(
            State {
                phase: Phase::Suspect { since, evidence },
                ..next
            },
            reason,
        );
    }
    fail_over(next, r.owner, since, evidence, r.now, r.policy)
}

/// A self-fenced region that is no longer the active one: once its streams mirror the active
/// region again (a failback rebuilt it) it stands by; until then it stays fenced.
fn fenced_standby(next: State, r: Round<'_>, epoch: Epoch, streams: Vec<StreamName>) -> Decision {
    let me = &r.policy.params().me;
    if world::rejoined(r.obs, &next.catalog, me, r.policy) {
        let next = State {
            phase: Phase::Healthy,
            ..next
        };
        let region = me.clone();
        return Decision::quiet(next, Reason::RejoinedAsStandby { region });
    }
    refence(next, r, epoch.max(r.owner.epoch), streams)
}

/// Confirmed for long enough: the gates, in order of what an operator most needs to know, then
/// the claim.
fn fail_over(
    mut next: State,
    owner: &Ownership,
    since: Instant,
    evidence: Evidence,
    now: Instant,
    policy: &Policy,
) -> Decision {
    let p = policy.params();
    let rpo = rpo::verdict(&next, &p.me, policy);
    let gate = if !(owner.region == p.home_primary && p.me == p.home_standby) {
        Some(BlockCause::NeedsOperator {
            need: Need::NoAutomaticFailback,
        })
    } else if !p.auto_failover {
        Some(BlockCause::NeedsOperator {
            need: Need::AutoFailoverOff,
        })
    } else if !p.witness && p.two_site == TwoSite::Manual {
        Some(BlockCause::NeedsOperator {
            need: Need::TwoSiteManual,
        })
    } else if !next.guarded(&owner.region, policy) {
        Some(BlockCause::NeedsOperator {
            need: Need::PrimaryUnguarded {
                region: owner.region.clone(),
                said_unguarded: next.guard.get(&owner.region).map(|(_, guarding)| !guarding),
            },
        })
    } else {
        rpo.breach()
    };
    if let Some(cause) = gate {
        // The same hold keeps its start; a new one starts now.
        let since = match &next.phase {
            Phase::Blocked { cause: c, since } if *c == cause => *since,
            _ => now,
        };
        next.phase = Phase::Blocked {
            cause: cause.clone(),
            since,
        };
        return Decision::quiet(next, Reason::Blocked { cause });
    }
    let m = Move {
        down_since: Some(since),
        ..Move::start(
            owner.region.clone(),
            p.me.clone(),
            owner.epoch.next(),
            Step::ClaimEpoch,
            now,
        )
    };
    let reason = Reason::PrimaryDown {
        region: owner.region.clone(),
        confirmed_by: evidence.down_votes,
        of: evidence.vantage_points,
        for_: now.since(since),
        lag: match rpo {
            rpo::Verdict::Within { worst } => worst,
            rpo::Verdict::Exceeded(_) => None,
        },
    };
    moves::enter(next, Kind::Failover, m, now, policy, reason)
}

/// Flap accounting: records an edge into "down" as this watchdog sees the active region, and
/// counts the edges within the flap window.
fn count_down_edges(
    next: &mut State,
    obs: &Observation,
    owner: &Ownership,
    now: Instant,
    window: Duration,
) -> u32 {
    let down_now = obs
        .regions
        .get(&owner.region)
        .is_some_and(|v| v.health() == Health::Down);
    if down_now && !next.was_down {
        next.down_edges.push(now);
    }
    next.was_down = down_now;
    next.down_edges.retain(|t| now.since(*t) <= window);
    u32::try_from(next.down_edges.len()).unwrap_or(u32::MAX)
}

/// Detection without gates (what a witness reports, and the first half of the standby's logic):
/// `Suspect` when enough votes agree (keeping its start), else `Degraded` or `Healthy`.
fn assess(prev: &State, r: Round<'_>) -> (Phase, Reason) {
    let region = &r.owner.region;
    let evidence: Evidence = world::evidence(r.obs, region, r.policy.other(region), r.policy);
    if world::votes_confirm(&evidence, r.policy) {
        let counted = prev.phase.held_down_since().unwrap_or(r.now);
        // The outage is dated from the last sighting of the region serving, not from the round
        // that confirmed it: votes need a probe timeout and a report fetch to arrive, and that
        // latency would otherwise add straight to the RTO. Never from before the last sighting
        // (the old primary's lease may date from then; the timing rule is counted from it), and
        // at most `detection_latency` before the confirming round, so a region nobody has seen
        // for a long while still needs `failover_delay` minus that of confirmed outage. Without
        // any sighting (a restarted watchdog), the confirming round is all we know.
        let seen = world::last_serving(r.obs, region).max(prev.seen_serving.get(region).copied());
        let since = seen.map_or(counted, |s| {
            let earliest = if matches!(prev.phase, Phase::Suspect { .. } | Phase::Blocked { .. }) {
                counted
            } else {
                counted.minus(r.policy.params().detection_latency())
            };
            earliest.max(s)
        });
        let reason = Reason::Suspect {
            region: region.clone(),
            down_votes: evidence.down_votes,
            of: evidence.vantage_points,
            for_: r.now.since(since),
            delay: r.policy.params().failover_delay,
        };
        return (Phase::Suspect { since, evidence }, reason);
    }
    if evidence.down_votes > 0 {
        return (
            Phase::Degraded,
            Reason::DownNotConfirmed {
                region: region.clone(),
                evidence,
            },
        );
    }
    match r.obs.regions.get(region) {
        Some(v) if v.health() == Health::Degraded => (
            Phase::Degraded,
            Reason::RegionDegraded {
                region: region.clone(),
                servers_up: v.servers_up,
                cluster_size: v.cluster_size,
            },
        ),
        Some(_) | None => (
            Phase::Healthy,
            Reason::RegionHealthy {
                region: region.clone(),
            },
        ),
    }
}
