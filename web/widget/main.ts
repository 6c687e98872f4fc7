// Switchboard website chat widget.
//
// Embedded as <script src="https://HOST/widget.js" data-token="WEBSITE_TOKEN" async>.
// The API origin is the origin of this script's own src, so one snippet works
// wherever the page is hosted. Everything renders inside a shadow root.
//
// Delivery guarantee: each outgoing message gets a client-generated echo_id and
// stays in the "unacknowledged" set (persisted in localStorage) until the
// server echoes a message with that echo_id; after every reconnect the set is
// resent, and the server deduplicates by echo_id.
//
// Read receipts: while the panel is open and the page is visible, the widget
// reports the newest agent message it shows ({"type":"read","up_to":id} on the
// socket, POST /api/v1/widget/read when the socket is down).
//
// Queue position: while no agent is free the server sends
// {"type":"queue.position","data":{"position":N}}; the widget shows "You are
// number N in line" until an agent replies or types (or a position of 0/null,
// should the server send one when the conversation leaves the queue).
//
// Attachments: a picked (or pasted) file is uploaded at once
// (POST /api/v1/widget/attachments) and its id goes with the next message;
// the unacknowledged set keeps the files, so a resend carries them again.
import { css } from './styles';
import { linkParts } from '../src/lib/links';

interface WFile { id: number; filename: string; content_type: string; size: number; url: string }
interface WMessage {
  id?: number;
  kind: 'in' | 'out' | 'note' | 'system';
  content: string;
  attachments?: WFile[] | null;
  sender?: { type: string; id: number | null; name: string | null } | null;
  echo_id?: string | null;
  created_at?: string;
  pending?: boolean;
  failed?: boolean;
}
/** A message waiting for the server's echo: its text and the files sent with it. */
interface Outgoing { c: string; a: WFile[] }
/** A file picked in the input row: uploading, uploaded (f) or refused (err). */
interface Pick { name: string; size: number; f?: WFile; err?: string }
interface Session {
  visitor_token: string;
  contact: { name: string | null; email: string | null; phone: string | null };
  inbox: { name: string; prechat: boolean; greeting?: string | null };
}

const dict = {
  en: {
    title: 'Chat with us', online: 'We usually reply in a few minutes', offline: 'Reconnecting…',
    placeholder: 'Write a message…', send: 'Send', hello: 'Hi there 👋', helloSub: 'Ask us anything — we are here to help.',
    prechat: 'Please introduce yourself so we can get back to you.', name: 'Name', email: 'Email', phone: 'Phone',
    start: 'Start chat', needName: 'Please enter your name', failed: 'Something went wrong. Please try again.',
    open: 'Open chat', close: 'Close chat', you: 'You', sending: 'Sending…', notSent: 'Not sent', powered: 'Powered by Switchboard',
    attach: 'Attach a file', tooLarge: 'Too large', remove: 'Remove',
    queue: 'You are number {n} in line', queueSub: 'An agent will be with you as soon as one is free.',
  },
  ru: {
    title: 'Напишите нам', online: 'Обычно отвечаем за несколько минут', offline: 'Переподключение…',
    placeholder: 'Напишите сообщение…', send: 'Отправить', hello: 'Здравствуйте 👋', helloSub: 'Задайте вопрос — мы поможем.',
    prechat: 'Представьтесь, пожалуйста, чтобы мы могли ответить.', name: 'Имя', email: 'Email', phone: 'Телефон',
    start: 'Начать чат', needName: 'Введите имя', failed: 'Что-то пошло не так. Попробуйте ещё раз.',
    open: 'Открыть чат', close: 'Закрыть чат', you: 'Вы', sending: 'Отправка…', notSent: 'Не отправлено', powered: 'Работает на Switchboard',
    attach: 'Прикрепить файл', tooLarge: 'Слишком большой', remove: 'Убрать',
    queue: 'Вы {n}-й в очереди', queueSub: 'Оператор ответит, как только освободится.',
  },
  uk: {
    title: 'Напишіть нам', online: 'Зазвичай відповідаємо за кілька хвилин', offline: 'Перепідключення…',
    placeholder: 'Напишіть повідомлення…', send: 'Надіслати', hello: 'Вітаємо 👋', helloSub: 'Поставте питання — ми допоможемо.',
    prechat: 'Представтеся, будь ласка, щоб ми могли відповісти.', name: "Ім'я", email: 'Email', phone: 'Телефон',
    start: 'Почати чат', needName: "Введіть ім'я", failed: 'Щось пішло не так. Спробуйте ще раз.',
    open: 'Відкрити чат', close: 'Закрити чат', you: 'Ви', sending: 'Надсилання…', notSent: 'Не надіслано', powered: 'Працює на Switchboard',
    attach: 'Прикріпити файл', tooLarge: 'Завеликий', remove: 'Прибрати',
    queue: 'Ви {n}-й у черзі', queueSub: 'Оператор відповість, щойно звільниться.',
  },
};
type Key = keyof typeof dict.en;

