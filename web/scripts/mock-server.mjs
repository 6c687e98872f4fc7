#!/usr/bin/env node
// A small in-memory stand-in for the Switchboard server, following
// docs/API.md, for developing the web UI without the Rust binary:
//   node scripts/mock-server.mjs demo --listen 127.0.0.1:8080
// It serves web/dist, the demo widget page and the API with the same demo
// seed as `switchboard demo`. Not used by the e2e tests unless
// SWITCHBOARD_BIN points at it. No dependencies: node's http + a minimal
// WebSocket (RFC 6455) implementation.
import { createServer } from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { join, extname, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const args = process.argv.slice(2);
const listen = (args[args.indexOf('--listen') + 1] && args.includes('--listen')) ? args[args.indexOf('--listen') + 1] : '127.0.0.1:8080';
const [host, port] = listen.split(':');
const now = () => new Date().toISOString();

// ---------- data ----------
const W = 1;
let seq = 100;
const id = () => ++seq;
const users = [
  { id: 1, email: 'admin@demo.test', name: 'Ada Admin', role: 'admin' },
  { id: 2, email: 'supervisor@demo.test', name: 'Sam Supervisor', role: 'supervisor' },
  { id: 3, email: 'alice@demo.test', name: 'Alice Agent', role: 'agent' },
  { id: 4, email: 'bob@demo.test', name: 'Bob Agent', role: 'agent' },
].map((u) => ({ ...u, password: 'switchboard-demo', presence: 'offline', presence_since: now() }));
const teams = [{ id: 1, name: 'Support', members: [{ user_id: 3, capacity: 5 }, { user_id: 4, capacity: 5 }] }];
const inboxes = [{ id: 1, name: 'Website', channel: 'webchat', config: { allowed_origins: [] }, website_token: 'demo-website-token', webhook_url: '/webhooks/webchat/1', created_at: now() }];
const tags = [{ id: 1, name: 'hired', color: '#22a06b' }, { id: 2, name: 'vip', color: '#e5a000' }];
const templates = [
  { id: 1, name: 'hello', content: 'Hi {{contact.name}}, thanks for reaching out! How can I help you today?' },
  { id: 2, name: 'bye', content: 'Glad I could help, {{contact.first_name}}. Have a great day!' },
];
const contacts = [];
const conversations = [];
const messages = [];
const sessions = new Map(); // token -> user id
const visitors = new Map(); // visitor token -> contact id
const reviews = [];
const apiTokens = []; // {id, name, user_id, created_at, token}
let businessHours = { timezone: 'UTC', days: [0, 1, 2, 3, 4, 5, 6].map((day) => ({ day, open: '09:00', close: '18:00', enabled: day >= 1 && day <= 5 })), away_message: '', holidays: [] };

const member = (u) => ({ id: u.id, email: u.email, name: u.name, role: u.role, presence: u.presence, presence_since: u.presence_since });
const inboxOut = (i) => ({ ...i, widget_snippet: i.channel === 'webchat' ? `<script src="${origin}/widget.js" data-token="${i.website_token}" async></script>` : null });
let origin = '';

function convOut(c) {
  const contact = contacts.find((x) => x.id === c.contact_id);
  const last = [...messages].reverse().find((m) => m.conversation_id === c.id) ?? null;
  const { contact_id, ...rest } = c;
  return { ...rest, contact, last_message: last };
}

// ---------- websocket ----------
const agentSockets = new Set(); // {send, userId}
const visitorSockets = new Set(); // {send, contactId}

function wsAccept(req, socket, onText) {
  const key = req.headers['sec-websocket-key'];
  const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  const conn = {
    send(obj) {
      const data = Buffer.from(JSON.stringify(obj));
      let head;
      if (data.length < 126) head = Buffer.from([0x81, data.length]);
      else if (data.length < 65536) { head = Buffer.alloc(4); head[0] = 0x81; head[1] = 126; head.writeUInt16BE(data.length, 2); }
      else { head = Buffer.alloc(10); head[0] = 0x81; head[1] = 127; head.writeBigUInt64BE(BigInt(data.length), 2); }
      if (!socket.destroyed) socket.write(Buffer.concat([head, data]));
    },
    onclose: () => {},
  };
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2) {
      const op = buf[0] & 0x0f;
      let len = buf[1] & 0x7f, off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      const masked = buf[1] & 0x80;
      const total = off + (masked ? 4 : 0) + len;
      if (buf.length < total) return;
      let payload = buf.subarray(off + (masked ? 4 : 0), total);
      if (masked) { const mask = buf.subarray(off, off + 4); payload = Buffer.from(payload.map((b, i) => b ^ mask[i % 4])); }
      buf = buf.subarray(total);
      if (op === 8) { socket.end(); return; }
      if (op === 9) { socket.write(Buffer.from([0x8a, 0])); continue; }
      if (op === 1) { try { onText(JSON.parse(payload.toString()), conn); } catch { /* ignore */ } }
    }
  });
  socket.on('close', () => conn.onclose());
  socket.on('error', () => socket.destroy());
  return conn;
}

