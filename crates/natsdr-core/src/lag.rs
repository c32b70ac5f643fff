//! One mirror's lag as the data-loss guard last knew it: its own module because the state (a
//! block's cause) and the reasons carry it, while the guard in `rpo` reads the state.
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::StreamName;

/// What the guard knew of one mirror's lag when it judged a failover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LagEvidence {
    /// The mirror.
    pub stream: StreamName,
    /// Its lag in messages at the last reading; `None` if never read.
    pub msgs: Option<u64>,
    /// Its lag in time at the last reading; `None` if never read.
    pub age: Option<Duration>,
    /// Whether the age read was an upper bound (the first missing message could not be read).
    pub estimated: bool,
    /// How long before the judgement the lag was last read; `None` if never.
    pub read_ago: Option<Duration>,
}

impl fmt::Display for LagEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Some(msgs), Some(age)) = (self.msgs, self.age) else {
            return write!(f, "mirror {} has no lag reading yet", self.stream);
        };
        write!(
            f,
            "mirror {} lags {msgs} messages / {:.1}s",
            self.stream,
            age.as_secs_f64()
        )?;
        let mut notes = Vec::new();
        if self.estimated {
            notes.push("age estimated".to_owned());
        }
        match self.read_ago {
            Some(ago) if !ago.is_zero() => {
                notes.push(format!("last read {:.1}s ago", ago.as_secs_f64()));
            }
            Some(_) | None => {}
        }
        if !notes.is_empty() {
            write!(f, " ({})", notes.join("; "))?;
        }
        Ok(())
    }
}
