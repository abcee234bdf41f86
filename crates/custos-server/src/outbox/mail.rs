//! Email: rendering notices into text + HTML, and the two transports (SMTP, dev mailbox).

use askama::Template;
use custos_core::crypto::sha256;
use custos_core::notice::{EmailMessage, Notice};
use custos_store::DevMail;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::state::AppState;

pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The parts of every message, before layout.
struct Body {
    subject: String,
    paragraphs: Vec<String>,
    action: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "email.html")]
struct EmailHtml<'a> {
    subject: &'a str,
    anti_phishing_code: Option<&'a str>,
    paragraphs: &'a [String],
    action: Option<&'a (String, String)>,
    disable_url: Option<&'a str>,
}

fn body(notice: &Notice) -> Body {
    match notice {
        Notice::VerifyEmail { verify_url } => Body {
            subject: "Confirm your email address".into(),
            paragraphs: vec![
                "Welcome to custos. Confirm that this address is yours to finish creating your account.".into(),
                "The link works for 24 hours. If you did not sign up, ignore this message: no account will be \
                 activated without it."
                    .into(),
            ],
            action: Some(("Confirm my address".into(), verify_url.clone())),
        },
        Notice::AlreadyRegistered { login_url } => Body {
            subject: "Someone tried to sign up with your address".into(),
            paragraphs: vec![
                "Someone tried to create a new account with this email address, which already has one. \
                 No new account was created and nothing about your account changed."
                    .into(),
                "If it was you, sign in instead. If it was not, you need do nothing.".into(),
            ],
            action: Some(("Sign in".into(), login_url.clone())),
        },
        Notice::NewDeviceLogin { at, ip, user_agent, signals } => {
            let mut paragraphs = vec![
                format!("Your account was signed in to from a device it has not used before, at {at}."),
                format!("Address: {ip}. Browser or app: {}.", if user_agent.is_empty() { "unknown" } else { user_agent }),
            ];
            if !signals.is_empty() {
                paragraphs.push(format!("What was unusual about this sign-in: {}", signals.join(" ")));
            }
            paragraphs.push(
                "If this was you, there is nothing to do. If it was not, disable your account at once: \
                 it stops sign-ins, trading and withdrawals until you recover it."
                    .into(),
            );
            Body { subject: "New sign-in to your account".into(), paragraphs, action: None }
        }
        Notice::SecurityChange { change, at, ip, lock_until } => {
            let mut paragraphs = vec![format!("{change} This happened at {at}{}.", ip.as_ref().map(|i| format!(" from {i}")).unwrap_or_default())];
            if let Some(until) = lock_until {
                paragraphs.push(format!(
                    "To protect your funds, withdrawals are paused until {until}. This cannot be shortened."
                ));
            }
            paragraphs.push(
                "If this was you, there is nothing to do. If it was not, disable your account at once and contact \
                 support through the official website."
                    .into(),
            );
            Body { subject: "Security change on your account".into(), paragraphs, action: None }
        }
        Notice::PasswordReset { reset_url } => Body {
            subject: "Reset your password".into(),
            paragraphs: vec![
                "Someone asked to reset the password of the account with this address. The link works for 30 minutes, \
                 once; asking again replaces it."
                    .into(),
                "If it was not you, ignore this message: your password stays as it is.".into(),
            ],
            action: Some(("Choose a new password".into(), reset_url.clone())),
        },
        Notice::StepUpCode { code } => Body {
            subject: format!("Your confirmation code: {code}"),
            paragraphs: vec![
                format!("Enter {code} to confirm a security change on your account. It works for 10 minutes."),
                "Never give this code to anyone — custos staff will never ask for it.".into(),
            ],
            action: None,
        },
        Notice::ConfirmEmailChange { confirm_url } => Body {
            subject: "Confirm your new email address".into(),
            paragraphs: vec![
                "Confirm that this address should become the email of your account. Until you do, nothing changes."
                    .into(),
            ],
            action: Some(("Confirm the new address".into(), confirm_url.clone())),
        },
        Notice::ConfirmWithdrawal { summary, confirm_url, expires_at } => Body {
            subject: format!("Confirm your withdrawal of {} {}", summary.amount, summary.asset),
            paragraphs: {
                let mut p = withdrawal_lines(summary);
                p.push(format!(
                    "Nothing is sent until you confirm. The link works once, until {expires_at}; \
                     after that the withdrawal is cancelled and the funds return to your balance."
                ));
                p.push(
                    "If you did not ask for this, do not confirm: disable your account at once and change your \
                     password. Someone may be signed in as you."
                        .into(),
                );
                p
            },
            action: Some(("Review and confirm the withdrawal".into(), confirm_url.clone())),
        },
        Notice::TransferStatus { outgoing, asset, amount, counterparty_uid, status } => Body {
            subject: if *outgoing {
                format!("Transfer of {amount} {asset} to UID {counterparty_uid}: {status}")
            } else {
                format!("You received {amount} {asset} from UID {counterparty_uid}")
            },
            paragraphs: if *outgoing {
                vec![
                    format!("Your internal transfer of {amount} {asset} to the account with UID {counterparty_uid} is now: {status}."),
                    "If you did not ask for this transfer, disable your account at once: transfers that have not \
                     settled are cancelled when you do."
                        .into(),
                ]
            } else {
                vec![format!("{amount} {asset} arrived in your account from the account with UID {counterparty_uid}.")]
            },
            action: None,
        },
        Notice::WithdrawalStatus { summary, status } => Body {
            subject: format!("Withdrawal of {} {}: {status}", summary.amount, summary.asset),
            paragraphs: {
                let mut p = vec![format!("Your withdrawal is now: {status}.")];
                p.extend(withdrawal_lines(summary));
                p.push(
                    "If you did not ask for this withdrawal, disable your account at once: pending withdrawals \
                     are cancelled when you do."
                        .into(),
                );
                p
            },
            action: None,
        },
        Notice::ApiKeyCreated { key_id, label, key_kind, scopes, ip_allowlist, valid_until, at, ip } => {
            let from = ip.as_ref().map(|i| format!(" from {i}")).unwrap_or_default();
            let addresses = if ip_allowlist.is_empty() {
                "any address (no IP allowlist)".to_owned()
            } else {
                ip_allowlist.join(", ")
            };
            Body {
                subject: "API key created".into(),
                paragraphs: vec![
                    format!("An API key \"{label}\" ({key_id}, {key_kind}) was created on your account at {at}{from}."),
                    format!("It may: {}. It works from: {addresses}. It is valid until {valid_until}.", scopes.join(", ")),
                    "If this was you, there is nothing to do. If it was not, someone controls your account: \
                     disable your account at once, then revoke the key in the security center."
                        .into(),
                ],
                action: None,
            }
        }
        Notice::AccountFrozen { at, channel, lines } => {
            let mut paragraphs = vec![format!(
                "Your account was frozen at {at} ({channel}). Sign-ins, trading, withdrawals and transfers are \
                 blocked; every session and API key was ended."
            )];
            paragraphs.extend(lines.iter().cloned());
            paragraphs.push(
                "To get your account back, contact support through the official website: they will verify who \
                 you are first. Nobody from custos will ever ask for your password or codes."
                    .into(),
            );
            Body { subject: "Your account is frozen".into(), paragraphs, action: None }
        }
        Notice::CaseLink { uid, opened_at, case_url } => Body {
            subject: format!("Your case about account {uid}"),
            paragraphs: vec![
                format!(
                    "A case was opened at {opened_at} about your account (UID {uid}). Support sees what custos \
                     already knows: when the first sign of trouble appeared, what was done without you, and what \
                     the freeze stopped."
                ),
                "This private link shows the case and lets you write to support, even with no way to sign in. \
                 Keep it to yourself: it reads and adds to this one case, nothing else, for 90 days."
                    .into(),
                "Nobody from custos will ever ask for your password, codes or recovery phrase.".into(),
            ],
            action: Some(("Open my case".into(), case_url.clone())),
        },
        Notice::CaseReply { uid, staff_name, at } => Body {
            subject: format!("Support replied on your case (account {uid})"),
            paragraphs: vec![
                format!("{staff_name} from support wrote on your case at {at}."),
                "Read the reply in the security center under \"My cases\", or with the private case link you \
                 were given when the case opened. This message carries no link on purpose."
                    .into(),
            ],
            action: None,
        },
        Notice::RecoveryStarted { reset_url, lock_until } => Body {
            subject: "Recover your account: choose a new password".into(),
            paragraphs: vec![
                "Support ended the freeze on your account after checking who you are. Your old password, \
                 authenticator app, recovery codes and panic code no longer work."
                    .into(),
                "Choose a new password with this link, then add a new second factor before anything else. \
                 The link works once, for 30 minutes."
                    .into(),
                format!("Withdrawals stay paused until {lock_until}. This cannot be shortened."),
            ],
            action: Some(("Choose a new password".into(), reset_url.clone())),
        },
        Notice::ApiKeysRevoked { keys, at, ip } => {
            let from = ip.as_ref().map(|i| format!(" from {i}")).unwrap_or_default();
            let names: Vec<String> = keys.iter().map(|(id, label)| format!("\"{label}\" ({id})")).collect();
            Body {
                subject: "API key revoked".into(),
                paragraphs: vec![
                    format!("These API keys were revoked at {at}{from}: {}.", names.join(", ")),
                    "Programs using them can no longer act on your account. If you did not do this, sign in, \
                     check your security center and change your password."
                        .into(),
                ],
                action: None,
            }
        }
        Notice::ConfirmAllowlistEntry { entry, confirm_url, expires_at, cooling, ip } => Body {
            subject: format!("Confirm a new withdrawal address: {}", entry.label),
            paragraphs: vec![
                format!(
                    "Someone signed in to your account{} asked to add this address to your withdrawal allowlist:",
                    ip.as_ref().map(|i| format!(" from {i}")).unwrap_or_default()
                ),
                format!(
                    "\"{}\": {} on {}, {}{}",
                    entry.label,
                    entry.asset,
                    entry.network,
                    entry.address,
                    entry.memo.as_ref().map(|m| format!(" (memo {m})")).unwrap_or_default()
                ),
                format!(
                    "Nothing changes until you confirm. The link works once, until {expires_at}. After you confirm, \
                     the address can be used for withdrawals only after {cooling}."
                ),
                "If you did not ask for this, do not confirm: someone may be signed in as you. Disable your account \
                 at once, or sign in, remove the address and change your password."
                    .into(),
            ],
            action: Some(("Review and confirm the address".into(), confirm_url.clone())),
        },
        Notice::AllowlistChanged { change, at, ip } => Body {
            subject: "Your withdrawal allowlist changed".into(),
            paragraphs: vec![
                format!(
                    "{change} This happened at {at}{}.",
                    ip.as_ref().map(|i| format!(" from {i}")).unwrap_or_default()
                ),
                "If this was you, there is nothing to do. If it was not, disable your account at once: it stops \
                 withdrawals until you recover it."
                    .into(),
            ],
            action: None,
        },
    }
}

