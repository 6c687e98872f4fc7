//! Email end to end: a real IMAP server (dovecot) and SMTP server
//! (OpenSMTPD, delivering into dovecot over LMTP) on loopback ports, the
//! binary's IMAP poller reading the support mailbox and its outbox sending
//! agents' replies over SMTP — both over TLS (IMAPS with dovecot's
//! `ssl = required`; SMTPS and STARTTLS through dovecot's submission
//! service, which relays to OpenSMTPD: OpenSMTPD 6.8's own TLS fails every
//! handshake with Debian's OpenSSL 3), with certificates from a CA made by the test
//! (`openssl`) that the inbox trusts through its `ca_cert`; a second inbox
//! not trusting it is refused. OpenSMTPD's queue directory is fixed
//! (/var/spool/smtpd): this file holds exactly one test, so one smtpd runs.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use futures_util::TryStreamExt;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use switchboard_channels::email;

const SUPPORT: &str = "support@shop.test";
const CUSTOMER: &str = "ann@example.com";
const PASSWORD: &str = "secret";
const DOVECOT: &str = "/usr/sbin/dovecot";
const SMTPD: &str = "/usr/sbin/smtpd";
const SUBMISSION: &str = "/usr/lib/dovecot/submission";

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
    /// IMAPS (the only IMAP listener: dovecot has `ssl = required`).
    imap_port: u16,
    /// Plain SMTP, for the test's own customer mails.
    smtp_port: u16,
    /// SMTPS (implicit TLS) and submission (STARTTLS), for the product's
    /// replies: dovecot's submission service, relaying to smtpd.
    smtps_port: u16,
    starttls_port: u16,
    /// The test CA (PEM) that signed the servers' certificate.
    ca_pem: String,
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

