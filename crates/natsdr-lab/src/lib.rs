//! natsdr's lab: real two-region NATS clusters, BIND and a fault-injecting proxy on one machine,
//! and what runs on them: the demo, the chaos suite, the benchmark and the test kit. The product
//! (`natsdr`) does not depend on this crate; the container image does not ship it.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

pub mod bench;
pub mod chaos;
pub mod cli;
pub mod demo;
pub mod lab;
pub mod testkit;

/// The repository's root, where `make deps` installs the real components under `.tools/`.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
