//! Pure readings of an observation: votes, vouching, mirror testimony, RPO, and what is left to do.
use std::collections::{BTreeMap, BTreeSet};

use super::instant::Instant;
use super::observation::{Health, Observation, Report, StreamRole, StreamView, Vantage};
use super::ownership::Ownership;
use super::policy::Policy;
use super::state::{Evidence, Step};
use crate::model::{Epoch, Region, StreamName};

/// Each region's streams as last seen (see `State::catalog`).
pub type Catalog = BTreeMap<Region, Vec<StreamView>>;

/// The freshest report of each kind of vantage point, so a duplicate never votes twice.
fn freshest(reports: &[Report]) -> BTreeMap<Vantage, &Report> {
    let mut out: BTreeMap<Vantage, &Report> = BTreeMap::new();
    for r in reports {
        match out.get(&r.vantage) {
            Some(seen) if seen.age <= r.age => {}
            Some(_) | None => {
                out.insert(r.vantage, r);
            }
        }
    }
    out
}

/// Counts the vantage points that see `region` down this round: this watchdog's own probe plus
/// every fresh report. A stale or missing report counts as no vote.
pub fn evidence(
    obs: &Observation,
    region: &Region,
    mirrors_in: &Region,
    policy: &Policy,
) -> Evidence {
    let own = obs.regions.get(region).map(|v| v.health());
    let mut down_votes = u32::from(own == Some(Health::Down));
    for r in freshest(&obs.reports).values() {
        if policy.params().witness || r.vantage == Vantage::Peer {
            let fresh = r.age <= policy.params().report_max_age;
            down_votes += u32::from(fresh && r.health.get(region) == Some(&Health::Down));
        }
    }
    let (silent, total) = mirror_testimony(obs, mirrors_in, policy);
    let minority_answering = obs
        .regions
        .get(region)
        .is_some_and(|v| v.reachable && v.servers_up > 0 && v.servers_up * 2 <= v.cluster_size);
    Evidence {
        down_votes,
        vantage_points: policy.vantage_points(),
        silent_mirrors: silent,
        mirrors: total,
        minority_answering,
    }
}

/// `(silent, total)` over the unprotected mirrors of `region`: a mirror is silent when it has not
/// heard from its source for `mirror_silence` (or never has).
pub fn mirror_testimony(obs: &Observation, region: &Region, policy: &Policy) -> (u32, u32) {
    let Some(view) = obs.regions.get(region).filter(|v| v.reachable) else {
        return (0, 0);
    };
    let mut silent = 0;
    let mut total = 0;
    for s in view.streams.iter().filter(|s| is_mirror(s, policy)) {
        total += 1;
        let quiet = s
            .mirror
            .as_ref()
            .and_then(|m| m.active_age)
            .is_none_or(|age| age >= policy.params().mirror_silence);
        silent += u32::from(quiet);
    }
    (silent, total)
}

/// Whether enough vantage points see the region down: a majority with a witness; this watchdog
/// alone in a two-site setup (where the two-site policy gate decides what follows).
pub fn votes_confirm(e: &Evidence, policy: &Policy) -> bool {
    let needed = if policy.params().witness {
        policy.majority()
    } else {
        1
    };
    e.down_votes >= needed
}

/// Whether the standby's mirrors testify that their source is gone: all of them silent. NB: a
/// region seen answering with only a minority of its servers needs no testimony: it cannot
/// acknowledge a write, yet a stale stream leader there keeps heartbeating its mirrors'
/// consumers (seen on the lab with 2 of 3 US nodes killed: mirrors never fell silent).
pub fn mirrors_testify(e: &Evidence) -> bool {
    e.minority_answering || (e.mirrors > 0 && e.silent_mirrors == e.mirrors)
}

/// The last time any vantage point saw `region` serving, as far as this round tells: this
/// watchdog's own probe and memory, and every report held (stale ones too: an old sighting is
/// still a lower bound). `None` if nobody remembers it serving.
pub fn last_serving(obs: &Observation, region: &Region) -> Option<Instant> {
    let own = obs
        .regions
        .get(region)
        .is_some_and(|v| v.health().serves())
        .then_some(obs.at);
    let reports = obs.reports.iter().filter_map(|r| {
        r.seen_serving
            .get(region)
            .map(|before| obs.at.minus(r.age.saturating_add(*before)))
    });
    own.into_iter()
        .chain(obs.last_serving.get(region).copied())
        .chain(reports)
        .max()
}

/// The newest word any report carries from `region`'s watchdog about guarding it: when it was
/// given and whether it guarded.
pub fn guard_word(obs: &Observation, region: &Region) -> Option<(Instant, bool)> {
    obs.reports
        .iter()
        .filter_map(|r| {
            let w = r.guards.get(region)?;
            Some((obs.at.minus(r.age.saturating_add(w.before)), w.guarding))
        })
        .max_by_key(|(at, _)| *at)
}

