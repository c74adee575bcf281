//! Primary-source licence checks. A `LicenseRegistry` answers what a state board knows
//! about a licence number; [`decide`] turns that into an automatic approval or a case for
//! a person, with the reason the automation had.

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use shiftwire_core::CredentialKind;
use std::{collections::HashMap, io::Read, time::Duration};

/// What is looked up: exactly the submitted kind, number and state.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseQuery {
    pub kind: CredentialKind,
    pub number: String,
    pub state: String,
}

/// One licence as the registry records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryRecord {
    pub number: String,
    pub state: String,
    pub kind: String,
    pub holder_name: String,
    /// `active`, or the board's word for anything else (`inactive`, `revoked`, …).
    pub status: String,
    pub expires_on: NaiveDate,
    /// The board lists a disciplinary action against this licence.
    pub discipline_flag: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("licence registry unavailable: {0}")]
pub struct RegistryError(pub String);

#[async_trait]
pub trait LicenseRegistry: Send + Sync {
    /// Short name recorded with the evidence, e.g. `table` or the board's host.
    fn source(&self) -> String;
    /// Every record for this kind, number and state (normally zero or one).
    async fn lookup(&self, query: &LicenseQuery) -> Result<Vec<RegistryRecord>, RegistryError>;
}

/// Licence numbers compare without case, spaces or dashes: boards print them differently.
pub fn normalise_number(number: &str) -> String {
    number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A registry loaded from a CSV file with the header
/// `number,state,kind,holder_name,status,expires_on,discipline_flag`.
pub struct TableRegistry {
    records: HashMap<(String, String, String), Vec<RegistryRecord>>,
    len: usize,
}

impl TableRegistry {
    pub fn from_reader(reader: impl Read) -> Result<Self, RegistryError> {
        let mut records: HashMap<_, Vec<RegistryRecord>> = HashMap::new();
        let mut len = 0;
        for (line, row) in csv::Reader::from_reader(reader).deserialize().enumerate() {
            let record: RegistryRecord =
                row.map_err(|e| RegistryError(format!("registry row {}: {e}", line + 2)))?;
            let key = (
                record.kind.to_ascii_uppercase(),
                record.state.to_ascii_uppercase(),
                normalise_number(&record.number),
            );
            records.entry(key).or_default().push(record);
            len += 1;
        }
        Ok(Self { records, len })
    }

    pub fn from_path(path: &std::path::Path) -> Result<Self, RegistryError> {
        let file = std::fs::File::open(path)
            .map_err(|e| RegistryError(format!("{}: {e}", path.display())))?;
        Self::from_reader(std::io::BufReader::new(file))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[async_trait]
impl LicenseRegistry for TableRegistry {
    fn source(&self) -> String {
        "table".into()
    }

    async fn lookup(&self, query: &LicenseQuery) -> Result<Vec<RegistryRecord>, RegistryError> {
        let key = (
            query.kind.as_str().to_owned(),
            query.state.clone(),
            normalise_number(&query.number),
        );
        Ok(self.records.get(&key).cloned().unwrap_or_default())
    }
}

/// A board's lookup service: `GET {base}?kind=RN&state=CA&number=…` answering a JSON array
/// of [`RegistryRecord`]s. Any failure, including a timeout, is `RegistryError`.
pub struct HttpRegistry {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl HttpRegistry {
    pub fn new(url: reqwest::Url, timeout: Duration) -> Result<Self, RegistryError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| RegistryError(e.to_string()))?;
        Ok(Self { client, url })
    }
}

#[async_trait]
impl LicenseRegistry for HttpRegistry {
    fn source(&self) -> String {
        self.url.host_str().unwrap_or("registry").to_owned()
    }

    async fn lookup(&self, query: &LicenseQuery) -> Result<Vec<RegistryRecord>, RegistryError> {
        let response = self
            .client
            .get(self.url.clone())
            .query(&[
                ("kind", query.kind.as_str()),
                ("state", query.state.as_str()),
                ("number", query.number.as_str()),
            ])
            .send()
            .await
            .map_err(|e| RegistryError(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(RegistryError(format!(
                "registry answered {}",
                response.status()
            )));
        }
        response
            .json()
            .await
            .map_err(|e| RegistryError(format!("unreadable registry answer: {}", e.without_url())))
    }
}

/// What the automatic check concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Approved {
        evidence: serde_json::Value,
    },
    NeedsReview {
        reason_code: &'static str,
        reason: String,
    },
}

/// What the registry's holder name is compared with.
#[derive(Debug, Clone, Copy)]
pub enum HolderName<'a> {
    /// The nurse's verified legal name (never the self-chosen profile name).
    Verified(&'a str),
    /// Only for re-checks of licences approved before identity checks existed: the
    /// approval stands, so the name is not compared; everything else is.
    NotOnFile,
}

/// What the nurse submitted, and who she is.
#[derive(Debug, Clone)]
pub struct Submitted<'a> {
    pub kind: CredentialKind,
    pub number: &'a str,
    pub state: &'a str,
    pub expires_on: NaiveDate,
    pub holder: HolderName<'a>,
}

fn review(reason_code: &'static str, reason: String) -> Decision {
    Decision::NeedsReview {
        reason_code,
        reason,
    }
}

