// The agent WebSocket (/api/v1/ws): reconnects with backoff, pings to keep
// the connection alive, and fans frames out to subscribers.
import type { ServerFrame } from './api-types';

type Handler = (f: ServerFrame) => void;

export class Realtime {
  private ws: WebSocket | null = null;
  private handlers = new Set<Handler>();
  private statusHandlers = new Set<(up: boolean, reconnected: boolean) => void>();
  private attempts = 0;
  private everConnected = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ping: ReturnType<typeof setInterval> | undefined;
  private stopped = true;
  up = false;

  constructor(private token: () => string | null, private workspaceId: () => number | null) {}

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
    window.addEventListener('online', this.wake);
  }
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.ping);
    window.removeEventListener('online', this.wake);
    const ws = this.ws;
    this.ws = null;
    ws?.close();
    this.setUp(false);
    this.everConnected = false;
  }
  on(h: Handler): () => void {
    this.handlers.add(h);
    return () => this.handlers.delete(h);
  }
  onStatus(h: (up: boolean, reconnected: boolean) => void): () => void {
    this.statusHandlers.add(h);
    return () => this.statusHandlers.delete(h);
  }
  send(frame: unknown) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private wake = () => {
    if (!this.up && !this.stopped) { this.attempts = 0; this.open(); }
  };
  private setUp(up: boolean, reconnected = false) {
    this.up = up;
    for (const h of this.statusHandlers) h(up, reconnected);
  }
  private open() {
    clearTimeout(this.timer);
    const tok = this.token();
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const params = new URLSearchParams();
    if (tok) params.set('token', tok);
    const ws_id = this.workspaceId();
    if (ws_id != null) params.set('workspace_id', String(ws_id));
    const url = `${proto}//${location.host}/api/v1/ws?${params}`;
    let ws: WebSocket;
    try { ws = new WebSocket(url); } catch { return this.retry(); }
    this.ws = ws;
    ws.onopen = () => {
      this.attempts = 0;
      const again = this.everConnected;
      this.everConnected = true;
      this.setUp(true, again);
      clearInterval(this.ping);
      this.ping = setInterval(() => this.send({ type: 'ping' }), 25000);
    };
    ws.onmessage = (ev) => {
      let f: ServerFrame | { type: 'resync' };
      try { f = JSON.parse(String(ev.data)); } catch { return; }
      // The server dropped events for this socket (it lagged): reload like after a reconnect.
      if (f.type === 'resync') { this.setUp(true, true); return; }
      const wanted = this.workspaceId();
      if ('workspace_id' in f && wanted != null && f.workspace_id !== wanted) return;
      for (const h of this.handlers) {
        try { h(f); } catch (e) { console.error(e); }
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.ping);
      this.setUp(false);
      this.retry();
    };
    ws.onerror = () => ws.close();
  }
  private retry() {
    if (this.stopped) return;
    const base = Math.min(20000, 800 * 2 ** Math.min(this.attempts++, 5));
    this.timer = setTimeout(() => this.open(), base / 2 + Math.random() * base / 2);
  }
}
