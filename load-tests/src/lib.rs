//! `shiftwire-loadgen` as a library: every scenario of the load generator behind
//! `make bench`, and the pieces the scale scenario's delivery oracle is made of (the
//! world as seeded, the independent eligibility rule, the worker processes holding the
//! WebSocket connections), so that a smoke run of the oracle can run inside `make test`
//! (`tests/oracle_smoke.rs`) against a server started in-process.

pub mod auth;
pub mod fanout;
pub mod fleet;
pub mod marketplace;
pub mod net;
pub mod oracle;
pub mod registry;
pub mod report;
pub mod scale;
pub mod sms;
pub mod verification;
