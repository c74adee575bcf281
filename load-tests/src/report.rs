//! Latency histograms (HdrHistogram, in microseconds), per-phase statistics, and the
//! tables a run prints and writes (JSON and a Markdown fragment).

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    time::Duration,
};

/// Highest latency a histogram holds; slower samples are clamped to it (every request
/// has a client timeout well below this).
const MAX_MICROS: u64 = 300_000_000;

/// Outcomes of one kind of request: a latency histogram of the successful ones and a
/// count of the others by kind (`HTTP 503`, `timeout`, ...). Errors are never dropped.
#[derive(Clone)]
pub struct Recorder {
    latency: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            // 3 significant digits from 1 µs to MAX_MICROS: ~0.1% resolution, a few hundred KiB.
            latency: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .expect("constant histogram bounds are valid"),
            ok: 0,
            errors: BTreeMap::new(),
        }
    }

    /// Records one request: its latency when it succeeded, its error kind otherwise.
    pub fn record(&mut self, latency: Duration, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                self.latency.saturating_record(micros.clamp(1, MAX_MICROS));
                self.ok += 1;
            }
            Err(kind) => self.error(kind, 1),
        }
    }

    /// Counts `n` failures of one kind (requests that were never answered, for example).
    pub fn error(&mut self, kind: impl Into<String>, n: u64) {
        if n > 0 {
            *self.errors.entry(kind.into()).or_default() += n;
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        // Both histograms share the same bounds, so adding cannot fail; saturate anyway.
        if self.latency.add(&other.latency).is_err() {
            for value in other.latency.iter_recorded() {
                self.latency
                    .saturating_record_n(value.value_iterated_to(), value.count_at_value());
            }
        }
        self.ok += other.ok;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
    }

    pub fn requests(&self) -> u64 {
        self.ok + self.errors.values().sum::<u64>()
    }

    pub fn percentiles(&self) -> Percentiles {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let h = &self.latency;
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }

    /// The phase's statistics; `elapsed` is its wall time, for the rate of successes.
    pub fn stats(&self, elapsed: Duration) -> Stats {
        let secs = elapsed.as_secs_f64();
        Stats {
            requests: self.requests(),
            ok: self.ok,
            errors: self.requests() - self.ok,
            errors_by_kind: self.errors.clone(),
            elapsed_secs: secs,
            ok_per_sec: if secs > 0.0 {
                self.ok as f64 / secs
            } else {
                0.0
            },
            latency_ms: self.percentiles(),
        }
    }
}

/// Latency percentiles of the successful requests, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// What one phase measured for one kind of request.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub elapsed_secs: f64,
    /// Successful requests per second of wall time.
    pub ok_per_sec: f64,
    /// Of successful requests only (errors are counted above, never averaged in).
    pub latency_ms: Percentiles,
}

impl Stats {
    /// `name`, then the cells `ok | errors | per second | p50 | p99 | max`.
    pub fn rate_row(&self, name: impl Into<String>) -> Vec<String> {
        let (l, ok, errors) = (&self.latency_ms, self.ok.to_string(), self.errors_cell());
        let rate = per_sec(self.ok_per_sec);
        vec![
            name.into(),
            ok,
            errors,
            rate,
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
        ]
    }

    /// `name`, then the cells `count | errors | p50 | p99 | p99.9 | max`.
    pub fn row(&self, name: impl Into<String>) -> Vec<String> {
        let l = &self.latency_ms;
        let (count, errors) = (self.requests.to_string(), self.errors_cell());
        vec![
            name.into(),
            count,
            errors,
            ms(l.p50),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
        ]
    }

    /// `0`, or `3 (HTTP 503: 2, timeout: 1)`.
    pub fn errors_cell(&self) -> String {
        if self.errors == 0 {
            return "0".into();
        }
        let kinds: Vec<String> = self
            .errors_by_kind
            .iter()
            .map(|(kind, n)| format!("{kind}: {n}"))
            .collect();
        format!("{} ({})", self.errors, kinds.join(", "))
    }
}

