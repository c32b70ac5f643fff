//! Stamps the build with the commit it comes from, for `natsdr --version`: `$NATSDR_COMMIT` when
//! the builder sets it (an image built without the repository's history), else git's, else
//! "unknown".
use std::process::Command;

fn main() {
    let commit = std::env::var("NATSDR_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
        })
        .map(|c| c.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=NATSDR_COMMIT={commit}");
    println!("cargo:rerun-if-env-changed=NATSDR_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
