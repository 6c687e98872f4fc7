import type { Contact, Member, Message } from './api-types';
import { i18n } from './i18n.svelte';
export { linkParts } from './links';

export function initials(name: string | null | undefined): string {
  const parts = (name || '?').trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? '?') + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
}

const palette = ['#6366f1', '#0ea5e9', '#14b8a6', '#22c55e', '#f59e0b', '#ef4444', '#ec4899', '#8b5cf6', '#64748b'];
export function colorFor(seed: string | number | null | undefined): string {
  const s = String(seed ?? '');
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return palette[h % palette.length];
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 45) return i18n.t('time.now');
  const m = Math.round(s / 60);
  if (m < 60) return i18n.t('time.m', { n: m });
  const h = Math.round(m / 60);
  if (h < 24) return i18n.t('time.h', { n: h });
  const d = Math.round(h / 24);
  if (d < 7) return i18n.t('time.d', { n: d });
  return new Date(iso).toLocaleDateString(i18n.lang);
}

export function duration(fromIso: string | null | undefined, now = Date.now()): string {
  if (!fromIso) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(fromIso)) / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (h) return i18n.t('time.hm', { h, m: String(m).padStart(2, '0') });
  return `${m}:${String(sec).padStart(2, '0')}`;
}

export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString(i18n.lang, { hour: '2-digit', minute: '2-digit' });
}
export function dateTime(iso: string): string {
  return new Date(iso).toLocaleString(i18n.lang, { dateStyle: 'medium', timeStyle: 'short' });
}
export function dayLabel(iso: string): string {
  const d = new Date(iso);
  const today = new Date();
  const y = new Date(); y.setDate(today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return i18n.t('time.today');
  if (d.toDateString() === y.toDateString()) return i18n.t('time.yesterday');
  return d.toLocaleDateString(i18n.lang, { day: 'numeric', month: 'long', year: d.getFullYear() === today.getFullYear() ? undefined : 'numeric' });
}

/** Fills {{contact.name}}-style variables of a template. Unknown ones stay visible. */
export function fillTemplate(text: string, contact: Contact | null, agent: Pick<Member, 'name' | 'email'> | null): string {
  const first = (contact?.name || '').trim().split(/\s+/)[0] || '';
  const vars: Record<string, string> = {
    'contact.name': contact?.name || '',
    'contact.first_name': first,
    'contact.email': contact?.email || '',
    'contact.phone': contact?.phone || '',
    'agent.name': agent?.name || '',
    'agent.first_name': (agent?.name || '').split(/\s+/)[0] || '',
  };
  for (const [k, v] of Object.entries(contact?.custom_fields ?? {})) vars[`contact.${k}`] = String(v);
  return text.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (all, key: string) => (key in vars ? vars[key] : all));
}


/** 1234567 → "1.2 MB" (binary units, short). */
export function fileSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Images the server serves inline (never SVG: it downloads). */
export function isInlineImage(contentType: string): boolean {
  return contentType.startsWith('image/') && contentType !== 'image/svg+xml';
}

/** A message as one line for lists and notifications: its text, or 📎 and the file names. */
export function messagePreview(m: Pick<Message, 'content' | 'attachments'> | null | undefined): string {
  if (!m) return '';
  const files = m.attachments ?? [];
  if (m.content) return files.length ? `📎 ${m.content}` : m.content;
  // Empty text means files (the server requires one or the other); a
  // conversation's last_message may come without its attachments listed.
  return `📎 ${files.length ? files.map((a) => a.filename).join(', ') : i18n.t('thread.attachment')}`;
}
