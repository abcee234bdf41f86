//! Email through a real SMTP server: Python's aiosmtpd in its own process, writing a Maildir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::*;

struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_smtp(port: u16) -> SmtpServer {
    let maildir = temp_path("custos-maildir");
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with aiosmtpd is needed for the SMTP tests (pip install aiosmtpd==1.4.6)");
    let server = SmtpServer { child, port, maildir };
    // Python's start-up alone can take seconds while the rest of the suite loads both cores.
    for _ in 0..1500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server);
    panic!("aiosmtpd did not start on port {port}: is it installed? (pip install aiosmtpd==1.4.6)");
}

async fn wait_for_messages(maildir: &Path, n: usize) -> Vec<String> {
    for _ in 0..400 {
        if let Ok(entries) = std::fs::read_dir(maildir.join("new")) {
            let msgs: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect();
            if msgs.len() >= n {
                return msgs;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} messages arrived in {}", maildir.display());
}

fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} header in {msg}"))
}

#[tokio::test]
async fn verification_mail_goes_through_a_real_smtp_server() {
    let smtp = start_smtp(free_port()).await;
    let app = spawn_app_with(Options {
        smtp_url: Some(format!("smtp://127.0.0.1:{}", smtp.port)),
        ..Default::default()
    })
    .await;
    app.register("smtp.user@example.com").await;
    let msg = wait_for_messages(&smtp.maildir, 1).await.remove(0);
    assert_eq!(header(&msg, "To"), "smtp.user@example.com");
    assert_eq!(header(&msg, "Subject"), "Confirm your email address");
    assert!(header(&msg, "Message-ID").ends_with("@127.0.0.1>"));
    assert!(msg.contains("multipart/alternative"));
    assert!(msg.contains("text/plain") && msg.contains("text/html"));
    let body = msg.replace("=\r\n", "").replace("=\n", "");
    let token = link_token(&body, "/verify-email/");
    assert_eq!(token.len(), 43);
    // The delivery is recorded right after the server accepted the message.
    for _ in 0..250 {
        if app.store.outbox_pending(10).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(app.store.outbox_pending(10).await.unwrap().is_empty(), "delivered and recorded");
    assert!(app.store.dev_mail(10).await.unwrap().is_empty(), "SMTP configured: nothing in the dev mailbox");
}

#[tokio::test]
async fn mail_queued_while_the_smtp_server_is_down_is_delivered_once_it_is_back() {
    let port = free_port();
    let app =
        spawn_app_with(Options { smtp_url: Some(format!("smtp://127.0.0.1:{port}")), ..Default::default() })
            .await;
    app.register("patient@example.com").await;
    // The first attempt fails and is scheduled for retry; nothing is lost.
    let mut failed = None;
    for _ in 0..250 {
        let pending = app.store.outbox_pending(10).await.unwrap();
        if let Some(m) = pending.into_iter().find(|m| m.attempts >= 1 && m.last_error.is_some()) {
            failed = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failed = failed.expect("a failed first attempt");
    assert!(failed.payload.is_some());

    let smtp = start_smtp(port).await;
    app.clock.advance(Duration::from_secs(10));
    app.state.outbox_wake.notify_one();
    let msgs = wait_for_messages(&smtp.maildir, 1).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(header(&msgs[0], "Subject"), "Confirm your email address");
    // The worker records the delivery right after the server accepted the message.
    let mut delivered = app.store.outbox_message(failed.id).await.unwrap().unwrap();
    for _ in 0..250 {
        if delivered.delivered_at.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        delivered = app.store.outbox_message(failed.id).await.unwrap().unwrap();
    }
    assert!(delivered.delivered_at.is_some());
    assert_eq!(delivered.attempts, 2);
}
