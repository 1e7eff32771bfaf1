import { it } from 'vitest';
import { installSimulator } from '../simulator/support/harness';
import { historyFiles, MAX_HISTORY_FILE_BYTES } from '../src/import/export-files';
import { entryBytes, inflateEntry, readZipDirectory } from '../src/import/zip';
import { call, registerAndLogin } from './support/api';
import { meterD1 } from './support/d1-meter';

it('reads', async () => {
  const sim = installSimulator();
  await sim.createAccount({
    username: 'r',
    seed: 'bench-import',
    movies: 1000,
    shows: 250,
    seasons_per_show: 8,
    episodes_per_season: 12,
    plays_per_item: 1,
    rewatch_fraction: 0.05,
  });
  const zip = await sim.exportZip('r');
  const user = await registerAndLogin();
  const files = historyFiles(readZipDirectory(zip));
  let i = 0;
  for (const entry of files) {
    const body = new TextDecoder().decode(await inflateEntry(entryBytes(zip, entry), entry, MAX_HISTORY_FILE_BYTES));
    const { meter } = await meterD1(() =>
      call('POST', '/trakt/import/history/', {
        token: user.access,
        body,
        headers: { 'Content-Type': 'application/json' },
      }),
    );
    i++;
    if (i % 5 === 0 || i === files.length) {
      const top = meter.readsByStatement.sort((a, b) => b.rowsRead - a.rowsRead).slice(0, 6);
      console.log('BATCH', i, 'of', files.length, 'read', meter.rowsRead, 'written', meter.rowsWritten);
      for (const t of top) console.log('   ', t.rowsRead, t.sql.replace(/\s+/g, ' ').slice(0, 160));
    }
  }
  sim.restore();
}, 600_000);
