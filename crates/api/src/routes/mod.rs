pub mod admin_users;
pub mod auth;
pub mod health;