/// Primary side: the latest time at which a majority vouched that `region` serves, from this
/// round's own probe and the reports' ages. `None` if a majority never did in what we hold.
pub fn vouched(obs: &Observation, region: &Region, policy: &Policy) -> Option<Instant> {
    let mut times = Vec::new();
    if obs.regions.get(region).is_some_and(|v| v.health().serves()) {
        times.push(obs.at);
    }
    for r in freshest(&obs.reports).values() {
        let owner_ok = r.owner.as_ref().is_none_or(|o| o.region == *region);
        if owner_ok && r.health.get(region).is_some_and(|h| h.serves()) {
            times.push(obs.at.minus(r.age));
        }
    }
    times.sort_unstable_by(|a, b| b.cmp(a));
    times
        .get(usize::try_from(policy.majority()).ok()? - 1)
        .copied()
}

/// Switchover: whether every unprotected mirror of `region` holds its source's last message.
pub fn lag_zero(obs: &Observation, region: &Region, policy: &Policy) -> bool {
    obs.regions
        .get(region)
        .filter(|v| v.reachable)
        .is_some_and(|v| {
            v.streams
                .iter()
                .filter(|s| is_mirror(s, policy))
                .all(|s| s.mirror.as_ref().and_then(|m| m.source_last_seq) == Some(s.last_seq))
        })
}