fn openssl(root: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").current_dir(root).args(args).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA (`ca.pem`) and a certificate for 127.0.0.1 signed by it
/// (`server.pem`, key `server.key`).
fn make_certificates(root: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    openssl(root, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Switchboard test CA"]);
    // An ECDSA key: OpenSMTPD's privilege-separated RSA signing fails
    // with OpenSSL 3 ("EVP lib") under rustls' RSA-PSS.
    openssl(root, &["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
    std::fs::write(
        root.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        root,
        &["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext"],
    );
    std::fs::set_permissions(root.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::read_to_string(root.join("ca.pem")).unwrap()
}

async fn mail_servers(root: &Path) -> MailServers {
    use std::os::unix::fs::PermissionsExt;
    // The mail processes run as the `mail` user and must reach the maildirs.
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ca_pem = make_certificates(root);
    let (imap_port, lmtp_port, smtp_port, smtps_port, starttls_port) = (free_port(), free_port(), free_port(), free_port(), free_port());
    let r = root.display();
    for d in ["run", "state", "mail"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let _ = std::process::Command::new("chown").args(["mail:mail"]).arg(root.join("mail")).status();
    let dovecot_conf = format!(
        "base_dir = {r}/run\nstate_dir = {r}/state\nlog_path = /dev/stderr\nprotocols = imap lmtp submission\nlisten = 127.0.0.1\n\
ssl = required\nssl_cert = <{r}/server.pem\nssl_key = <{r}/server.key\nauth_mechanisms = plain login\nfirst_valid_uid = 1\n\
mail_location = maildir:{r}/mail/%n\n\
passdb {{\n  driver = static\n  args = password={PASSWORD}\n}}\n\
userdb {{\n  driver = static\n  args = uid=mail gid=mail home={r}/mail/%n\n}}\n\
service imap-login {{\n  inet_listener imap {{\n    port = 0\n  }}\n  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imap_port}\n    ssl = yes\n  }}\n}}\n\
service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {lmtp_port}\n  }}\n}}\n\
service submission-login {{\n  inet_listener submission {{\n    address = 127.0.0.1\n    port = {starttls_port}\n  }}\n\
  inet_listener submissions {{\n    address = 127.0.0.1\n    port = {smtps_port}\n    ssl = yes\n  }}\n  chroot =\n}}\n\
submission_relay_host = 127.0.0.1\nsubmission_relay_port = {smtp_port}\nsubmission_relay_trusted = yes\nhostname = mail.shop.test\n\
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
    wait_port(smtps_port, "dovecot (SMTPS submission)").await;
    wait_port(starttls_port, "dovecot (STARTTLS submission)").await;
    MailServers { root: root.to_owned(), imap_port, smtp_port, smtps_port, starttls_port, ca_pem, _smtpd: smtpd, _dovecot: dovecot }
}

impl MailServers {
    async fn send(&self, raw: &str, from: &str, to: &str) {
        let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").port(self.smtp_port).build();
        let env = lettre::address::Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
        smtp.send_raw(&env, raw.replace('\n', "\r\n").as_bytes()).await.expect("SMTP send");
    }

    async fn imap(&self) -> async_imap::Session<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.imap_port)).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("TLS with dovecot");
        let mut s = async_imap::Client::new(tls).login(SUPPORT, PASSWORD).await.map_err(|(e, _)| e).unwrap();
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
    if !Path::new(DOVECOT).exists() || !Path::new(SMTPD).exists() || !Path::new(SUBMISSION).exists() {
        assert!(std::env::var_os("CI").is_none(), "dovecot (imapd, lmtpd, submissiond) and smtpd must be installed in CI (scripts/test.sh installs them)");
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
    // The servers' certificate is trusted through the inbox's ca_cert.
    let body = json!({"name": "Support mail", "channel": "email", "config": {
        "address": SUPPORT, "imap_host": "127.0.0.1", "imap_port": mail.imap_port, "smtp_host": "127.0.0.1",
        "smtp_port": mail.smtps_port, "username": SUPPORT, "password": PASSWORD,
        "imap_security": "tls", "smtp_security": "tls", "ca_cert": mail.ca_pem}});
    let (status, inbox) = admin.post(&format!("/api/v1/workspaces/{ws}/inboxes"), body).await;
    assert_eq!(status, 201, "{inbox}");
    // A bad CA or mode is refused, nothing created.
    let bad = json!({"name": "Bad", "channel": "email", "config": {
        "address": "x@shop.test", "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1", "username": "x", "password": "x",
        "ca_cert": "not a certificate"}});
    let (status, body) = admin.post(&format!("/api/v1/workspaces/{ws}/inboxes"), bad).await;
    assert_eq!(status, 400, "{body}");
    let bad = json!({"name": "Bad", "channel": "email", "config": {
        "address": "x@shop.test", "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1", "username": "x", "password": "x",
        "imap_security": "starttls"}});
    let (status, body) = admin.post(&format!("/api/v1/workspaces/{ws}/inboxes"), bad).await;
    assert_eq!(status, 400, "{body}");
    // The same servers without the CA: the certificate is not trusted.
    let body = json!({"name": "Untrusted mail", "channel": "email", "config": {
        "address": "sales@shop.test", "imap_host": "127.0.0.1", "imap_port": mail.imap_port, "smtp_host": "127.0.0.1",
        "smtp_port": mail.smtps_port, "username": "sales@shop.test", "password": PASSWORD}});
    let (status, untrusted) = admin.post(&format!("/api/v1/workspaces/{ws}/inboxes"), body).await;
    assert_eq!(status, 201, "{untrusted}");

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

    // The inbox that does not trust the CA: refused, the reason shown on
    // the inbox, its mail never read. The trusted one reports ok.
    mail.send(&format!("From: {CUSTOMER}\nTo: sales@shop.test\nSubject: Hi\nMessage-ID: <s1@example.com>\n\nPrices?\n"), CUSTOMER, "sales@shop.test").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        let (code, body) = admin.get(&format!("/api/v1/workspaces/{ws}/inboxes/{}", untrusted["id"])).await;
        assert_eq!(code, 200, "{body}");
        let s = body["config"]["mail_status"].clone();
        if s["ok"] == false && mail.maildir("sales").len() == 1 {
            break s;
        }
        assert!(tokio::time::Instant::now() < deadline, "no failure recorded on the untrusted inbox: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let error = status["error"].as_str().unwrap_or_default();
    assert!(error.contains("TLS") && error.to_lowercase().contains("certificate"), "{status}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (code, body) = admin.get(&format!("/api/v1/workspaces/{ws}/conversations?inbox={}", untrusted["id"])).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(0), "nothing stored from an untrusted server: {body}");
    assert_eq!(conversations().await.len(), 1);
    let (_, body) = admin.get(&format!("/api/v1/workspaces/{ws}/inboxes/{}", inbox["id"])).await;
    assert_eq!(body["config"]["mail_status"]["ok"], true, "{body}");

    // An agent's reply with a file: a multipart mail carrying the bytes.
    let label: &[u8] = b"\x89PNG\r\n\x1a\n not really a png \x00\xff";
    let upload = format!("/api/v1/workspaces/{ws}/conversations/{conv}/attachments?filename=label.png");
    let (status, file) = alice.raw(reqwest::Method::POST, &upload, "image/png", label.to_vec()).await;
    assert_eq!(status, 201, "{file}");
    let (status, reply) = alice
        .post(&format!("/api/v1/workspaces/{ws}/conversations/{conv}/messages"), json!({"content": "Your label.", "echo_id": "r-file", "attachment_ids": [file["id"]]}))
        .await;
    assert_eq!(status, 201, "{reply}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let with_file = loop {
        if let Some(m) = mail.maildir("ann").iter().filter_map(|raw| email::parse(raw).ok()).find(|m| m.text.contains("Your label.")) {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "the reply with a file never reached the customer's mailbox");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(with_file.attachments.len(), 1, "{with_file:?}");
    assert_eq!(with_file.attachments[0].filename.as_deref(), Some("label.png"));
    assert_eq!(with_file.attachments[0].mime_type, "image/png");
    assert_eq!(with_file.attachments[0].data, label, "the bytes the agent uploaded");

    // Replies over STARTTLS (submission) as well.
    let (status, body) = admin
        .patch(&format!("/api/v1/workspaces/{ws}/inboxes/{}", inbox["id"]), json!({"config": {"smtp_security": "starttls", "smtp_port": mail.starttls_port}}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, reply) =
        alice.post(&format!("/api/v1/workspaces/{ws}/conversations/{conv}/messages"), json!({"content": "Sent over STARTTLS.", "echo_id": "r2"})).await;
    assert_eq!(status, 201, "{reply}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !mail.maildir("ann").iter().any(|raw| email::parse(raw).is_ok_and(|m| m.text.contains("Sent over STARTTLS."))) {
        assert!(tokio::time::Instant::now() < deadline, "the STARTTLS reply never reached the customer's mailbox");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
}

/// Base64 with line breaks every 76 characters, as MIME writes it.
fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    let flat = base64::engine::general_purpose::STANDARD.encode(data);
    flat.as_bytes().chunks(76).map(|l| String::from_utf8_lossy(l).into_owned()).collect::<Vec<_>>().join("\n")
}