/// A latency in milliseconds with a sensible number of digits.
pub fn ms(value: f64) -> String {
    if value == 0.0 {
        "–".into()
    } else if value < 10.0 {
        format!("{value:.2} ms")
    } else if value < 100.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.0} ms")
    }
}

/// A rate with one decimal.
pub fn per_sec(value: f64) -> String {
    format!("{value:.1}")
}

/// A Markdown table; the first column is left-aligned, the others right-aligned.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with the header written as it renders: `"phase | p50 | p99"`.
    pub fn new(header: &str) -> Self {
        Self {
            header: header.split(" | ").map(str::to_owned).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        out.push_str(&line(&self.header));
        let rule: Vec<String> = (0..self.header.len())
            .map(|i| if i == 0 { "---".into() } else { "---:".into() })
            .collect();
        out.push_str(&line(&rule));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// Where a run's report goes besides stdout.
#[derive(Args, Debug, Clone, Serialize)]
pub struct Outputs {
    /// Write the full report as JSON here.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Write the result tables as a Markdown fragment here.
    #[arg(long)]
    markdown_out: Option<PathBuf>,
}

impl Outputs {
    /// Prints `markdown`, and writes it and `report` (pretty JSON) where asked, creating
    /// parent folders.
    pub fn publish(&self, report: &impl Serialize, markdown: &str) -> anyhow::Result<()> {
        println!("{markdown}");
        if let Some(path) = &self.json_out {
            let json = serde_json::to_string_pretty(report).context("serialising the report")?;
            write(path, &(json + "\n"))?;
        }
        if let Some(path) = &self.markdown_out {
            write(path, markdown)?;
        }
        Ok(())
    }
}

fn write(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

/// A Markdown fragment being written: the target of `write!`/`writeln!`, which cannot fail
/// on a `String`, so no `Result` to drop at every line.
#[derive(Default)]
pub struct Markdown(String);

impl Markdown {
    pub fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) {
        let _ = self.0.write_fmt(args);
    }

    /// A table, then a blank line.
    pub fn table(&mut self, table: &Table) {
        self.0.push_str(&table.markdown());
        self.0.push('\n');
    }

    pub fn finish(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_successes_and_errors_are_counted() {
        let mut r = Recorder::new();
        for ms in 1..=100u64 {
            r.record(Duration::from_millis(ms), Ok(()));
        }
        r.record(Duration::from_secs(9), Err("HTTP 503".into()));
        r.error("timeout", 2);
        let s = r.stats(Duration::from_secs(2));
        assert_eq!((s.requests, s.ok, s.errors), (103, 100, 3));
        assert!((s.latency_ms.p50 - 50.0).abs() < 0.1, "{:?}", s.latency_ms);
        assert!((s.latency_ms.p99 - 99.0).abs() < 0.1, "{:?}", s.latency_ms);
        assert!((s.latency_ms.max - 100.0).abs() < 0.1, "{:?}", s.latency_ms);
        assert!((s.ok_per_sec - 50.0).abs() < 1e-9);
        assert_eq!(s.errors_cell(), "3 (HTTP 503: 1, timeout: 2)");
    }

    #[test]
    fn merging_adds_samples_and_errors() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        a.record(Duration::from_millis(1), Ok(()));
        b.record(Duration::from_millis(3), Ok(()));
        b.error("HTTP 401", 1);
        a.merge(&b);
        assert_eq!((a.ok, a.requests()), (2, 3));
        assert!((a.percentiles().max - 3.0).abs() < 0.01);
    }

    #[test]
    fn markdown_tables_align_numbers_right() {
        let mut t = Table::new("phase | p99");
        t.row(vec!["alone".into(), ms(0.4567)]);
        assert_eq!(
            t.markdown(),
            "| phase | p99 |\n| --- | ---: |\n| alone | 0.46 ms |\n"
        );
    }
}
