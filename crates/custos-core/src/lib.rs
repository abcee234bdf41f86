//! custos-core: the domain, pure.
//!
//! Everything here decides and nothing here performs I/O: no database, no network, no async, no
//! reading the clock except through [`clock::Clock`]. Security-critical decisions live here so they
//! can be unit- and property-tested without a server.

pub mod allowlist;
pub mod anti_phishing;
pub mod api_key;
pub mod asset;
pub mod audit;
pub mod challenge;
pub mod clock;
pub mod credential_matrix;
pub mod crypto;
pub mod diagnosis;
pub mod egress;
pub mod email;
pub mod freeze;
pub mod ids;
pub mod incident;
pub mod ipdb;
pub mod ledger;
pub mod link_token;
pub mod login;
pub mod money;
pub mod network;
pub mod notice;
pub mod official_channel;
pub mod panic_code;
pub mod passkey;
pub mod password;
pub mod password_policy;
pub mod phone;
pub mod portfolio;
pub mod posture;
pub mod reason;
pub mod recovery;
pub mod recovery_code;
pub mod risk;
pub mod session;
pub mod sorted_json;
pub mod staff;
pub mod step_up;
pub mod throttle;
pub mod totp;
pub mod transfer;
pub mod webhook;
pub mod withdrawal;

pub use clock::{Clock, Timestamp};
pub use reason::{Reason, ReasonCode};
