//! `Prober`: one probe round of both regions, the DNS records and the peers, all at once.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::details::{DnsDetails, MirrorLag, PeerDetails, RegionDetails, RoundDetails};
use super::lag::{self, Dating, LagBook, MirrorSeen, mirror_view};
use super::publish::report_from;
use super::region::{self, RegionAnswer};
use super::{PeerClient, PeerError, ProbeError, streams};
use crate::config::{Config, SecretRef};
use crate::core::{
    Instant, Observation, Ownership, RegionView, Report, StreamRole, StreamView, Vantage, WallTime,
};
use crate::dns::{Arbiter, ClientRecord, ClientTarget};
use crate::model::Region;
use crate::nats::{Regions, StreamInfo};

/// Probes the world once per call and remembers what must outlive a round: each mirror's last
/// measured lag and each peer's last good report.
///
/// Every probe of a round runs at the same time and is bounded by `timing.probe_timeout`, so a
/// dead region, DNS server or peer never delays the round past that bound. The reads that date a
/// lagging mirror need the listing's answer first; they run in the background instead of after
/// it (two round trips to the far region in series would not fit a round on a WAN) and date the
/// lag from the round they land in.
pub struct Prober<A, C> {
    config: Arc<Config>,
    regions: Regions,
    dns: Option<(A, C)>,
    peers: Vec<Peer>,
    lag: LagBook,
    /// Reads of lagging mirrors' first missing messages still in flight, one per mirror.
    dating: JoinSet<(Dating, Result<Option<WallTime>, ProbeError>)>,
    dating_mirrors: BTreeSet<(Region, crate::model::StreamName)>,
    /// Each region's stream listing still running from an earlier round, at most one each.
    listings: BTreeMap<Region, region::Listing>,
    /// Each region's managed streams as last listed, for rounds where the listing fails.
    listed: BTreeMap<Region, Vec<crate::core::StreamView>>,
    /// When this prober last saw each region serving (published to peers).
    serving: BTreeMap<Region, Instant>,
    /// Rounds run so far: the depth probes run when it is a multiple of `timing.depth_every`.
    rounds: u64,
    /// Each region's last depth answers (JSZ, HEALTHZ, LEAFZ), shown in the rounds between.
    depth: BTreeMap<Region, LastDepth>,
}

/// A region's depth answers from the last round that asked.
#[derive(Debug, Clone, Default)]
struct LastDepth {
    meta: Option<super::depth::MetaDepth>,
    health: Option<super::depth::HealthDepth>,
    leafs: Option<super::depth::LeafDepth>,
}

/// A vantage point this watchdog fetches reports from.
struct Peer {
    client: PeerClient,
    vantage: Vantage,
    last: Option<Held>,
}

/// A peer's last good report and the round it was fetched in.
struct Held {
    report: Report,
    at: Instant,
    id: String,
}

impl<A: Arbiter, C: ClientRecord> Prober<A, C> {
    /// A prober for `config`'s regions (through `regions`' connections), the arbiter and client
    /// record in `dns` (`None`: DNS is not probed, e.g. a witness without DNS), and the peers of
    /// `config.peers` (watchdogs vote as [`Vantage::Peer`], the witness as [`Vantage::Witness`]).
    pub fn new(
        config: Arc<Config>,
        regions: Regions,
        dns: Option<(A, C)>,
    ) -> Result<Self, PeerError> {
        let token = config
            .peers
            .token
            .as_ref()
            .map(SecretRef::resolve)
            .transpose()
            .map_err(PeerError::Token)?;
        let bound = config.timing.probe_timeout;
        let urls = config
            .peers
            .watchdogs
            .iter()
            .map(|u| (u, Vantage::Peer))
            .chain(config.peers.witness.iter().map(|u| (u, Vantage::Witness)));
        let mut peers = Vec::new();
        for (url, vantage) in urls {
            peers.push(Peer {
                client: PeerClient::new(url, token.clone(), bound, &config.peers.tls)?,
                vantage,
                last: None,
            });
        }
        Ok(Self {
            config,
            regions,
            dns,
            peers,
            lag: LagBook::default(),
            dating: JoinSet::new(),
            dating_mirrors: BTreeSet::new(),
            listings: BTreeMap::new(),
            listed: BTreeMap::new(),
            serving: BTreeMap::new(),
            rounds: 0,
            depth: BTreeMap::new(),
        })
    }