function visibleTo(u, c) {
  if (u.role !== 'agent') return true;
  if (c.assignee_id === u.id) return true;
  if (c.team_id != null) return teams.some((t) => t.id === c.team_id && t.members.some((m) => m.user_id === u.id));
  return c.assignee_id == null;
}
function emitConv(type, c) {
  const data = convOut(c);
  for (const s of agentSockets) if (visibleTo(users.find((u) => u.id === s.userId), c)) s.send({ type, workspace_id: W, data });
}
function emitMessage(type, m) {
  const c = conversations.find((x) => x.id === m.conversation_id);
  for (const s of agentSockets) if (visibleTo(users.find((u) => u.id === s.userId), c)) s.send({ type, workspace_id: W, data: m });
  if (m.kind !== 'note') for (const s of visitorSockets) if (s.contactId === c.contact_id) s.send({ type, data: m });
}
function emitAll(frame) { for (const s of agentSockets) s.send(frame); }

// ---------- domain ----------
function addMessage(c, kind, content, sender, echo_id = null) {
  if (echo_id) {
    const dup = messages.find((m) => m.conversation_id === c.id && m.echo_id === echo_id);
    if (dup) return dup;
  }
  const m = { id: id(), conversation_id: c.id, kind, content, sender, status: kind === 'out' ? 'sent' : 'delivered', failure_reason: null, echo_id, created_at: now() };
  messages.push(m);
  c.last_activity_at = m.created_at;
  emitMessage('message.created', m);
  if (kind === 'out' && c.waiting_since) c.waiting_since = null;
  if (kind === 'out' && !c.first_reply_at) c.first_reply_at = m.created_at;
  if (kind === 'out') setTimeout(() => { m.status = 'delivered'; emitMessage('message.updated', m); }, 400);
  return m;
}
function visitorMessage(contact, content, echo_id) {
  let c = conversations.find((x) => x.contact_id === contact.id && x.status !== 'resolved');
  let created = false;
  if (!c) {
    c = { id: id(), inbox_id: 1, channel: 'webchat', contact_id: contact.id, status: 'open', priority: 'none', assignee_id: null, team_id: null,
      tags: [], last_activity_at: now(), created_at: now(), waiting_since: now(), snoozed_until: null, first_reply_at: null, resolved_at: null };
    conversations.push(c);
    created = true;
  }
  const dup = echo_id && messages.find((m) => m.conversation_id === c.id && m.echo_id === echo_id);
  if (dup) return dup;
  if (created) {
    const m = { id: id(), conversation_id: c.id, kind: 'in', content, sender: { type: 'contact', id: contact.id, name: contact.name }, status: 'delivered', failure_reason: null, echo_id, created_at: now() };
    messages.push(m);
    emitConv('conversation.created', c);
    emitMessage('message.created', m);
    return m;
  }
  if (!c.assignee_id && !c.waiting_since) c.waiting_since = now();
  const m = addMessage(c, 'in', content, { type: 'contact', id: contact.id, name: contact.name }, echo_id);
  emitConv('conversation.updated', c);
  return m;
}

