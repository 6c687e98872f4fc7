//! `switchboard demo`: a seeded workspace to try the product with.

use crate::auth;
use crate::state::AppState;
use switchboard_core::*;
use switchboard_emulator::{Emulator, TELEGRAM_BOT_TOKEN, WHATSAPP_TOKEN};
use switchboard_store::{ContactFields, InboundMessage, InboxPatch, NewInbox, OutboundMessage, StoreError};

pub const WORKSPACE: &str = "Demo";
pub const PASSWORD: &str = "switchboard-demo";
pub const INBOX: &str = "Website";

pub const USERS: &[(&str, &str, Role)] = &[
    ("admin@demo.test", "Dana Admin", Role::Admin),
    ("supervisor@demo.test", "Sam Supervisor", Role::Supervisor),
    ("alice@demo.test", "Alice Agent", Role::Agent),
    ("bob@demo.test", "Bob Agent", Role::Agent),
];

/// Creates the demo workspace unless it exists (then answers false). Safe
/// to run on every start.
pub async fn seed(st: &AppState) -> Result<bool, StoreError> {
    let store = &st.store;
    if store.find_workspace_by_name(WORKSPACE).await?.is_some() {
        return Ok(false);
    }
    let now = st.now();
    let ws = store.create_workspace(WORKSPACE, &auth::random_secret(), now).await?.id;
    let hash = auth::hash_password(PASSWORD).await.map_err(|e| StoreError::Config(e.to_string()))?;
    let mut ids = Vec::new();
    for (email, name, role) in USERS {
        let user = match store.find_credentials(email).await? {
            Some(c) => c.user,
            None => store.create_user(email, name, &hash, now).await?,
        };
        store.add_member(ws, user.id, *role, now).await?;
        ids.push(user.id);
    }
    let support = store.create_team(ws, "Support", now).await?.id;
    store.create_team(ws, "Sales", now).await?;
    for agent in &ids[2..] {
        store.set_team_member(ws, support, *agent, 5, now).await?;
    }
    let mut config = serde_json::Map::new();
    config.insert("greeting".into(), "Hi there! Ask us anything — we usually answer within a few minutes.".into());
    let inbox = store
        .create_inbox(
            ws,
            NewInbox {
                name: INBOX.into(),
                channel: Channel::Webchat,
                config,
                website_token: Some(auth::random_secret()[..24].to_owned()),
            },
            now,
        )
        .await?;
    for (name, content) in [
        ("greeting", "Hi {{contact.name}}, this is {{agent.name}}. How can I help you today?"),
        ("phone", "Could you share your phone number? We will call you back."),
        ("thanks", "Thank you for reaching out, {{contact.name}}! Have a great day."),
    ] {
        store.create_template(ws, name, content, now).await?;
    }
    for (tag, color) in [("hired", "#16a34a"), ("vip", "#d97706"), ("billing", "#2563eb")] {
        store.create_tag(ws, tag, color).await?;
    }
    // Two earlier conversations so the screens are not empty.
    let samples = [
        ("Maria Lopez", "maria@example.com", "Hello! Is my order #1042 shipped yet?", Some("It left our warehouse this morning — here is the tracking link.")),
        ("Олег Коваленко", "oleg@example.com", "Добрый день! Можно изменить адрес доставки?", None),
    ];
    for (i, (name, email, question, answer)) in samples.into_iter().enumerate() {
        let t = now.plus_millis(-((2 - i as i64) * 3_600_000));
        let contact = store
            .create_contact(
                ws,
                ContactFields { name: Some(Some(name.into())), email: Some(Some(email.into())), ..Default::default() },
                t,
            )
            .await?;
        let r = store
            .receive_message(
                ws,
                InboundMessage { inbox_id: inbox.id, contact_id: contact.id, content: question.into(), echo_id: None, dedup_key: None , attachment_ids: Vec::new()},
                t,
            )
            .await?;
        if let Some(answer) = answer {
            let sender = Sender { kind: SenderType::User, id: Some(ids[2].0), name: Some("Alice Agent".into()) };
            let out = OutboundMessage { kind: MessageKind::Out, content: answer.into(), sender, echo_id: None, status: DeliveryStatus::Sent, attachment_ids: Vec::new() };
            store.send_message(ws, r.conversation.id, out, t.plus_millis(60_000)).await?;
        }
    }
    Ok(true)
}

pub async fn website_token(st: &AppState) -> Result<Option<String>, StoreError> {
    let Some(ws) = st.store.find_workspace_by_name(WORKSPACE).await? else { return Ok(None) };
    let inboxes = st.store.list_inboxes(ws.id).await?;
    Ok(inboxes.into_iter().find(|i| i.name == INBOX).and_then(|i| i.website_token))
}

const WA_PHONE_ID: &str = "106540352242922";
const WA_SECRET: &str = "demo-whatsapp-app-secret";
const TG_SECRET: &str = "demo-telegram-secret";

