//! Integration tests: the real application on port 0, a fresh database per test, driven over HTTP.
//! One test binary (one link step) for all of them.

mod helpers;

mod accounts;
mod allowlist;
mod api_keys;
mod bad_input;
mod credentials;
mod diagnosis;
mod freeze;
mod freeze_pages;
mod freeze_race;
mod incidents;
mod login;
mod mail;
mod money;
mod passkeys;
mod postgres;
mod risk;
mod sessions;
mod sms;
mod staff;
mod support_console;
mod surface;
mod wallet;
mod webhooks;
