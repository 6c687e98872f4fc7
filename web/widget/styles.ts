// The widget's CSS, kept inside its shadow root so the host page can neither
// break it nor be touched by it.
export const css = `
:host { all: initial; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.root {
  --sb-accent: var(--accent, #4f46e5);
  --sb-accent-ink: #fff;
  --sb-bg: #ffffff;
  --sb-soft: #f4f5f8;
  --sb-line: #e4e6ec;
  --sb-ink: #1b1e27;
  --sb-muted: #6b7183;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--sb-ink);
  position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
}
button { font: inherit; cursor: pointer; }
.launcher {
  width: 58px; height: 58px; border-radius: 50%; border: 0;
  background: var(--sb-accent); color: var(--sb-accent-ink);
  box-shadow: 0 8px 24px rgba(20, 24, 40, .25);
  display: grid; place-items: center; position: relative;
  transition: transform .15s ease, box-shadow .15s ease;
}
.launcher:hover { transform: translateY(-1px) scale(1.03); box-shadow: 0 10px 28px rgba(20, 24, 40, .3); }
.launcher svg { width: 28px; height: 28px; }
.badge {
  position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; padding: 0 6px;
  border-radius: 10px; background: #e5484d; color: #fff; font-size: 12px; font-weight: 600;
  display: grid; place-items: center; border: 2px solid #fff;
}
.panel {
  position: absolute; right: 0; bottom: 74px; width: 370px; height: min(600px, calc(100vh - 110px));
  background: var(--sb-bg); border-radius: 16px; overflow: hidden;
  box-shadow: 0 18px 50px rgba(20, 24, 40, .22), 0 0 0 1px rgba(20, 24, 40, .06);
  display: flex; flex-direction: column;
  transform-origin: bottom right; animation: sb-in .18s ease;
}
@keyframes sb-in { from { opacity: 0; transform: translateY(8px) scale(.98); } to { opacity: 1; transform: none; } }
.panel[hidden] { display: none; }
.head {
  background: var(--sb-accent); color: var(--sb-accent-ink); padding: 16px 18px;
  display: flex; align-items: center; gap: 12px;
}
.head .logo { width: 38px; height: 38px; border-radius: 50%; background: rgba(255,255,255,.2); display: grid; place-items: center; font-weight: 700; }
.head .title { font-weight: 650; font-size: 16px; }
.head .sub { opacity: .85; font-size: 12.5px; display: flex; align-items: center; gap: 6px; }
.head .dot { width: 8px; height: 8px; border-radius: 50%; background: #3dd68c; display: inline-block; }
.head .dot.off { background: #f5a524; }
.head .close { margin-left: auto; background: transparent; border: 0; color: inherit; opacity: .85; padding: 6px; border-radius: 8px; }
.head .close:hover { background: rgba(255,255,255,.15); opacity: 1; }
.body { flex: 1; overflow-y: auto; padding: 16px; background: var(--sb-soft); display: flex; flex-direction: column; gap: 6px; }
.empty { margin: auto; text-align: center; color: var(--sb-muted); max-width: 240px; }
.empty b { display: block; color: var(--sb-ink); font-size: 15px; margin-bottom: 4px; }
.msg { max-width: 80%; padding: 9px 12px; border-radius: 14px; white-space: pre-wrap; word-wrap: break-word; overflow-wrap: anywhere; }
.msg.in { align-self: flex-end; background: var(--sb-accent); color: var(--sb-accent-ink); border-bottom-right-radius: 4px; }
.msg.out { align-self: flex-start; background: #fff; border: 1px solid var(--sb-line); border-bottom-left-radius: 4px; }
.msg.system { align-self: center; background: transparent; color: var(--sb-muted); font-size: 12.5px; text-align: center; }
.msg a { color: inherit; text-decoration: underline; }
.msg .who { display: block; font-size: 11.5px; font-weight: 600; color: var(--sb-muted); margin-bottom: 2px; }
.meta { font-size: 11px; color: var(--sb-muted); margin: -2px 4px 4px; }
.meta.in { align-self: flex-end; }
.meta.failed { color: #d93036; }
.meta.out { align-self: flex-start; }
.msg.pending { opacity: .7; }
.typing { align-self: flex-start; background: #fff; border: 1px solid var(--sb-line); border-radius: 14px; padding: 10px 12px; display: flex; gap: 4px; }
.typing i { width: 6px; height: 6px; border-radius: 50%; background: var(--sb-muted); animation: sb-bounce 1s infinite ease-in-out; }
.typing i:nth-child(2) { animation-delay: .15s; } .typing i:nth-child(3) { animation-delay: .3s; }
@keyframes sb-bounce { 0%, 80%, 100% { transform: translateY(0); opacity: .5; } 40% { transform: translateY(-4px); opacity: 1; } }
.foot { border-top: 1px solid var(--sb-line); padding: 10px; display: flex; gap: 8px; align-items: flex-end; background: #fff; }
.foot textarea {
  flex: 1; resize: none; border: 1px solid var(--sb-line); border-radius: 12px; padding: 9px 12px; font: inherit; color: inherit;
  max-height: 120px; min-height: 40px; outline: none; background: #fff;
}
.foot textarea:focus { border-color: var(--sb-accent); box-shadow: 0 0 0 3px color-mix(in srgb, var(--sb-accent) 18%, transparent); }
.send { width: 40px; height: 40px; border-radius: 12px; border: 0; background: var(--sb-accent); color: #fff; display: grid; place-items: center; flex: none; }
.send:disabled { opacity: .45; cursor: default; }
.send svg { width: 18px; height: 18px; }
.foot { flex-wrap: wrap; }
.files { flex-basis: 100%; display: flex; flex-wrap: wrap; gap: 6px; }
.chip { display: inline-flex; align-items: center; gap: 6px; max-width: 100%; padding: 4px 4px 4px 10px; border: 1px solid var(--sb-line); border-radius: 10px; background: var(--sb-soft); font-size: 12.5px; }
.chip .nm, .file .nm { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; max-width: 170px; }
.chip .sz, .file .sz { color: var(--sb-muted); font-size: 11.5px; white-space: nowrap; }
.chip.busy .sz::before { content: ""; display: inline-block; width: 10px; height: 10px; margin-right: 5px; vertical-align: -1px; border-radius: 50%; border: 2px solid var(--sb-line); border-top-color: var(--sb-accent); animation: sb-spin .7s linear infinite; }
.chip.err { border-color: #f3b4b6; background: #fff1f1; }
.chip.err .sz { color: #d93036; }
.chip button { border: 0; background: none; color: var(--sb-muted); padding: 3px; border-radius: 6px; display: grid; place-items: center; }
.chip button:hover { background: var(--sb-line); }
@keyframes sb-spin { to { transform: rotate(360deg); } }
.attach { width: 36px; height: 40px; border: 0; background: none; color: var(--sb-muted); border-radius: 10px; display: grid; place-items: center; flex: none; }
.attach:hover { color: var(--sb-accent); background: var(--sb-soft); }
.attach svg { width: 20px; height: 20px; }
.msg .img { display: block; margin-top: 6px; border-radius: 10px; overflow: hidden; }
.msg .img img { display: block; height: 140px; width: auto; max-width: 100%; min-width: 48px; object-fit: cover; }
.msg .file { display: flex; align-items: center; gap: 8px; margin-top: 6px; padding: 7px 10px; border-radius: 10px; background: rgba(127,127,127,.12); text-decoration: none; }
.msg.out .file { background: var(--sb-soft); }
.msg .file svg { width: 16px; height: 16px; flex: none; }
.msg .file .sz { color: inherit; opacity: .75; }
.msg.bare { padding: 0; background: transparent; border: 0; color: var(--sb-ink); }
.msg.bare > :first-child { margin-top: 0; }
.status { text-align: center; font-size: 12px; color: var(--sb-muted); padding: 4px; background: #fff7e6; }
.status[hidden] { display: none; }
.queue { display: flex; flex-direction: column; gap: 1px; padding: 9px 16px; background: color-mix(in srgb, var(--sb-accent) 10%, #fff); border-bottom: 1px solid var(--sb-line); font-size: 13px; }
.queue b { color: var(--sb-ink); font-weight: 650; }
.queue span { color: var(--sb-muted); font-size: 12px; }
.form { padding: 20px; display: flex; flex-direction: column; gap: 12px; flex: 1; overflow-y: auto; }
.form p { margin: 0 0 4px; color: var(--sb-muted); }
.form label { display: flex; flex-direction: column; gap: 4px; font-size: 12.5px; font-weight: 600; color: var(--sb-muted); }
.form input { font: inherit; color: var(--sb-ink); padding: 10px 12px; border: 1px solid var(--sb-line); border-radius: 10px; outline: none; }
.form input:focus { border-color: var(--sb-accent); box-shadow: 0 0 0 3px color-mix(in srgb, var(--sb-accent) 18%, transparent); }
.form .primary { margin-top: 6px; padding: 11px; border: 0; border-radius: 10px; background: var(--sb-accent); color: #fff; font-weight: 600; }
.form .err { color: #d93036; font-size: 12.5px; min-height: 1em; }
.brand { text-align: center; font-size: 11px; color: var(--sb-muted); padding: 6px 0 8px; background: #fff; }
@media (max-width: 480px) {
  .root { right: 12px; bottom: 12px; }
  .panel { position: fixed; inset: 0; width: auto; height: auto; border-radius: 0; bottom: 0; }
  .foot textarea, .form input { font-size: 16px; }
}
`;
