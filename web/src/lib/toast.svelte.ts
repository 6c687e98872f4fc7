export interface Toast { id: number; text: string; kind: 'info' | 'error' | 'success'; onclick?: () => void }
let next = 1;
class Toasts {
  items = $state<Toast[]>([]);
  show(text: string, kind: Toast['kind'] = 'info', ms = 4000, onclick?: () => void) {
    const id = next++;
    // At most three at once: the newest news wins.
    this.items = [...this.items.slice(-2), { id, text, kind, onclick }];
    setTimeout(() => this.dismiss(id), ms);
  }
  dismiss(id: number) { this.items = this.items.filter((t) => t.id !== id); }
}
export const toasts = new Toasts();
/** Copies text to the clipboard and says whether it worked. */
export async function copyText(text: string, ok: string, failed: string) {
  try { await navigator.clipboard.writeText(text); toasts.show(ok, 'success', 2000); }
  catch { toasts.show(failed, 'error'); }
}
export function toastError(e: unknown) {
  toasts.show(e instanceof Error ? e.message : String(e), 'error', 6000);
}
