//! Verifying a set: every object read back whole and compared with the manifest's size and
//! SHA-256, like pgBackRest's `verify`; a test restore is the drill's job.
use super::error::BackupError;
use super::manifest::Manifest;
use super::target::{Target, TargetError};

/// One object's verdict.
#[derive(Debug)]
pub struct ObjectCheck {
    /// The object's key.
    pub object: String,
    /// None when it matches its manifest entry.
    pub problem: Option<BackupError>,
}

/// A set's verification.
pub struct Verifier<'a> {
    /// The target.
    pub target: &'a Target,
}

impl Verifier<'_> {
    /// Checks every object of `manifest`; an unreachable target or a refused credential stops
    /// the check (an error), a missing or corrupted object is reported in its verdict.
    pub async fn verify(&self, manifest: &Manifest) -> Result<Vec<ObjectCheck>, BackupError> {
        let mut out = Vec::new();
        for entry in &manifest.streams {
            let object = manifest.key(&entry.object);
            let problem = match self.target.digest(&object).await {
                Ok(found) if found.sha256 == entry.sha256 && found.bytes == entry.bytes => None,
                Ok(found) => Some(BackupError::Corrupt {
                    object: object.clone(),
                    expected: entry.sha256.clone(),
                    expected_bytes: entry.bytes,
                    found: found.sha256,
                    found_bytes: found.bytes,
                }),
                Err(e @ TargetError::Missing { .. }) => Some(BackupError::Target(e)),
                Err(e) => return Err(BackupError::Target(e)),
            };
            out.push(ObjectCheck { object, problem });
        }
        Ok(out)
    }
}