    /// One round: `at` is the driver's monotonic time and `wall` its wall clock, both read just
    /// before the call (`wall` also dates the mirrors' lag).
    pub async fn round(&mut self, at: Instant, wall: WallTime) -> (Observation, RoundDetails) {
        let started = tokio::time::Instant::now();
        let bound = self.config.timing.probe_timeout;
        let depth = self
            .rounds
            .is_multiple_of(u64::from(self.config.timing.depth_every.max(1)));
        self.rounds += 1;
        let list_bound = listing_bound(&self.config);
        let mut running = std::mem::take(&mut self.listings);
        let probes = join_all(self.config.regions.iter().filter_map(|rc| {
            let clients = self.regions.get(&rc.name)?;
            let listing = running
                .remove(&rc.name)
                .unwrap_or_else(|| region::start_listing(clients, list_bound));
            Some(async move {
                let size = u32::from(rc.cluster_size);
                let (answer, pending) = region::probe(clients, size, bound, depth, listing).await;
                (rc.name.clone(), answer, pending)
            })
        }));
        let fetches = join_all(self.peers.iter().map(|p| fetch(&p.client, bound)));
        let (answers, (arbiter, target, dns), fetched) =
            tokio::join!(probes, self.read_dns(bound), fetches);
        let mut regions_answered = BTreeMap::new();
        for (name, answer, pending) in answers {
            if let Some(listing) = pending {
                self.listings.insert(name.clone(), listing);
            }
            regions_answered.insert(name, answer);
        }
        let answers: BTreeMap<Region, RegionAnswer> = regions_answered;

        let mut details = RoundDetails {
            dns,
            ..RoundDetails::default()
        };
        let mut dating_errors = self.dated();
        let (mut views, datings) = self.views(&answers, wall);
        self.date(datings);
        for (name, mut answer) in answers {
            if depth {
                let last = LastDepth {
                    meta: answer.meta.clone(),
                    health: answer.health,
                    leafs: answer.leafs,
                };
                self.depth.insert(name.clone(), last);
            } else if let Some(last) = self.depth.get(&name).cloned() {
                answer.meta = last.meta;
                answer.health = last.health;
                answer.leafs = last.leafs;
            }
            details.regions.insert(
                name,
                RegionDetails {
                    duration: answer.duration,
                    meta_leader: answer.meta_leader,
                    meta: answer.meta,
                    health: answer.health,
                    leafs: answer.leafs,
                    errors: answer.errors,
                },
            );
        }
        dating_errors.extend(self.dated());
        for (region, error) in dating_errors {
            if let Some(d) = details.regions.get_mut(&region) {
                d.errors.push(error);
            }
        }
        self.fill_lag(&mut views, wall);
        details.mirrors = mirror_lags(&views);

        let mut reports = Vec::new();
        for (peer, (result, took)) in self.peers.iter_mut().zip(fetched) {
            let error = match result {
                Ok(obs) => {
                    // Its age when served, plus the whole fetch: never younger than it is.
                    let age = obs.age.now().saturating_add(took);
                    peer.last = Some(Held {
                        report: report_from(&obs, peer.vantage, age),
                        at,
                        id: obs.from,
                    });
                    None
                }
                Err(e) => Some(e),
            };
            let report = peer.last.as_ref().map(|held| {
                let mut report = held.report.clone();
                report.age = report.age.saturating_add(at.since(held.at));
                report
            });
            reports.extend(report.clone());
            details.peers.push(PeerDetails {
                url: peer.client.url().to_owned(),
                vantage: peer.vantage,
                id: peer.last.as_ref().map(|h| h.id.clone()),
                duration: took,
                error,
                report,
            });
        }

        details.duration = started.elapsed();
        for (region, view) in &views {
            if view.health().serves() {
                self.serving.insert(region.clone(), at);
            }
        }
        let dns = target.as_ref().and_then(|t| self.region_of(t));
        details.dns.client_target = target;
        let observation = Observation {
            at,
            wall,
            arbiter,
            dns,
            regions: views,
            reports,
            last_serving: self.serving.clone(),
            recorded_vouch: None,
        };
        (observation, details)
    }

