//! The security center's checklist (the posture from `settings::posture`: a score and the next
//! step for each open item, with a link to where it is done) and the notes it shows after a
//! credential change.

use custos_core::posture::PostureItem;

use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;
use crate::usecases::settings;

pub(super) struct Checklist {
    pub score: u8,
    /// `bad`, `warn` or `ok`, for the meter's colour.
    pub tone: &'static str,
    /// Open items first, in the posture's order; then what is already done.
    pub open: Vec<Item>,
    pub done: Vec<Item>,
}

pub(super) struct Item {
    pub title: &'static str,
    pub next_step: Option<&'static str>,
    /// Where to do it: (link text, path).
    pub link: Option<(&'static str, &'static str)>,
}

fn link(item: &PostureItem, has_second_factor: bool) -> Option<(&'static str, &'static str)> {
    match item.code {
        "second-factor" => Some(("Add an authenticator app", "/security/two-factor")),
        "recovery-codes" if has_second_factor => {
            Some(("Make new recovery codes", "/security/recovery-codes"))
        }
        // Without a factor the step above already links to adding one; once is enough.
        "anti-phishing-code" => Some(("Set an anti-phishing code", "/security/anti-phishing-code")),
        "no-stale-access" => Some(("Review where you're signed in", "#sessions-h")),
        "withdrawal-allowlist" => Some(("Manage the withdrawal allowlist", "/security/allowlist")),
        "api-keys-ip-restricted" | "no-unused-api-keys" => {
            Some(("Review your API keys", "/security/api-keys"))
        }
        _ => None,
    }
}

pub(super) async fn load(state: &AppState, who: &UserSession) -> Result<Checklist, ApiError> {
    let posture = settings::posture(state, who).await?;
    let has_second_factor = posture.items.iter().any(|i| i.code == "second-factor" && i.done);
    let (mut open, mut done) = (Vec::new(), Vec::new());
    for i in &posture.items {
        let item = Item {
            title: i.title,
            next_step: i.next_step,
            link: if i.done { None } else { link(i, has_second_factor) },
        };
        if i.done { done.push(item) } else { open.push(item) }
    }
    let tone = match posture.score {
        0..50 => "bad",
        50..80 => "warn",
        _ => "ok",
    };
    Ok(Checklist { score: posture.score, tone, open, done })
}

/// The note the security center shows after a credential change sent the browser back to it.
pub(super) fn flash(done: &str) -> Option<&'static str> {
    Some(match done {
        "anti-phishing-set" => {
            "Anti-phishing code saved. From now on every email from custos shows it at the top: a message \
             without it is not from us."
        }
        "totp-on" => "Authenticator app on. Signing in and security changes now ask for a code from it.",
        "codes-new" => "New recovery codes are ready. The old ones no longer work.",
        _ => return None,
    })
}
