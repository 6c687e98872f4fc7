// Fails when a UI string is used but not in the English dictionary, or when
// Russian/Ukrainian miss (or invent) keys. Dynamic keys (t(`status.${s}`))
// are covered by their static prefix having entries.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
const keysOf = (lang) => new Set([...readFileSync(join(root, 'lib', 'i18n', `${lang}.ts`), 'utf8').matchAll(/'([a-zA-Z0-9_.]+)':/g)].map((m) => m[1]));
const en = keysOf('en');
const problems = [];
for (const lang of ['ru', 'uk']) {
  const k = keysOf(lang);
  for (const key of en) if (!k.has(key)) problems.push(`${lang}: missing ${key}`);
  for (const key of k) if (!en.has(key)) problems.push(`${lang}: unknown key ${key}`);
}
const files = [];
(function walk(dir) {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.(svelte|ts)$/.test(f)) files.push(p);
  }
})(root);
for (const f of files) {
  const src = readFileSync(f, 'utf8');
  for (const m of src.matchAll(/\bt\('([a-zA-Z0-9_.]+)'/g)) if (!en.has(m[1])) problems.push(`${f}: unknown key ${m[1]}`);
  for (const m of src.matchAll(/\bt\(`([a-zA-Z0-9_.]+)\.\$\{/g)) if (![...en].some((k) => k.startsWith(`${m[1]}.`))) problems.push(`${f}: no keys under ${m[1]}.`);
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`i18n: ${en.size} keys in en, ru and uk; all used keys defined`);
