//! The "Was I hacked?" page: the verdict in words, what to do next, every indicator, vector hint
//! and benign explanation with its evidence, and the month drawn as a timeline (inline SVG).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;

use super::{csrf_token, error_page, readable_time};
use crate::extract::PageUser;
use crate::state::AppState;
use crate::usecases::diagnosis::{self, DiagnosisView};
use custos_core::Timestamp;
use custos_core::diagnosis::Timeline;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/security/diagnosis", get(page))
}

#[derive(Template, WebTemplate)]
#[template(path = "security_diagnosis.html")]
struct DiagnosisPage {
    csrf: String,
    d: DiagnosisView,
    /// `bad`, `warn` or `ok`, for the verdict's colour.
    tone: &'static str,
    headline: &'static str,
    summary: &'static str,
    marks: Vec<Mark>,
}

/// A dot on the timeline: `x` in 0..=1000 across the window, one row per kind of event.
struct Mark {
    x: i64,
    y: i64,
    /// `ok` (recognised sign-in), `bad` (not recognised, or money from such a sign-in), `warn`.
    tone: &'static str,
    label: String,
}

fn marks(t: &Timeline, start: Timestamp, now: Timestamp) -> Vec<Mark> {
    let span = (now.as_micros() - start.as_micros()).max(1);
    let x = |at: Timestamp| ((at.as_micros() - start.as_micros()).clamp(0, span) * 1000 / span).clamp(6, 994);
    let mut out = Vec::new();
    let recognised: Vec<_> = t.sign_ins.iter().filter(|l| l.recognised()).filter_map(|l| l.session).collect();
    for l in &t.sign_ins {
        let ip = l.ip.map(|i| i.to_string()).unwrap_or_default();
        let (tone, what) =
            if l.recognised() { ("ok", "Sign-in") } else { ("bad", "Sign-in you may not recognise") };
        out.push(Mark {
            x: x(l.at),
            y: 20,
            tone,
            label: format!("{what}, {ip}, {}", readable_time(&l.at.rfc3339())),
        });
    }
    for c in &t.changes {
        out.push(Mark {
            x: x(c.at),
            y: 50,
            tone: "warn",
            label: format!("Security change, {}", readable_time(&c.at.rfc3339())),
        });
    }
    for o in &t.outflows {
        let known = o.session.is_some_and(|s| recognised.contains(&s)) && o.session_moved.is_none();
        out.push(Mark {
            x: x(o.at),
            y: 80,
            tone: if known { "ok" } else { "bad" },
            label: format!("{} {} {}, {}", o.kind, o.amount, o.asset, readable_time(&o.at.rfc3339())),
        });
    }
    out
}

impl DiagnosisPage {
    fn when(&self, rfc3339: &str) -> String {
        readable_time(rfc3339)
    }
}

async fn page(State(state): State<AppState>, PageUser(who): PageUser, jar: CookieJar) -> Response {
    let (d, timeline) = match diagnosis::diagnose_with_timeline(&state, who.account_id).await {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    let now = state.clock.now();
    let marks = marks(&timeline, now.minus(diagnosis::WINDOW), now);
    let (tone, headline, summary) = match d.verdict {
        "compromised" => (
            "bad",
            "Someone else has very likely been in your account",
            "Your account's own events show what the emergency protocol calls definitive signs of a \
             break-in. Disable the account now, then work through the steps below.",
        ),
        "suspicious" => (
            "warn",
            "Something in your account does not fit — treat it as a break-in",
            "Nothing here proves a break-in, but a credible suspicion must be handled as a confirmed one: \
             waiting can cost you your funds. Disable the account now; recovering it is possible.",
        ),
        _ => (
            "ok",
            "Nothing points to someone else in your account",
            "Its sign-ins, security changes and withdrawals from the last 30 days show none of the signs of a \
             break-in. If you still believe someone is in, disabling the account is always safe.",
        ),
    };
    let (jar, csrf) = csrf_token(&state, jar);
    (jar, DiagnosisPage { csrf, d, tone, headline, summary, marks }).into_response()
}
