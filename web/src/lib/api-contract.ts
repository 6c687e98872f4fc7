// Compile-time check that the hand-written API types (api-types.ts) accept
// what the server's OpenAPI document (api-schema.d.ts, from `npm run gen:api`)
// says it sends. `npm run check` fails when the two drift apart.
import type { components } from './api-schema';
import type * as T from './api-types';

/** utoipa marks `Option<T>` fields optional, but serde always sends them
 *  (as null): read "optional" in the document as "present, maybe null". */
type Present<T> = T extends (infer U)[] ? Present<U>[]
  : T extends object ? { [K in keyof T]-?: Present<Exclude<T[K], undefined>> | (undefined extends T[K] ? null : never) }
  : T;
type S = { [K in keyof components['schemas']]: Present<components['schemas'][K]> };
/** Compiles only when A is assignable to B. */
type Accepts<B, A extends B> = A;

export type ApiContract = [
  Accepts<T.User, S['User']>,
  Accepts<T.LoginResponse, S['LoginResponse']>,
  Accepts<T.Me, S['MeResponse']>,
  Accepts<T.Workspace, S['Workspace']>,
  Accepts<T.Member, S['Member']>,
  Accepts<T.PresenceUpdate, S['PresenceView']>,
  Accepts<T.Team, S['Team']>,
  Accepts<T.Inbox, S['InboxView']>,
  Accepts<T.Contact, S['Contact']>,
  Accepts<T.Sender, S['Sender']>,
  Accepts<T.Message, S['Message']>,
  Accepts<T.Attachment, S['Attachment']>,
  Accepts<T.Conversation, S['Conversation']>,
  Accepts<T.Tag, S['Tag']>,
  Accepts<T.Template, S['Template']>,
  Accepts<T.ApiToken, S['ApiTokenCreated']>,
  Accepts<T.ApiErrorBody, S['ErrorBody']>,
  Accepts<T.Review, S['Review']>,
  Accepts<T.BusinessHours, S['BusinessHours']>,
  Accepts<T.ApiTokenInfo, S['ApiTokenInfo']>,
  Accepts<T.LiveStats, S['LiveStats']>,
  Accepts<T.TeamRouting, S['TeamRouting']>,
  Accepts<T.AgentProfile, S['AgentProfile']>,
  Accepts<T.TeamCondition, S['TeamCondition']>,
  Accepts<T.TeamRule, S['TeamRule']>,
  Accepts<T.RoutingRules, S['RoutingRules']>,
  Accepts<T.TeamQueue, S['TeamQueue']>,
  Accepts<T.RuleCondition, S['RuleCondition']>,
  Accepts<T.RuleAction, S['RuleAction']>,
  Accepts<T.RuleDefinition, S['RuleDefinition']>,
  Accepts<T.AutomationRule, S['AutomationRule']>,
  Accepts<T.RuleRun, S['RuleRun']>,
  Accepts<T.TeamBusinessHours, S['TeamBusinessHours']>,
  Accepts<T.AutomationSettings, S['AutomationSettings']>,
  Accepts<T.ConversationSla, S['ConversationSla']>,
  Accepts<T.Call, S['Call']>,
  Accepts<T.CallbackRequest, S['CallbackRequest']>,
  Accepts<T.VoiceSettings, S['VoiceSettings']>,
  Accepts<T.SipExtension, S['ExtensionView']>,
  Accepts<T.VoiceNumber, S['NumberView']>,
  Accepts<T.SipTrunk, S['TrunkView']>,
  Accepts<T.IvrMenu, S['IvrMenuView']>,
];
