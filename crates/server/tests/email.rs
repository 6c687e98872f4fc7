//! Email end to end: a real IMAP server (dovecot) and SMTP server
//! (OpenSMTPD, delivering into dovecot over LMTP) on loopback ports, the
//! binary's IMAP poller reading the support mailbox and its outbox sending
//! agents' replies over SMTP. OpenSMTPD's queue directory is fixed
//! (/var/spool/smtpd): this file holds exactly one test, so one smtpd runs.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use futures_util::TryStreamExt;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchboard_channels::email;

const SUPPORT: &str = "support@shop.test";
const CUSTOMER: &str = "ann@example.com";
const PASSWORD: &str = "secret";
const DOVECOT: &str = "/usr/sbin/dovecot";
const SMTPD: &str = "/usr/sbin/smtpd";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A daemon stopped (SIGTERM, then waited for) when dropped.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        for _ in 0..50 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct MailServers {
    root: PathBuf,
    imap_port: u16,
    smtp_port: u16,
    // Dropped in this order: smtpd first (it delivers into dovecot).
    _smtpd: Daemon,
    _dovecot: Daemon,
}

async fn wait_port(port: u16, what: &str) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not listen on port {port}");
}

async fn mail_servers(root: &Path) -> MailServers {
    use std::os::unix::fs::PermissionsExt;
    // The mail processes run as the `mail` user and must reach the maildirs.
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (imap_port, lmtp_port, smtp_port) = (free_port(), free_port(), free_port());
    let r = root.display();
    for d in ["run", "state", "mail"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let _ = std::process::Command::new("chown").args(["mail:mail"]).arg(root.join("mail")).status();
    let dovecot_conf = format!(
        "base_dir = {r}/run\nstate_dir = {r}/state\nlog_path = /dev/stderr\nprotocols = imap lmtp\nlisten = 127.0.0.1\n\
ssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\nfirst_valid_uid = 1\n\
mail_location = maildir:{r}/mail/%n\n\
passdb {{\n  driver = static\n  args = password={PASSWORD}\n}}\n\
userdb {{\n  driver = static\n  args = uid=mail gid=mail home={r}/mail/%n\n}}\n\
service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap_port}\n  }}\n}}\n\
service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {lmtp_port}\n  }}\n}}\n\
service anvil {{\n  chroot =\n}}\nservice imap-login {{\n  chroot =\n}}\nlmtp_save_to_detail_mailbox = no\n"
    );
    std::fs::write(root.join("dovecot.conf"), dovecot_conf).unwrap();
    let smtpd_conf = format!(
        "table vusers {{ \"@\" = \"mail\" }}\nlisten on 127.0.0.1 port {smtp_port}\n\
action \"deliver\" lmtp \"127.0.0.1:{lmtp_port}\" rcpt-to virtual <vusers>\nmatch from any for any action \"deliver\"\n"
    );
    std::fs::write(root.join("smtpd.conf"), smtpd_conf).unwrap();
    let dovecot = std::process::Command::new(DOVECOT).arg("-F").arg("-c").arg(root.join("dovecot.conf")).spawn().expect("start dovecot");
    let dovecot = Daemon(dovecot);
    wait_port(imap_port, "dovecot (IMAP)").await;
    wait_port(lmtp_port, "dovecot (LMTP)").await;
    let smtpd = std::process::Command::new(SMTPD).arg("-d").arg("-f").arg(root.join("smtpd.conf")).spawn().expect("start smtpd");
    let smtpd = Daemon(smtpd);
    wait_port(smtp_port, "smtpd").await;
    MailServers { root: root.to_owned(), imap_port, smtp_port, _smtpd: smtpd, _dovecot: dovecot }
}

impl MailServers {
    async fn send(&self, raw: &str, from: &str, to: &str) {
        let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").port(self.smtp_port).build();
        let env = lettre::address::Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
        smtp.send_raw(&env, raw.replace('\n', "\r\n").as_bytes()).await.expect("SMTP send");
    }

    async fn imap(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.imap_port)).await.unwrap();
        let mut s = async_imap::Client::new(tcp).login(SUPPORT, PASSWORD).await.map_err(|(e, _)| e).unwrap();
        s.select("INBOX").await.unwrap();
        s
    }

    /// UIDs of the support mailbox: (all, unseen).
    async fn support_mailbox(&self) -> (usize, usize) {
        let mut s = self.imap().await;
        let all = s.uid_search("ALL").await.unwrap().len();
        let unseen = s.uid_search("UNSEEN").await.unwrap().len();
        s.logout().await.unwrap();
        (all, unseen)
    }

    /// Waits until the support mailbox holds `total` mails, all seen.
    async fn wait_all_seen(&self, total: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (all, unseen) = self.support_mailbox().await;
            if all == total && unseen == 0 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "mailbox: {all} mails, {unseen} unseen; wanted {total} all seen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The mails delivered to a local part's maildir (raw).
    fn maildir(&self, user: &str) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.root.join("mail").join(user).join(sub)) {
                for e in entries.flatten() {
                    out.push(std::fs::read(e.path()).unwrap());
                }
            }
        }
        out
    }
}

