//! Every reason's message, one of each variant (and of each branch a message takes), against
//! the recorded text: the API, logs and pages show them, so a change must be deliberate.
use crate::model::{Epoch, Region, StreamName};
use crate::rpo::LagEvidence;
use crate::*;
use std::time::Duration;

#[test]
fn every_reason_message_reads_exactly_as_recorded() {
    let r = Region::new("us-east-1").unwrap();
    let o = Ownership {
        region: r.clone(),
        epoch: Epoch(3),
    };
    let d = Duration::from_millis(6250);
    let ev = Evidence {
        down_votes: 2,
        vantage_points: 3,
        silent_mirrors: 1,
        mirrors: 4,
        minority_answering: false,
    };
    let lag = LagEvidence {
        stream: StreamName::new("ORDERS_M").unwrap(),
        msgs: Some(5),
        age: Some(d),
        estimated: true,
        read_ago: Some(d),
    };
    let lag0 = LagEvidence {
        stream: StreamName::new("X").unwrap(),
        msgs: None,
        age: None,
        estimated: false,
        read_ago: None,
    };
    let tail = vec![
        TailCount {
            stream: StreamName::new("ORDERS").unwrap(),
            common_seq: 1,
            captured: 5,
            recovered: 3,
            duplicates: 1,
            kept: 1,
        },
        TailCount {
            stream: StreamName::new("B").unwrap(),
            common_seq: 1,
            captured: 2,
            recovered: 1,
            duplicates: 0,
            kept: 1,
        },
    ];
    let s = || "x".to_owned();
    let mut causes = vec![
        BlockCause::RpoExceeded { lag: lag.clone() },
        BlockCause::RpoExceeded { lag: lag0.clone() },
        BlockCause::Flapping {
            downs: 4,
            window: d,
        },
    ];
    for need in [
        Need::TwoSiteManual,
        Need::AutoFailoverOff,
        Need::NoAutomaticFailback,
        Need::PrimaryUnguarded {
            region: r.clone(),
            said_unguarded: None,
        },
        Need::PrimaryUnguarded {
            region: r.clone(),
            said_unguarded: Some(true),
        },
        Need::PrimaryUnguarded {
            region: r.clone(),
            said_unguarded: Some(false),
        },
        Need::StepFailed {
            step: Step::Fence,
            error: s(),
        },
    ] {
        causes.push(BlockCause::NeedsOperator { need });
    }
    let mut rs = vec![
        Reason::ArbiterUnknown,
        Reason::RegionHealthy { region: r.clone() },
        Reason::RegionDegraded {
            region: r.clone(),
            servers_up: 2,
            cluster_size: 3,
        },
        Reason::RegionUnreachable { region: r.clone() },
        Reason::DownNotConfirmed {
            region: r.clone(),
            evidence: ev,
        },
        Reason::Suspect {
            region: r.clone(),
            down_votes: 2,
            of: 3,
            for_: d,
            delay: d,
        },
        Reason::MirrorsInContact {
            region: r.clone(),
            evidence: ev,
        },
        Reason::PrimaryDown {
            region: r.clone(),
            confirmed_by: 2,
            of: 3,
            for_: d,
            lag: Some(lag.clone()),
        },
        Reason::PrimaryDown {
            region: r.clone(),
            confirmed_by: 2,
            of: 3,
            for_: d,
            lag: None,
        },
        Reason::AwaitingVouches {
            region: r.clone(),
            remaining: d,
        },
        Reason::Isolated {
            region: r.clone(),
            remaining: d,
        },
        Reason::SelfFencedIsolated {
            region: r.clone(),
            for_: d,
            lease: d,
        },
        Reason::SelfFencedUnvouched { region: r.clone() },
        Reason::FoundSelfFenced {
            region: r.clone(),
            epoch: Epoch(2),
        },
        Reason::SelfUnfenced {
            region: r.clone(),
            epoch: Epoch(2),
            vouched_for: d,
        },
        Reason::UnfencePending {
            region: r.clone(),
            remaining: d,
        },
        Reason::UnfenceHeld {
            region: r.clone(),
            fences: 3,
            window: d,
        },
        Reason::SelfFencedNewerEpoch { seen: o.clone() },
        Reason::StillWritable { region: r.clone() },
        Reason::StaysFenced {
            region: r.clone(),
            epoch: Epoch(2),
        },
        Reason::StaleTwin {
            region: r.clone(),
            epoch: Epoch(2),
        },
        Reason::FencePending { region: r.clone() },
        Reason::Resuming {
            ownership: o.clone(),
            step: Step::Promote,
        },
        Reason::WaitingForWinner {
            winner: o.clone(),
            remaining: d,
        },
        Reason::WinnerFinished { winner: o.clone() },
        Reason::TakingOver {
            winner: o.clone(),
            step: Step::SwapDns,
        },
        Reason::ClaimWon {
            ownership: o.clone(),
        },
        Reason::ClaimLost { seen: o.clone() },
        Reason::Superseded { seen: o.clone() },
        Reason::StepSent {
            step: Step::Verify,
            attempt: 2,
        },
        Reason::StepPending {
            step: Step::RollBackClaim,
            attempt: 2,
        },
        Reason::StepWorking {
            step: Step::RollBackUnfence,
            attempt: 2,
        },
        Reason::StepRetry {
            step: Step::CaptureTail,
            attempt: 2,
            error: s(),
        },
        Reason::FenceDone {
            region: r.clone(),
            how: FenceHow::Fenced,
        },
        Reason::FenceDone {
            region: r.clone(),
            how: FenceHow::NoQuorum,
        },
        Reason::FenceDone {
            region: r.clone(),
            how: FenceHow::LeaseExpired,
        },
        Reason::FenceDone {
            region: r.clone(),
            how: FenceHow::SeenDown,
        },
        Reason::FenceWaitingForLease {
            region: r.clone(),
            remaining: d,
        },
        Reason::WaitingForLag {
            region: r.clone(),
            waited: d,
        },
        Reason::CaughtUp { region: r.clone() },
        Reason::LagTimeout { waited: d },
        Reason::PromotedMirrors {
            region: r.clone(),
            epoch: Epoch(2),
        },
        Reason::DnsSwapped { to: r.clone() },
        Reason::VerifyAwaitsRound,
        Reason::VerifyFoundGap { step: Step::Reseed },
        Reason::FailoverComplete {
            ownership: o.clone(),
        },
        Reason::HoldingAfterFailover { epoch: Epoch(2) },
        Reason::SwitchoverComplete {
            ownership: o.clone(),
        },
        Reason::SwitchoverRolledBack {
            ownership: o.clone(),
        },
        Reason::StaleOutcome,
        Reason::Paused { by: s(), why: s() },
        Reason::Resumed { by: s() },
        Reason::Tilt {
            cause: TiltCause::ClockJump { drift: d },
            until: Instant(5),
        },
        Reason::Tilt {
            cause: TiltCause::Stall { gap: d },
            until: Instant(5),
        },
        Reason::TiltHold { remaining: d },
        Reason::TiltOver,
        Reason::Acked { by: s(), why: s() },
        Reason::OperatorFailover {
            by: s(),
            why: s(),
            break_glass: true,
        },
        Reason::OperatorFailover {
            by: s(),
            why: s(),
            break_glass: false,
        },
        Reason::OperatorSwitchover { by: s(), why: s() },
        Reason::OperatorFailback {
            by: s(),
            why: s(),
            from_step: Step::WaitReseeded,
        },
        Reason::TailCaptured {
            region: r.clone(),
            tail: tail.clone(),
        },
        Reason::Reseeded { region: r.clone() },
        Reason::Reseeding {
            region: r.clone(),
            behind: Some(7),
        },
        Reason::Reseeding {
            region: r.clone(),
            behind: None,
        },
        Reason::RejoinedAsStandby { region: r.clone() },
        Reason::SwitchedBack {
            ownership: o.clone(),
        },
        Reason::FailbackComplete {
            ownership: o.clone(),
            tail: tail.clone(),
        },
        Reason::VerifyFoundGap {
            step: Step::ClaimEpoch,
        },
        Reason::VerifyFoundGap {
            step: Step::WaitLagZero,
        },
        Reason::VerifyFoundGap {
            step: Step::RestoreMirrors,
        },
    ];
    for c in causes {
        rs.push(Reason::Blocked { cause: c });
    }
    for (command, why) in [
        (CommandKind::Pause, Refusal::NotPaused),
        (CommandKind::Resume, Refusal::Paused),
        (CommandKind::Switchover, Refusal::Tilt),
        (
            CommandKind::Failover {
                allow_data_loss: true,
            },
            Refusal::Witness,
        ),
        (CommandKind::Ack, Refusal::NotHomePrimary),
        (CommandKind::Failback, Refusal::OwnRegionNotServing),
        (CommandKind::Ack, Refusal::ActiveRegionNotServing),
        (CommandKind::Ack, Refusal::StillWritable),
        (CommandKind::Ack, Refusal::NothingToFailBack),
        (CommandKind::Ack, Refusal::NotOwner),
        (CommandKind::Ack, Refusal::NothingToAck),
        (CommandKind::Ack, Refusal::OwnerUnknown),
        (CommandKind::Ack, Refusal::AlreadyActive),
        (CommandKind::Ack, Refusal::Busy),
        (CommandKind::Ack, Refusal::NotHealthy),
    ] {
        rs.push(Reason::Refused {
            command,
            by: s(),
            why,
        });
    }
    let out: Vec<String> = rs.iter().map(|r| format!("{r:?}\n  => {r}")).collect();
    assert_eq!(out.join("\n"), include_str!("reason_messages.txt"));
}