// ---------- http ----------
function send(res, status, body, headers = {}) {
  if (status === 204) { res.writeHead(204, headers); return res.end(); }
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
const err = (res, status, code, message) => send(res, status, { error: { code, message } });
const list = (data) => ({ data, next_cursor: null });

async function body(req) {
  let s = '';
  for await (const chunk of req) s += chunk;
  if (!s) return {};
  return JSON.parse(s);
}
function authUser(req, url) {
  const h = req.headers.authorization ?? '';
  const tok = h.startsWith('Bearer ') ? h.slice(7) : url.searchParams.get('token') ?? (req.headers.cookie ?? '').match(/sb_session=([^;]+)/)?.[1];
  const uid = sessions.get(tok);
  return users.find((u) => u.id === uid) ?? null;
}

const mime = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' };
function serveStatic(res, path) {
  let file = join(dist, path);
  if (!file.startsWith(dist) || !existsSync(file) || statSync(file).isDirectory()) file = join(dist, 'index.html');
  if (!existsSync(file)) return err(res, 404, 'not_found', 'build web/ first');
  res.writeHead(200, { 'Content-Type': mime[extname(file)] ?? 'application/octet-stream' });
  res.end(readFileSync(file));
}

const demoPage = () => `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Acme Store — widget demo</title><style>body{font:16px system-ui;margin:0;background:#f7f7fb;color:#222}header{background:#111827;color:#fff;padding:18px 32px;font-weight:700}
main{max-width:760px;margin:40px auto;padding:0 20px}h1{font-size:32px}</style></head><body><header>Acme Store</header><main><h1>Spring collection</h1>
<p>This page embeds the Switchboard website widget. Click the bubble in the corner to chat with the demo team.</p></main>
<script src="/widget.js" data-token="demo-website-token" async></script></body></html>`;

async function handle(req, res) {
  const url = new URL(req.url, origin);
  const p = url.pathname;
  const m = req.method;
  if (!p.startsWith('/api/')) {
    if (p === '/demo/widget') { res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }); return res.end(demoPage()); }
    if (p === '/healthz') return send(res, 200, { status: 'ok' });
    return serveStatic(res, p);
  }
  let b = {};
  if (m === 'POST' || m === 'PATCH' || m === 'PUT') { try { b = await body(req); } catch { return err(res, 400, 'invalid_json', 'invalid JSON'); } }

  // widget
  if (p === '/api/v1/widget/session' && m === 'POST') {
    const inbox = inboxes.find((i) => i.website_token === b.website_token);
    if (!inbox) return err(res, 404, 'not_found', 'unknown website token');
    let vt = b.visitor_token;
    let contact = contacts.find((c) => c.id === visitors.get(vt));
    if (!contact) {
      contact = { id: id(), name: null, email: null, phone: null, custom_fields: {}, created_at: now(), updated_at: now() };
      contacts.push(contact);
      vt = randomUUID();
      visitors.set(vt, contact.id);
    }
    return send(res, 200, { visitor_token: vt, contact: { name: contact.name, email: contact.email, phone: contact.phone }, inbox: { name: inbox.name, prechat: true } });
  }
  if (p.startsWith('/api/v1/widget/')) {
    const vt = (req.headers.authorization ?? '').replace('Bearer ', '');
    const contact = contacts.find((c) => c.id === visitors.get(vt));
    if (!contact) return err(res, 401, 'unauthorized', 'visitor token required');
    if (p === '/api/v1/widget/contact' && m === 'PATCH') {
      for (const k of ['name', 'email', 'phone']) if (b[k] !== undefined) contact[k] = b[k];
      contact.updated_at = now();
      return send(res, 200, { name: contact.name, email: contact.email, phone: contact.phone });
    }
    if (p === '/api/v1/widget/messages' && m === 'GET') {
      const ids = conversations.filter((c) => c.contact_id === contact.id).map((c) => c.id);
      return send(res, 200, { data: messages.filter((x) => ids.includes(x.conversation_id) && x.kind !== 'note') });
    }
    if (p === '/api/v1/widget/messages' && m === 'POST') return send(res, 201, visitorMessage(contact, b.content, b.echo_id));
    return err(res, 404, 'not_found', 'no such route');
  }

  if (p === '/api/v1/auth/login' && m === 'POST') {
    const u = users.find((x) => x.email === b.email && x.password === b.password);
    if (!u) return err(res, 401, 'unauthorized', 'wrong email or password');
    const token = randomUUID();
    sessions.set(token, u.id);
    return send(res, 200, { token, user: { id: u.id, email: u.email, name: u.name } }, { 'Set-Cookie': `sb_session=${token}; Path=/; HttpOnly; SameSite=Lax` });
  }
  const me = authUser(req, url);
  if (!me) return err(res, 401, 'unauthorized', 'login required');
  if (p === '/api/v1/auth/logout') return send(res, 204);
  if (p === '/api/v1/me') return send(res, 200, { user: { id: me.id, email: me.email, name: me.name }, workspaces: [{ id: W, name: 'Demo', role: me.role }] });

  const mm = p.match(/^\/api\/v1\/workspaces\/(\d+)\/?(.*)$/);
  if (!mm || Number(mm[1]) !== W) return err(res, 404, 'not_found', 'no such workspace');
  const parts = mm[2].split('/').filter(Boolean);
  const [r, rid, sub, subid] = parts;
  const isAdmin = me.role === 'admin', isSup = me.role !== 'agent';
  const forbid = () => err(res, 403, 'forbidden', 'not allowed');

  if (r === 'users') {
    if (m === 'GET') return send(res, 200, list(users.map(member)));
    if (!isAdmin) return forbid();
    if (m === 'POST') {
      if (users.some((u) => u.email === b.email)) return err(res, 409, 'already_exists', 'already a member');
      const u = { id: id(), email: b.email, name: b.name, role: b.role ?? 'agent', password: b.password, presence: 'offline', presence_since: now() };
      users.push(u);
      return send(res, 201, member(u));
    }
    const u = users.find((x) => x.id === Number(rid));
    if (!u) return err(res, 404, 'not_found', 'no such user');
    if (m === 'PATCH') { Object.assign(u, { role: b.role ?? u.role, name: b.name ?? u.name }); return send(res, 200, member(u)); }
    if (m === 'DELETE') { users.splice(users.indexOf(u), 1); return send(res, 204); }
  }
  if (r === 'business-hours') {
    if (m === 'PUT') { if (!isAdmin) return forbid(); businessHours = b; }
    return send(res, 200, businessHours);
  }
  if (r === 'api-tokens') {
    if (!isAdmin) return forbid();
    if (m === 'GET') return send(res, 200, list(apiTokens.map(({ token, ...t }) => t)));
    if (m === 'POST') {
      const t = { id: id(), name: b.name, user_id: me.id, created_at: now(), token: randomUUID() };
      apiTokens.unshift(t);
      sessions.set(t.token, me.id);
      return send(res, 201, { id: t.id, name: t.name, token: t.token });
    }
    const t = apiTokens.find((x) => x.id === Number(rid));
    if (!t) return err(res, 404, 'not_found', 'no such token');
    apiTokens.splice(apiTokens.indexOf(t), 1);
    sessions.delete(t.token);
    return send(res, 204);
  }
  if (r === 'presence' && m === 'PUT') {
    me.presence = b.status; me.presence_since = now();
    const data = { user_id: me.id, status: me.presence, since: me.presence_since };
    emitAll({ type: 'presence.updated', workspace_id: W, data });
    return send(res, 200, data);
  }
  if (r === 'teams') {
    if (m === 'GET') return send(res, 200, list(teams));
    if (!isAdmin) return forbid();
    if (m === 'POST') { const t = { id: id(), name: b.name, members: [] }; teams.push(t); return send(res, 201, t); }
    const t = teams.find((x) => x.id === Number(rid));
    if (!t) return err(res, 404, 'not_found', 'no such team');
    if (sub === 'members') {
      t.members = t.members.filter((x) => x.user_id !== Number(subid));
      if (m === 'PUT') t.members.push({ user_id: Number(subid), capacity: b.capacity ?? 5 });
      return send(res, 200, t);
    }
    if (m === 'PATCH') { t.name = b.name ?? t.name; return send(res, 200, t); }
    if (m === 'DELETE') { teams.splice(teams.indexOf(t), 1); return send(res, 204); }
  }
  if (r === 'inboxes') {
    if (m === 'GET' && !rid) return send(res, 200, list(inboxes.map(inboxOut)));
    if (m !== 'GET' && !isAdmin) return forbid();
    if (m === 'POST') {
      const i = { id: id(), name: b.name, channel: b.channel, config: b.config ?? {}, created_at: now(), website_token: b.channel === 'webchat' ? randomUUID().slice(0, 12) : null };
      i.webhook_url = `/webhooks/${i.channel}/${i.id}`;
      inboxes.push(i);
      return send(res, 201, inboxOut(i));
    }
    const i = inboxes.find((x) => x.id === Number(rid));
    if (!i) return err(res, 404, 'not_found', 'no such inbox');
    if (m === 'GET') return send(res, 200, inboxOut(i));
    if (m === 'PATCH') { Object.assign(i, { name: b.name ?? i.name, config: b.config ?? i.config }); return send(res, 200, inboxOut(i)); }
    if (m === 'DELETE') { inboxes.splice(inboxes.indexOf(i), 1); return send(res, 204); }
  }
  if (r === 'tags' || r === 'templates') {
    const arr = r === 'tags' ? tags : templates;
    if (m === 'GET') return send(res, 200, list(arr));
    if (!isSup) return forbid();
    if (m === 'POST') { const x = { id: id(), ...b }; arr.push(x); return send(res, 201, x); }
    const x = arr.find((y) => y.id === Number(rid));
    if (!x) return err(res, 404, 'not_found', 'not found');
    if (m === 'PATCH') { Object.assign(x, b); return send(res, 200, x); }
    if (m === 'DELETE') { arr.splice(arr.indexOf(x), 1); return send(res, 204); }
  }
  if (r === 'contacts') {
    if (m === 'GET' && !rid) {
      const q = (url.searchParams.get('q') ?? '').toLowerCase();
      return send(res, 200, list(contacts.filter((c) => !q || JSON.stringify(c).toLowerCase().includes(q))));
    }
    const c = contacts.find((x) => x.id === Number(rid));
    if (!c) return err(res, 404, 'not_found', 'no such contact');
    if (sub === 'conversations') return send(res, 200, list(conversations.filter((x) => x.contact_id === c.id).map(convOut).reverse()));
    if (m === 'GET') return send(res, 200, c);
    if (m === 'PATCH') {
      for (const k of ['name', 'email', 'phone', 'custom_fields']) if (b[k] !== undefined) c[k] = b[k];
      c.updated_at = now();
      for (const conv of conversations.filter((x) => x.contact_id === c.id)) emitConv('conversation.updated', conv);
      return send(res, 200, c);
    }
  }
  if (r === 'conversations') {
    if (m === 'GET' && !rid) {
      const s = url.searchParams;
      let out = conversations.filter((c) => visibleTo(me, c));
      if (s.get('status')) out = out.filter((c) => c.status === s.get('status'));
      const a = s.get('assignee');
      if (a === 'me') out = out.filter((c) => c.assignee_id === me.id);
      else if (a === 'none') out = out.filter((c) => c.assignee_id == null);
      else if (a) out = out.filter((c) => c.assignee_id === Number(a));
      if (s.get('team')) out = out.filter((c) => c.team_id === Number(s.get('team')));
      if (s.get('channel')) out = out.filter((c) => c.channel === s.get('channel'));
      if (s.get('inbox')) out = out.filter((c) => c.inbox_id === Number(s.get('inbox')));
      if (s.get('tag')) out = out.filter((c) => c.tags.includes(s.get('tag')));
      return send(res, 200, list(out.map(convOut).sort((x, y) => y.last_activity_at.localeCompare(x.last_activity_at))));
    }
    const c = conversations.find((x) => x.id === Number(rid));
    if (!c || !visibleTo(me, c) && !isSup) return err(res, 404, 'not_found', 'no such conversation');
    if (sub === 'claim' && m === 'POST') {
      if (c.assignee_id && c.assignee_id !== me.id) return err(res, 409, 'already_assigned', 'already assigned');
      c.assignee_id = me.id; c.waiting_since = null;
      emitConv('conversation.updated', c);
      return send(res, 200, convOut(c));
    }
    if (sub === 'tags') {
      if (m === 'POST' && !c.tags.includes(b.tag)) c.tags.push(b.tag);
      if (m === 'DELETE') c.tags = c.tags.filter((t) => t !== decodeURIComponent(subid));
      emitConv('conversation.updated', c);
      return send(res, 200, convOut(c));
    }
    if (sub === 'messages') {
      if (m === 'GET') return send(res, 200, list(messages.filter((x) => x.conversation_id === c.id)));
      return send(res, 201, addMessage(c, b.kind, b.content, { type: 'user', id: me.id, name: me.name }, b.echo_id ?? null));
    }
    if (sub === 'reviews') {
      if (m === 'GET') return send(res, 200, list(reviews.filter((x) => x.conversation_id === c.id)));
      const rv = { id: id(), conversation_id: c.id, reviewer_id: me.id, score: b.score, comment: b.comment ?? '', created_at: now() };
      reviews.unshift(rv);
      return send(res, 201, rv);
    }
    if (m === 'GET') return send(res, 200, convOut(c));
    if (m === 'PATCH') {
      const before = { ...c };
      for (const k of ['status', 'priority', 'assignee_id', 'team_id', 'snoozed_until']) if (b[k] !== undefined) c[k] = b[k];
      c.resolved_at = c.status === 'resolved' ? (before.resolved_at ?? now()) : null;
      // Tell the people who could see it before too, so it leaves their lists.
      for (const s of agentSockets) {
        const u = users.find((x) => x.id === s.userId);
        if (visibleTo(u, before) && !visibleTo(u, c)) s.send({ type: 'conversation.updated', workspace_id: W, data: convOut(c) });
      }
      emitConv('conversation.updated', c);
      return send(res, 200, convOut(c));
    }
  }
  return err(res, 404, 'not_found', 'no such route');
}