const ICON_CHAT =
  '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M21 11.5a8.4 8.4 0 0 1-9 8.4 9 9 0 0 1-4-.9L3 20l1.1-4A8.4 8.4 0 0 1 12 3a8.4 8.4 0 0 1 9 8.5z"/></svg>';
const ICON_CLOSE =
  '<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"><path d="M18 6 6 18M6 6l12 12"/></svg>';
const ICON_SEND =
  '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"><path d="M22 2 11 13M22 2l-7 20-4-9-9-4 20-7z"/></svg>';

const ICON_CLIP =
  '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48"/></svg>';

function size(n: number): string {
  return n < 1024 ? `${n} B` : n < 1048576 ? `${Math.round(n / 1024)} KB` : `${(n / 1048576).toFixed(1)} MB`;
}

function uuid(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const b = new Uint8Array(16);
  if (c && c.getRandomValues) c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, html = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (html) e.innerHTML = html;
  return e;
}

/** Appends text with http(s) links as anchors (built as nodes, never as HTML). */
function appendText(parent: HTMLElement, text: string) {
  for (const part of linkParts(text)) {
    if (!part.href) { parent.appendChild(document.createTextNode(part.text)); continue; }
    const a = el('a', { href: part.href, target: '_blank', rel: 'noopener noreferrer' });
    a.textContent = part.text;
    parent.appendChild(a);
  }
}

const store = {
  get(k: string): string | null {
    try { return localStorage.getItem(k); } catch { return null; }
  },
  set(k: string, v: string | null) {
    try { if (v === null) localStorage.removeItem(k); else localStorage.setItem(k, v); } catch { /* private mode */ }
  },
};

