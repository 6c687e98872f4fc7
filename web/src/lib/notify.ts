// New-conversation alerts: a short WebAudio chime and a desktop notification.
let ctx: AudioContext | null = null;

export function beep(kind: 'new' | 'message' = 'new') {
  try {
    ctx ??= new AudioContext();
    if (ctx.state === 'suspended') void ctx.resume();
    const now = ctx.currentTime;
    const notes = kind === 'new' ? [880, 1320] : [660];
    notes.forEach((f, i) => {
      const o = ctx!.createOscillator();
      const g = ctx!.createGain();
      o.type = 'sine';
      o.frequency.value = f;
      const t0 = now + i * 0.14;
      g.gain.setValueAtTime(0.0001, t0);
      g.gain.exponentialRampToValueAtTime(0.18, t0 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.22);
      o.connect(g).connect(ctx!.destination);
      o.start(t0);
      o.stop(t0 + 0.25);
    });
  } catch { /* no audio */ }
}

export function notificationsSupported() { return typeof Notification !== 'undefined'; }
export function notificationPermission(): NotificationPermission | 'unsupported' {
  return notificationsSupported() ? Notification.permission : 'unsupported';
}
export async function askNotificationPermission() {
  if (notificationsSupported() && Notification.permission === 'default') await Notification.requestPermission();
}
export function desktopNotify(title: string, body: string, onClick?: () => void) {
  if (!notificationsSupported() || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag: title, icon: '/favicon.svg' });
    n.onclick = () => { window.focus(); onClick?.(); n.close(); };
  } catch { /* some platforms need a service worker */ }
}
