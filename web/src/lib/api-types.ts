// Types for docs/API.md (v1), written by hand for readability. They are
// checked against the server's OpenAPI document at compile time
// (api-contract.ts vs api-schema.d.ts, regenerated with
// `switchboard openapi > web/openapi.json && npm run gen:api`).

export type Id = number;
export type Role = 'admin' | 'supervisor' | 'agent';
/** `in_call` and `wrap_up` are set by the PBX, never by the user. */
export type Presence = 'online' | 'away' | 'dnd' | 'offline' | 'in_call' | 'wrap_up';
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
  /** Capacity per kind of work and skills (absent from servers before routing). */
  routing?: AgentProfile;
}
export interface PresenceUpdate { user_id: Id; status: Presence; since: string }
/** `priority` orders the `ordered` strategy (lower first); `weight` is the `weighted_random` share. */
export interface TeamMember { user_id: Id; capacity: number; priority?: number; weight?: number }
export interface Team { id: Id; name: string; members: TeamMember[]; routing?: TeamRouting; created_at?: string }

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
  | { type: 'offer.created'; workspace_id: Id; data: RoutingOffer }
  | { type: 'offer.ended'; workspace_id: Id; data: RoutingOfferEnded }
  | { type: 'queue.position'; workspace_id: Id; data: QueuePosition }
  | { type: 'sla.breached'; workspace_id: Id; data: SlaBreach }
  | { type: 'conversation.status_changed'; workspace_id: Id; data: { conversation_id: Id; from: ConversationStatus; to: ConversationStatus } }
  | { type: 'conversation.tag_added'; workspace_id: Id; data: { conversation_id: Id; tag: string } }
  | { type: 'call.created' | 'call.updated' | 'call.ended'; workspace_id: Id; data: Call }
  | { type: 'callback.requested'; workspace_id: Id; data: CallbackRequest }
  | { type: 'pong' };

// ---- Asked for in web/NEEDS.md; now served (not in docs/API.md yet) ----
export interface ApiTokenInfo { id: Id; name: string; user_id: Id; created_at: string }
export interface Review { id: Id; conversation_id: Id; reviewer_id: Id; score: number; comment: string; created_at: string }
export interface DayHours { day: number; open: string; close: string; enabled: boolean }
export interface BusinessHours {
  timezone: string; days: DayHours[]; away_message: string; holidays: string[];
  /** What the away message promises ("within N minutes"); null: the next opening time. */
  expected_response_minutes?: number | null;
}

// GET /api/v1/workspaces/{ws}/stats/live (S): the live dashboard's numbers.
// waiting = open and unassigned; active = open or pending and assigned.
export interface TeamLoad { team_id: Id | null; waiting: number; active: number; agents_online: number }
export interface ChannelLoad { channel: Channel; waiting: number; active: number }
export interface AgentLoad { user_id: Id; role: Role; presence: Presence; since: string; active_conversations: number }
export interface LiveStats {
  waiting: number; active: number; longest_waiting_since: string | null;
  by_team: TeamLoad[]; by_channel: ChannelLoad[]; agents: AgentLoad[];
}

// ---- Routing (docs/API.md "Routing") ----
// Fields with a serde default are optional in the OpenAPI document although
// the server always sends them; the contract check reads them as "maybe null".
export const STRATEGIES = ['round_robin', 'least_busy', 'longest_idle', 'fewest_handled_today', 'ring_all', 'ordered', 'random', 'weighted_random'] as const;
export type Strategy = (typeof STRATEGIES)[number];
export interface Overflow { after_secs: number; to_team_id: Id }
export interface TeamRouting {
  auto_assign: boolean; strategy: Strategy;
  /** null: assign directly; 5-3600: offer and wait this long for an accept. */
  offer_timeout_secs: number | null; sticky: boolean; overflow: Overflow | null;
}
export const WORK_KINDS = ['chat', 'email', 'voice'] as const;
export type WorkKind = (typeof WORK_KINDS)[number];
export type Capacity = Record<WorkKind, number>;
/** Skill name → level 1-10. */
export interface AgentProfile { capacity: Capacity; skills: Record<string, number> }
export interface SkillRequirement { skill: string; min_level?: number | null }
export const CONDITION_TYPES = ['inbox', 'channel', 'language', 'keywords', 'prechat', 'contact_field'] as const;
export type TeamCondition =
  | { type: 'inbox'; inbox_ids: Id[] }
  | { type: 'channel'; channels: Channel[] }
  | { type: 'language'; languages: string[] }
  | { type: 'keywords'; keywords: string[] }
  | { type: 'prechat'; field: string; values: string[] }
  | { type: 'contact_field'; field: string; values: string[] };