    /// Each probed region's view (mirrors' lag still blank) and the reads that date lagging
    /// mirrors. A region whose servers answer the ping but whose streams could not be listed
    /// (a JetStream meta-leader election after a node loss makes the API time out for seconds)
    /// is reachable with its last listed streams: counting it down would turn one lost node into
    /// a self-fence, and an empty list would read as "no streams" and wipe what the core knows.
    /// Only a region where no server answers at all is unreachable.
    fn views(
        &mut self,
        answers: &BTreeMap<Region, RegionAnswer>,
        wall: WallTime,
    ) -> (BTreeMap<Region, RegionView>, Vec<Dating>) {
        let mut views = BTreeMap::new();
        let mut datings = Vec::new();
        // NB: each region's listing indexed by name once per round, so finding every mirror's
        // source costs O(N), not a scan of the other region's listing per mirror.
        let listings: BTreeMap<&Region, HashMap<&str, &StreamInfo>> = answers
            .iter()
            .filter_map(|(r, a)| {
                let listed = a.streams.as_ref()?;
                Some((r, listed.iter().map(|s| (s.config.name(), s)).collect()))
            })
            .collect();
        for rc in &self.config.regions {
            let Some(answer) = answers.get(&rc.name) else {
                continue;
            };
            let cluster_size = u32::from(rc.cluster_size);
            let Some(infos) = &answer.streams else {
                let reachable = answer.servers_up > 0;
                let streams = if reachable {
                    self.listed.get(&rc.name).cloned().unwrap_or_default()
                } else {
                    Vec::new()
                };
                views.insert(
                    rc.name.clone(),
                    RegionView {
                        reachable,
                        servers_up: answer.servers_up,
                        cluster_size,
                        streams,
                    },
                );
                continue;
            };
            let configured = streams::configured(&self.config, &rc.name);
            let mut list = Vec::new();
            for info in infos.iter().filter(|i| streams::is_managed(i, &configured)) {
                let Some(mut view) = streams::view(info) else {
                    continue;
                };
                if view.role == StreamRole::Mirror {
                    let source = source_of(&self.config, &rc.name, info, &listings);
                    let seen = MirrorSeen {
                        region: &rc.name,
                        name: &view.name,
                        last_seq: view.last_seq,
                        last_ts: info.state.last_ts.map(lag::wall),
                    };
                    // NB: only while the source's region serves (a quorum answers its pings): a
                    // dead source's mirror keeps its last, frozen `lag` for a while.
                    let source_serves = streams::source_region(&self.config, &rc.name, info)
                        .and_then(|r| {
                            let size = self.config.regions.iter().find(|c| &c.name == r)?;
                            let up = answers.get(r)?.servers_up;
                            Some(up * 2 > u32::from(size.cluster_size))
                        })
                        .unwrap_or(false);
                    match (source, info.mirror.as_ref()) {
                        (Some(_), _) => datings.extend(self.lag.observe(seen, source, wall)),
                        // The source's region answers pings but not its listing (a meta-leader
                        // election after a restart): the mirror's own figure, while in contact.
                        (None, Some(m))
                            if source_serves
                                && m.active
                                    .is_some_and(|a| a < self.config.timing.mirror_silence) =>
                        {
                            self.lag.observe_mirror_side(seen, m.lag, wall);
                        }
                        (None, Some(_) | None) => {}
                    }
                    let source_last_seq = source.map(|(_, s)| s.state.last_seq);
                    view.mirror = Some(mirror_view(
                        info.mirror.as_ref(),
                        None,
                        source_last_seq,
                        wall,
                    ));
                }
                list.push(view);
            }
            self.listed.insert(rc.name.clone(), list.clone());
            views.insert(
                rc.name.clone(),
                RegionView {
                    reachable: true,
                    servers_up: answer.servers_up,
                    cluster_size,
                    streams: list,
                },
            );
        }
        (views, datings)
    }

    /// Starts reading the first message each lagging mirror lacks from its source, in the
    /// background (at most one read per mirror in flight), each bounded by twice
    /// `timing.probe_timeout`.
    fn date(&mut self, datings: Vec<Dating>) {
        let bound = self.config.timing.probe_timeout * 2;
        for d in datings {
            let Some(clients) = self.regions.get(&d.region) else {
                continue;
            };
            if !self.dating_mirrors.insert(d.mirror.clone()) {
                continue;
            }
            let js = clients.js.with_timeout(bound);
            self.dating.spawn(async move {
                let read = match timeout(bound, js.stream_msg_get(&d.stream, d.seq)).await {
                    Ok(Ok(msg)) => Ok(msg.map(|m| lag::wall(m.time))),
                    Ok(Err(source)) => Err(ProbeError::LagMessage {
                        stream: d.stream.clone(),
                        seq: d.seq,
                        source,
                    }),
                    Err(_) => Err(ProbeError::Timeout {
                        what: "lag",
                        after: bound,
                    }),
                };
                (d, read)
            });
        }
    }

    /// Applies the dating reads that have landed; returns the failed ones' errors by region.
    /// A message gone between the listing and the read is simply dated again later.
    fn dated(&mut self) -> Vec<(Region, ProbeError)> {
        let mut failed = Vec::new();
        while let Some(joined) = self.dating.try_join_next() {
            let Ok((d, read)) = joined else {
                // NB: a read task only panics if the runtime is shutting down.
                continue;
            };
            self.dating_mirrors.remove(&d.mirror);
            match read {
                Ok(Some(stored)) => self.lag.dated(&d.mirror, d.seq, stored),
                Ok(None) => {}
                Err(e) => failed.push((d.region, e)),
            }
        }
        failed
    }

