//! Integration tests: the real application on port 0, a fresh database per test, driven over HTTP.
//! One test binary (one link step) for all of them.

/// Runs each named `async fn(TestApp)` of the calling module as two tests: on SQLite, and on a
/// fresh PostgreSQL schema (skipped, saying so, when `CUSTOS_TEST_POSTGRES_URL` is unset).
macro_rules! on_both_backends {
    ($suite:literal; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::spawn_app().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let test = concat!($suite, ": ", stringify!($name));
                    let Some(app) = crate::helpers::spawn_app_on_postgres(test).await else { return };
                    super::$name(app).await;
                }
            )*
        }
    };
}

mod helpers;

mod accounts;
mod allowlist;
mod api_keys;
mod api_keys_page;
mod bad_input;
mod credentials;
mod diagnosis;
mod freeze;
mod freeze_pages;
mod freeze_race;
mod garbage;
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
mod support_console_pages;
mod surface;
mod wallet;
mod webhooks;
