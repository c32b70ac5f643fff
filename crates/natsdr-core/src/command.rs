//! Operator commands: pause/resume, acknowledge holds, force or plan a move.
use super::action::Action;
use super::decision::Decision;
use super::event::{Command, CommandKind};
use super::instant::Instant;
use super::moves;
use super::observation::StreamRole;
use super::policy::{Policy, Role};
use super::reason::{Reason, Refusal};
use super::state::{Kind, Mode, Move, Phase, State, Step};
use super::{rpo, world};
use crate::model::{Region, StreamName};

fn refused(state: &State, c: &Command, why: Refusal) -> Decision {
    Decision::quiet(
        state.clone(),
        Reason::Refused {
            command: c.kind,
            by: c.by.clone(),
            why,
        },
    )
}

/// Applies an operator's command. Refusals change nothing and say why.
pub(super) fn handle(state: &State, c: &Command, now: Instant, policy: &Policy) -> Decision {
    let why = match (c.kind, &state.mode) {
        (CommandKind::Pause, Mode::Active | Mode::Paused { .. } | Mode::Tilt { .. }) => {
            return pause(state, c);
        }
        (CommandKind::Resume, Mode::Paused { .. }) => return resume(state, c),
        (CommandKind::Resume, Mode::Active | Mode::Tilt { .. }) => Refusal::NotPaused,
        (_, Mode::Paused { .. }) => Refusal::Paused,
        (_, Mode::Tilt { .. }) => Refusal::Tilt,
        (_, Mode::Active) if policy.params().role == Role::Witness => Refusal::Witness,
        (CommandKind::Ack, Mode::Active) => return ack(state, c, now, policy),
        (CommandKind::Failback, Mode::Active) => return failback(state, c, now, policy),
        (CommandKind::Failover { .. } | CommandKind::Switchover, Mode::Active) => {
            return forced_move(state, c, now, policy);
        }
    };
    refused(state, c, why)
}

/// Pause, in any mode (a second pause replaces who and why).
fn pause(state: &State, c: &Command) -> Decision {
    let mut next = state.clone();
    next.mode = Mode::Paused {
        by: c.by.clone(),
        reason: c.reason.clone(),
    };
    let reason = Reason::Paused {
        by: c.by.clone(),
        why: c.reason.clone(),
    };
    Decision::quiet(next, reason)
}

/// Resume a paused watchdog. People may have changed things by hand: derive everything from
/// the next round.
fn resume(state: &State, c: &Command) -> Decision {
    let mut next = state.clone();
    next.mode = Mode::Active;
    next.phase = Phase::Starting;
    Decision::quiet(next, Reason::Resumed { by: c.by.clone() })
}

/// Acknowledge a hold: a block or the hold after a failover re-derives from the world; a
/// self-fenced region is unfenced, but only while the arbiter still names it.
fn ack(state: &State, c: &Command, now: Instant, policy: &Policy) -> Decision {
    let after = match &state.phase {
        Phase::FailedOver { .. } => Phase::Healthy,
        Phase::Blocked { .. } => Phase::Starting,
        Phase::SelfFenced { streams, .. } => return unfence_own(state, c, streams, now, policy),
        _ => return refused(state, c, Refusal::NothingToAck),
    };
    let mut next = state.clone();
    next.phase = after;
    next.down_edges.clear();
    Decision::quiet(next, acked(c))
}

/// An operator's `Ack` of this region's self-fence: unfence it, unless another region owns
/// the epoch now (two writable regions).
fn unfence_own(
    state: &State,
    c: &Command,
    streams: &[StreamName],
    now: Instant,
    policy: &Policy,
) -> Decision {
    let me = &policy.params().me;
    let Some(k) = state.known.as_ref().filter(|k| k.region == *me) else {
        return refused(state, c, Refusal::NotOwner);
    };
    let action = Action::Unfence {
        region: me.clone(),
        epoch: k.epoch,
        streams: streams.to_vec(),
    };
    let mut next = state.clone();
    next.phase = Phase::Starting;
    next.vouched_at = None;
    next.vouched_since = None;
    next.self_fences.clear();
    next.unfence_sent = Some(now);
    Decision::new(next, vec![action], acked(c))
}

fn acked(c: &Command) -> Reason {
    Reason::Acked {
        by: c.by.clone(),
        why: c.reason.clone(),
    }
}

