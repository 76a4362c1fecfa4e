//! Results: a table for people, JSON for tools and for BENCHMARKS.md.

use serde_json::{json, Map, Value};

use crate::scenarios::{Figure, Scenario};
use crate::stats::Latency;

/// One scenario's result, with its ratio to its baseline when it has one.
#[derive(Debug)]
pub struct Row<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// What it measured.
    pub figure: Figure,
    /// Its median over its baseline's median from the same run.
    pub ratio: Option<f64>,
    /// Its baseline's latency from the same run, when it has one.
    pub base: Option<Latency>,
}

/// The table printed after a run.
pub fn table(rows: &[Row<'_>]) -> String {
    let mut out = format!("{:<20} {:>11} {:>11} {:>7}  {}\n", "scenario", "median us", "p99 us", "ratio", "what");
    for row in rows {
        if let Figure::Latencies(latencies) = &row.figure {
            for (name, latency) in latencies {
                let ratio = row.base.map(|b| format!("{:.2}", latency.median_us / b.median_us));
                let ratio = match (ratio, row.scenario.baseline) {
                    (Some(ratio), Some(base)) => format!("{ratio} (vs {base})"),
                    _ => "-".into(),
                };
                out.push_str(&format!(
                    "{:<20} {:>11.1} {:>11.1} {:>7}  {}\n",
                    format!("{}.{name}", row.scenario.name),
                    latency.median_us,
                    latency.p99_us,
                    ratio,
                    row.scenario.what
                ));
            }
            continue;
        }
        let Some(latency) = row.figure.latency() else {
            let Figure::Values(values) = &row.figure else { continue };
            let text: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("{:<20} {}  ({})\n", row.scenario.name, text.join(" "), row.scenario.what));
            continue;
        };
        let ratio = row.ratio.map(|r| format!("{r:.2}")).unwrap_or_else(|| "-".into());
        let ratio = match row.scenario.baseline {
            Some(base) => format!("{ratio} (vs {base})"),
            None => ratio,
        };
        out.push_str(&format!(
            "{:<20} {:>11.1} {:>11.1} {:>7}  {}\n",
            row.scenario.name, latency.median_us, latency.p99_us, ratio, row.scenario.what
        ));
    }
    out
}

/// The JSON document: `{"machine", "date", "figures": {name: {"median_us", "p99_us", "ratio"?, "baseline"?}}}`;
/// a figure of several latencies has `<latency>_median_us`, `<latency>_p99_us`, and with a baseline
/// `<latency>_ratio` (median over the baseline's median) and `<latency>_p99_ratio` (p99 over the baseline's p99).
pub fn json(machine: &str, date: &str, rows: &[Row<'_>]) -> Value {
    let mut figures = Map::new();
    for row in rows {
        let mut figure = Map::new();
        match &row.figure {
            Figure::Latency(latency) => {
                figure.insert("median_us".into(), json!(round2(latency.median_us)));
                figure.insert("p99_us".into(), json!(round2(latency.p99_us)));
            }
            Figure::Latencies(latencies) => {
                for (name, latency) in latencies {
                    figure.insert(format!("{name}_median_us"), json!(round2(latency.median_us)));
                    figure.insert(format!("{name}_p99_us"), json!(round2(latency.p99_us)));
                    if let Some(base) = row.base.filter(|_| row.scenario.baseline.is_some()) {
                        figure.insert(format!("{name}_ratio"), json!(round2(latency.median_us / base.median_us)));
                        figure.insert(format!("{name}_p99_ratio"), json!(round2(latency.p99_us / base.p99_us)));
                    }
                }
            }
            Figure::Values(values) => figure.extend(values.iter().cloned()),
        }
        if let (Figure::Latencies(_), Some(base), Some(_)) = (&row.figure, row.scenario.baseline, row.base) {
            figure.insert("baseline".into(), json!(base));
        }
        if let (Some(ratio), Some(base)) = (row.ratio, row.scenario.baseline) {
            figure.insert("ratio".into(), json!(round2(ratio)));
            figure.insert("baseline".into(), json!(base));
        }
        figures.insert(row.scenario.name.into(), Value::Object(figure));
    }
    json!({"machine": machine, "date": date, "figures": figures})
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
