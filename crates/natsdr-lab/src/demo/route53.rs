//! `natsdr-lab demo --dns route53`: the watchdogs claim epochs and swap the client record through
//! the Route 53 API of a real ministack (the control plane), while the lab's BIND stays the
//! data plane the clients resolve through.
//!
//! ministack answers the Route 53 API but serves no DNS. A sync task copies its owner TXT and
//! client record into BIND whenever they differ, through the same trait implementations the
//! watchdogs use (`Route53` read, `Rfc2136` compare-and-swap): the role Route 53's own
//! authoritative servers play for a real zone. The watchdogs' `verify` asks BIND
//! (`dns.route53.name_servers`), so a swap counts only once clients can see it.
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HostedZoneConfig, ResourceRecord, ResourceRecordSet, RrType,
};

use super::DemoError;
use crate::testkit::ministack::{Ministack, sdk_config};
use natsdr::config::Config;
use natsdr::dns::{Arbiter, ClientRecord, ClientTarget, Rfc2136, Route53, Route53Config};
use natsdr::model::Region;

/// How often the sync task compares ministack with BIND.
const SYNC_EVERY: Duration = Duration::from_millis(100);
/// The step timeout the watchdogs run with: Route 53's rule (5 attempts must cover the
/// documented 60 s to INSYNC) wants at least 12 s.
const STEP_TIMEOUT: &str = "15s";

/// A ministack zone mirroring the lab's, and the task that publishes it into BIND.
pub(crate) struct Route53Lab {
    _ministack: Ministack,
    url: String,
    zone_id: String,
    r53: Route53,
    bind_server: SocketAddr,
    sync: tokio::task::JoinHandle<()>,
}

fn r53_err(what: &str, e: impl std::fmt::Display) -> DemoError {
    DemoError::Arbiter(format!("route53 {what}: {e}"))
}

fn record_set(
    name: &str,
    kind: RrType,
    ttl: i64,
    values: &[String],
) -> Result<ResourceRecordSet, DemoError> {
    let records = values
        .iter()
        .map(|v| ResourceRecord::builder().value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| r53_err("record", e))?;
    ResourceRecordSet::builder()
        .name(name)
        .r#type(kind)
        .ttl(ttl)
        .set_resource_records(Some(records))
        .build()
        .map_err(|e| r53_err("record set", e))
}

