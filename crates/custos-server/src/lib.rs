//! custos-server: application services (one use case per command, one transaction each),
//! background workers, and the HTTP surface (JSON API, web pages, OpenAPI).

pub mod app;
pub mod config;
pub mod demo;
pub mod error;
pub mod extract;
pub mod extract_api_key;
pub mod extract_staff;
pub mod geoip;
pub mod hashing;
pub mod http;
pub mod outbox;
pub mod state;
pub mod usecases;
pub mod wallet;

pub use app::Application;
pub use config::{Config, Mode, Overrides};
