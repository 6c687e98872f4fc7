// Prints the gzipped sizes of the app's JavaScript and of widget.js and
// fails (exit 1) when either is over its budget.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const KB = 1024;
const budgets = { app: 150 * KB, widget: 25 * KB };

const gz = (file) => gzipSync(readFileSync(file), { level: 9 }).length;
const fmt = (n) => `${(n / KB).toFixed(1)} KB`;

if (!existsSync(join(dist, 'index.html')) || !existsSync(join(dist, 'widget.js'))) {
  console.error('sizes: dist/index.html or dist/widget.js missing; run the build first');
  process.exit(1);
}
const assets = join(dist, 'assets');
const appJs = readdirSync(assets).filter((f) => f.endsWith('.js'));
const appCss = readdirSync(assets).filter((f) => f.endsWith('.css'));
const app = appJs.reduce((sum, f) => sum + gz(join(assets, f)), 0);
const css = appCss.reduce((sum, f) => sum + gz(join(assets, f)), 0);
const widget = gz(join(dist, 'widget.js'));

let failed = false;
const row = (name, size, budget) => {
  const over = budget !== undefined && size > budget;
  if (over) failed = true;
  const limit = budget === undefined ? '' : ` / budget ${fmt(budget)}${over ? '  OVER BUDGET' : '  ok'}`;
  console.log(`${name.padEnd(22)} ${fmt(size).padStart(9)} gzip${limit}`);
};
console.log('Switchboard web bundle sizes');
row(`app JS (${appJs.length} files)`, app, budgets.app);
row('app CSS', css);
row('widget.js', widget, budgets.widget);
if (failed) {
  console.error('sizes: a bundle is over its gzip budget');
  process.exit(1);
}