function findScript(): HTMLScriptElement | null {
  const cur = document.currentScript as HTMLScriptElement | null;
  if (cur && cur.dataset.token) return cur;
  const all = document.querySelectorAll<HTMLScriptElement>('script[data-token]');
  for (const s of Array.from(all)) if (/widget\.js(\?|#|$)/.test(s.src)) return s;
  return null;
}

class Widget {
  private api: string;
  private token: string;
  private identifier: string;
  private identifierHash: string;
  private t: (k: Key) => string;
  private keyVisitor: string;
  private keyPending: string;
  private keyOpen: string;
  private session: Session | null = null;
  private messages: WMessage[] = [];
  private unacked = new Map<string, Outgoing>(); // echo_id -> what was sent
  private picks: Pick[] = [];
  private ws: WebSocket | null = null;
  private wsOpen = false;
  private attempts = 0;
  private reconnectTimer: number | undefined;
  private typingOffTimer: number | undefined;
  private agentTypingTimer: number | undefined;
  private lastTypingSent = 0;
  private unread = 0;
  private opened = false;
  private prechatDone = false;
  /** The newest agent message id already reported as read (0: none since this socket opened). */
  private readSent = 0;
  private readInFlight = false;

  private shadow: ShadowRoot;
  private launcher!: HTMLButtonElement;
  private badge!: HTMLSpanElement;
  private panel!: HTMLDivElement;
  private bodyEl!: HTMLDivElement;
  private formEl!: HTMLFormElement;
  private footEl!: HTMLDivElement;
  private input!: HTMLTextAreaElement;
  private sendBtn!: HTMLButtonElement;
  private filesEl!: HTMLDivElement;
  private fileInput!: HTMLInputElement;
  private statusEl!: HTMLDivElement;
  private queueEl!: HTMLDivElement;
  private subEl!: HTMLSpanElement;
  private titleEl!: HTMLDivElement;
  private typingEl: HTMLDivElement | null = null;

  constructor(script: HTMLScriptElement) {
    this.api = new URL(script.src, location.href).origin;
    this.token = script.dataset.token || '';
    this.identifier = script.dataset.identifier || '';
    this.identifierHash = script.dataset.identifierHash || '';
    const lang = (script.dataset.lang || navigator.language || 'en').slice(0, 2).toLowerCase();
    const d = (dict as Record<string, Record<Key, string>>)[lang] || dict.en;
    this.t = (k) => d[k] || dict.en[k];
    this.keyVisitor = `sb_visitor_${this.token}`;
    this.keyPending = `sb_unacked_${this.token}`;
    this.keyOpen = `sb_open_${this.token}`;
    try {
      const saved = JSON.parse(store.get(this.keyPending) || '[]') as [string, string | Outgoing][];
      for (const [id, c] of saved) this.unacked.set(id, typeof c === 'string' ? { c, a: [] } : c);
    } catch { /* ignore */ }

    const host = el('div', { id: 'switchboard-widget' });
    this.shadow = host.attachShadow({ mode: 'open' });
    const style = el('style');
    style.textContent = css;
    this.shadow.appendChild(style);
    this.build(script.dataset.color);
    document.body.appendChild(host);
    this.start();
    let wasOpen = false;
    try { wasOpen = sessionStorage.getItem(this.keyOpen) === '1'; } catch { /* ignore */ }
    // Restored, not asked for: do not steal the page's focus.
    if (wasOpen) this.toggle(true, false);
  }

  private build(color?: string) {
    const t = this.t;
    const root = el('div', { class: 'root' });
    if (color) root.style.setProperty('--accent', color);

    this.launcher = el('button', { class: 'launcher', 'data-testid': 'sb-launcher', 'aria-label': t('open'), type: 'button' }, ICON_CHAT);
    this.badge = el('span', { class: 'badge' });
    this.badge.hidden = true;
    this.launcher.appendChild(this.badge);
    this.launcher.addEventListener('click', () => this.toggle());

    this.panel = el('div', { class: 'panel', 'data-testid': 'sb-panel', role: 'dialog', 'aria-label': t('title') });
    this.panel.hidden = true;
    const head = el('div', { class: 'head' });
    head.appendChild(el('div', { class: 'logo' }, ICON_CHAT.replace('<svg', '<svg width="20" height="20"')));
    const titles = el('div');
    this.titleEl = el('div', { class: 'title' });
    this.titleEl.textContent = t('title');
    const sub = el('div', { class: 'sub' });
    const dot = el('span', { class: 'dot' });
    this.subEl = el('span');
    this.subEl.textContent = t('online');
    sub.append(dot, this.subEl);
    titles.append(this.titleEl, sub);
    const close = el('button', { class: 'close', type: 'button', 'aria-label': t('close') }, ICON_CLOSE);
    close.addEventListener('click', () => this.toggle(false));
    head.append(titles, close);

    this.statusEl = el('div', { class: 'status' });
    this.statusEl.hidden = true;
    this.queueEl = el('div', { class: 'queue', 'data-testid': 'sb-queue', role: 'status' });
    this.queueEl.hidden = true;
    this.bodyEl = el('div', { class: 'body', 'aria-live': 'polite' });

    this.formEl = el('form', { class: 'form' });
    this.formEl.hidden = true;
    this.formEl.innerHTML = `<p></p>
      <label><span></span><input name="name" autocomplete="name" data-testid="sb-prechat-name" required></label>
      <label><span></span><input name="email" type="email" autocomplete="email" data-testid="sb-prechat-email"></label>
      <label><span></span><input name="phone" type="tel" autocomplete="tel" data-testid="sb-prechat-phone"></label>
      <div class="err"></div>
      <button class="primary" type="submit" data-testid="sb-prechat-submit"></button>`;
    this.formEl.querySelector('p')!.textContent = t('prechat');
    const spans = this.formEl.querySelectorAll('label span');
    spans[0].textContent = t('name');
    spans[1].textContent = t('email');
    spans[2].textContent = t('phone');
    this.formEl.querySelector('button')!.textContent = t('start');
    this.formEl.addEventListener('submit', (e) => { e.preventDefault(); void this.submitPrechat(); });

    this.footEl = el('div', { class: 'foot' });
    this.input = el('textarea', { rows: '1', maxlength: '20000', placeholder: t('placeholder'), 'data-testid': 'sb-input', 'aria-label': t('placeholder') });
    this.sendBtn = el('button', { class: 'send', type: 'button', 'data-testid': 'sb-send', 'aria-label': t('send') }, ICON_SEND);
    this.sendBtn.disabled = true;
    this.input.addEventListener('input', () => {
      this.canSend();
      this.autosize();
      this.onTyping();
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.sendFromInput(); }
    });
    this.sendBtn.addEventListener('click', () => this.sendFromInput());
    this.input.addEventListener('paste', (e) => {
      const imgs = Array.from(e.clipboardData?.files || []).filter((f) => f.type.startsWith('image/'));
      if (!imgs.length) return;
      e.preventDefault();
      for (const f of imgs.slice(0, 10 - this.picks.length)) void this.upload(f);
    });
    this.filesEl = el('div', { class: 'files', 'data-testid': 'sb-files' });
    this.filesEl.hidden = true;
    this.fileInput = el('input', { type: 'file', multiple: '', hidden: '', 'data-testid': 'sb-file' });
    this.fileInput.addEventListener('change', () => {
      for (const f of Array.from(this.fileInput.files || []).slice(0, 10 - this.picks.length)) void this.upload(f);
      this.fileInput.value = '';
    });
    const attach = el('button', { class: 'attach', type: 'button', 'data-testid': 'sb-attach', 'aria-label': t('attach'), title: t('attach') }, ICON_CLIP);
    attach.addEventListener('click', () => this.fileInput.click());
    this.footEl.append(this.filesEl, this.fileInput, attach, this.input, this.sendBtn);
    const brand = el('div', { class: 'brand' });
    brand.textContent = t('powered');

    this.panel.append(head, this.statusEl, this.queueEl, this.bodyEl, this.formEl, this.footEl, brand);
    // Files dropped anywhere on the chat are attached (not opened by the browser).
    const files = (e: DragEvent) => !!e.dataTransfer && Array.from(e.dataTransfer.types).includes('Files') && !this.footEl.hidden;
    this.panel.addEventListener('dragover', (e) => { if (files(e)) e.preventDefault(); });
    this.panel.addEventListener('drop', (e) => {
      if (!files(e)) return;
      e.preventDefault();
      for (const f of Array.from(e.dataTransfer!.files).slice(0, 10 - this.picks.length)) void this.upload(f);
    });
    root.append(this.launcher, this.panel);
    this.shadow.appendChild(root);
    this.setConnected(true);
    this.dotEl = dot;
  }
  private dotEl: HTMLSpanElement | null = null;

  private autosize() {
    this.input.style.height = 'auto';
    this.input.style.height = Math.min(this.input.scrollHeight + 2, 120) + 'px';
  }

  private toggle(open = !this.opened, focus = true) {
    this.opened = open;
    // Keep the chat open while the visitor moves between pages.
    try { open ? sessionStorage.setItem(this.keyOpen, '1') : sessionStorage.removeItem(this.keyOpen); } catch { /* ignore */ }
    this.panel.hidden = !open;
    this.launcher.setAttribute('aria-label', open ? this.t('close') : this.t('open'));
    if (open) {
      this.unread = 0;
      this.renderBadge();
      this.renderMode();
      this.scrollDown();
      this.reportRead();
      if (focus) setTimeout(() => (this.formEl.hidden ? this.input : (this.formEl.querySelector('input') as HTMLInputElement)).focus(), 30);
    }
  }

  private renderBadge() {
    this.badge.hidden = this.unread === 0;
    this.badge.textContent = String(this.unread);
  }

  private needsPrechat(): boolean {
    const s = this.session;
    return !!s && s.inbox.prechat !== false && !s.contact.name && !this.prechatDone;
  }

  private renderMode() {
    const pre = this.needsPrechat();
    this.formEl.hidden = !pre;
    this.bodyEl.hidden = pre;
    this.footEl.hidden = pre;
  }

  private setConnected(ok: boolean) {
    this.subEl.textContent = ok ? this.t('online') : this.t('offline');
    if (this.dotEl) this.dotEl.className = ok ? 'dot' : 'dot off';
  }

  // --- HTTP ---
  private async http<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (auth && this.session) headers.Authorization = `Bearer ${this.session.visitor_token}`;
    const res = await fetch(this.api + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!res.ok) {
      const err = new Error(`HTTP ${res.status}`) as Error & { status: number };
      err.status = res.status;
      throw err;
    }
    return (res.status === 204 ? null : await res.json()) as T;
  }

  private async start() {
    const visitor = store.get(this.keyVisitor);
    // Optional identity verification: data-identifier + data-identifier-hash (HMAC by the site's backend).
    const base: Record<string, string> = { website_token: this.token };
    if (this.identifier) { base.identifier = this.identifier; base.identifier_hash = this.identifierHash; }
    try {
      this.session = await this.http<Session>('POST', '/api/v1/widget/session', visitor ? { ...base, visitor_token: visitor } : base, false);
    } catch {
      if (!visitor) return this.retryStart();
      // A stale or foreign visitor token: begin a new visitor.
      try {
        this.session = await this.http<Session>('POST', '/api/v1/widget/session', base, false);
      } catch { return this.retryStart(); }
    }
    store.set(this.keyVisitor, this.session.visitor_token);
    if (this.session.inbox?.name) this.titleEl.textContent = this.session.inbox.name;
    this.renderMode();
    await this.loadHistory();
    this.connect();
  }

  private retryStart() {
    this.setConnected(false);
    setTimeout(() => void this.start(), this.backoff());
  }

  private async loadHistory() {
    try {
      const res = await this.http<{ data: WMessage[] }>('GET', '/api/v1/widget/messages');
      for (const m of res.data) this.upsert(m, false);
    } catch { /* shown later over WS */ }
    // Messages typed before a reload that never reached the server.
    for (const [echo, out] of this.unacked) {
      if (!this.messages.some((m) => m.echo_id === echo)) this.messages.push({ kind: 'in', content: out.c, attachments: out.a, echo_id: echo, pending: true });
    }
    this.render();
  }

  private async submitPrechat() {
    const f = this.formEl;
    const val = (n: string) => (f.querySelector(`[name=${n}]`) as HTMLInputElement).value.trim();
    const err = f.querySelector('.err') as HTMLDivElement;
    const name = val('name');
    if (!name) { err.textContent = this.t('needName'); return; }
    const body: Record<string, string> = { name };
    if (val('email')) body.email = val('email');
    if (val('phone')) body.phone = val('phone');
    const btn = f.querySelector('button') as HTMLButtonElement;
    btn.disabled = true;
    try {
      await this.http('PATCH', '/api/v1/widget/contact', body);
      if (this.session) this.session.contact = { name, email: body.email ?? null, phone: body.phone ?? null };
      this.prechatDone = true;
      err.textContent = '';
      this.renderMode();
      this.input.focus();
    } catch {
      err.textContent = this.t('failed');
    } finally {
      btn.disabled = false;
    }
  }

  // --- WebSocket ---
  private backoff(): number {
    const base = Math.min(30000, 1000 * 2 ** Math.min(this.attempts, 5));
    this.attempts++;
    return base / 2 + Math.random() * (base / 2);
  }

  private connect() {
    if (!this.session) return;
    clearTimeout(this.reconnectTimer);
    const url = this.api.replace(/^http/, 'ws') + '/api/v1/widget/ws?token=' + encodeURIComponent(this.session.visitor_token);
    let ws: WebSocket;
    try { ws = new WebSocket(url); } catch { return this.scheduleReconnect(); }
    this.ws = ws;
    ws.onopen = () => {
      const wasReconnect = this.attempts > 0;
      this.wsOpen = true;
      this.attempts = 0;
      // A receipt sent into a dying socket may be lost: report again on this one.
      this.readSent = 0;
      this.setConnected(true);
      this.statusEl.hidden = true;
      if (wasReconnect) void this.loadHistory();
      this.flush();
      this.reportRead();
    };
    ws.onmessage = (ev) => {
      let frame: { type: string; data?: any };
      try { frame = JSON.parse(String(ev.data)); } catch { return; }
      if (frame.type === 'message.created' || frame.type === 'message.updated') {
        this.upsert(frame.data as WMessage, frame.type === 'message.created');
        this.render();
      } else if (frame.type === 'queue.position') {
        this.showQueue(Number(frame.data?.position) || 0);
      } else if (frame.type === 'typing') {
        // The server sends only agents' typing ({"on","name"}), never the visitor's own.
        if (frame.data?.name) {
          this.showAgentTyping(!!frame.data.on);
          if (frame.data.on) this.showQueue(0);
        }
      } else if (frame.type === 'resync') {
        void this.loadHistory();
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.wsOpen = false;
      this.ws = null;
      this.setConnected(false);
      this.scheduleReconnect();
    };
    ws.onerror = () => { try { ws.close(); } catch { /* closed */ } };
  }

  private scheduleReconnect() {
    clearTimeout(this.reconnectTimer);
    const delay = this.backoff();
    this.reconnectTimer = window.setTimeout(() => this.connect(), delay);
    // After a few failed attempts, deliver the unacknowledged messages over HTTP.
    if (this.attempts >= 3) void this.flushHttp();
  }

  private wake = () => {
    if (!this.wsOpen && this.session) { this.attempts = 0; this.connect(); }
  };

  private flush() {
    if (!this.ws || !this.wsOpen) return;
    for (const [echo_id, out] of this.unacked) this.ws.send(JSON.stringify(this.frame(echo_id, out)));
  }

  /** The socket frame (and, without `type`, the HTTP body) for an outgoing message. */
  private frame(echo_id: string, out: Outgoing) {
    return { type: 'message', echo_id, ...(out.c ? { content: out.c } : {}), ...(out.a.length ? { attachment_ids: out.a.map((f) => f.id) } : {}) };
  }

  private async flushHttp() {
    for (const [echo_id, out] of Array.from(this.unacked)) {
      try {
        const { type: _, ...body } = this.frame(echo_id, out);
        const m = await this.http<WMessage>('POST', '/api/v1/widget/messages', body);
        this.upsert(m, false);
      } catch (e) {
        const status = (e as { status?: number }).status ?? 0;
        if (status !== 400 && status !== 413) return;
        // Refused for good (e.g. too long): stop resending it and say so.
        this.unacked.delete(echo_id);
        this.saveUnacked();
        const msg = this.messages.find((x) => x.echo_id === echo_id);
        if (msg) { msg.pending = false; msg.failed = true; }
      }
    }
    this.render();
  }

  private saveUnacked() {
    store.set(this.keyPending, this.unacked.size ? JSON.stringify(Array.from(this.unacked)) : null);
  }

  private sendFromInput() {
    if (!this.canSend()) return;
    const content = this.input.value.trim();
    const out: Outgoing = { c: content, a: this.picks.filter((p) => p.f).map((p) => p.f!) };
    const echo_id = uuid();
    this.unacked.set(echo_id, out);
    this.saveUnacked();
    this.messages.push({ kind: 'in', content, attachments: out.a, echo_id, pending: true });
    this.input.value = '';
    this.picks = [];
    this.renderPicks();
    this.autosize();
    this.sendTyping(false);
    this.render();
    if (this.ws && this.wsOpen) {
      this.ws.send(JSON.stringify(this.frame(echo_id, out)));
      // No echo in time (a half-dead socket): deliver over HTTP, same echo_id.
      setTimeout(() => { if (this.unacked.has(echo_id)) void this.flushHttp(); }, 6000);
    } else void this.flushHttp();
  }

  /** Sendable: text or uploaded files, and nothing still uploading. */
  private canSend(): boolean {
    const ok = !this.picks.some((p) => !p.f && !p.err) && (!!this.input.value.trim() || this.picks.some((p) => p.f));
    this.sendBtn.disabled = !ok;
    return ok;
  }

  private async upload(file: File) {
    const p: Pick = { name: file.name || 'file', size: file.size };
    this.picks.push(p);
    this.renderPicks();
    try {
      const res = await fetch(`${this.api}/api/v1/widget/attachments?filename=${encodeURIComponent(p.name)}`, {
        method: 'POST', body: file,
        headers: { 'Content-Type': file.type || 'application/octet-stream', Authorization: `Bearer ${this.session?.visitor_token}` },
      });
      if (res.status === 413) p.err = this.t('tooLarge');
      else if (!res.ok) p.err = this.t('failed');
      else p.f = await res.json();
    } catch { p.err = this.t('failed'); }
    this.renderPicks();
  }

  private renderPicks() {
    const box = this.filesEl;
    box.textContent = '';
    box.hidden = !this.picks.length;
    for (const p of this.picks) {
      const chip = el('span', { class: `chip${p.err ? ' err' : p.f ? '' : ' busy'}`, 'data-testid': 'sb-file-chip', title: p.err || p.name });
      const name = el('span', { class: 'nm' });
      name.textContent = p.name;
      const info = el('span', { class: 'sz' });
      info.textContent = p.err || size(p.size);
      const x = el('button', { type: 'button', 'aria-label': this.t('remove') }, ICON_CLOSE.replace(/20/g, '12'));
      x.addEventListener('click', () => { this.picks = this.picks.filter((q) => q !== p); this.renderPicks(); });
      chip.append(name, info, x);
      box.appendChild(chip);
    }
    this.canSend();
  }

  private onTyping() {
    const now = Date.now();
    if (now - this.lastTypingSent > 2500) { this.lastTypingSent = now; this.sendTyping(true); }
    clearTimeout(this.typingOffTimer);
    this.typingOffTimer = window.setTimeout(() => this.sendTyping(false), 3000);
  }

  private sendTyping(on: boolean) {
    if (!on) { clearTimeout(this.typingOffTimer); this.lastTypingSent = 0; }
    if (this.ws && this.wsOpen) this.ws.send(JSON.stringify({ type: 'typing', on }));
  }

  /** "You are number N in line"; 0 hides it (an agent has the conversation). */
  private showQueue(position: number) {
    this.queueEl.hidden = position < 1;
    if (position < 1) return;
    this.queueEl.dataset.position = String(position);
    this.queueEl.textContent = '';
    const b = el('b');
    b.textContent = this.t('queue').replace('{n}', String(position));
    const sub = el('span');
    sub.textContent = this.t('queueSub');
    this.queueEl.append(b, sub);
  }

  private showAgentTyping(on: boolean) {
    clearTimeout(this.agentTypingTimer);
    if (on) {
      if (!this.typingEl) {
        this.typingEl = el('div', { class: 'typing', 'aria-label': 'typing', 'data-testid': 'sb-typing' }, '<i></i><i></i><i></i>');
        this.bodyEl.appendChild(this.typingEl);
        this.scrollDown();
      }
      this.agentTypingTimer = window.setTimeout(() => this.showAgentTyping(false), 8000);
    } else if (this.typingEl) {
      this.typingEl.remove();
      this.typingEl = null;
    }
  }

  // --- messages ---
  private upsert(m: WMessage, live: boolean) {
    if (m.kind === 'note') return;
    if (m.echo_id && this.unacked.delete(m.echo_id)) this.saveUnacked();
    const i = this.messages.findIndex((x) => (m.id != null && x.id === m.id) || (m.echo_id && x.echo_id === m.echo_id));
    if (i >= 0) {
      // The echo of a resent (duplicate) message comes without its files: keep the ones shown.
      const had = this.messages[i].attachments;
      this.messages[i] = { ...m, attachments: m.attachments?.length ? m.attachments : had, pending: false };
      return;
    }
    this.messages.push(m);
    // An agent (not an automatic greeting or away message) answered: the wait is over.
    if (live && m.kind === 'out' && m.sender?.type === 'user') this.showQueue(0);
    if (live && m.kind === 'out') {
      this.showAgentTyping(false);
      if (!this.opened) { this.unread++; this.renderBadge(); }
    }
  }

  private render() {
    const body = this.bodyEl;
    body.textContent = '';
    if (!this.messages.length) {
      const empty = el('div', { class: 'empty' });
      const b = el('b');
      b.textContent = this.t('hello');
      empty.append(b, document.createTextNode(this.session?.inbox.greeting || this.t('helloSub')));
      body.appendChild(empty);
    }
    let prevSender = '';
    for (const m of this.messages) {
      const kind = m.kind === 'in' || m.kind === 'out' ? m.kind : 'system';
      const files = m.attachments || [];
      const node = el('div', { class: `msg ${kind}${m.pending ? ' pending' : ''}${m.content ? '' : ' bare'}`, 'data-testid': 'sb-message', 'data-kind': kind });
      const senderKey = kind + (m.sender?.name || '');
      if (kind === 'out' && m.sender?.name && senderKey !== prevSender) {
        const who = el('span', { class: 'who' });
        who.textContent = m.sender.name;
        node.appendChild(who);
      }
      prevSender = senderKey;
      appendText(node, m.content);
      for (const f of files) node.appendChild(this.fileNode(f));
      body.appendChild(node);
      if (m.pending || m.failed) {
        const meta = el('div', { class: `meta ${kind}${m.failed ? ' failed' : ''}` });
        meta.textContent = m.failed ? this.t('notSent') : this.t('sending');
        body.appendChild(meta);
      }
    }
    if (this.typingEl) body.appendChild(this.typingEl);
    this.scrollDown();
    this.reportRead();
  }

  /** An image thumbnail (opens full size) or a download link; URLs are relative to the API. */
  private fileNode(f: WFile): HTMLElement {
    const href = this.api + f.url;
    if (f.content_type.startsWith('image/') && f.content_type !== 'image/svg+xml') {
      const a = el('a', { class: 'img', href, target: '_blank', rel: 'noopener noreferrer', title: f.filename, 'data-testid': 'sb-file-image' });
      a.appendChild(el('img', { src: href, alt: f.filename }));
      return a;
    }
    const a = el('a', { class: 'file', href, download: f.filename, rel: 'noopener noreferrer', 'data-testid': 'sb-file-link' }, ICON_CLIP);
    const nm = el('span', { class: 'nm' });
    nm.textContent = f.filename;
    const sz = el('span', { class: 'sz' });
    sz.textContent = size(f.size);
    a.append(nm, sz);
    return a;
  }

  /** Tells the server the visitor has seen the agent messages up to the newest one shown. */
  private reportRead() {
    if (!this.session || !this.opened || this.bodyEl.hidden || document.visibilityState !== 'visible') return;
    let upTo = 0;
    for (const m of this.messages) if (m.kind === 'out' && m.id != null && m.id > upTo) upTo = m.id;
    if (upTo <= this.readSent) return;
    if (this.ws && this.wsOpen) {
      this.readSent = upTo;
      this.ws.send(JSON.stringify({ type: 'read', up_to: upTo }));
    } else if (!this.readInFlight) {
      this.readInFlight = true;
      this.http('POST', '/api/v1/widget/read', { up_to: upTo })
        .then(() => { this.readInFlight = false; this.readSent = Math.max(this.readSent, upTo); this.reportRead(); })
        // Reported again on the next open, message, visibility change or reconnect.
        .catch(() => { this.readInFlight = false; });
    }
  }

  private scrollDown() {
    requestAnimationFrame(() => { this.bodyEl.scrollTop = this.bodyEl.scrollHeight; });
  }

  open() { this.toggle(true); }
  close() { this.toggle(false); }

  listen() {
    window.addEventListener('online', this.wake);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible') return;
      this.wake();
      this.reportRead();
    });
  }
}

(function boot() {
  const w = window as unknown as { __switchboardWidget?: boolean };
  if (w.__switchboardWidget) return;
  const script = findScript();
  if (!script || !script.dataset.token) {
    console.warn('[switchboard] widget.js needs data-token on its <script> tag');
    return;
  }
  w.__switchboardWidget = true;
  const go = () => {
    const widget = new Widget(script);
    widget.listen();
    // A tiny page API: SwitchboardWidget.open() / .close(), e.g. for a "Chat with us" link.
    (window as unknown as { SwitchboardWidget: unknown }).SwitchboardWidget = { open: () => widget.open(), close: () => widget.close() };
  };
  if (document.body) go();
  else document.addEventListener('DOMContentLoaded', go);
})();
