/**
 * The import-direction check of `npm run lint` (ARCHITECTURE.md, "Layers"): every import inside
 * src/ must point DOWN the layers below, never up or sideways, and no module may reach itself
 * through its imports.
 *
 * - Each folder of src/ (and each top-level file) has a rank; a module may import its own folder
 *   and lower ranks only. Route modules (`routes.ts`, `*.routes.ts`, `routes.tsx`) sit above every
 *   service whatever their folder; a few modules are placed explicitly (OVERRIDES, each with why).
 * - Browser code (`src/web/**\/client.ts`, `src/web/**\/browser/**`) runs in the browser: it may import
 *   other browser code and npm packages, and from the server only types (`import type`), but for the few
 *   import-free modules in BROWSER_SAFE.
 * - Queue consumers are entry points: only the Worker entry and the queue dispatcher import them.
 * - No import cycle between modules (type-only imports included).
 *
 * Hand-written (about a hundred lines): dependency-cruiser needs the TypeScript compiler API, which
 * TypeScript 7 no longer ships, and Biome's noRestrictedImports matches import strings, not the
 * resolved files a layer rule is about.
 *
 *   node scripts/check-layers.mjs [root]     exit 1 and one line per violation when any
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Lowest first. A module may import its own folder and anything of a lower rank. */
export const RANKS = {
  'version.ts': 0,
  db: 1,
  'app-env.ts': 1.5,
  observability: 2,
  http: 3,
  'config.ts': 3.5,
  budget: 3.7,
  crypto: 4,
  pacing: 4.1,
  upstream: 4.2,
  // Per-user endpoint budgets (user_budgets): the owner, the pure rules and the middleware; under trakt/, whose
  // device poll spends one.
  budgets: 4.3,
  auth: 5,
  readmodel: 5.5,
  users: 6,
  trakt: 7,
  // Key rotation: re-seals stored secrets through their owners (users/api-keys, trakt/connections, trakt/tokens).
  rotation: 7.5,
  // Webhooks: the sync announces new plays and failures through them.
  webhooks: 7.6,
  sync: 8,
  tmdb: 9,
  // Importing Trakt's export: writes through sync/ (the lease, the history writer) and asks tmdb/ to enrich.
  import: 9.5,
  history: 10,
  // The year in review and public sharing read the history (sharing also the review).
  review: 10.15,
  sharing: 10.3,
  admin: 10.1,
  health: 10.2,
  web: 10.5,
  // NowPlaying's clients (src/nowplaying/): maps their requests onto history, sync, trakt and users services.
  nowplaying: 10.8,
  jobs: 11,
  docs: 12,
  'app.ts': 13,
  'client.ts': 14,
  'index.ts': 14,
};
/** Route modules compose services into URLs: above every service, below the app that mounts them. */
const ROUTES_RANK = 12;
/** Modules placed apart from their folder, and why. */
const OVERRIDES = {
  // The one place that composes every owner's delete (auth, readmodel, sync, trakt, users) into an account deletion.
  'users/account-deletion.ts': 10.9,
};
/** Queue consumers (entry points) and the only modules that may import them. */
const CONSUMERS = new Set(['jobs/queue.ts', 'jobs/enrichment.ts', 'jobs/imports.ts', 'jobs/webhooks.ts']);
const CONSUMER_IMPORTERS = new Set(['index.ts', 'jobs/queue.ts']);

/**
 * Server modules the browser code may import besides its own: they import nothing and use no server API (checked
 * below), so the dashboard, the CLI and the Worker read Trakt's export with the same code.
 */
const BROWSER_SAFE = new Set(['import/zip.ts', 'import/export-files.ts']);

const isRoute = (file) => /(^|\/)(routes\.tsx?|[\w-]+\.routes\.tsx?)$/.test(file);
const isBrowser = (file) => file.startsWith('web/') && (/\/client\.ts$/.test(file) || file.includes('/browser/'));
const unit = (file) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : file);

