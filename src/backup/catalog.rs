//! The sets on a target: which are complete (have a manifest), the newest one, one by id.
use super::error::BackupError;
use super::manifest::{MANIFEST, Manifest, SETS, set_key};
use super::target::{Target, TargetError};

/// A set as listed: its manifest, or why it has none usable.
#[derive(Debug)]
pub struct Listed {
    /// The set id.
    pub set: String,
    /// The manifest, or why it cannot be read (missing: an incomplete or running set).
    pub manifest: Result<Manifest, BackupError>,
}

/// The sets on one target.
pub struct Catalog<'a> {
    /// The target.
    pub target: &'a Target,
}

impl Catalog<'_> {
    /// Every set, oldest first.
    pub async fn list(&self) -> Result<Vec<Listed>, BackupError> {
        let mut out = Vec::new();
        for set in self.target.list_dirs(SETS).await? {
            let manifest = self.manifest(&set).await;
            out.push(Listed { set, manifest });
        }
        Ok(out)
    }

    /// The manifest of `set`.
    pub async fn manifest(&self, set: &str) -> Result<Manifest, BackupError> {
        let bytes = match self.target.get_bytes(&set_key(set, MANIFEST)).await {
            Err(TargetError::Missing { .. }) => {
                return Err(BackupError::SetNotFound {
                    target: self.target.describe(),
                    set: set.to_owned(),
                });
            }
            r => r?,
        };
        Manifest::parse(&bytes).map_err(|source| BackupError::Manifest {
            set: set.to_owned(),
            source,
        })
    }

    /// `set`'s manifest, or the newest complete set's when `set` is None. NB: a newest set
    /// whose manifest is unreadable (newer format, corrupted) is an error, not skipped: the
    /// operator must know the latest backup cannot be used.
    pub async fn pick(&self, set: Option<&str>) -> Result<Manifest, BackupError> {
        if let Some(s) = set {
            return self.manifest(s).await;
        }
        let sets = self.target.list_dirs(SETS).await?;
        for s in sets.iter().rev() {
            match self.manifest(s).await {
                Err(BackupError::SetNotFound { .. }) => continue,
                r => return r,
            }
        }
        Err(BackupError::NoSet {
            target: self.target.describe(),
        })
    }
}
