//! Reads single samples out of a watchdog's `/metrics` text (the bench's only consumer of it).

/// The value of the sample `name` whose labels include every pair of `labels`, from OpenMetrics
/// text such as `natsdr_probe_duration_seconds_sum{region="us-east-1"} 1.5`. `None` when no line
/// matches or its value does not parse.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let wanted = labels
                .iter()
                .all(|(k, v)| label_text.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
            (metric == name && wanted)
                .then(|| value.parse().ok())
                .flatten()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP natsdr_probe_duration_seconds Duration of one probe round of a region\n\
        natsdr_probe_duration_seconds_sum{region=\"us-east-1\"} 1.5\n\
        natsdr_probe_duration_seconds_count{region=\"us-east-1\"} 30\n\
        natsdr_probe_duration_seconds_sum{region=\"eu-central-1\"} 4.25\n\
        natsdr_failover_phase_duration_seconds_sum{phase=\"fence\"} 0.125\n\
        natsdr_up 1\n";

    #[test]
    fn a_sample_is_found_by_name_and_labels() {
        let eu = [("region", "eu-central-1")];
        assert_eq!(
            sample(TEXT, "natsdr_probe_duration_seconds_sum", &eu),
            Some(4.25)
        );
        let us = [("region", "us-east-1")];
        assert_eq!(
            sample(TEXT, "natsdr_probe_duration_seconds_count", &us),
            Some(30.0)
        );
        assert_eq!(sample(TEXT, "natsdr_up", &[]), Some(1.0));
    }

    #[test]
    fn a_missing_label_value_or_metric_finds_nothing() {
        let other = [("phase", "promote")];
        assert_eq!(
            sample(TEXT, "natsdr_failover_phase_duration_seconds_sum", &other),
            None
        );
        assert_eq!(sample(TEXT, "natsdr_nothing", &[]), None);
    }
}