    /// Puts each mirror's remembered lag (this round's, where it was measured) into the views.
    fn fill_lag(&self, views: &mut BTreeMap<Region, RegionView>, wall: WallTime) {
        for (region, view) in views.iter_mut() {
            for s in &mut view.streams {
                if let Some(m) = &mut s.mirror {
                    let measured = self.lag.get(region, &s.name);
                    let filled = mirror_view(None, measured, None, wall);
                    m.lag_msgs = filled.lag_msgs;
                    m.lag_age = filled.lag_age;
                    m.lag_age_estimated = filled.lag_age_estimated;
                    m.lag_read_ago = filled.lag_read_ago;
                }
            }
        }
    }

    /// Reads the arbiter and the client record at once, each bounded.
    async fn read_dns(
        &self,
        bound: Duration,
    ) -> (Option<Ownership>, Option<ClientTarget>, DnsDetails) {
        let mut details = DnsDetails::default();
        let Some((arbiter, record)) = &self.dns else {
            return (None, None, details);
        };
        let started = tokio::time::Instant::now();
        let (owner, target) = tokio::join!(
            timeout(bound, arbiter.read()),
            timeout(bound, record.read())
        );
        let owner = match owner {
            Ok(Ok(o)) => o.map(|o| Ownership {
                region: o.region,
                epoch: o.epoch,
            }),
            Ok(Err(e)) => {
                details.errors.push(ProbeError::Arbiter(e));
                None
            }
            Err(_) => {
                details.errors.push(ProbeError::Timeout {
                    what: "arbiter",
                    after: bound,
                });
                None
            }
        };
        let target = match target {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                details.errors.push(ProbeError::ClientRecord(e));
                None
            }
            Err(_) => {
                details.errors.push(ProbeError::Timeout {
                    what: "client_record",
                    after: bound,
                });
                None
            }
        };
        details.duration = started.elapsed();
        (owner, target, details)
    }

    /// The region whose entry point the client record holds exactly; `None` for anything else
    /// (both regions' addresses, a hand-made value).
    fn region_of(&self, target: &ClientTarget) -> Option<Region> {
        target.region_in(&self.config)
    }
}

/// A mirror's source stream as its region listed it this round, if that region answered
/// (`listings`: each answering region's streams by name).
/// How long one listing of a region's streams may run: a round's bound, or four probe
/// intervals when longer. At several thousand streams the server's listing alone outlasts a
/// round's bound; it then finishes in a later round instead of timing out every round, while a
/// dead region's listing still ends within a couple of seconds.
fn listing_bound(config: &Config) -> Duration {
    config
        .timing
        .probe_timeout
        .max(config.timing.probe_interval * 4)
}

fn source_of<'a>(
    config: &'a Config,
    region: &'a Region,
    mirror: &StreamInfo,
    listings: &BTreeMap<&'a Region, HashMap<&str, &'a StreamInfo>>,
) -> Option<(&'a Region, &'a StreamInfo)> {
    let source_region = streams::source_region(config, region, mirror)?;
    let name = mirror
        .mirror
        .as_ref()
        .map(|m| m.name.as_str())
        .or_else(|| mirror.config.mirror()?.get("name")?.as_str())?;
    let source = listings.get(source_region)?.get(name)?;
    Some((source_region, source))
}

/// One peer's report, bounded, with how long the fetch took.
async fn fetch(
    client: &PeerClient,
    bound: Duration,
) -> (Result<crate::api::model::Observations, PeerError>, Duration) {
    let started = tokio::time::Instant::now();
    let result = match timeout(bound, client.fetch()).await {
        Ok(r) => r,
        Err(_) => Err(PeerError::Timeout {
            url: client.url().to_owned(),
            after: bound,
        }),
    };
    (result, started.elapsed())
}

/// Every mirror's lag, flattened for the metrics.
fn mirror_lags(views: &BTreeMap<Region, RegionView>) -> Vec<MirrorLag> {
    views
        .iter()
        .flat_map(|(region, view)| {
            view.streams.iter().filter_map(move |s: &StreamView| {
                let m = s.mirror.as_ref()?;
                Some(MirrorLag {
                    region: region.clone(),
                    stream: s.name.clone(),
                    source: s.origin.clone(),
                    lag_msgs: m.lag_msgs,
                    lag_age: m.lag_age,
                    active_age: m.active_age,
                })
            })
        })
        .collect()
}