export interface TeamRule {
  name?: string | null; conditions: TeamCondition[]; team_id: Id;
  priority?: Priority | null; skills?: SkillRequirement[] | null;
}
/** First matching rule wins, then the inbox's default team (keys are inbox ids). */
export interface RoutingRules { rules: TeamRule[]; inbox_default_team?: Record<string, Id> | null }
export interface QueuedConversation { conversation_id: Id; position: number; offered_to: Id[] }
export interface TeamQueue { team_id: Id; waiting: QueuedConversation[] }
export interface RoutingOffer { conversation_id: Id; agent_id: Id; team_id: Id; expires_at: string }
export type RetractReason = 'taken_elsewhere' | 'timed_out' | 'declined' | 'agent_unavailable' | 'withdrawn';
export interface RoutingOfferEnded { conversation_id: Id; agent_id: Id; reason: RetractReason }
export interface QueuePosition { conversation_id: Id; team_id: Id; position: number }

// ---- Automation rules (docs/API.md "Automation rules") ----
export const TRIGGERS = ['conversation_created', 'message_received', 'status_changed', 'tag_added', 'sla_breached'] as const;
export type Trigger = (typeof TRIGGERS)[number];
export const RULE_FIELDS = ['inbox_id', 'channel', 'status', 'previous_status', 'priority', 'team_id', 'assignee_id', 'tags',
  'message_content', 'contact_name', 'contact_email', 'contact_phone', 'custom_field', 'tag', 'sla_kind'] as const;
export type RuleField = (typeof RULE_FIELDS)[number];
export const OPERATORS = ['equals', 'not_equals', 'contains', 'not_contains', 'in', 'is_set', 'is_not_set'] as const;
export type Operator = (typeof OPERATORS)[number];
export interface RuleCondition { field: RuleField; key?: string | null; operator: Operator; value?: unknown }
export const ACTION_TYPES = ['assign_team', 'assign_agent', 'add_tag', 'set_priority', 'send_template', 'send_webhook', 'resolve'] as const;
export type RuleAction =
  | { type: 'assign_team'; team_id: Id }
  | { type: 'assign_agent'; user_id: Id }
  | { type: 'add_tag'; tag: string }
  | { type: 'set_priority'; priority: Priority }
  | { type: 'send_template'; template_id: Id }
  | { type: 'send_webhook'; url: string }
  | { type: 'resolve' };
export interface RuleDefinition { name: string; enabled?: boolean | null; trigger: Trigger; conditions?: RuleCondition[] | null; actions: RuleAction[] }
export type AutomationRule = RuleDefinition & { id: Id; position: number; created_at: string; updated_at: string };
export interface RuleRun {
  id: Id; rule_id: Id; rule_name: string; conversation_id: Id | null; trigger: Trigger;
  outcome: 'applied' | 'skipped' | 'failed'; detail: string; created_at: string;
}

// ---- Team hours, SLA policy, auto-resolve ----
export interface TeamBusinessHours { team_id: Id; business_hours: BusinessHours | null; effective: BusinessHours }
export type SlaKind = 'first_response' | 'next_response' | 'resolution';
/** Minutes (fractions allowed); null = no target. */
export interface SlaPolicy {
  first_response_minutes?: number | null; next_response_minutes?: number | null; resolution_minutes?: number | null;
  business_hours_only?: boolean | null;
}
export interface AutomationSettings { sla?: SlaPolicy | null; auto_resolve_after_hours?: number | null }
export interface SlaTarget { kind: SlaKind; started_at: string; due_at: string | null; stopped_at: string | null; breached: boolean }
export interface SlaBreachView { kind: SlaKind; due_at: string; breached_at: string }
export interface ConversationSla { conversation_id: Id; policy: SlaPolicy; targets: SlaTarget[]; breaches: SlaBreachView[] }
export interface SlaBreach { conversation_id: Id; kind: SlaKind; due_at: string; breached_at: string }

