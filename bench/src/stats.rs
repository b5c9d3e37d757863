//! Percentiles over raw samples.

use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub n: usize,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub min_us: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Sorted values in microseconds, for CDF plots.
pub fn sorted_us(samples: &[Duration]) -> Vec<f64> {
    let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    us
}

pub fn summarize(samples: &[Duration]) -> Summary {
    let us = sorted_us(samples);
    Summary {
        n: us.len(),
        p50_us: percentile(&us, 50.0),
        p90_us: percentile(&us, 90.0),
        p99_us: percentile(&us, 99.0),
        p999_us: percentile(&us, 99.9),
        min_us: us.first().copied().unwrap_or(f64::NAN),
    }
}

/// Microseconds as milliseconds, for reports in ms.
pub fn ms(us: f64) -> f64 {
    us / 1000.0
}

/// A Markdown row `| name | n | p50 | p90 | p99 | p99.9 |` in ms, under the
/// header [`MS_HEADER`].
pub fn ms_row(name: &str, s: &Summary) -> String {
    format!(
        "| {name} | {} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |\n",
        s.n,
        ms(s.p50_us),
        ms(s.p90_us),
        ms(s.p99_us),
        ms(s.p999_us)
    )
}

/// The header of [`ms_row`]'s table; `what` names the first column.
pub fn ms_header(what: &str) -> String {
    format!("| {what} | n | p50 | p90 | p99 | p99.9 |\n|---|---|---|---|---|---|\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_set() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let s = summarize(&samples);
        assert_eq!(s.n, 100);
        assert_eq!(s.min_us, 1.0);
        assert!((s.p50_us - 50.0).abs() <= 1.0);
        assert!((s.p99_us - 99.0).abs() <= 1.0);
    }
}
