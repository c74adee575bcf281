//! `shiftwire-loadgen` as a library: the scenarios behind `make bench`, and the pieces of
//! the scale scenario's delivery oracle that `tests/oracle_smoke.rs` drives in `make test`.

pub mod auth;
pub mod event_commits;
pub mod fanout;
pub mod fleet;
pub mod marketplace;
pub mod net;
pub mod no_shows;
pub mod oracle;
pub mod push;
pub mod registry;
pub mod report;
pub mod scale;
pub mod sms;
pub mod verification;
