/**
 * @module
 * The structured logger: one JSON object per line on the console, which Workers Logs keeps and
 * indexes (`[observability]` in wrangler.toml). Levels `debug` < `info` < `warn` < `error`;
 * `LOG_LEVEL` sets the lowest one written (default `info`).
 *
 * Every line is `{"level", "event", …the invocation's fields (request_id…), …the event's fields}`.
 * Callers log identifiers, counts and outcomes, never secrets. As a second line of defence the
 * logger redacts any field whose name says it holds a secret (`token`, `secret`, `password`,
 * `code`, `state`, `key`, `authorization`, …, at any depth) and masks secret-looking fragments
 * inside strings (`Bearer …`, `api_key=…`, `code=…`, `state=…`, JWTs).
 */
import { currentScope } from './scope';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
export const REDACTED = '[redacted]';
const MAX_DEPTH = 4;

export function isLogLevel(value: string): boolean {
  return value.trim().toLowerCase() in LEVELS;
}

export function parseLogLevel(value: string | undefined): LogLevel {
  const level = value?.trim().toLowerCase();
  return level && level in LEVELS ? (level as LogLevel) : DEFAULT_LOG_LEVEL;
}

/** Name parts (split on `_`, `-` and camelCase) that mark a field as secret. */
const SECRET_NAME_PARTS = new Set([
  'token',
  'tokens',
  'secret',
  'secrets',
  'password',
  'passwd',
  'code',
  'state',
  'key',
  'keys',
  'apikey',
  'authorization',
  'auth',
  'cookie',
  'jwt',
  'bearer',
  'credential',
  'credentials',
  'signature',
]);

export function isSecretFieldName(name: string): boolean {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .some((part) => SECRET_NAME_PARTS.has(part));
}

const SECRET_FRAGMENTS: Array<[RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[^\s,;"]+/gi, `$1 ${REDACTED}`],
  [
    /\b(api_key|access_token|refresh_token|client_secret|code|state|token|password|device_code)=([^&\s"]+)/gi,
    `$1=${REDACTED}`,
  ],
  [/\beyJ[\w-]+\.[\w-]+\.[\w-]+/g, REDACTED],
];

export function scrubString(value: string): string {
  let out = value;
  for (const [pattern, replacement] of SECRET_FRAGMENTS) out = out.replace(pattern, replacement);
  return out;
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value instanceof Error) return { name: value.name, message: scrubString(value.message) };
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) {
    out[name] = isSecretFieldName(name) && field !== null && field !== undefined ? REDACTED : redact(field, depth + 1);
  }
  return out;
}

function write(level: LogLevel, event: string, fields: Record<string, unknown>): void {
  const scope = currentScope();
  if (LEVELS[level] < LEVELS[parseLogLevel(scope?.logLevel)]) return;
  let line: string;
  try {
    line = JSON.stringify(redact({ level, event, ...scope?.fields, ...fields }));
  } catch {
    line = JSON.stringify({ level, event, error: 'unserializable log fields' });
  }
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}

export const log = {
  debug: (event: string, fields: Record<string, unknown> = {}) => write('debug', event, fields),
  info: (event: string, fields: Record<string, unknown> = {}) => write('info', event, fields),
  warn: (event: string, fields: Record<string, unknown> = {}) => write('warn', event, fields),
  error: (event: string, fields: Record<string, unknown> = {}) => write('error', event, fields),
};

/** What a log line may say about a caught error: its class, a machine code and a scrubbed message, no stack. */
export function describeError(error: unknown): { error: string; reason?: string; message: string } {
  if (error instanceof Error) {
    // drizzle's "Failed query: <sql>\nparams: <values>": the values may be user data; keep the statement only.
    const message = error.message.replace(/\nparams:[\s\S]*$/, '');
    const code = (error as { code?: unknown }).code;
    return {
      error: error.name,
      ...(typeof code === 'string' ? { reason: code } : {}),
      message: scrubString(message),
    };
  }
  return { error: typeof error, message: scrubString(String(error)) };
}
