//! The Prometheus text format (0.0.4) for clients that do not ask for
//! OpenMetrics (`curl`, `promtool check metrics`, older scrapers).
//!
//! prometheus-client writes OpenMetrics, where a counter family `x` has the
//! sample `x_total`. In 0.0.4 the family must carry the sample's name, and
//! `# UNIT` / `# EOF` do not exist. Everything else is identical.

use std::collections::HashSet;

pub fn from_openmetrics(om: &str) -> String {
    let counters: HashSet<&str> =
        om.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{p}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_take_their_sample_name_and_units_go() {
        let om = "# HELP a_seconds Time.\n# TYPE a_seconds gauge\n# UNIT a_seconds seconds\n\
                  a_seconds 1.5\n# HELP ops Ops.\n# TYPE ops counter\nops_total{verb=\"ADD\"} 3\n# EOF\n";
        let want = "# HELP a_seconds Time.\n# TYPE a_seconds gauge\na_seconds 1.5\n\
                    # HELP ops_total Ops.\n# TYPE ops_total counter\nops_total{verb=\"ADD\"} 3\n";
        assert_eq!(from_openmetrics(om), want);
    }
}
