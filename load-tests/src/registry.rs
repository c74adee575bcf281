//! `gen-registry`: a fictional licence registry table for the `verification` benchmark,
//! in the server's `LICENSE_REGISTRY_CSV` format
//! (`number,state,kind,holder_name,status,expires_on,discipline_flag`).
//!
//! Two kinds of rows, every licence number unique:
//!
//! - **Benchmark licences**: [`LICENCES_PER_NURSE`] RN licences in California for each of
//!   the first `--nurses` benchmark nurses, each an exact, clean match for what the
//!   `verification` scenario submits (status `active`, no discipline flag, expiry
//!   [`BENCH_EXPIRY`], holder name [`nurse_name`]). The automatic check approves them.
//! - **Filler**: the rest of `--rows`, a deterministic pseudo-random mix of states, kinds,
//!   statuses, expiry dates (some past) and discipline flags, so the table has the size and
//!   variety of a real export.

use anyhow::{Context, bail};
use clap::Args;
use std::{
    io::{BufWriter, Write},
    path::PathBuf,
};

/// The header the server's table registry reads.
pub const HEADER: &str = "number,state,kind,holder_name,status,expires_on,discipline_flag";
/// Licences each benchmark nurse holds (the server allows 50 on file per nurse).
pub const LICENCES_PER_NURSE: u64 = 40;
/// Expiry of every benchmark licence, in the registry and as submitted.
pub const BENCH_EXPIRY: &str = "2028-03-31";
/// Issuing state of every benchmark licence.
pub const BENCH_STATE: &str = "CA";
/// Benchmark nurses with licences in the generated table unless `--nurses` says otherwise.
pub const DEFAULT_NURSES: u64 = 100;

const FIRST_NAMES: [&str; 30] = [
    "Amara", "Luis", "Grace", "Noah", "Priya", "Mateo", "Hana", "Elijah", "Sofia", "Kwame",
    "Ingrid", "Tariq", "Mei", "Diego", "Aisha", "Jonah", "Leila", "Ravi", "Chloe", "Omar", "Yuki",
    "Marcus", "Zara", "Felix", "Nadia", "Theo", "Imani", "Rosa", "Emeka", "Lena",
];
#[rustfmt::skip] // a data table, kept as compact as FIRST_NAMES
const LAST_NAMES: [&str; 30] = [
    "Okafor", "Herrera", "Kim", "Lindqvist", "Patel", "Alvarez", "Sato", "Brooks", "Rossi",
    "Mensah", "Berg", "Haddad", "Chen", "Navarro", "Bello", "Weiss", "Karimi", "Iyer", "Dubois",
    "Farouk", "Tanaka", "Reyes", "Novak", "Schmidt", "Petrov", "Walsh", "Adeyemi", "Moreno",
    "Nwosu", "Larsen",
];
/// Most benchmark nurses with distinct names.
pub const MAX_NURSES: u64 = (FIRST_NAMES.len() * LAST_NAMES.len()) as u64;

/// The 50 states and DC.
const STATES: [&str; 51] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY",
];

#[derive(Args, Debug, Clone)]
pub struct GenRegistryArgs {
    /// Rows in the table, benchmark licences included.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    rows: u64,
    /// Benchmark nurses whose licences the table lists (40 each); the `verification`
    /// scenario's `--registry-nurses` must not exceed it.
    #[arg(long, default_value_t = DEFAULT_NURSES, value_parser = clap::value_parser!(u64).range(1..=MAX_NURSES))]
    nurses: u64,
    /// Where to write the CSV (parent folders are created).
    #[arg(long)]
    out: PathBuf,
}

/// The name of benchmark nurse `n` (`n < MAX_NURSES`): set on the nurse's profile and
/// written as the holder of their licences.
pub fn nurse_name(n: u64) -> String {
    let first = FIRST_NAMES.len() as u64;
    let last = LAST_NAMES.len() as u64;
    format!(
        "{} {}",
        FIRST_NAMES[(n % first) as usize],
        LAST_NAMES[((n / first) % last) as usize]
    )
}

/// The licence number of benchmark nurse `n`'s `slot`-th licence (`slot < 40`).
pub fn licence_number(n: u64, slot: u64) -> String {
    number("RN-", n * LICENCES_PER_NURSE + slot)
}

/// Row ids are unique, and so are the numbers made from them.
fn number(prefix: &str, id: u64) -> String {
    format!("{prefix}{id:07}")
}