/// Approves only an exact, clean match; anything else goes to a person with the reason.
/// Never approves on an error.
pub fn decide(
    submitted: &Submitted<'_>,
    lookup: Result<Vec<RegistryRecord>, RegistryError>,
    source: &str,
    today: NaiveDate,
) -> Decision {
    let records = match lookup {
        Ok(records) => records,
        Err(error) => {
            return review(
                "registry_unavailable",
                format!(
                    "The licence registry could not be checked ({error}). Check the licence with the {} board.",
                    submitted.state
                ),
            );
        }
    };
    let record = match records.as_slice() {
        [] => {
            return review(
                "not_found",
                format!(
                    "No {} licence {} is listed in {}.",
                    submitted.kind, submitted.number, submitted.state
                ),
            );
        }
        [one] => one,
        _ => {
            return review(
                "ambiguous_match",
                format!(
                    "The registry lists {} records for this licence number.",
                    records.len()
                ),
            );
        }
    };
    if !record.status.eq_ignore_ascii_case("active") {
        return review(
            "license_inactive",
            format!("The registry lists this licence as {:?}.", record.status),
        );
    }
    if record.expires_on < today {
        return review(
            "license_expired",
            format!(
                "The registry shows this licence expired on {}.",
                record.expires_on
            ),
        );
    }
    if record.discipline_flag {
        return review(
            "discipline_flag",
            "The registry lists a disciplinary action against this licence.".into(),
        );
    }
    if let HolderName::Verified(name) = submitted.holder
        && !crate::names::names_match(name, &record.holder_name)
    {
        return review(
            "name_mismatch",
            format!(
                "The registry's holder name {:?} differs from the verified legal name {:?}.",
                record.holder_name, name
            ),
        );
    }
    if record.expires_on != submitted.expires_on {
        return review(
            "expiry_mismatch",
            format!(
                "The registry's expiry {} differs from the submitted {}.",
                record.expires_on, submitted.expires_on
            ),
        );
    }
    Decision::Approved {
        evidence: serde_json::json!({ "source": source, "record": record }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn record() -> RegistryRecord {
        RegistryRecord {
            number: "RN-100234".into(),
            state: "CA".into(),
            kind: "RN".into(),
            holder_name: "Amara Okafor".into(),
            status: "active".into(),
            expires_on: date("2028-03-31"),
            discipline_flag: false,
        }
    }

    fn submitted() -> Submitted<'static> {
        Submitted {
            kind: CredentialKind::RN,
            number: "rn 100234",
            state: "CA",
            expires_on: date("2028-03-31"),
            holder: HolderName::Verified("AMARA  okafor"),
        }
    }

    fn code(decision: Decision) -> &'static str {
        match decision {
            Decision::Approved { .. } => "approved",
            Decision::NeedsReview { reason_code, .. } => reason_code,
        }
    }

    #[test]
    fn an_exact_clean_match_is_approved_with_evidence() {
        let decision = decide(
            &submitted(),
            Ok(vec![record()]),
            "table",
            date("2026-11-25"),
        );
        match decision {
            Decision::Approved { evidence } => {
                assert_eq!(evidence["source"], "table");
                assert_eq!(evidence["record"]["holder_name"], "Amara Okafor");
            }
            other => panic!("expected approval, got {other:?}"),
        }
    }

    #[test]
    fn every_doubt_goes_to_a_person_with_its_reason() {
        let today = date("2026-11-25");
        let with = |f: fn(&mut RegistryRecord)| {
            let mut r = record();
            f(&mut r);
            Ok(vec![r])
        };
        let cases: Vec<(&str, Result<Vec<RegistryRecord>, RegistryError>)> = vec![
            ("registry_unavailable", Err(RegistryError("timeout".into()))),
            ("not_found", Ok(vec![])),
            ("ambiguous_match", Ok(vec![record(), record()])),
            ("license_inactive", with(|r| r.status = "revoked".into())),
            (
                "license_expired",
                with(|r| r.expires_on = date("2026-11-24")),
            ),
            ("discipline_flag", with(|r| r.discipline_flag = true)),
            (
                "name_mismatch",
                with(|r| r.holder_name = "Amara Okafor-Bello".into()),
            ),
            (
                "expiry_mismatch",
                with(|r| r.expires_on = date("2029-03-31")),
            ),
        ];
        for (expected, lookup) in cases {
            assert_eq!(code(decide(&submitted(), lookup, "table", today)), expected);
        }
        // A legacy approval's re-check compares everything but the name.
        let legacy = Submitted {
            holder: HolderName::NotOnFile,
            ..submitted()
        };
        let renamed = with(|r| r.holder_name = "Someone Else".into());
        assert_eq!(code(decide(&legacy, renamed, "table", today)), "approved");
    }

    #[tokio::test]
    async fn the_table_registry_matches_on_kind_state_and_number() {
        let csv = "number,state,kind,holder_name,status,expires_on,discipline_flag\n\
                   RN-100234,CA,RN,Amara Okafor,active,2028-03-31,false\n\
                   RN-100234,NV,RN,Someone Else,active,2028-03-31,false\n";
        let registry = TableRegistry::from_reader(csv.as_bytes()).expect("csv");
        assert_eq!(registry.len(), 2);
        let query = |kind, state: &str, number: &str| LicenseQuery {
            kind,
            number: number.into(),
            state: state.into(),
        };
        let found = registry
            .lookup(&query(CredentialKind::RN, "CA", "rn100234"))
            .await
            .expect("lookup");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].holder_name, "Amara Okafor");
        for q in [
            query(CredentialKind::LPN, "CA", "RN-100234"),
            query(CredentialKind::RN, "OR", "RN-100234"),
            query(CredentialKind::RN, "CA", "RN-100235"),
        ] {
            assert!(
                registry.lookup(&q).await.expect("lookup").is_empty(),
                "{q:?}"
            );
        }
    }

    #[test]
    fn a_malformed_table_is_refused_with_its_line() {
        let csv = "number,state,kind,holder_name,status,expires_on,discipline_flag\n\
                   X1,CA,RN,A B,active,not-a-date,false\n";
        let error = TableRegistry::from_reader(csv.as_bytes())
            .err()
            .expect("error");
        assert!(error.0.contains("row 2"), "{error}");
    }
}
