//! One region's pair of connections: the system account for probes, the application account for JetStream.
use std::time::Duration;

use super::{Account, ConnectError, ConnectSpec, JsApi, SysApi, connect};
use crate::config::RegionConfig;

/// The clients natsdr keeps per region. Separate connections, because `$SYS` requests need the
/// system account and the JetStream API lives in the application account.
#[derive(Debug, Clone)]
pub struct RegionClients {
    /// System-account client (PING, JSZ, HEALTHZ, LEAFZ).
    pub sys: SysApi,
    /// Application-account JetStream API client.
    pub js: JsApi,
}

impl RegionClients {
    /// Connects both accounts at once; `api_timeout` bounds every JetStream API call.
    pub async fn connect(
        sys: &ConnectSpec,
        app: &ConnectSpec,
        api_timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let (sys_client, app_client) = tokio::try_join!(connect(sys), connect(app))?;
        Ok(Self {
            sys: SysApi::new(sys_client),
            js: JsApi::new(app_client, api_timeout),
        })
    }

    /// Connects to a configured region with both accounts' credentials, naming the connections
    /// `<client>/<region>/sys` and `<client>/<region>/app` (client: e.g. the watchdog id).
    pub async fn for_region(
        region: &RegionConfig,
        client: &str,
        api_timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let sys = ConnectSpec::for_region(region, Account::System, client)?;
        let app = ConnectSpec::for_region(region, Account::App, client)?;
        Self::connect(&sys, &app, api_timeout).await
    }
}

/// Both regions' clients, keyed by region id. Connections are made with
/// `retry_initial_connect`, so a watchdog that starts while a region is down still starts, and
/// sees that region as unreachable until it comes back.
pub type Regions = std::collections::BTreeMap<crate::model::Region, RegionClients>;

/// Connects to every configured region (both accounts each), never waiting for a region to be
/// reachable. `client` names the connections (the watchdog id).
pub async fn connect_regions(
    cfg: &crate::config::Config,
    client: &str,
    api_timeout: Duration,
) -> Result<Regions, ConnectError> {
    let mut out = Regions::new();
    for r in &cfg.regions {
        let mut sys = ConnectSpec::for_region(r, Account::System, client)?;
        let mut app = ConnectSpec::for_region(r, Account::App, client)?;
        sys.retry_initial_connect = true;
        app.retry_initial_connect = true;
        out.insert(
            r.name.clone(),
            RegionClients::connect(&sys, &app, api_timeout).await?,
        );
    }
    Ok(out)
}

/// Waits until every client in `regions` is connected, or `within` has passed; returns the
/// regions still not connected. The connections retry in the background
/// (`retry_initial_connect`), so without this wait a watchdog's first probe round can run before
/// any of them is up and find every region unreachable: a primary-region watchdog would then fence
/// its own, healthy region at start-up ("started without a majority vouching for it"). A region
/// that is really down stays down: the wait just ends at `within`.
pub async fn wait_connected(regions: &Regions, within: Duration) -> Vec<crate::model::Region> {
    use async_nats::connection::State;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let pending: Vec<crate::model::Region> = regions
            .iter()
            .filter(|(_, c)| {
                c.sys.client().connection_state() != State::Connected
                    || c.js.client().connection_state() != State::Connected
            })
            .map(|(r, _)| r.clone())
            .collect();
        if pending.is_empty() || tokio::time::Instant::now() >= deadline {
            return pending;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
