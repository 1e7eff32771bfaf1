// Writes .dev.vars with freshly generated random secrets when it does not exist yet, so that
// `npm run dev` works on a fresh clone. Existing files are never touched.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export function ensureDevVars(path = '.dev.vars', extra = {}) {
  if (existsSync(path)) return false;
  const template = readFileSync('.dev.vars.example', 'utf8');
  const values = {
    JWT_SECRET: randomBytes(48).toString('base64url'),
    ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    ...extra,
  };
  const text = template.replace(/^([A-Z_]+)=$/gm, (line, name) => (name in values ? `${name}=${values[name]}` : line));
  writeFileSync(path, text, { mode: 0o600 });
  return true;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (ensureDevVars()) console.log('Created .dev.vars with fresh random JWT_SECRET and ENCRYPTION_KEYS.');
}