fn withdrawal_lines(s: &custos_core::notice::WithdrawalSummary) -> Vec<String> {
    let mut lines = vec![
        format!("Amount: {} {} on {} (network fee {} {}).", s.amount, s.asset, s.network, s.fee, s.asset),
        format!("To: {}{}", s.address, s.memo.as_ref().map(|m| format!(" (memo {m})")).unwrap_or_default()),
        format!(
            "Requested at {}{}.",
            s.requested_at,
            s.ip.as_ref().map(|i| format!(" from {i}")).unwrap_or_default()
        ),
    ];
    if let Some(txid) = &s.txid {
        lines.push(format!("Transaction id: {txid}"));
    }
    lines
}

pub fn render(m: &EmailMessage) -> Rendered {
    let b = body(&m.notice);
    let mut text = String::new();
    if let Some(code) = &m.anti_phishing_code {
        text.push_str(&format!("Your anti-phishing code: {code}\n\n"));
    }
    for p in &b.paragraphs {
        text.push_str(p);
        text.push_str("\n\n");
    }
    if let Some((label, url)) = &b.action {
        text.push_str(&format!("{label}: {url}\n\n"));
    }
    if let Some(url) = &m.disable_url {
        text.push_str(&format!("Not you? Disable your account: {url}\n\n"));
    }
    text.push_str("custos will never ask for your password, 2FA codes or API secrets.\n");
    let html = EmailHtml {
        subject: &b.subject,
        anti_phishing_code: m.anti_phishing_code.as_deref(),
        paragraphs: &b.paragraphs,
        action: b.action.as_ref(),
        disable_url: m.disable_url.as_deref(),
    }
    .render()
    .unwrap_or_else(|_| format!("<pre>{}</pre>", text.replace('&', "&amp;").replace('<', "&lt;")));
    Rendered { subject: b.subject, text, html }
}

