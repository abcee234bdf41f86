//! The end-to-end flows again, on PostgreSQL: the same application, a different store.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn on_postgres_a_victim_registers_signs_in_twice_and_ends_the_other_session() {
    let Some(app) = spawn_app_on_postgres("API flow: register, sign in, revoke").await else {
        return;
    };
    let uid = app.verified_account("pg.user@example.com").await;
    let laptop = app.login("pg.user@example.com", "laptop").await;
    let phone = app.login("pg.user@example.com", "phone").await;
    let me: Value = app.get_authed("/api/v1/me", &laptop).await.json().await.unwrap();
    assert_eq!(me["uid"], uid);
    let r: Value = app.post_authed("/api/v1/sessions/revoke-others", &laptop).await.json().await.unwrap();
    assert_eq!(r["revoked"], 1);
    assert_eq!(app.get_authed("/api/v1/me", &phone).await.status(), StatusCode::UNAUTHORIZED);
    let report = custos_server::usecases::operator::verify_audit(&app.store, |_| {}).await.unwrap();
    assert!(report.broken.is_empty() && report.records >= 7, "{report:?}");
}

#[tokio::test]
async fn on_postgres_concurrent_logins_to_one_account_all_succeed_and_keep_the_chain_intact() {
    let Some(app) = spawn_app_on_postgres("API flow: concurrent logins").await else {
        return;
    };
    app.verified_account("busy.pg@example.com").await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (http, url) = (app.http.clone(), app.url("/api/v1/auth/login"));
        set.spawn(async move {
            let body = serde_json::json!({"email": "busy.pg@example.com", "password": PASSWORD});
            http.post(url)
                .header("x-custos-device", format!("d{i}"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    assert!(set.join_all().await.iter().all(|s| *s == StatusCode::OK));
    let report = custos_server::usecases::operator::verify_audit(&app.store, |_| {}).await.unwrap();
    assert!(report.broken.is_empty(), "{report:?}");
}
