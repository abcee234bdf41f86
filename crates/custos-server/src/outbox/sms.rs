//! Text messages: a provider speaking the widely used Twilio-style Messages API (form POST of
//! `To`, `From`, `Body` with HTTP basic auth), or the dev sink (the dev mailbox) when none is set.

use custos_core::notice::SmsMessage;
use custos_store::DevMail;

use crate::state::AppState;

pub enum SmsSender {
    Http {
        client: reqwest::Client,
        endpoint: url::Url,
        user: String,
        password: String,
        from: String,
    },
    /// Dev mode without a provider: texts land in the dev mailbox (subject "SMS").
    DevSink,
}

impl SmsSender {
    /// `url` is the provider's Messages endpoint with the credentials as userinfo, e.g.
    /// `https://ACCOUNT:TOKEN@sms.example.com/2010-04-01/Accounts/ACCOUNT/Messages.json`.
    pub fn from_config(url: Option<&str>, from: &str) -> Result<Self, String> {
        let Some(url) = url else { return Ok(Self::DevSink) };
        let mut endpoint = url::Url::parse(url).map_err(|e| format!("CUSTOS_SMS_URL: {e}"))?;
        let user = percent_decode(endpoint.username());
        let password = percent_decode(endpoint.password().unwrap_or(""));
        let _ = endpoint.set_username("");
        let _ = endpoint.set_password(None);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| format!("SMS client: {e}"))?;
        Ok(Self::Http { client, endpoint, user, password, from: from.to_owned() })
    }

    /// Sends one text. `idempotency_key` goes along as a header for providers that deduplicate.
    pub async fn send(&self, state: &AppState, message_id: &str, m: &SmsMessage) -> Result<(), String> {
        let body = m.body();
        match self {
            Self::Http { client, endpoint, user, password, from } => {
                let resp = client
                    .post(endpoint.clone())
                    .basic_auth(user, Some(password))
                    .header("Idempotency-Key", message_id)
                    .form(&[("To", m.to.as_str()), ("From", from.as_str()), ("Body", body.as_str())])
                    .send()
                    .await
                    .map_err(|e| format!("SMS provider: {e}"))?;
                let status = resp.status();
                if status.is_success() { Ok(()) } else { Err(format!("SMS provider answered {status}")) }
            }
            Self::DevSink => state
                .store
                .store_dev_mail(&DevMail {
                    message_id: message_id.to_owned(),
                    recipient: m.to.clone(),
                    subject: "SMS".into(),
                    text_body: body,
                    html_body: String::new(),
                    received_at: state.clock.now(),
                })
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
