use serde::{Deserialize, Serialize};

/// A WGS 84 position, built only by [`Coordinates::new`]: latitude in [-90, 90],
/// longitude in [-180, 180], both finite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Coordinates {
    lat: f64,
    lon: f64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("coordinates must be finite, lat in [-90, 90] and lon in [-180, 180]")]
pub struct CoordinatesError;

impl Coordinates {
    pub fn new(lat: f64, lon: f64) -> Result<Self, CoordinatesError> {
        if lat.is_finite()
            && lon.is_finite()
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon)
        {
            Ok(Self { lat, lon })
        } else {
            Err(CoordinatesError)
        }
    }

    pub fn lat(self) -> f64 {
        self.lat
    }

    pub fn lon(self) -> f64 {
        self.lon
    }
}

impl<'de> Deserialize<'de> for Coordinates {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            lat: f64,
            lon: f64,
        }
        let raw = Raw::deserialize(deserializer)?;
        Coordinates::new(raw.lat, raw.lon).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Events cross nodes and restarts as JSON in the outbox: a position read back is
        /// the position written, to the last bit (the book of open shifts compares them).
        #[test]
        fn a_position_read_back_from_json_is_the_position_written(
            lat in -90.0..=90.0f64,
            lon in -180.0..=180.0f64,
        ) {
            let at = Coordinates::new(lat, lon).expect("on the globe");
            let text = serde_json::to_string(&at).expect("json");
            prop_assert_eq!(serde_json::from_str::<Coordinates>(&text).expect("read"), at);
            let value: serde_json::Value = serde_json::from_str(&text).expect("value");
            prop_assert_eq!(serde_json::from_value::<Coordinates>(value).expect("read"), at);
        }
    }

    #[test]
    fn accepts_the_whole_globe_and_nothing_else() {
        for (lat, lon) in [(0.0, 0.0), (90.0, 180.0), (-90.0, -180.0), (38.57, -121.45)] {
            assert!(Coordinates::new(lat, lon).is_ok(), "{lat},{lon}");
        }
        for (lat, lon) in [
            (90.1, 0.0),
            (0.0, -180.5),
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
        ] {
            assert!(Coordinates::new(lat, lon).is_err(), "{lat},{lon}");
        }
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<Coordinates>(r#"{"lat": 38.5, "lon": -121.4}"#).is_ok());
        assert!(serde_json::from_str::<Coordinates>(r#"{"lat": 91, "lon": 0}"#).is_err());
        assert!(serde_json::from_str::<Coordinates>(r#"{"lat": 1, "lon": 2, "alt": 3}"#).is_err());
    }
}