/// The unprotected mirrors of `region`: exactly what a promotion touches.
pub fn promote_list(catalog: &Catalog, region: &Region, policy: &Policy) -> Vec<StreamName> {
    catalog
        .get(region)
        .map(|ss| {
            ss.iter()
                .filter(|s| is_mirror(s, policy))
                .map(|s| s.name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The names of `region`'s streams that a stream elsewhere copies or was promoted from: the
/// origins the other region's mirrors and promoted streams name.
fn twins_of<'a>(catalog: &'a Catalog, region: &Region) -> BTreeSet<&'a StreamName> {
    catalog
        .iter()
        .filter(|(r, _)| *r != region)
        .flat_map(|(_, ss)| ss.iter().filter_map(|s| s.origin.as_ref()))
        .collect()
}

/// The unprotected streams of `region` that have a twin in the other region (the origins of its
/// mirrors or promoted streams): exactly what fencing `region` touches. If `region` was never
/// seen, the twins' names stand in (the executor skips absent ones). If no twin is known at all
/// (a primary that restarted cut off), every unprotected stream of `region` is fenced: fencing
/// too much is recoverable, a split brain is not.
pub fn fence_list(catalog: &Catalog, region: &Region, policy: &Policy) -> Vec<StreamName> {
    let origins = twins_of(catalog, region);
    let protected = &policy.params().protected;
    match catalog.get(region) {
        Some(ss) => ss
            .iter()
            .filter(|s| s.role != StreamRole::Mirror && !protected.contains(&s.name))
            .filter(|s| origins.is_empty() || origins.contains(&s.name))
            .map(|s| s.name.clone())
            .collect(),
        None => origins
            .into_iter()
            .filter(|n| !protected.contains(*n))
            .cloned()
            .collect(),
    }
}

/// The streams of `region` (reachable this round) that carry its own watchdog's self-fence at
/// `epoch`: fenced, stamped `epoch` (or the epoch-less stamp of a self-fence made before the
/// arbiter was read), among what fencing `region` touches. Only a self-fence stamps the active
/// region with its own epoch: a move away from it claims (and stamps) a newer one.
pub fn self_fenced(
    obs: &Observation,
    catalog: &Catalog,
    region: &Region,
    epoch: Epoch,
    policy: &Policy,
) -> Vec<StreamName> {
    let twins: BTreeSet<StreamName> = fence_list(catalog, region, policy).into_iter().collect();
    obs.regions
        .get(region)
        .filter(|v| v.reachable)
        .map(|v| {
            v.streams
                .iter()
                .filter(|s| s.role == StreamRole::Fenced && twins.contains(&s.name))
                .filter(|s| s.epoch.is_some_and(|e| e == epoch || e == Epoch::default()))
                .map(|s| s.name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `region` (reachable this round) still accepts writes on a stream whose twin in the
/// other region was promoted: an unfenced old primary with a stale epoch.
pub fn stale_twin(obs: &Observation, catalog: &Catalog, region: &Region, policy: &Policy) -> bool {
    let promoted: BTreeSet<&StreamName> = catalog
        .iter()
        .filter(|(r, _)| *r != region)
        .flat_map(|(_, ss)| ss.iter())
        .filter(|s| s.role == StreamRole::Writable)
        .filter_map(|s| s.origin.as_ref())
        .collect();
    obs.regions
        .get(region)
        .filter(|v| can_ack(v))
        .is_some_and(|v| {
            v.streams.iter().any(|s| {
                s.role == StreamRole::Writable
                    && promoted.contains(&s.name)
                    && !policy.params().protected.contains(&s.name)
            })
        })
}

/// Whether a region, as seen this round, can acknowledge a write at all: reachable with a quorum
/// of its servers. NB: a minority still lists its streams as writable (stale leaders answer for
/// a while) but can ack nothing; it is fenced by its lost quorum, and checked again when it
/// regains one.
fn can_ack(v: &super::observation::RegionView) -> bool {
    v.reachable && v.health().serves()
}

/// Whether `region` (reachable this round) still accepts writes on any stream fencing it would
/// touch.
pub fn writable_twins(
    obs: &Observation,
    catalog: &Catalog,
    region: &Region,
    policy: &Policy,
) -> bool {
    let twins: BTreeSet<StreamName> = fence_list(catalog, region, policy).into_iter().collect();
    obs.regions
        .get(region)
        .filter(|v| can_ack(v))
        .is_some_and(|v| {
            v.streams
                .iter()
                .any(|s| s.role == StreamRole::Writable && twins.contains(&s.name))
        })
}

/// What is left to make the world match `owner`, as the step that does it; `None` when it does.
/// Order matters: fence before promote, promote before DNS.
pub fn gap(
    obs: &Observation,
    catalog: &Catalog,
    owner: &Ownership,
    policy: &Policy,
) -> Option<Step> {
    let other = policy.other(&owner.region);
    let mirrors_left = !promote_list(catalog, &owner.region, policy).is_empty();
    let other_writable = obs
        .regions
        .get(other)
        .filter(|v| can_ack(v))
        .is_some_and(|v| {
            let twins: BTreeSet<StreamName> =
                fence_list(catalog, other, policy).into_iter().collect();
            v.streams
                .iter()
                .any(|s| s.role == StreamRole::Writable && twins.contains(&s.name))
        });
    let other_unreachable = !obs.regions.get(other).is_some_and(|v| v.reachable);
    if (mirrors_left && (other_writable || other_unreachable))
        || stale_twin(obs, catalog, other, policy)
    {
        Some(Step::Fence)
    } else if mirrors_left {
        Some(Step::Promote)
    } else if obs.dns.as_ref().is_some_and(|d| *d != owner.region) {
        Some(Step::SwapDns)
    } else {
        None
    }
}

/// Failback: the unprotected streams of `region`, whatever they do now, that have a twin in the
/// other region (a promoted stream's origin, or a mirror's source): exactly what capturing the
/// tail, reseeding and restoring the home mirrors touch.
pub fn twin_list(catalog: &Catalog, region: &Region, policy: &Policy) -> Vec<StreamName> {
    let origins = twins_of(catalog, region);
    catalog
        .get(region)
        .map(|ss| {
            ss.iter()
                .filter(|s| {
                    origins.contains(&s.name) && !policy.params().protected.contains(&s.name)
                })
                .map(|s| s.name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `region` (reachable this round) mirrors the other region again on every stream that
/// has a twin there: a fenced old primary rebuilt by a failback, which is a standby now.
pub fn rejoined(obs: &Observation, catalog: &Catalog, region: &Region, policy: &Policy) -> bool {
    let twins = twin_list(catalog, region, policy);
    !twins.is_empty()
        && obs
            .regions
            .get(region)
            .filter(|v| v.reachable)
            .is_some_and(|v| {
                let mirrors: BTreeSet<&StreamName> = v
                    .streams
                    .iter()
                    .filter(|s| s.role == StreamRole::Mirror)
                    .map(|s| &s.name)
                    .collect();
                twins.iter().all(|t| mirrors.contains(t))
            })
}

/// Failback: whether `region`'s reseeded mirrors have caught up with their sources while those
/// still take writes: each is at most one probe interval behind. `Err` carries how many messages
/// they lack in total, when known.
pub fn reseeded(obs: &Observation, region: &Region, policy: &Policy) -> Result<(), Option<u64>> {
    let Some(view) = obs.regions.get(region).filter(|v| v.reachable) else {
        return Err(None);
    };
    let mirrors: Vec<_> = view
        .streams
        .iter()
        .filter(|s| is_mirror(s, policy))
        .collect();
    let close = |s: &&StreamView| {
        s.mirror.as_ref().is_some_and(|m| {
            m.lag_msgs == Some(0)
                || m.lag_age
                    .is_some_and(|a| a <= policy.params().probe_interval)
        })
    };
    if !mirrors.is_empty() && mirrors.iter().all(close) {
        return Ok(());
    }
    let behind: Option<u64> = mirrors
        .iter()
        .map(|s| s.mirror.as_ref().and_then(|m| m.lag_msgs))
        .sum();
    Err(behind.filter(|_| !mirrors.is_empty()))
}

fn is_mirror(s: &StreamView, policy: &Policy) -> bool {
    s.role == StreamRole::Mirror && !policy.params().protected.contains(&s.name)
}
