/**
 * The import-layer check that `npm run lint` runs (scripts/check-layers.mjs, ARCHITECTURE.md "Layers"):
 * it passes on the project as it is, and fails, naming the import, on each kind of violation planted
 * in a copy of src/: an import from src/db/ up into src/sync/, a cycle, a module importing a queue
 * consumer, a value import from server code in browser code, one folder's routes importing another's, an import in
 * a module shared with the browser.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const SCRIPT = join(ROOT, 'scripts/check-layers.mjs');
const copies: string[] = [];
afterAll(() => {
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
});

/** Runs the check on a copy of src/ with `planted` files added or replaced (paths relative to src/). */
function checkWith(planted: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), 'layers-'));
  copies.push(root);
  cpSync(join(ROOT, 'src'), join(root, 'src'), { recursive: true, filter: (path) => !path.includes('/dist') });
  for (const [file, source] of Object.entries(planted)) writeFileSync(join(root, 'src', file), source);
  const run = spawnSync(process.execPath, [SCRIPT, root], { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('npm run lint: the import-layer check', () => {
  it('is part of npm run lint, and passes on the project as it is', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.lint).toContain('node scripts/check-layers.mjs');
    const run = spawnSync(process.execPath, [SCRIPT, ROOT], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('fails on an import from src/db/ up into src/sync/', () => {
    const { status, output } = checkWith({
      'db/probe.ts': "import { readSyncState } from '../sync/state';\nexport const probe = readSyncState;\n",
    });
    expect(status).toBe(1);
    expect(output).toMatch(/src\/db\/probe\.ts imports src\/sync\/state\.ts: layer 1 may only import lower layers/);
  });

  it('fails on a type-only upward import too (types couple layers as much as values)', () => {
    const { status, output } = checkWith({
      'readmodel/probe.ts': "import type { SyncOutcome } from '../sync/service';\nexport type Probe = SyncOutcome;\n",
    });
    expect(status).toBe(1);
    expect(output).toMatch(/src\/readmodel\/probe\.ts imports src\/sync\/service\.ts/);
  });

  it('fails on an import cycle inside a folder', () => {
    const { status, output } = checkWith({
      'history/probe-a.ts': "import { b } from './probe-b';\nexport const a = () => b;\n",
      'history/probe-b.ts': "import { a } from './probe-a';\nexport const b = () => a;\n",
    });
    expect(status).toBe(1);
    expect(output).toMatch(
      /import cycle: src\/history\/probe-a\.ts → src\/history\/probe-b\.ts → src\/history\/probe-a\.ts/,
    );
  });

  it('fails when a module imports a queue consumer, or a route module of another folder', () => {
    const { status, output } = checkWith({
      'jobs/probe.ts':
        "import { handleEnrichMessage } from './enrichment';\nexport const probe = handleEnrichMessage;\n",
      'users/probe.routes.ts':
        "import { historyRoutes } from '../history/routes';\nexport const probe = historyRoutes;\n",
    });
    expect(status).toBe(1);
    expect(output).toMatch(
      /src\/jobs\/probe\.ts imports src\/jobs\/enrichment\.ts: a queue consumer is an entry point/,
    );
    expect(output).toMatch(/src\/users\/probe\.routes\.ts imports src\/history\/routes\.ts/);
  });

  it('fails when browser code imports server code as a value (types are fine)', () => {
    const { status, output } = checkWith({
      'web/dashboard/browser/probe.ts':
        "import type { SyncOutcome } from '../../../sync/service';\nimport { runSync } from '../../../sync/service';\n" +
        'export const probe = (o: SyncOutcome) => [o, runSync];\n',
    });
    expect(status).toBe(1);
    const lines = output.split('\n').filter((line) => line.includes('probe.ts'));
    expect(lines).toEqual([
      'src/web/dashboard/browser/probe.ts imports src/sync/service.ts: browser code imports server code as types only (import type)',
    ]);
  });

  it('lets browser code import the import-free ZIP reader, and fails when that reader gains an import', () => {
    const zip = readFileSync(join(ROOT, 'src/import/zip.ts'), 'utf8');
    const { status, output } = checkWith({
      'import/zip.ts': `import { ApiError } from '../http/errors';\nexport const probe = ApiError;\n${zip}`,
    });
    expect(status).toBe(1);
    const lines = output.split('\n').filter((line) => line.includes('zip.ts'));
    expect(lines).toEqual(['src/import/zip.ts: shared with the browser, so it imports nothing']);
  });
});
