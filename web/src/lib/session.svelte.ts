// Who is logged in, in which workspace, and the workspace's reference data
// (members, teams, inboxes, tags, templates), kept fresh by the realtime feed.
import { api, getToken, setToken, setUnauthorizedHandler } from './api';
import type {
  Id, Inbox, LoginResponse, Me, Member, Presence, PresenceUpdate, Role, SlaKind, Tag, Team, Template, VoiceNumber, WorkspaceRef, List,
} from './api-types';
import { Realtime } from './realtime';
import { SvelteMap } from 'svelte/reactivity';
import { router } from './router.svelte';

const WS_KEY = 'sb_workspace';

class Session {
  token = $state<string | null>(getToken());
  me = $state<Me | null>(null);
  workspace = $state<WorkspaceRef | null>(null);
  users = $state<Member[]>([]);
  teams = $state<Team[]>([]);
  inboxes = $state<Inbox[]>([]);
  tags = $state<Tag[]>([]);
  templates = $state<Template[]>([]);
  /** The workspace's phone numbers (caller ids for click-to-call); empty without voice. */
  voiceNumbers = $state<VoiceNumber[]>([]);
  online = $state(false);
  ready = $state(false);
  /** Missed SLA targets per conversation, from `sla.breached` events since the app loaded
   *  (conversation JSON does not carry them yet: web/NEEDS.md §17). */
  slaBreached = new SvelteMap<Id, SlaKind[]>();

  role = $derived<Role>(this.workspace?.role ?? 'agent');
  isSupervisor = $derived(this.role === 'supervisor' || this.role === 'admin');
  isAdmin = $derived(this.role === 'admin');
  userId = $derived(this.me?.user.id ?? 0);
  self = $derived(this.users.find((u) => u.id === this.me?.user.id) ?? null);
  myTeams = $derived(this.teams.filter((t) => t.members.some((m) => m.user_id === this.me?.user.id)));

  rt = new Realtime(() => this.token, () => this.workspace?.id ?? null);

  constructor() {
    setUnauthorizedHandler(() => this.clear());
    this.rt.onStatus((up) => (this.online = up));
    this.rt.on((f) => {
      if (f.type === 'presence.updated') this.applyPresence(f.data);
      else if (f.type === 'sla.breached') {
        const kinds = this.slaBreached.get(f.data.conversation_id) ?? [];
        if (!kinds.includes(f.data.kind)) this.slaBreached.set(f.data.conversation_id, [...kinds, f.data.kind]);
      }
    });
  }

  /** Path under the current workspace: `w('conversations')`. */
  w(path: string): string {
    return `workspaces/${this.workspace?.id}/${path}`;
  }

  async login(email: string, password: string) {
    const res = await api.post<LoginResponse>('auth/login', { email, password });
    setToken(res.token);
    this.token = res.token;
    await this.load();
    // Logging in means being available for work.
    if (this.self && this.self.presence === 'offline') await this.setPresence('online').catch(() => {});
  }

  async logout() {
    try { await this.setPresence('offline'); } catch { /* ignore */ }
    try { await api.post('auth/logout'); } catch { /* already gone */ }
    this.clear();
  }

  clear() {
    this.rt.stop();
    setToken(null);
    this.token = null;
    this.me = null;
    this.workspace = null;
    this.ready = false;
    if (!router.path.startsWith('/app/login')) router.go('/app/login', true);
  }

  async load() {
    this.me = await api.get<Me>('me');
    let saved: string | null = null;
    try { saved = localStorage.getItem(WS_KEY); } catch { /* ignore */ }
    this.workspace = this.me.workspaces.find((w) => String(w.id) === saved) ?? this.me.workspaces[0] ?? null;
    await this.loadWorkspace();
  }

  async switchWorkspace(id: Id) {
    const w = this.me?.workspaces.find((x) => x.id === id);
    if (!w) return;
    this.workspace = w;
    try { localStorage.setItem(WS_KEY, String(id)); } catch { /* ignore */ }
    this.rt.stop();
    await this.loadWorkspace();
  }

  private async loadWorkspace() {
    if (!this.workspace) { this.ready = true; return; }
    await this.refresh();
    this.rt.start();
    this.ready = true;
  }

  async refresh() {
    const [users, teams, inboxes, tags, templates, numbers] = await Promise.all([
      api.get<List<Member>>(this.w('users?limit=200')),
      api.get<List<Team>>(this.w('teams?limit=200')),
      api.get<List<Inbox>>(this.w('inboxes?limit=200')),
      api.get<List<Tag>>(this.w('tags?limit=200')).catch(() => ({ data: [] as Tag[], next_cursor: null })),
      api.get<List<Template>>(this.w('templates?limit=200')).catch(() => ({ data: [] as Template[], next_cursor: null })),
      api.get<List<VoiceNumber>>(this.w('voice/numbers?limit=200')).catch(() => ({ data: [] as VoiceNumber[], next_cursor: null })),
    ]);
    this.voiceNumbers = numbers.data;
    this.users = users.data;
    this.teams = teams.data;
    this.inboxes = inboxes.data;
    this.tags = tags.data;
    this.templates = templates.data;
  }

  async setPresence(status: Presence) {
    const p = await api.put<PresenceUpdate>(this.w('presence'), { status });
    this.applyPresence(p);
  }

  applyPresence(p: PresenceUpdate) {
    const u = this.users.find((x) => x.id === p.user_id);
    if (u) { u.presence = p.status; u.presence_since = p.since; }
  }

  userName(id: Id | null | undefined): string {
    if (id == null) return '';
    return this.users.find((u) => u.id === id)?.name ?? `#${id}`;
  }
  teamName(id: Id | null | undefined): string {
    if (id == null) return '';
    return this.teams.find((t) => t.id === id)?.name ?? `#${id}`;
  }
  inbox(id: Id | null | undefined): Inbox | undefined {
    return this.inboxes.find((i) => i.id === id);
  }
}

export const session = new Session();
