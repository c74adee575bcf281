//! Integration tests: the real HTTP surface against a real PostgreSQL + PostGIS, one fresh
//! database per test (`#[sqlx::test]`).

mod admin_users;
mod attendance;
mod authz;
mod errors;
mod favourites;
mod health;
mod identity;
mod login;
mod logs;
mod marketplace;
mod migrations;
mod nearby;
mod no_shows;
mod openapi;
mod otp;
mod outbox;
mod pages;
mod profile;
mod push;
mod realtime;
mod rules;
mod shutdown;
mod stand_in;
mod timesheets;
mod tokens;
mod verification;