/// WhatsApp and Telegram for the demo, without real accounts: an emulator
/// of both providers runs in the process and the demo's inboxes point at
/// it, so agents' replies go out through the real outbox and customers'
/// messages come in as signed webhooks.
pub struct DemoChannels {
    emulator: Emulator,
    whatsapp: InboxId,
    telegram: InboxId,
}

pub async fn start_channels(st: &AppState) -> Result<DemoChannels, StoreError> {
    let emulator = Emulator::start().await;
    let base = emulator.base_url();
    let ws = st.store.find_workspace_by_name(WORKSPACE).await?.ok_or(StoreError::NotFound)?.id;
    let inboxes = st.store.list_inboxes(ws).await?;
    let mut ids = Vec::new();
    for (name, channel, config) in [
        ("WhatsApp", Channel::Whatsapp, serde_json::json!({"phone_number_id": WA_PHONE_ID, "access_token": WHATSAPP_TOKEN,
            "app_secret": WA_SECRET, "verify_token": "demo-verify", "api_base_url": base})),
        ("Telegram", Channel::Telegram, serde_json::json!({"bot_token": TELEGRAM_BOT_TOKEN, "secret_token": TG_SECRET, "api_base_url": base})),
    ] {
        let config = match config {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        // The emulator's port changes with every start: re-point the inbox.
        let id = match inboxes.iter().find(|i| i.name == name && i.channel == channel) {
            Some(i) => st.store.update_inbox(ws, i.id, InboxPatch { name: None, config: Some(config) }).await?.id,
            None => {
                let new = NewInbox { name: name.into(), channel, config, website_token: None };
                st.store.create_inbox(ws, new, st.now()).await?.id
            }
        };
        ids.push(id);
    }
    Ok(DemoChannels { emulator, whatsapp: ids[0], telegram: ids[1] })
}

impl DemoChannels {
    pub fn emulator_url(&self) -> String {
        self.emulator.base_url()
    }

    /// A few customers write in, through the same webhooks real providers
    /// call.
    pub async fn customers_write(&self, server: &str) {
        let wa = format!("{server}/webhooks/whatsapp/{}", self.whatsapp);
        let tg = format!("{server}/webhooks/telegram/{}", self.telegram);
        let e = &self.emulator;
        let results = [
            e.whatsapp_inbound_text(&wa, WA_SECRET, WA_PHONE_ID, "380671112233", "Olena Shevchenko", "Добрий день! Чи можна повернути рюкзак, якщо він не підійшов?").await.map(|d| d.status),
            e.whatsapp_inbound_text(&wa, WA_SECRET, WA_PHONE_ID, "48601234567", "Piotr Nowak", "Hi, is the 2P trail tent in stock?").await.map(|d| d.status),
            e.telegram_inbound_text(&tg, TG_SECRET, 700100200, "Ivan", "Hello! Do you ship to Poland?").await.map(|d| d.status),
        ];
        for r in results {
            match r {
                Ok(status) if status.is_success() => {}
                other => tracing::warn!(?other, "demo: a sample customer message was not accepted"),
            }
        }
    }
}

pub fn widget_page(base: &str, token: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Outdoor — demo store</title>
<style>
  body {{ margin: 0; font: 16px/1.5 system-ui, -apple-system, Segoe UI, Roboto, sans-serif; color: #1e293b; background: #f8fafc; }}
  header {{ background: #0f766e; color: white; padding: 20px 32px; }}
  header h1 {{ margin: 0; font-size: 22px; }}
  main {{ max-width: 880px; margin: 32px auto; padding: 0 24px; }}
  .grid {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 16px; }}
  .card {{ background: white; border-radius: 12px; padding: 20px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }}
  .price {{ color: #0f766e; font-weight: 600; }}
  footer {{ color: #64748b; text-align: center; padding: 32px; font-size: 14px; }}
</style>
</head>
<body>
<header><h1>Acme Outdoor</h1><div>Tents, packs and everything for the trail</div></header>
<main>
  <p>This page demonstrates the Switchboard website chat widget. Click the chat bubble in the corner and write to the team;
     agents answer from <a href="{base}/">the Switchboard app</a>.</p>
  <div class="grid">
    <div class="card"><h3>Trail tent 2P</h3><p>Freestanding, 1.6 kg.</p><div class="price">€249</div></div>
    <div class="card"><h3>Daypack 24 L</h3><p>Ventilated back, rain cover.</p><div class="price">€89</div></div>
    <div class="card"><h3>Down jacket</h3><p>800 fill, packs into its pocket.</p><div class="price">€179</div></div>
  </div>
</main>
<footer>Demo content. Powered by Switchboard.</footer>
<script src="{base}/widget.js" data-token="{token}" async></script>
</body>
</html>
"#
    )
}
