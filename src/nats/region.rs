//! One region's pair of connections: the system account for probes, the application account for JetStream.
use std::time::Duration;

use super::{ConnectError, ConnectSpec, JsApi, SysApi, connect};

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
}
