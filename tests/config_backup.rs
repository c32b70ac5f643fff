//! The `[backup]` section through `natsdr check-config`: what it accepts, and every refusal
//! exiting 64 with one line naming the key (above all: GDPR-only streams never leave their region).
mod config_common;

/// Checks that the example with `section` is accepted.
fn accepted(section: &str) {
    config_common::check_ok(&config_common::example_with(section), &[]);
}

/// Checks that the example with `section` is refused with one line naming each of `words`.
fn refused_naming(section: &str, words: &[&str]) {
    config_common::refused_naming(&config_common::example_with(section), &[], words);
}

#[test]
fn an_s3_target_in_the_gdpr_region_with_every_stream_is_accepted() {
    accepted(
        "[backup]\ntarget = \"s3://natsdr-backups/prod\"\nregion = \"eu-central-1\"\n\
         endpoint_url = \"http://127.0.0.1:9000\"\npath_style = true\nschedule = \"6h\"\nkeep = 3",
    );
}

#[test]
fn a_directory_target_elsewhere_is_accepted_when_it_includes_no_gdpr_stream() {
    accepted(
        "[backup]\ntarget = \"dir:///var/backups/natsdr\"\nregion = \"us-east-1\"\n\
         include = [\"events-us\", \"notifications-us\"]",
    );
}

#[test]
fn a_gdpr_stream_sent_by_default_to_another_region_is_refused_naming_the_region_key() {
    refused_naming(
        "[backup]\ntarget = \"s3://b/p\"\nregion = \"us-east-1\"",
        &["backup.region", "GDPR-only stream events-eu-gdpr"],
    );
}

#[test]
fn a_gdpr_stream_listed_for_a_target_in_another_region_is_refused_naming_its_entry() {
    refused_naming(
        "[backup]\ntarget = \"s3://b/p\"\nregion = \"us-east-1\"\n\
         include = [\"events-us\", \"audit-eu-gdpr\"]",
        &["backup.include[1]", "audit-eu-gdpr"],
    );
}

#[test]
fn an_unknown_included_stream_is_refused_naming_its_entry() {
    refused_naming(
        "[backup]\ntarget = \"s3://b/p\"\nregion = \"eu-central-1\"\ninclude = [\"nope\"]",
        &["backup.include[0]"],
    );
}

#[test]
fn a_relative_directory_target_is_refused() {
    refused_naming(
        "[backup]\ntarget = \"backups\"\nregion = \"eu-central-1\"",
        &["backup.target"],
    );
}

#[test]
fn keeping_no_set_is_refused() {
    refused_naming(
        "[backup]\ntarget = \"s3://b/p\"\nregion = \"eu-central-1\"\nkeep = 0",
        &["backup.keep"],
    );
}

#[test]
fn an_unknown_source_choice_is_refused() {
    refused_naming(
        "[backup]\ntarget = \"s3://b/p\"\nregion = \"eu-central-1\"\nfrom = \"primary\"",
        &["backup.from"],
    );
}

#[test]
fn a_schedule_under_a_minute_is_refused() {
    refused_naming(
        "[backup]\ntarget = \"s3://b/p\"\nregion = \"eu-central-1\"\nschedule = \"10s\"",
        &["backup.schedule"],
    );
}

#[test]
fn a_target_without_its_region_is_refused_naming_the_key() {
    refused_naming("[backup]\ntarget = \"s3://b/p\"", &["region"]);
}
