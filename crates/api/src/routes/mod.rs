pub mod admin_users;
pub mod auth;
pub mod health;
pub mod marketplace;
pub mod me;
pub mod schemas;
pub mod verifications;
pub mod ws;
