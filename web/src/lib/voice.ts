// Small helpers shared by the call log, the missed-calls list and the
// contact card: durations, which of our numbers to call from, click-to-call.
import { api } from './api';
import type { Call, Id } from './api-types';
import { session } from './session.svelte';
import { t } from './i18n.svelte';
import { toastError, toasts } from './toast.svelte';

export const E164 = /^\+[1-9]\d{6,14}$/;

/** 65_000 → "1:05"; null/undefined → "—". */
export function callDuration(ms: number | null | undefined): string {
  if (ms == null) return '—';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Our number to call from: the preferred one if it still exists, else one of the inbox's, else the first. */
export function callerId(preferred?: Id | null, inboxId?: Id | null): Id | null {
  const nums = session.voiceNumbers;
  return nums.find((n) => n.id === preferred)?.id ?? nums.find((n) => n.inbox_id === inboxId)?.id ?? nums[0]?.id ?? null;
}

/** Click-to-call: the server rings the agent's phone first, then the customer. */
export async function placeCall(target: { contact_id?: Id | null; number?: string | null }, from?: Id | null, inboxId?: Id | null): Promise<Call | null> {
  const voice_number_id = callerId(from, inboxId);
  if (voice_number_id == null) { toasts.show(t('calls.noNumber'), 'error'); return null; }
  const number = target.number && E164.test(target.number) ? target.number : null;
  try {
    const call = await api.post<Call>(session.w('calls'), {
      voice_number_id, ...(number ? { number } : {}), ...(target.contact_id != null ? { contact_id: target.contact_id } : {}),
    });
    toasts.show(t('calls.calling'), 'success');
    return call;
  } catch (e) { toastError(e); return null; }
}