#[tokio::test]
async fn email_in_reply_threading_automatic_and_dedup() {
    if !Path::new(DOVECOT).exists() || !Path::new(SMTPD).exists() {
        assert!(std::env::var_os("CI").is_none(), "dovecot and smtpd must be installed in CI (scripts/test.sh installs them)");
        eprintln!("skipping: dovecot or smtpd not installed");
        return;
    }
    let mail_dir = TempDir::new("sb-mail").unwrap();
    let mail = mail_servers(mail_dir.path()).await;

    let dir = TempDir::new("sb-email").unwrap();
    let server = Server::start("demo", dir.path(), None, &["--outbox-poll-ms", "50", "--email-poll-ms", "200"]).await;
    let admin = server.login("admin@demo.test").await;
    let alice = server.login("alice@demo.test").await;
    let (ws, _) = demo_workspace(&admin).await;
    let body = json!({"name": "Support mail", "channel": "email", "config": {
        "address": SUPPORT, "imap_host": "127.0.0.1", "imap_port": mail.imap_port, "smtp_host": "127.0.0.1",
        "smtp_port": mail.smtp_port, "username": SUPPORT, "password": PASSWORD, "tls": false}});
    let (status, inbox) = admin.post(&format!("/api/v1/workspaces/{ws}/inboxes"), body).await;
    assert_eq!(status, 201, "{inbox}");

    let conversations = || async {
        let (status, body) = admin.get(&format!("/api/v1/workspaces/{ws}/conversations?channel=email")).await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().cloned().unwrap_or_default()
    };
    let messages = |conv: i64| {
        let admin = &admin;
        async move {
            let (status, body) = admin.get(&format!("/api/v1/workspaces/{ws}/conversations/{conv}/messages?limit=200")).await;
            assert_eq!(status, 200, "{body}");
            body["data"].as_array().cloned().unwrap_or_default()
        }
    };

    // A customer writes in.
    mail.send(
        &format!(
            "From: Ann Lee <{CUSTOMER}>\nTo: {SUPPORT}\nSubject: Where is my order?\nMessage-ID: <c1@example.com>\n\
Date: Tue, 24 Nov 2026 10:00:00 +0000\n\nHello, order 42 has not arrived.\n"
        ),
        CUSTOMER,
        SUPPORT,
    )
    .await;
    mail.wait_all_seen(1).await;
    let convs = conversations().await;
    assert_eq!(convs.len(), 1, "{convs:?}");
    let conv = convs[0]["id"].as_i64().unwrap();
    assert_eq!(convs[0]["contact"]["name"], "Ann Lee");
    let msgs = messages(conv).await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0]["content"].as_str().unwrap().contains("order 42 has not arrived"), "{msgs:?}");

    // An agent's reply arrives in the customer's mailbox, threaded.
    let (status, reply) =
        alice.post(&format!("/api/v1/workspaces/{ws}/conversations/{conv}/messages"), json!({"content": "It ships today.", "echo_id": "r1"})).await;
    assert_eq!(status, 201, "{reply}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let delivered = loop {
        if let Some(raw) = mail.maildir("ann").pop() {
            break email::parse(&raw).unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "the reply never reached the customer's mailbox");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(delivered.in_reply_to, vec!["c1@example.com".to_owned()]);
    assert_eq!(delivered.subject.as_deref(), Some("Re: Where is my order?"));
    assert_eq!(delivered.from_address, SUPPORT);
    assert!(delivered.text.contains("It ships today."), "{delivered:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = messages(conv).await.into_iter().find(|m| m["id"] == reply["id"]).unwrap();
        if m["status"] == "sent" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the reply was not marked sent: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The customer answers our reply: the same conversation.
    mail.send(
        &format!(
            "From: Ann Lee <{CUSTOMER}>\nTo: {SUPPORT}\nSubject: Re: Where is my order?\nMessage-ID: <c2@example.com>\n\
In-Reply-To: <{}>\nReferences: <c1@example.com> <{}>\n\nThank you!\n",
            delivered.message_id, delivered.message_id
        ),
        CUSTOMER,
        SUPPORT,
    )
    .await;
    mail.wait_all_seen(2).await;
    assert_eq!(conversations().await.len(), 1);
    let msgs = messages(conv).await;
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs.iter().any(|m: &Value| m["content"].as_str().unwrap_or("").contains("Thank you!")), "{msgs:?}");

    // Resolved, then answered again: the thread reopens the conversation.
    let (status, body) = alice.patch(&format!("/api/v1/workspaces/{ws}/conversations/{conv}"), json!({"status": "resolved"})).await;
    assert_eq!(status, 200, "{body}");
    mail.send(
        &format!(
            "From: Ann Lee <{CUSTOMER}>\nTo: {SUPPORT}\nSubject: Re: Where is my order?\nMessage-ID: <c3@example.com>\n\
In-Reply-To: <c2@example.com>\nReferences: <c1@example.com> <c2@example.com>\n\nOne more question.\n"
        ),
        CUSTOMER,
        SUPPORT,
    )
    .await;
    mail.wait_all_seen(3).await;
    let convs = conversations().await;
    assert_eq!(convs.len(), 1, "{convs:?}");
    assert_eq!(convs[0]["status"], "open");
    assert_eq!(messages(conv).await.len(), 4);

    // An auto-reply is marked seen and stored nowhere.
    mail.send(
        &format!(
            "From: {CUSTOMER}\nTo: {SUPPORT}\nSubject: Out of office\nMessage-ID: <auto1@example.com>\n\
Auto-Submitted: auto-replied\n\nI am away until Monday.\n"
        ),
        CUSTOMER,
        SUPPORT,
    )
    .await;
    mail.wait_all_seen(4).await;
    assert_eq!(conversations().await.len(), 1);
    assert_eq!(messages(conv).await.len(), 4);

    // Resolved again; a reply from another client whose In-Reply-To names
    // a mail we never saw, but whose References carry the thread: it
    // reopens the same conversation instead of starting a new one. It
    // carries a PDF, stored as an attachment agents can download.
    let (status, body) = alice.patch(&format!("/api/v1/workspaces/{ws}/conversations/{conv}"), json!({"status": "resolved"})).await;
    assert_eq!(status, 200, "{body}");
    let pdf: &[u8] = b"%PDF-1.4\n% a tiny invoice\n1 0 obj << >> endobj\n%%EOF\n";
    mail.send(
        &format!(
            "From: Ann Lee <{CUSTOMER}>\nTo: {SUPPORT}\nSubject: Re: Where is my order?\nMessage-ID: <c4@example.com>\n\
In-Reply-To: <unknown-draft@mail.example.com>\nReferences: <c1@example.com> <unknown-draft@mail.example.com>\n\
MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\n\
Here is the invoice.\n--b1\nContent-Type: application/pdf; name=\"invoice.pdf\"\nContent-Disposition: attachment; filename=\"invoice.pdf\"\n\
Content-Transfer-Encoding: base64\n\n{}\n--b1--\n",
            base64_encode(pdf)
        ),
        CUSTOMER,
        SUPPORT,
    )
    .await;
    mail.wait_all_seen(5).await;
    let convs = conversations().await;
    assert_eq!(convs.len(), 1, "threaded by References: {convs:?}");
    assert_eq!(convs[0]["status"], "open");
    let msgs = messages(conv).await;
    assert_eq!(msgs.len(), 5, "{msgs:?}");
    let with_file = msgs.iter().find(|m| m["content"].as_str().unwrap_or("").contains("Here is the invoice.")).expect("the mail with a file");
    let files = with_file["attachments"].as_array().cloned().unwrap_or_default();
    assert_eq!(files.len(), 1, "{with_file}");
    assert_eq!((files[0]["filename"].as_str(), files[0]["content_type"].as_str()), (Some("invoice.pdf"), Some("application/pdf")));
    assert_eq!(files[0]["size"].as_i64(), Some(pdf.len() as i64));
    let url = files[0]["url"].as_str().unwrap();
    let got = reqwest::get(format!("{}{url}", server.base)).await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), pdf, "the file as the customer sent it");

    // Every mail read again (flags lost): nothing is stored twice.
    let mut s = mail.imap().await;
    let _: Vec<_> = s.uid_store("1:*", "-FLAGS (\\Seen)").await.unwrap().try_collect().await.unwrap();
    assert_eq!(s.uid_search("UNSEEN").await.unwrap().len(), 5);
    s.logout().await.unwrap();
    mail.wait_all_seen(5).await;
    assert_eq!(conversations().await.len(), 1);
    let msgs = messages(conv).await;
    assert_eq!(msgs.len(), 5);
    assert_eq!(msgs.iter().map(|m| m["attachments"].as_array().map_or(0, Vec::len)).sum::<usize>(), 1, "no file stored twice");
    drop(server);
}

/// Base64 with line breaks every 76 characters, as MIME writes it.
fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    let flat = base64::engine::general_purpose::STANDARD.encode(data);
    flat.as_bytes().chunks(76).map(|l| String::from_utf8_lossy(l).into_owned()).collect::<Vec<_>>().join("\n")
}