/// A filler row for row id `id`.
fn filler_row(id: u64) -> String {
    // Deterministic, so the same flags always give the same file.
    let r = crate::oracle::splitmix(id);
    let pick = |shift: u32, n: u64| (r >> shift) % n;
    let state = STATES[pick(0, STATES.len() as u64) as usize];
    let (kind, prefix) = match pick(8, 100) {
        0..55 => ("RN", "RN-"),
        // California and Texas call practical nurses vocational (LVN).
        55..80 if state == "CA" || state == "TX" => ("LPN", "LVN-"),
        55..80 => ("LPN", "LPN-"),
        80..90 => ("NP", "NP-"),
        _ => ("CNA", "CNA-"),
    };
    let status = match pick(16, 100) {
        0..85 => "active",
        85..91 => "inactive",
        91..94 => "lapsed",
        94..96 => "revoked",
        96..98 => "suspended",
        _ => "probation",
    };
    // Expiry: the last day of a month from January 2025 to December 2029 (some past).
    let month = pick(24, 60);
    let (year, month) = (2025 + month / 12, month % 12 + 1);
    let last_day = match month {
        2 if year % 4 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let discipline = pick(32, 100) < 2;
    let holder = format!(
        "{} {}",
        FIRST_NAMES[pick(40, FIRST_NAMES.len() as u64) as usize],
        LAST_NAMES[pick(48, LAST_NAMES.len() as u64) as usize]
    );
    format!(
        "{},{state},{kind},{holder},{status},{year}-{month:02}-{last_day:02},{discipline}",
        number(prefix, id)
    )
}

/// Writes the table: benchmark licences first (row ids `0..nurses * 40`), then filler.
pub fn write_table(out: &mut impl Write, rows: u64, nurses: u64) -> anyhow::Result<()> {
    let bench_rows = nurses * LICENCES_PER_NURSE;
    if rows < bench_rows {
        bail!("--rows {rows} cannot hold the {bench_rows} benchmark licences of {nurses} nurses");
    }
    if nurses > MAX_NURSES {
        bail!("at most {MAX_NURSES} benchmark nurses have distinct names");
    }
    writeln!(out, "{HEADER}")?;
    for n in 0..nurses {
        let name = nurse_name(n);
        for slot in 0..LICENCES_PER_NURSE {
            writeln!(
                out,
                "{},{BENCH_STATE},RN,{name},active,{BENCH_EXPIRY},false",
                licence_number(n, slot)
            )?;
        }
    }
    for id in bench_rows..rows {
        writeln!(out, "{}", filler_row(id))?;
    }
    Ok(())
}

pub fn run(args: GenRegistryArgs) -> anyhow::Result<()> {
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = BufWriter::new(file);
    write_table(&mut out, args.rows, args.nurses)?;
    out.flush()
        .with_context(|| format!("writing {}", args.out.display()))?;
    let bytes = std::fs::metadata(&args.out).map_or(0, |m| m.len());
    eprintln!(
        "wrote {} rows ({} benchmark licences for {} nurses) to {} ({:.1} MiB)",
        args.rows,
        args.nurses * LICENCES_PER_NURSE,
        args.nurses,
        args.out.display(),
        bytes as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};

    fn table(rows: u64, nurses: u64) -> String {
        let mut out = Vec::new();
        write_table(&mut out, rows, nurses).expect("table");
        String::from_utf8(out).expect("utf-8")
    }

    /// The registry compares numbers without case, spaces or dashes.
    fn normalised(number: &str) -> String {
        number
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect()
    }

    #[test]
    fn every_row_is_well_formed_and_every_number_unique() {
        let csv = table(20_000, 10);
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(HEADER));
        let mut numbers = HashSet::new();
        let mut kinds = BTreeMap::<&str, u64>::new();
        let mut statuses = BTreeMap::<&str, u64>::new();
        let (mut rows, mut flagged, mut past) = (0, 0, 0);
        let today: chrono::NaiveDate = "2026-11-25".parse().expect("date");
        for line in lines {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 7, "{line}");
            let [number, state, kind, holder, status, expires_on, flag] = fields[..] else {
                unreachable!()
            };
            assert!(numbers.insert(normalised(number)), "duplicate {number}");
            assert!(STATES.contains(&state), "{line}");
            assert!(!holder.trim().is_empty() && !holder.contains('"'), "{line}");
            let expiry: chrono::NaiveDate = expires_on.parse().expect(line);
            past += u64::from(expiry < today);
            flagged += u64::from(flag.parse::<bool>().expect(line));
            *kinds.entry(kind).or_default() += 1;
            *statuses.entry(status).or_default() += 1;
            rows += 1;
        }
        assert_eq!(rows, 20_000);
        assert_eq!(
            kinds.keys().copied().collect::<Vec<_>>(),
            ["CNA", "LPN", "NP", "RN"]
        );
        assert_eq!(statuses.len(), 6, "{statuses:?}");
        assert!(statuses["active"] > 15_000, "{statuses:?}");
        assert!((100..1_000).contains(&flagged), "{flagged}");
        assert!(past > 1_000, "{past}");
    }

    #[test]
    fn benchmark_licences_match_what_the_scenario_submits() {
        let csv = table(1_000, 3);
        let rows: Vec<&str> = csv.lines().skip(1).collect();
        for n in 0..3 {
            for slot in [0, LICENCES_PER_NURSE - 1] {
                let expected = format!(
                    "{},CA,RN,{},active,2028-03-31,false",
                    licence_number(n, slot),
                    nurse_name(n)
                );
                assert_eq!(
                    rows.iter().filter(|r| **r == expected).count(),
                    1,
                    "{expected}"
                );
            }
        }
        // Nothing else carries a benchmark licence's number.
        let bench: HashSet<String> = (0..3)
            .flat_map(|n| (0..LICENCES_PER_NURSE).map(move |s| licence_number(n, s)))
            .map(|n| normalised(&n))
            .collect();
        let listed = rows
            .iter()
            .filter(|r| bench.contains(&normalised(r.split(',').next().unwrap_or(""))))
            .count();
        assert_eq!(listed, bench.len());
    }

    #[test]
    fn nurse_names_are_distinct_and_licence_numbers_valid() {
        let names: HashSet<String> = (0..MAX_NURSES).map(nurse_name).collect();
        assert_eq!(names.len() as u64, MAX_NURSES);
        // The server takes 1 to 40 letters, digits, spaces, dots or dashes.
        let last = licence_number(MAX_NURSES - 1, LICENCES_PER_NURSE - 1);
        assert!(last.len() <= 40 && last.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn the_table_is_deterministic_and_refuses_too_few_rows() {
        assert_eq!(table(500, 2), table(500, 2));
        assert!(write_table(&mut Vec::new(), 79, 2).is_err());
    }
}