export function rankOf(file) {
  if (file in OVERRIDES) return OVERRIDES[file];
  if (isRoute(file)) return ROUTES_RANK;
  const rank = RANKS[unit(file)];
  if (rank === undefined) throw new Error(`src/${file}: its folder has no rank in scripts/check-layers.mjs`);
  return rank;
}

/** The imports of one source: `{ specifier, typeOnly }` (comments stripped; static, re-exports, dynamic). */
export function importsOf(source) {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found = [];
  const statement = /(?:^|[\n;])\s*(import|export)\s+(type\s+)?([^;=()]*?)\s*from\s*['"]([^'"]+)['"]/g;
  for (const m of code.matchAll(statement)) found.push({ specifier: m[4], typeOnly: Boolean(m[2]) });
  for (const m of code.matchAll(/(?:^|[\n;])\s*import\s*['"]([^'"]+)['"]/g))
    found.push({ specifier: m[1], typeOnly: false });
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g))
    found.push({ specifier: m[1], typeOnly: false });
  return found;
}

function resolveImport(files, from, specifier) {
  const base = join(dirname(from), specifier).split(sep).join('/');
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, `${base}/index.ts`])
    if (files.has(candidate)) return candidate;
  return undefined;
}

/** Violations in `files` (path relative to src/ → source), as readable lines. */
export function checkLayers(files) {
  const problems = [];
  const graph = new Map();
  for (const [file, source] of files) {
    const edges = [];
    if (BROWSER_SAFE.has(file) && importsOf(source).length > 0)
      problems.push(`src/${file}: shared with the browser, so it imports nothing`);
    for (const { specifier, typeOnly } of importsOf(source)) {
      // npm packages, runtime modules (cloudflare:*) and data files (package.json)
      if (!specifier.startsWith('.') || specifier.endsWith('.json')) continue;
      const target = resolveImport(files, file, specifier);
      if (!target) {
        if (!specifier.startsWith('../../simulator') && !specifier.includes('/dist/'))
          problems.push(`src/${file}: cannot resolve '${specifier}'`);
        continue;
      }
      edges.push(target);
      const where = `src/${file} imports src/${target}`;
      if (CONSUMERS.has(target) && !CONSUMER_IMPORTERS.has(file)) {
        problems.push(`${where}: a queue consumer is an entry point (only src/index.ts dispatches to it)`);
      }
      if (isBrowser(file)) {
        if (!typeOnly && !isBrowser(target) && !target.startsWith('web/') && !BROWSER_SAFE.has(target))
          problems.push(`${where}: browser code imports server code as types only (import type)`);
        continue;
      }
      if (isBrowser(target)) {
        problems.push(`${where}: server code never imports browser code`);
        continue;
      }
      if (unit(target) === unit(file)) {
        if (isRoute(target) && !isRoute(file)) problems.push(`${where}: only routes and the app import route modules`);
        continue;
      }
      const [own, theirs] = [rankOf(file), rankOf(target)];
      if (theirs >= own) problems.push(`${where}: layer ${own} may only import lower layers (this one is ${theirs})`);
    }
    graph.set(file, edges);
  }
  return [...problems, ...cyclesOf(graph)];
}

/** Import cycles between modules, one line per cycle (depth-first search, each cycle once). */
function cyclesOf(graph) {
  const state = new Map();
  const stack = [];
  const found = [];
  const visit = (file) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') {
        found.push(`import cycle: ${[...stack.slice(stack.indexOf(next)), next].map((f) => `src/${f}`).join(' → ')}`);
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

/** src/**\/*.ts(x), generated bundles (src/web/dist) left out. */
export function readSources(root) {
  const src = join(root, 'src');
  const files = new Map();
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (name !== 'dist') walk(path);
      } else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) {
        files.set(relative(src, path).split(sep).join('/'), readFileSync(path, 'utf8'));
      }
    }
  };
  walk(src);
  return files;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  if (!existsSync(join(root, 'src'))) throw new Error(`no src/ under ${root}`);
  const problems = checkLayers(readSources(root));
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(`\n${problems.length} import-direction problem(s): see ARCHITECTURE.md, "Layers".`);
    process.exit(1);
  }
  console.log('Import layers: every import points down, no cycles.');
}
