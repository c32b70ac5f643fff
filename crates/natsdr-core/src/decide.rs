//! The pure transition function: `decide(state, event, now, policy) -> Decision`.
use std::time::Duration;

use super::action::{Action, Severity};
use super::command;
use super::decision::Decision;
use super::detect;
use super::event::Event;
use super::instant::Instant;
use super::moves;
use super::observation::Observation;
use super::policy::{Policy, Role};
use super::reason::{Reason, TiltCause};
use super::state::{Mode, Phase, PhaseName, State};
use super::world;

/// Folds one event into the state. Synchronous and deterministic: no I/O, no clock, no randomness.
/// Guarantees (checked by `invariants::check` in the tests): a paused watchdog or a witness emits
/// nothing; the known epoch never decreases; no action names a protected stream; a promotion is
/// only emitted after the old primary was fenced, lost its quorum, or its lease surely expired.
pub fn decide(state: &State, event: &Event, now: Instant, policy: &Policy) -> Decision {
    let d = match event {
        Event::Command(c) => command::handle(state, c, now, policy),
        Event::Observed(obs) => observe(state, obs, now, policy),
        Event::Claimed { .. }
        | Event::Fenced { .. }
        | Event::Unfenced { .. }
        | Event::Promoted { .. }
        | Event::DnsSwapped { .. }
        | Event::TailCaptured { .. }
        | Event::Reseeded { .. }
        | Event::Working { .. } => match &state.mode {
            Mode::Active => moves::on_outcome(state, event, now, policy),
            Mode::Paused { by, reason } => Decision::quiet(
                state.clone(),
                Reason::Paused {
                    by: by.clone(),
                    why: reason.clone(),
                },
            ),
            // NB: outcomes of actions sent before TILT are dropped: when TILT ends the watchdog
            // starts afresh from the world, which shows whatever those actions did.
            Mode::Tilt { until } => Decision::quiet(
                state.clone(),
                Reason::TiltHold {
                    remaining: until.since(now),
                },
            ),
        },
    };
    finish(state, d, policy)
}

/// Adds the notification for a phase change, and enforces what no branch may break: silence
/// while paused, in TILT, or as a witness.
fn finish(before: &State, mut d: Decision, policy: &Policy) -> Decision {
    let silent = policy.params().role == Role::Witness
        || !matches!(d.next.mode, Mode::Active)
        || !matches!(before.mode, Mode::Active);
    if silent {
        d.actions.clear();
        return d;
    }
    let (from, to) = (before.phase.name(), d.next.phase.name());
    if from != to && to != PhaseName::Starting {
        d.actions.push(Action::Notify {
            from,
            to,
            severity: severity(to),
            summary: d.reason.to_string(),
        });
    }
    d
}

fn severity(to: PhaseName) -> Severity {
    match to {
        PhaseName::Starting | PhaseName::Healthy => Severity::Info,
        PhaseName::Degraded
        | PhaseName::Suspect
        | PhaseName::Isolated
        | PhaseName::StoodDown
        | PhaseName::FailedOver => Severity::Warning,
        PhaseName::FailingOver
        | PhaseName::SwitchingOver
        | PhaseName::FailingBack
        | PhaseName::Blocked
        | PhaseName::SelfFenced => Severity::Critical,
    }
}

/// A probe round: bookkeeping every mode does, then TILT and pause gates, then the phase logic.
fn observe(state: &State, obs: &Observation, now: Instant, policy: &Policy) -> Decision {
    let mut next = state.clone();
    let tilt = tilt_cause(state, obs, policy);
    next.last_round = Some((obs.at, obs.wall));
    next.health = obs
        .regions
        .iter()
        .map(|(r, v)| (r.clone(), v.health()))
        .collect();
    for (region, view) in &obs.regions {
        if view.reachable {
            next.catalog.insert(region.clone(), view.streams.clone());
        }
    }
    for region in [&policy.params().home_primary, &policy.params().home_standby] {
        if let Some(seen) = world::last_serving(obs, region)
            && next.seen_serving.get(region).is_none_or(|t| seen > *t)
        {
            next.seen_serving.insert(region.clone(), seen);
        }
    }
    for region in [&policy.params().home_primary, &policy.params().home_standby] {
        if let Some(word) = world::guard_word(obs, region)
            && next.guard.get(region).is_none_or(|(t, _)| word.0 > *t)
        {
            next.guard.insert(region.clone(), word);
        }
    }
    next.started_at.get_or_insert(obs.at);
    // Epochs only grow: the newest record read by anyone (the arbiter, or a peer) wins.
    let newest = obs
        .arbiter
        .iter()
        .chain(obs.reports.iter().filter_map(|r| r.owner.as_ref()))
        .max_by_key(|o| o.epoch);
    if let Some(seen) = newest
        && next.known.as_ref().is_none_or(|k| {
            seen.epoch > k.epoch || (seen.epoch == k.epoch && obs.arbiter.as_ref() == Some(seen))
        })
    {
        next.known = Some(seen.clone());
    }
    match (&state.mode, tilt) {
        (Mode::Paused { by, reason }, _) => Decision::quiet(
            next,
            Reason::Paused {
                by: by.clone(),
                why: reason.clone(),
            },
        ),
        (Mode::Active | Mode::Tilt { .. }, Some(cause)) => {
            let until = now + policy.params().tilt_hold;
            next.mode = Mode::Tilt { until };
            // Evidence gathered before the jump or stall cannot be trusted: start afresh.
            next.phase = Phase::Starting;
            next.vouched_at = None;
            Decision::quiet(next, Reason::Tilt { cause, until })
        }
        (Mode::Tilt { until }, None) if now < *until => Decision::quiet(
            next,
            Reason::TiltHold {
                remaining: until.since(now),
            },
        ),
        (Mode::Tilt { .. }, None) => {
            // Acting starts with the next round, from a fresh look at the world.
            next.mode = Mode::Active;
            next.phase = Phase::Starting;
            Decision::quiet(next, Reason::TiltOver)
        }
        (Mode::Active, None) if next.phase.moving().is_some() => {
            moves::on_observation(next, obs, now, policy)
        }
        (Mode::Active, None) => detect::on_observation(state, next, obs, now, policy),
    }
}

/// A clock jump (wall time moved differently from monotonic time) or a stall (rounds too far apart).
fn tilt_cause(state: &State, obs: &Observation, policy: &Policy) -> Option<TiltCause> {
    let (at, wall) = state.last_round?;
    let mono = obs.at.since(at);
    let wall_ms = obs.wall.0.saturating_sub(wall.0);
    let mono_ms = i64::try_from(mono.as_millis()).unwrap_or(i64::MAX);
    let drift = Duration::from_millis(wall_ms.abs_diff(mono_ms));
    if drift > policy.params().tilt_jump {
        Some(TiltCause::ClockJump { drift })
    } else if mono > policy.params().tilt_stall {
        Some(TiltCause::Stall { gap: mono })
    } else {
        None
    }
}
