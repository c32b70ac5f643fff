//! Operator commands: pause/resume, acknowledge holds, force or plan a move.
use super::action::Action;
use super::decision::Decision;
use super::event::{Command, CommandKind};
use super::instant::Instant;
use super::moves::{self, Kind};
use super::observation::StreamRole;
use super::policy::{Policy, Role};
use super::reason::{Reason, Refusal};
use super::state::{Mode, Move, Phase, State, Step};
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
    let mut next = state.clone();
    let refuse = |why| refused(state, c, why);
    match (c.kind, &state.mode) {
        (CommandKind::Pause, Mode::Active | Mode::Paused { .. } | Mode::Tilt { .. }) => {
            next.mode = Mode::Paused {
                by: c.by.clone(),
                reason: c.reason.clone(),
            };
            return Decision::quiet(
                next,
                Reason::Paused {
                    by: c.by.clone(),
                    why: c.reason.clone(),
                },
            );
        }
        (CommandKind::Resume, Mode::Paused { .. }) => {
            // People may have changed things by hand: derive everything from the next round.
            next.mode = Mode::Active;
            next.phase = Phase::Starting;
            return Decision::quiet(next, Reason::Resumed { by: c.by.clone() });
        }
        (CommandKind::Resume, Mode::Active | Mode::Tilt { .. }) => {
            return refuse(Refusal::NotPaused);
        }
        (
            CommandKind::Switchover
            | CommandKind::Failover { .. }
            | CommandKind::Ack
            | CommandKind::Failback,
            Mode::Paused { .. },
        ) => return refuse(Refusal::Paused),
        (
            CommandKind::Switchover
            | CommandKind::Failover { .. }
            | CommandKind::Ack
            | CommandKind::Failback,
            Mode::Tilt { .. },
        ) => return refuse(Refusal::Tilt),
        (
            CommandKind::Switchover
            | CommandKind::Failover { .. }
            | CommandKind::Ack
            | CommandKind::Failback,
            Mode::Active,
        ) => {}
    }
    if policy.params().role == Role::Witness {
        return refuse(Refusal::Witness);
    }
    let me = policy.params().me.clone();
    match c.kind {
        // Both were answered above, in every mode.
        CommandKind::Pause | CommandKind::Resume => refuse(Refusal::NotPaused),
        CommandKind::Failback => failback(state, c, now, policy),
        CommandKind::Ack => match &state.phase {
            Phase::Blocked { .. } | Phase::FailedOver { .. } => {
                next.phase = if matches!(state.phase, Phase::FailedOver { .. }) {
                    Phase::Healthy
                } else {
                    Phase::Starting
                };
                next.down_edges.clear();
                Decision::quiet(
                    next,
                    Reason::Acked {
                        by: c.by.clone(),
                        why: c.reason.clone(),
                    },
                )
            }
            Phase::SelfFenced { streams, .. } => match &state.known {
                Some(k) if k.region == me => {
                    let action = Action::Unfence {
                        region: me,
                        epoch: k.epoch,
                        streams: streams.clone(),
                    };
                    next.phase = Phase::Starting;
                    next.vouched_at = None;
                    next.vouched_since = None;
                    next.self_fences.clear();
                    next.unfence_sent = Some(now);
                    Decision::new(
                        next,
                        vec![action],
                        Reason::Acked {
                            by: c.by.clone(),
                            why: c.reason.clone(),
                        },
                    )
                }
                Some(_) | None => refuse(Refusal::NotOwner),
            },
            Phase::Starting
            | Phase::Healthy
            | Phase::Degraded
            | Phase::Suspect { .. }
            | Phase::Isolated { .. }
            | Phase::FailingOver(_)
            | Phase::SwitchingOver(_)
            | Phase::FailingBack(_)
            | Phase::StoodDown { .. } => refuse(Refusal::NothingToAck),
        },
        CommandKind::Failover { .. } | CommandKind::Switchover => {
            let Some(owner) = state.known.clone() else {
                return refuse(Refusal::OwnerUnknown);
            };
            if owner.region == me {
                return refuse(Refusal::AlreadyActive);
            }
            let switchover = c.kind == CommandKind::Switchover;
            let down_since = match &state.phase {
                Phase::FailingOver(_)
                | Phase::SwitchingOver(_)
                | Phase::FailingBack(_)
                | Phase::SelfFenced { .. }
                | Phase::StoodDown { .. } => {
                    return refuse(Refusal::Busy);
                }
                Phase::Healthy => None,
                Phase::Suspect { since, .. } | Phase::Blocked { since, .. } if !switchover => {
                    Some(*since)
                }
                Phase::Starting
                | Phase::Degraded
                | Phase::Suspect { .. }
                | Phase::Isolated { .. }
                | Phase::FailedOver { .. }
                | Phase::Blocked { .. } => {
                    if switchover {
                        return refuse(Refusal::NotHealthy);
                    }
                    None
                }
            };
            let breach = rpo::verdict(state, &me, policy).breach();
            let allow_data_loss = matches!(
                c.kind,
                CommandKind::Failover {
                    allow_data_loss: true
                }
            );
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
                from: owner.region.clone(),
                to: me,
                epoch: owner.epoch.next(),
                step: Step::ClaimEpoch,
                step_since: now,
                attempts: 0,
                inflight: false,
                down_since,
                break_glass: allow_data_loss && breach.is_some(),
                waive_guard: allow_data_loss,
                forced: true,
            };
            let (kind, reason) = if switchover {
                (
                    Kind::Switchover,
                    Reason::OperatorSwitchover {
                        by: c.by.clone(),
                        why: c.reason.clone(),
                    },
                )
            } else {
                let reason = Reason::OperatorFailover {
                    by: c.by.clone(),
                    why: c.reason.clone(),
                    break_glass: m.break_glass,
                };
                (Kind::Failover, reason)
            };
            moves::enter(next, kind, m, now, policy, reason)
        }
    }
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
    match &state.phase {
        Phase::FailingOver(_)
        | Phase::SwitchingOver(_)
        | Phase::FailingBack(_)
        | Phase::StoodDown { .. } => return refuse(Refusal::Busy),
        Phase::Starting
        | Phase::Healthy
        | Phase::Degraded
        | Phase::Suspect { .. }
        | Phase::Isolated { .. }
        | Phase::FailedOver { .. }
        | Phase::Blocked { .. }
        | Phase::SelfFenced { .. } => {}
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
        from: other,
        to: me,
        epoch,
        step,
        step_since: now,
        attempts: 0,
        inflight: false,
        down_since: None,
        break_glass: false,
        waive_guard: false,
        forced: true,
    };
    let reason = Reason::OperatorFailback {
        by: c.by.clone(),
        why: c.reason.clone(),
        from_step: step,
    };
    moves::enter(next, Kind::Failback, m, now, policy, reason)
}
