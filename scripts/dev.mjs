// `npm run dev`: create .dev.vars if missing, apply D1 migrations to the local database, then
// start `wrangler dev` (local D1, KV and Queues). Extra arguments are passed to wrangler dev.
import { spawn, spawnSync } from 'node:child_process';
import { ensureDevVars } from './ensure-dev-vars.mjs';

if (ensureDevVars()) console.log('Created .dev.vars with fresh random JWT_SECRET and ENCRYPTION_KEYS.');

const migrate = spawnSync('wrangler', ['d1', 'migrations', 'apply', 'DB', '--local'], {
  stdio: 'inherit',
  env: { ...process.env, CI: 'true' },
});
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const dev = spawn('wrangler', ['dev', '--test-scheduled', ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => dev.kill(signal));
dev.on('exit', (code) => process.exit(code ?? 0));