impl Route53Lab {
    /// Starts ministack in `dir`, creates the lab's zone in it holding what BIND holds now
    /// (the owner and the client record, as an operator seeds them), and starts the sync.
    pub(crate) async fn start(dir: &Path, cfg: &Config) -> Result<Self, DemoError> {
        let dns = cfg.dns.as_ref().ok_or(DemoError::NoDns)?;
        let bind_cfg = natsdr::dns::rfc2136_config(cfg).map_err(DemoError::Arbiter)?;
        let bind_server = bind_cfg.server;
        let bind = Rfc2136::new(&bind_cfg).map_err(|e| r53_err("BIND", e))?;
        let owner = Arbiter::read(&bind)
            .await
            .map_err(|e| r53_err("reading BIND's owner", e))?
            .ok_or_else(|| DemoError::Arbiter("BIND holds no owner record".into()))?;
        let client = ClientRecord::read(&bind)
            .await
            .map_err(|e| r53_err("reading BIND's client record", e))?
            .ok_or_else(|| DemoError::Arbiter("BIND holds no client record".into()))?;

        let ministack = Ministack::start(dir).map_err(|e| r53_err("ministack", e))?;
        let url = ministack.url();
        let sdk = sdk_config(&url);
        let api = aws_sdk_route53::Client::new(&sdk);
        let zone = api
            .create_hosted_zone()
            .name(&dns.zone)
            .caller_reference(format!("natsdr-demo-{}", ministack.addr().port()))
            .hosted_zone_config(
                HostedZoneConfig::builder()
                    .comment("natsdr-lab demo")
                    .build(),
            )
            .send()
            .await
            .map_err(|e| r53_err("CreateHostedZone", natsdr::error_chain(&e)))?;
        let zone_id = zone
            .hosted_zone()
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
            .ok_or_else(|| DemoError::Arbiter("CreateHostedZone returned no zone".into()))?;
        let ttl = i64::try_from(dns.ttl.as_secs()).unwrap_or(30);
        let (kind, values) = match &client {
            ClientTarget::Addresses(a) => (
                RrType::A,
                a.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ),
            ClientTarget::Alias(n) => (RrType::Cname, vec![n.clone()]),
        };
        let changes = vec![
            record_set(
                &dns.owner_record,
                RrType::Txt,
                ttl,
                &[format!("\"{}\"", owner.to_txt())],
            )?,
            record_set(&dns.client_record, kind, ttl, &values)?,
        ]
        .into_iter()
        .map(|s| {
            Change::builder()
                .action(ChangeAction::Create)
                .resource_record_set(s)
                .build()
                .map_err(|e| r53_err("change", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
        api.change_resource_record_sets()
            .hosted_zone_id(&zone_id)
            .change_batch(
                ChangeBatch::builder()
                    .set_changes(Some(changes))
                    .build()
                    .map_err(|e| r53_err("batch", e))?,
            )
            .send()
            .await
            .map_err(|e| r53_err("seeding the zone", natsdr::error_chain(&e)))?;

        let r53 = Route53::new(
            &Route53Config {
                hosted_zone_id: zone_id.clone(),
                owner_record_name: dns.owner_record.clone(),
                client_record_name: dns.client_record.clone(),
                set_identifier: None,
                ttl: dns.ttl,
                timeout: Duration::from_secs(2),
                retry_deadline: Duration::from_secs(4),
                name_servers: vec![bind_server],
            },
            &sdk,
        )
        .map_err(|e| r53_err("client", e))?;
        let sync = tokio::spawn(sync(r53.clone(), bind));
        Ok(Self {
            _ministack: ministack,
            url,
            zone_id,
            r53,
            bind_server,
            sync,
        })
    }

    /// The environment that makes a lab watchdog use this zone through the Route 53 API.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        [
            ("NATSDR_DNS__PROVIDER", "route53".to_owned()),
            ("NATSDR_DNS__ROUTE53__HOSTED_ZONE_ID", self.zone_id.clone()),
            ("NATSDR_DNS__ROUTE53__ENDPOINT_URL", self.url.clone()),
            (
                "NATSDR_DNS__ROUTE53__NAME_SERVERS",
                format!("[\"{}\"]", self.bind_server),
            ),
            ("NATSDR_TIMING__STEP_TIMEOUT", STEP_TIMEOUT.to_owned()),
            ("AWS_ACCESS_KEY_ID", "natsdr-demo".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "natsdr-demo".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The arbiter as the watchdogs see it: the owner TXT in the Route 53 zone.
    pub(crate) fn arbiter(&self) -> natsdr::dns::AnyArbiter {
        natsdr::dns::AnyArbiter::Route53(self.r53.clone())
    }

    /// The region whose entry point the zone's client record names, read through the API.
    pub(crate) async fn client_region(&self, cfg: &Config) -> Option<Region> {
        ClientRecord::read(&self.r53).await.ok()??.region_in(cfg)
    }
}

impl Drop for Route53Lab {
    /// Stops the sync task (also when the demo ends early); ministack stops with its handle.
    fn drop(&mut self) {
        self.sync.abort();
    }
}

/// Copies the zone's owner and client record into BIND whenever they differ, by
/// compare-and-swap from what BIND holds (epochs only grow, so every claim is forward).
async fn sync(r53: Route53, bind: Rfc2136) {
    loop {
        if let (Ok(Some(want)), Ok(Some(have))) =
            (Arbiter::read(&r53).await, Arbiter::read(&bind).await)
            && want != have
            && want.epoch > have.epoch
        {
            let claimed: Result<_, _> = bind.claim(&have, &want).await;
            tracing::info!(from = %have, to = %want, ok = claimed.is_ok(), "demo: owner synced into BIND");
        }
        if let (Ok(Some(want)), Ok(Some(have))) = (
            ClientRecord::read(&r53).await,
            ClientRecord::read(&bind).await,
        ) && want != have
        {
            let swapped = bind.swap(Some(&have), &want).await;
            tracing::info!(from = %have, to = %want, ok = swapped.is_ok(), "demo: client record synced into BIND");
        }
        tokio::time::sleep(SYNC_EVERY).await;
    }
}
