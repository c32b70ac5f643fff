//! Who owns the primary role, as stored in the arbiter's TXT record.
use std::fmt;
use std::str::FromStr;

use super::DnsError;
use crate::model::{Epoch, Region};

/// The arbiter's value: which region is primary, and at which epoch.
///
/// Encoded in one TXT string as `region=<id> epoch=<n>` (see [`Ownership::to_txt`]). The
/// encoding is stable: other watchdogs, older and newer, read and compare it byte for byte
/// inside a DNS prerequisite, so it must never change shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ownership {
    /// The region that is (or is to become) primary.
    pub region: Region,
    /// The fencing token of that ownership.
    pub epoch: Epoch,
}

/// Why a TXT string is not an [`Ownership`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnershipParseError {
    /// A `key=value` pair is missing.
    #[error("missing `{0}=`")]
    Missing(&'static str),
    /// A key appears twice, is unknown, or a word is not `key=value`.
    #[error("unexpected word {0:?}")]
    Unexpected(String),
    /// The region is not a valid region id.
    #[error("bad region")]
    Region(#[source] crate::model::NameError),
    /// The epoch is not a non-negative integer.
    #[error("bad epoch {0:?}")]
    Epoch(String),
}

impl Ownership {
    /// Builds an ownership value.
    pub fn new(region: Region, epoch: Epoch) -> Self {
        Self { region, epoch }
    }

    /// The canonical TXT text: `region=<id> epoch=<n>`.
    pub fn to_txt(&self) -> String {
        format!("region={} epoch={}", self.region, self.epoch)
    }

    /// Refuses to replace `self` by `new` unless `new`'s epoch is higher: epochs are fencing
    /// tokens, and a claim that does not raise one would let two owners share it.
    pub(super) fn must_precede(&self, new: &Self) -> Result<(), DnsError> {
        if new.epoch <= self.epoch {
            return Err(DnsError::EpochNotIncreasing {
                expected: self.epoch.0,
                new: new.epoch.0,
            });
        }
        Ok(())
    }

    /// The value of the ownership record `name` from its TXT strings (each one joined from its
    /// character-strings): none before the first claim, else exactly one that parses. Anything
    /// else was written by a human or another tool, and a claim must not overwrite it blindly.
    pub(super) fn from_txt_record(name: &str, texts: &[String]) -> Result<Option<Self>, DnsError> {
        let malformed = || DnsError::MalformedOwnership {
            name: name.to_owned(),
            text: texts.join(" | "),
        };
        match texts {
            [] => Ok(None),
            [one] => one.parse().map(Some).map_err(|_| malformed()),
            _ => Err(malformed()),
        }
    }
}

impl fmt::Display for Ownership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_txt())
    }
}

impl FromStr for Ownership {
    type Err = OwnershipParseError;

    /// Parses `region=<id> epoch=<n>` in either order. Anything else is refused: a claim
    /// re-encodes the value it expects, so text that does not round-trip could never be matched.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (mut region, mut epoch) = (None, None);
        for word in s.split_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                return Err(OwnershipParseError::Unexpected(word.to_owned()));
            };
            let slot = match key {
                "region" => &mut region,
                "epoch" => &mut epoch,
                _ => return Err(OwnershipParseError::Unexpected(word.to_owned())),
            };
            if slot.replace(value).is_some() {
                return Err(OwnershipParseError::Unexpected(word.to_owned()));
            }
        }
        let region = Region::new(region.ok_or(OwnershipParseError::Missing("region"))?)
            .map_err(OwnershipParseError::Region)?;
        let epoch = epoch.ok_or(OwnershipParseError::Missing("epoch"))?;
        let epoch = epoch
            .parse()
            .map(Epoch)
            .map_err(|_| OwnershipParseError::Epoch(epoch.to_owned()))?;
        Ok(Self { region, epoch })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(region: &str, epoch: u64) -> Ownership {
        Ownership::new(Region::new(region).unwrap(), Epoch(epoch))
    }

    #[test]
    fn the_txt_encoding_round_trips() {
        let o = own("eu-central-1", 42);
        assert_eq!(o.to_txt(), "region=eu-central-1 epoch=42");
        assert_eq!(o.to_txt().parse::<Ownership>().unwrap(), o);
    }

    #[test]
    fn field_order_does_not_matter_but_unknown_fields_are_refused() {
        let parsed: Ownership = "epoch=3  region=us-east-1".parse().unwrap();
        assert_eq!(parsed, own("us-east-1", 3));
        assert_eq!(
            "region=us-east-1 epoch=3 by=operator".parse::<Ownership>(),
            Err(OwnershipParseError::Unexpected("by=operator".into()))
        );
    }

    #[test]
    fn text_written_by_hand_that_is_not_an_ownership_is_refused() {
        assert_eq!(
            "region=us-east-1".parse::<Ownership>(),
            Err(OwnershipParseError::Missing("epoch"))
        );
        assert_eq!(
            "region=us-east-1 epoch=-1".parse::<Ownership>(),
            Err(OwnershipParseError::Epoch("-1".into()))
        );
        assert!(matches!(
            "region=US epoch=1".parse::<Ownership>(),
            Err(OwnershipParseError::Region(_))
        ));
        assert_eq!(
            "primary us-east-1".parse::<Ownership>(),
            Err(OwnershipParseError::Unexpected("primary".into()))
        );
        assert_eq!(
            "region=a epoch=1 epoch=2".parse::<Ownership>(),
            Err(OwnershipParseError::Unexpected("epoch=2".into()))
        );
    }
}
