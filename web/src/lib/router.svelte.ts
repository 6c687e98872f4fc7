// History routing under /app/...; the server answers index.html for any
// unknown non-API path, so deep links work.
class Router {
  path = $state(location.pathname);
  segments = $derived(this.path.replace(/^\/app\/?/, '').split('/').filter(Boolean));

  constructor() {
    window.addEventListener('popstate', () => (this.path = location.pathname));
  }
  go(path: string, replace = false) {
    if (path === this.path) return;
    if (replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
    this.path = path;
  }
}
export const router = new Router();

/** onclick handler for <a href> that keeps navigation inside the app. */
export function link(e: MouseEvent) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.currentTarget as HTMLElement).closest('a');
  if (!a || a.target === '_blank') return;
  e.preventDefault();
  router.go(a.getAttribute('href')!);
}
