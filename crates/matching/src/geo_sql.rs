//! Where geometry crosses the SQL boundary, in one place: `geography(Point, 4326)` values
//! are read as EWKB into `geo_types` points and written from them (geozero's codec), and
//! turned into validated [`Coordinates`] here and nowhere else. Queries select a
//! location as `location::geometry AS "location!: Wkb"` and bind one with
//! `ST_SetSRID($n::geometry, 4326)::geography`, passing [`to_sql`] `as _`.

use crate::MatchingError;
use geo_types::{Geometry, Point};
use geozero::wkb;
use shiftwire_core::Coordinates;

/// A location as read from PostgreSQL.
pub(crate) type Wkb = wkb::Decode<Geometry<f64>>;

/// A location to bind as a query parameter.
pub(crate) type WkbParam = wkb::Encode<Geometry<f64>>;

/// The coordinates of a stored point.
pub(crate) fn from_sql(stored: Wkb) -> Result<Coordinates, MatchingError> {
    point(stored)?.ok_or_else(|| MatchingError::Invalid("a stored location is missing".into()))
}

/// The coordinates of a stored point that may be NULL.
pub(crate) fn optional_from_sql(stored: Option<Wkb>) -> Result<Option<Coordinates>, MatchingError> {
    match stored {
        Some(stored) => point(stored),
        None => Ok(None),
    }
}

fn point(stored: Wkb) -> Result<Option<Coordinates>, MatchingError> {
    match stored.geometry {
        None => Ok(None),
        Some(Geometry::Point(point)) => Coordinates::new(point.y(), point.x())
            .map(Some)
            .map_err(|_| MatchingError::Invalid("a stored location is out of range".into())),
        Some(_) => Err(MatchingError::Invalid(
            "a stored location is not a point".into(),
        )),
    }
}

/// A point to bind (longitude first, as WKB has it).
pub(crate) fn to_sql(at: Coordinates) -> WkbParam {
    wkb::Encode(Geometry::Point(Point::new(at.lon(), at.lat())))
}