/// `<hash-of-idempotency-key@host>`: a retry of the same message carries the same Message-ID.
pub fn message_id(idempotency_key: &str, public_url: &url::Url) -> String {
    let host = public_url.host_str().unwrap_or("custos.localhost");
    format!("<{}@{host}>", hex::encode(&sha256(idempotency_key.as_bytes())[..16]))
}

pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// Dev mode without SMTP: messages land in the database and show at `/dev/mailbox`.
    DevMailbox,
}

impl Mailer {
    pub fn from_config(smtp_url: Option<&str>, from: &str) -> Result<Self, String> {
        match smtp_url {
            None => Ok(Self::DevMailbox),
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("CUSTOS_SMTP_URL: {e}"))?
                    .build();
                let from: Mailbox = from.parse().map_err(|e| format!("CUSTOS_MAIL_FROM: {e}"))?;
                Ok(Self::Smtp { transport, from })
            }
        }
    }

    pub async fn send(
        &self,
        state: &AppState,
        message_id: &str,
        to: &str,
        r: &Rendered,
    ) -> Result<(), String> {
        match self {
            Self::Smtp { transport, from } => {
                let to: Mailbox = to.parse().map_err(|e| format!("recipient: {e}"))?;
                let email = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(&r.subject)
                    .message_id(Some(message_id.to_owned()))
                    .multipart(MultiPart::alternative_plain_html(r.text.clone(), r.html.clone()))
                    .map_err(|e| e.to_string())?;
                transport.send(email).await.map(|_| ()).map_err(|e| e.to_string())
            }
            Self::DevMailbox => state
                .store
                .store_dev_mail(&DevMail {
                    message_id: message_id.to_owned(),
                    recipient: to.to_owned(),
                    subject: r.subject.clone(),
                    text_body: r.text.clone(),
                    html_body: r.html.clone(),
                    received_at: state.clock.now(),
                })
                .await
                .map_err(|e| e.to_string()),
        }
    }
}
