// Types for docs/API.md (v1), written by hand for readability. They are
// checked against the server's OpenAPI document at compile time
// (api-contract.ts vs api-schema.d.ts, regenerated with
// `switchboard openapi > web/openapi.json && npm run gen:api`).

export type Id = number;
export type Role = 'admin' | 'supervisor' | 'agent';
export type Presence = 'online' | 'away' | 'dnd' | 'offline';
export const CHANNELS = ['webchat', 'whatsapp', 'telegram', 'messenger', 'instagram', 'viber', 'email', 'voice'] as const;
export type Channel = (typeof CHANNELS)[number];
export type ConversationStatus = 'open' | 'pending' | 'snoozed' | 'resolved';
export type Priority = 'none' | 'low' | 'medium' | 'high' | 'urgent';
export type MessageKind = 'in' | 'out' | 'note' | 'system';
export type DeliveryStatus = 'queued' | 'sent' | 'delivered' | 'read' | 'failed';

export interface ApiErrorBody { error: { code: string; message: string } }
export interface List<T> { data: T[]; next_cursor: string | null }

export interface User { id: Id; email: string; name: string }
export interface LoginResponse { token: string; user: User }
export interface WorkspaceRef { id: Id; name: string; role: Role }
export interface Me { user: User; workspaces: WorkspaceRef[] }
export interface Workspace { id: Id; name: string; created_at: string }

export interface Member {
  id: Id; email: string; name: string; role: Role;
  presence: Presence; presence_since: string | null;
}
export interface PresenceUpdate { user_id: Id; status: Presence; since: string }
export interface TeamMember { user_id: Id; capacity: number }
export interface Team { id: Id; name: string; members: TeamMember[]; created_at?: string }

export interface Inbox {
  id: Id; name: string; channel: Channel; config: Record<string, unknown>;
  website_token?: string | null; webhook_url: string; widget_snippet?: string | null; created_at: string;
}
export interface Contact {
  id: Id; name: string | null; email: string | null; phone: string | null;
  custom_fields: Record<string, unknown>; created_at: string; updated_at: string;
}
export interface Sender { type: 'contact' | 'user' | 'system'; id: Id | null; name: string | null }
/** A file sent with a message; `url` is a relative, unguessable download path (no session needed). */
export interface Attachment { id: Id; filename: string; content_type: string; size: number; url: string }
export interface Message {
  id: Id; conversation_id: Id; kind: MessageKind; content: string; sender: Sender;
  status: DeliveryStatus; failure_reason: string | null; echo_id: string | null; created_at: string;
  /** Empty (or absent from older servers) when the message has no files. */
  attachments?: Attachment[] | null;
}
export interface Conversation {
  id: Id; inbox_id: Id; channel: Channel; contact: Contact; status: ConversationStatus;
  priority: Priority; assignee_id: Id | null; team_id: Id | null; tags: string[];
  last_message: Message | null; last_activity_at: string; created_at: string;
  waiting_since: string | null; snoozed_until: string | null;
  first_reply_at?: string | null; resolved_at?: string | null;
}
export interface ConversationPatch {
  status?: ConversationStatus; priority?: Priority; assignee_id?: Id | null;
  team_id?: Id | null; snoozed_until?: string | null;
}
export interface Tag { id: Id; name: string; color: string }
export interface Template { id: Id; name: string; content: string }
export interface ApiToken { id: Id; name: string; token: string }

export interface TypingEvent { conversation_id: Id; actor: Sender; on: boolean }
export type ServerFrame =
  | { type: 'message.created' | 'message.updated'; workspace_id: Id; data: Message }
  | { type: 'conversation.created' | 'conversation.updated'; workspace_id: Id; data: Conversation }
  | { type: 'presence.updated'; workspace_id: Id; data: PresenceUpdate }
  | { type: 'typing'; workspace_id: Id; data: TypingEvent }
  | { type: 'pong' };

// ---- Asked for in web/NEEDS.md; now served (not in docs/API.md yet) ----
export interface ApiTokenInfo { id: Id; name: string; user_id: Id; created_at: string }
export interface Review { id: Id; conversation_id: Id; reviewer_id: Id; score: number; comment: string; created_at: string }
export interface DayHours { day: number; open: string; close: string; enabled: boolean }
export interface BusinessHours { timezone: string; days: DayHours[]; away_message: string; holidays: string[] }

// GET /api/v1/workspaces/{ws}/stats/live (S): the live dashboard's numbers.
// waiting = open and unassigned; active = open or pending and assigned.
export interface TeamLoad { team_id: Id | null; waiting: number; active: number; agents_online: number }
export interface ChannelLoad { channel: Channel; waiting: number; active: number }
export interface AgentLoad { user_id: Id; role: Role; presence: Presence; since: string; active_conversations: number }
export interface LiveStats {
  waiting: number; active: number; longest_waiting_since: string | null;
  by_team: TeamLoad[]; by_channel: ChannelLoad[]; agents: AgentLoad[];
}
