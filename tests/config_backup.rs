//! The `[backup]` section through `natsdr check-config`: what it accepts, and every refusal
//! exiting 64 with one line naming the key (above all: GDPR-only streams never leave their region).
use std::path::PathBuf;
use std::process::{Command, Output};

fn example() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/natsdr.example.toml");
    std::fs::read_to_string(p).unwrap()
}

fn check(section: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("natsdr.toml");
    std::fs::write(&path, format!("{}\n{section}\n", example())).unwrap();
    Command::new(env!("CARGO_BIN_EXE_natsdr"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap()
}

fn refused(section: &str) -> String {
    let out = check(section);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(64), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    stderr
}

#[test]
fn an_s3_target_in_the_gdpr_region_with_every_stream_is_accepted() {
    let out = check(
        "[backup]\ntarget = \"s3://natsdr-backups/prod\"\nregion = \"eu-central-1\"\n\
         endpoint_url = \"http://127.0.0.1:9000\"\npath_style = true\nschedule = \"6h\"\nkeep = 3",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_directory_target_elsewhere_is_accepted_when_it_includes_no_gdpr_stream() {
    let out = check(
        "[backup]\ntarget = \"dir:///var/backups/natsdr\"\nregion = \"us-east-1\"\n\
         include = [\"events-us\", \"notifications-us\"]",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_gdpr_stream_sent_by_default_to_another_region_is_refused_naming_the_region_key() {
    let line = refused("[backup]\ntarget = \"s3://b/p\"\nregion = \"us-east-1\"");
    assert!(line.contains("backup.region"), "{line}");
    assert!(line.contains("GDPR-only stream events-eu-gdpr"), "{line}");
}

#[test]
fn a_gdpr_stream_listed_for_a_target_in_another_region_is_refused_naming_its_entry() {
    let line = refused(
        "[backup]\ntarget = \"s3://b/p\"\nregion = \"us-east-1\"\n\
         include = [\"events-us\", \"audit-eu-gdpr\"]",
    );
    assert!(line.contains("backup.include[1]"), "{line}");
    assert!(line.contains("audit-eu-gdpr"), "{line}");
}

#[test]
fn an_unknown_included_stream_is_refused_naming_its_entry() {
    let line =
        refused("[backup]\ntarget = \"s3://b/p\"\nregion = \"eu-central-1\"\ninclude = [\"nope\"]");
    assert!(line.contains("backup.include[0]"), "{line}");
}

#[test]
fn a_relative_directory_target_is_refused() {
    let line = refused("[backup]\ntarget = \"backups\"\nregion = \"eu-central-1\"");
    assert!(line.contains("backup.target"), "{line}");
}

#[test]
fn keeping_no_set_is_refused() {
    let line = refused("[backup]\ntarget = \"s3://b/p\"\nregion = \"eu-central-1\"\nkeep = 0");
    assert!(line.contains("backup.keep"), "{line}");
}

#[test]
fn an_unknown_source_choice_is_refused() {
    let line =
        refused("[backup]\ntarget = \"s3://b/p\"\nregion = \"eu-central-1\"\nfrom = \"primary\"");
    assert!(line.contains("backup.from"), "{line}");
}

#[test]
fn a_schedule_under_a_minute_is_refused() {
    let line =
        refused("[backup]\ntarget = \"s3://b/p\"\nregion = \"eu-central-1\"\nschedule = \"10s\"");
    assert!(line.contains("backup.schedule"), "{line}");
}

#[test]
fn a_target_without_its_region_is_refused_naming_the_key() {
    let line = refused("[backup]\ntarget = \"s3://b/p\"");
    assert!(line.contains("region"), "{line}");
}
