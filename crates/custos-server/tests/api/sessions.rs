use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    app.get_authed("/api/v1/sessions", token).await.json().await.unwrap()
}

#[tokio::test]
async fn revoking_another_session_rejects_its_very_next_request() {
    let app = spawn_app().await;
    app.verified_account("two@example.com").await;
    let laptop = app.login("two@example.com", "laptop").await;
    let phone = app.login("two@example.com", "phone").await;
    let listed = sessions(&app, &laptop).await;
    assert_eq!(listed.iter().filter(|s| s["active"] == true).count(), 2);
    let other = listed.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();

    let r = app
        .http
        .delete(app.url(&format!("/api/v1/sessions/{other}")))
        .bearer_auth(&laptop)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_authed("/api/v1/me", &phone).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_authed("/api/v1/me", &laptop).await.status(), StatusCode::OK);
    let listed = sessions(&app, &laptop).await;
    let revoked = listed.iter().find(|s| s["id"] == other.as_str()).unwrap();
    assert_eq!(revoked["revoke_reason"], "revoked_by_user");
}

#[tokio::test]
async fn another_accounts_session_is_not_found_and_stays_alive() {
    let app = spawn_app().await;
    app.verified_account("mine@example.com").await;
    app.verified_account("theirs@example.com").await;
    let mine = app.login("mine@example.com", "d1").await;
    let theirs = app.login("theirs@example.com", "d2").await;
    let their_id = sessions(&app, &theirs).await[0]["id"].as_str().unwrap().to_owned();
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/sessions/{their_id}")))
        .bearer_auth(&mine)
        .send()
        .await
        .unwrap();
    let (status, _) = problem(r).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.get_authed("/api/v1/me", &theirs).await.status(), StatusCode::OK);
    let r = app.http.delete(app.url("/api/v1/sessions/not-a-uuid")).bearer_auth(&mine).send().await.unwrap();
    assert_eq!(problem(r).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn revoke_others_keeps_only_the_current_session() {
    let app = spawn_app().await;
    app.verified_account("many@example.com").await;
    let keep = app.login("many@example.com", "d0").await;
    let others = [app.login("many@example.com", "d1").await, app.login("many@example.com", "d2").await];
    let r: Value = app.post_authed("/api/v1/sessions/revoke-others", &keep).await.json().await.unwrap();
    assert_eq!(r["revoked"], 2);
    for t in &others {
        assert_eq!(app.get_authed("/api/v1/me", t).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.get_authed("/api/v1/me", &keep).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn signing_out_everywhere_rotates_the_stamp_and_ends_every_session() {
    let app = spawn_app().await;
    app.verified_account("all@example.com").await;
    let a = app.login("all@example.com", "d0").await;
    let b = app.login("all@example.com", "d1").await;
    let r: Value = app.post_authed("/api/v1/sessions/revoke-all", &a).await.json().await.unwrap();
    assert_eq!(r["revoked"], 2);
    assert_eq!(app.get_authed("/api/v1/me", &a).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_authed("/api/v1/me", &b).await.status(), StatusCode::UNAUTHORIZED);
    // The account still works: a fresh sign-in gets a fresh session.
    let c = app.login("all@example.com", "d0").await;
    assert_eq!(app.get_authed("/api/v1/me", &c).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_session_idles_out_after_30_minutes_without_use() {
    let app = spawn_app().await;
    app.verified_account("idle@example.com").await;
    let t = app.login("idle@example.com", "d").await;
    app.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(app.get_authed("/api/v1/me", &t).await.status(), StatusCode::OK);
    app.clock.advance(Duration::from_secs(29 * 60)); // used a moment ago: still alive
    assert_eq!(app.get_authed("/api/v1/me", &t).await.status(), StatusCode::OK);
    app.clock.advance(Duration::from_secs(30 * 60));
    assert_eq!(app.get_authed("/api/v1/me", &t).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_session_ends_after_12_hours_however_busy() {
    let app = spawn_app().await;
    app.verified_account("busy@example.com").await;
    let t = app.login("busy@example.com", "d").await;
    for _ in 0..24 {
        app.clock.advance(Duration::from_secs(29 * 60));
        if app.get_authed("/api/v1/me", &t).await.status() != StatusCode::OK {
            break;
        }
    }
    // 24 × 29 min = 11 h 36 min: still alive; the next half hour crosses 12 h.
    app.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(app.get_authed("/api/v1/me", &t).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_devices_and_activity_show_what_happened() {
    let app = spawn_app().await;
    app.verified_account("story@example.com").await;
    let _ = app.login_raw("story@example.com", "a wrong passphrase entirely", Some("laptop")).await;
    let t = app.login("story@example.com", "laptop").await;
    app.login("story@example.com", "phone").await;

    let devices: Vec<Value> = app.get_authed("/api/v1/devices", &t).await.json().await.unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(devices.iter().filter(|d| d["current"] == true).count(), 1);

    let activity: Vec<Value> = app.get_authed("/api/v1/activity", &t).await.json().await.unwrap();
    let outcomes: Vec<&str> = activity.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["succeeded", "succeeded", "wrong_credentials"]);
    assert_eq!(activity[0]["ip"], "127.0.0.1");

    let listed = sessions(&app, &t).await;
    assert!(listed.iter().all(|s| s["aal"] == "aal1" && s["ip"] == "127.0.0.1"));
}

#[tokio::test]
async fn every_command_leaves_an_intact_audit_trail() {
    let app = spawn_app().await;
    app.verified_account("audit@example.com").await;
    let t = app.login("audit@example.com", "d0").await;
    app.login("audit@example.com", "d1").await;
    app.post_authed("/api/v1/sessions/revoke-others", &t).await;
    app.post_authed("/api/v1/auth/logout", &t).await;
    let report = custos_server::usecases::operator::verify_audit(&app.store, |_| {}).await.unwrap();
    assert!(report.broken.is_empty(), "{:?}", report.broken);
    assert!(report.records >= 8, "{}", report.records);

    // Tamper with one record behind the database's back (dropping the append-only trigger first,
    // as an attacker with database access could): verification names the record.
    app.store.execute_unchecked_for_tests("DROP TRIGGER audit_records_no_update").await.unwrap();
    app.store
        .execute_unchecked_for_tests("UPDATE audit_records SET at = at + 1 WHERE seq = 4")
        .await
        .unwrap();
    let report = custos_server::usecases::operator::verify_audit(&app.store, |_| {}).await.unwrap();
    assert_eq!(report.broken.len(), 1);
    assert_eq!(report.broken[0].seq, 4);
}
