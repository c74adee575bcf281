//! Shiftwire's HTTP API: the only crate that knows axum. Routes extract and validate the
//! request, call a domain crate, and map the answer; every failure leaves as problem+json.

pub mod app;
pub mod application;
pub mod claim_gate;
pub mod config;
pub mod error;
pub mod extract;
mod idempotency;
pub mod openapi;
mod pagination;
mod rooms;
mod routes;
pub mod state;
pub mod telemetry;
mod web;

pub use app::{build_router, serve};
pub use application::Application;
pub use config::Settings;
pub use error::ApiError;
/// The shift-creation body, public only so the fuzz target `problem_mapping` parses a real
/// request type.
#[doc(hidden)]
pub use routes::marketplace::CreateShiftRequest;
pub use state::AppState;

/// Every schema migration, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");
