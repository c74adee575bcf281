//! Cursor pagination: `?limit=` (default 50, clamped to 200) and an opaque `?cursor=`.

use crate::ApiError;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageParams {
    /// Items per page: default 50, larger values are clamped to 200.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if n >= 1 => Ok(n.min(MAX_LIMIT)),
            Some(_) => Err(ApiError::unprocessable(
                "invalid_limit",
                "limit must be at least 1",
            )),
        }
    }
}

/// A page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

fn bad_cursor() -> ApiError {
    ApiError::unprocessable("invalid_cursor", "cursor is not one this server issued")
}

/// Cursor of an id-ordered list.
pub fn encode_id(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn decode_id(cursor: &str) -> Result<Uuid, ApiError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
    Uuid::from_slice(&bytes).map_err(|_| bad_cursor())
}

/// Cursor of a list ordered by `(timestamp, id)`.
pub fn encode_at_id(at: DateTime<Utc>, id: Uuid) -> String {
    let mut bytes = at.timestamp_micros().to_be_bytes().to_vec();
    bytes.extend_from_slice(id.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn decode_at_id(cursor: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
    if bytes.len() != 24 {
        return Err(bad_cursor());
    }
    let micros = i64::from_be_bytes(bytes[..8].try_into().map_err(|_| bad_cursor())?);
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(bad_cursor)?;
    // Every time we issue lies well within years 1 to 9999; PostgreSQL refuses times
    // before 4713 BC, and a forged cursor must be a 422, not a database error.
    if !(1..=9999).contains(&chrono::Datelike::year(&at)) {
        return Err(bad_cursor());
    }
    let id = Uuid::from_slice(&bytes[8..]).map_err(|_| bad_cursor())?;
    Ok((at, id))
}

/// Builds a page from `limit + 1` fetched rows: the extra row only says another page exists.
pub fn page<R, T>(
    mut rows: Vec<R>,
    limit: i64,
    cursor_of: impl Fn(&R) -> String,
    into: impl Fn(R) -> T,
) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(&cursor_of)
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(into).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod forged {
    use super::*;

    #[test]
    fn a_cursor_outside_the_years_we_issue_is_refused() {
        let mut bytes = (-1_000_000_000_000_000_000i64).to_be_bytes().to_vec();
        bytes.extend_from_slice(Uuid::nil().as_bytes());
        let forged = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(
            decode_at_id(&forged).map_err(|e| e.code()).err(),
            Some("invalid_cursor")
        );
        let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).expect("now");
        assert_eq!(
            decode_at_id(&encode_at_id(now, Uuid::nil())).ok(),
            Some((now, Uuid::nil()))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let id = Uuid::now_v7();
        assert_eq!(decode_id(&encode_id(id)).ok(), Some(id));
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).expect("time");
        assert_eq!(decode_at_id(&encode_at_id(at, id)).ok(), Some((at, id)));
        for forged in ["", "!!", "AAAA", &encode_id(id)] {
            assert!(decode_at_id(forged).is_err(), "{forged}");
        }
    }

    #[test]
    fn limits_default_and_clamp() {
        let with = |limit| {
            PageParams {
                limit,
                cursor: None,
            }
            .limit()
            .ok()
        };
        assert_eq!(with(None), Some(50));
        assert_eq!(with(Some(500)), Some(200));
        assert_eq!(with(Some(0)), None);
    }
}