const server = createServer((req, res) => handle(req, res).catch((e) => { console.error(e); err(res, 500, 'internal', String(e)); }));
server.on('upgrade', (req, socket) => {
  const url = new URL(req.url, origin);
  if (url.pathname === '/api/v1/ws') {
    const u = authUser(req, url);
    if (!u) return socket.destroy();
    const conn = wsAccept(req, socket, (f, c) => {
      if (f.type === 'ping') c.send({ type: 'pong' });
      if (f.type === 'typing') {
        const conv = conversations.find((x) => x.id === f.conversation_id);
        if (!conv) return;
        for (const s of visitorSockets) if (s.contactId === conv.contact_id) s.send({ type: 'typing', data: { on: !!f.on, name: u.name } });
        for (const s of agentSockets) if (s !== c) s.send({ type: 'typing', workspace_id: W, data: { conversation_id: conv.id, actor: { type: 'user', id: u.id, name: u.name }, on: !!f.on } });
      }
    });
    conn.userId = u.id;
    agentSockets.add(conn);
    conn.onclose = () => agentSockets.delete(conn);
  } else if (url.pathname === '/api/v1/widget/ws') {
    const contactId = visitors.get(url.searchParams.get('token'));
    if (!contactId) return socket.destroy();
    const conn = wsAccept(req, socket, (f) => {
      const contact = contacts.find((x) => x.id === contactId);
      if (f.type === 'message' && f.content) {
        const msg = visitorMessage(contact, f.content, f.echo_id);
        // Echo duplicates back so the visitor's pending copy is acknowledged.
        if (msg) conn.send({ type: 'message.created', data: msg });
      } else if (f.type === 'typing') {
        const conv = conversations.find((x) => x.contact_id === contactId && x.status !== 'resolved');
        if (conv) emitAll({ type: 'typing', workspace_id: W, data: { conversation_id: conv.id, actor: { type: 'contact', id: contactId, name: contact.name }, on: !!f.on } });
      }
    });
    conn.contactId = contactId;
    visitorSockets.add(conn);
    conn.onclose = () => visitorSockets.delete(conn);
  } else socket.destroy();
});
server.listen(Number(port), host, () => {
  const a = server.address();
  origin = `http://${a.address}:${a.port}`;
  console.log(`Switchboard listening on ${origin}`);
});