// ---- Voice (docs/API.md "Voice") ----
export const CALL_DIRECTIONS = ['inbound', 'outbound'] as const;
export type CallDirection = (typeof CALL_DIRECTIONS)[number];
export const CALL_DISPOSITIONS = ['answered', 'abandoned', 'missed', 'voicemail', 'failed', 'busy', 'no_answer'] as const;
export type CallDisposition = (typeof CALL_DISPOSITIONS)[number];
export type CallbackStatus = 'pending' | 'done' | 'dismissed';
/** One call (a CDR). `disposition` is null while the call is in progress; `wait_ms`/`talk_ms` are set when it ends. */
export interface Call {
  id: Id; direction: CallDirection; from_number: string; to_number: string;
  voice_number_id?: Id | null; inbox_id: Id; contact_id: Id; conversation_id: Id; team_id?: Id | null;
  agent_user_id?: Id | null; sip_call_id?: string | null; offered_at: string; answered_at?: string | null; ended_at?: string | null;
  disposition?: CallDisposition | null; wait_ms?: number | null; talk_ms?: number | null;
  recording_attachment_id?: Id | null; voicemail_attachment_id?: Id | null; callback_status?: CallbackStatus | null;
}
export interface CallbackRequest {
  id: Id; phone: string; name?: string | null; source: 'website' | 'queue'; requested_at: string;
  status: 'pending' | 'dialing' | 'done' | 'failed'; call_id?: Id | null;
}
export const MAX_WAIT_ACTIONS = ['voicemail', 'callback', 'hangup'] as const;
export type MaxWaitAction = (typeof MAX_WAIT_ACTIONS)[number];
/** Fields with a serde default are optional in the document; the server always sends them. */
export interface VoiceSettings {
  sip_domain?: string | null; ring_timeout_secs?: number | null; wrap_up_secs?: number | null; max_queue_wait_secs?: number | null;
  max_wait_action?: MaxWaitAction | null; other_channels_message?: string | null; other_channels_every_secs?: number | null;
  recording?: boolean | null;
}
export interface SipExtension {
  id: Id; extension: string; user_id?: Id | null; display_name: string; realm: string;
  /** False after the SIP domain changed: the password must be set again. */
  password_realm_current: boolean; created_at: string;
}
export interface VoiceNumber { id: Id; number: string; inbox_id: Id; ivr_menu_id?: Id | null; default_team_id?: Id | null; created_at: string }
export type SipTransport = 'udp' | 'tcp';
export type TrunkRegistrationState = 'registering' | 'registered' | 'failed';
/** How a `register` trunk's registration to its provider stands. */
export interface TrunkRegistration { state: TrunkRegistrationState; expires_at?: string | null; last_error?: string | null; updated_at: string }
/** The password is write-only: `has_password` says whether one is stored. */
export interface SipTrunk {
  id: Id; name: string; host: string; port: number; transport: SipTransport; username?: string | null;
  has_password: boolean; register: boolean; inbound_ips: string[]; inbound_auth: boolean;
  registration?: TrunkRegistration | null; created_at: string;
}
export type IvrAction =
  | { type: 'queue'; team_id: Id }
  | { type: 'menu'; menu_id: Id }
  | { type: 'voicemail' }
  | { type: 'hangup' };
export type Prompt = { tts: string; voice?: string | null } | { attachment_id: Id };
export interface IvrOption { digit: string; action: IvrAction }
export interface IvrMenuSpec {
  name: string; prompt: Prompt; options?: IvrOption[] | null; timeout_secs?: number | null; max_retries?: number | null;
  invalid_prompt?: Prompt | null; timeout_action?: IvrAction | null;
}
export type IvrMenu = IvrMenuSpec & { id: Id; created_at: string; updated_at: string };