/// An operator's failover or switchover to this watchdog's region: refused while a move is
/// under way or this region is fenced; a switchover needs a healthy world; a failover without
/// break-glass still stops at the RPO guard.
fn forced_move(state: &State, c: &Command, now: Instant, policy: &Policy) -> Decision {
    let refuse = |why| refused(state, c, why);
    let me = policy.params().me.clone();
    let Some(owner) = state.known.clone() else {
        return refuse(Refusal::OwnerUnknown);
    };
    if owner.region == me {
        return refuse(Refusal::AlreadyActive);
    }
    if state.phase.moving().is_some()
        || matches!(
            state.phase,
            Phase::SelfFenced { .. } | Phase::StoodDown { .. }
        )
    {
        return refuse(Refusal::Busy);
    }
    let switchover = c.kind == CommandKind::Switchover;
    if switchover && state.phase != Phase::Healthy {
        return refuse(Refusal::NotHealthy);
    }
    let breach = rpo::verdict(state, &me, policy).breach();
    let allow_data_loss = matches!(
        c.kind,
        CommandKind::Failover {
            allow_data_loss: true
        }
    );
    let mut next = state.clone();
    if let (Some(cause), false, false) = (&breach, allow_data_loss, switchover) {
        next.phase = Phase::Blocked {
            cause: cause.clone(),
            since: now,
        };
        return Decision::quiet(
            next,
            Reason::Blocked {
                cause: cause.clone(),
            },
        );
    }
    let m = Move {
        down_since: if switchover {
            None
        } else {
            state.phase.held_down_since()
        },
        break_glass: allow_data_loss && breach.is_some(),
        waive_guard: allow_data_loss,
        forced: true,
        ..Move::start(
            owner.region.clone(),
            me,
            owner.epoch.next(),
            Step::ClaimEpoch,
            now,
        )
    };
    let (by, why) = (c.by.clone(), c.reason.clone());
    let (kind, reason) = if switchover {
        (Kind::Switchover, Reason::OperatorSwitchover { by, why })
    } else {
        let break_glass = m.break_glass;
        let reason = Reason::OperatorFailover {
            by,
            why,
            break_glass,
        };
        (Kind::Failover, reason)
    };
    moves::enter(next, kind, m, now, policy, reason)
}

/// Failback: checks the preconditions against the latest round and the catalog, then starts at
/// the step the world says is next, so a repeated command (after a restart, a pause or a block)
/// resumes where the last one stopped: the old primary's twins already mirrors = the tail was
/// captured before they were rebuilt; this region already active = only the home mirrors are left.
fn failback(state: &State, c: &Command, now: Instant, policy: &Policy) -> Decision {
    let refuse = |why| refused(state, c, why);
    let p = policy.params();
    let me = p.me.clone();
    let Some(owner) = state.known.clone() else {
        return refuse(Refusal::OwnerUnknown);
    };
    if me != p.home_primary {
        return refuse(Refusal::NotHomePrimary);
    }
    if state.phase.moving().is_some() || matches!(state.phase, Phase::StoodDown { .. }) {
        return refuse(Refusal::Busy);
    }
    let other = policy.other(&me).clone();
    let serves = |r: &Region| state.health.get(r).is_some_and(|h| h.serves());
    if !serves(&me) {
        return refuse(Refusal::OwnRegionNotServing);
    }
    if !serves(&other) {
        return refuse(Refusal::ActiveRegionNotServing);
    }
    let roles = |r: &Region| -> Vec<Option<StreamRole>> {
        let role = |n: &StreamName| {
            state
                .catalog
                .get(r)
                .and_then(|ss| ss.iter().find(|s| &s.name == n))
                .map(|s| s.role)
        };
        world::twin_list(&state.catalog, r, policy)
            .iter()
            .map(role)
            .collect()
    };
    let all_mirrors = |rs: &[Option<StreamRole>]| rs.iter().all(|r| *r == Some(StreamRole::Mirror));
    let writable = |rs: &[Option<StreamRole>]| rs.contains(&Some(StreamRole::Writable));
    let (step, epoch) = if owner.region == me {
        let theirs = roles(&other);
        if all_mirrors(&theirs) {
            return refuse(Refusal::AlreadyActive);
        }
        if writable(&theirs) {
            return refuse(Refusal::StillWritable);
        }
        (Step::RestoreMirrors, owner.epoch)
    } else {
        let mine = roles(&me);
        if mine.is_empty() {
            return refuse(Refusal::NothingToFailBack);
        }
        if writable(&mine) {
            return refuse(Refusal::StillWritable);
        }
        let step = if all_mirrors(&mine) {
            Step::WaitReseeded
        } else {
            Step::CaptureTail
        };
        (step, owner.epoch.next())
    };
    let mut next = state.clone();
    if step == Step::CaptureTail {
        next.tail.clear();
    }
    let m = Move {
        forced: true,
        ..Move::start(other, me, epoch, step, now)
    };
    let reason = Reason::OperatorFailback {
        by: c.by.clone(),
        why: c.reason.clone(),
        from_step: step,
    };
    moves::enter(next, Kind::Failback, m, now, policy, reason)
}
