/**
 * @module
 * Request validation through `@hono/zod-validator`, with one error shape for every route:
 * 400 `{"error": "Invalid <target>: <first problem>", "details": [{path, message}…]}`. A message made
 * with `standaloneMessage()` is answered word for word instead, and when it is the only problem the
 * body is exactly `{"error": "<message>"}` (for texts the API reference fixes, e.g.
 * `The 'trakt_id' parameter is required`).
 * The schema is also attached to the middleware so the OpenAPI document is generated
 * from the very schemas that validate requests.
 */
import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import type { z } from 'zod';
import { ApiError } from './errors';

export const REQUEST_SCHEMA = Symbol('requestSchema');

export type ValidationDetail = { path: string; message: string };

const STANDALONE_MESSAGES = new Set<string>();

/**
 * Marks a schema's message as a whole sentence that names its own field, so the error answers
 * it word for word instead of behind the `Invalid <target>: <path>:` prefix. Call it where the
 * schema is defined (module load), e.g. `z.string({ error: standaloneMessage('…') })`.
 */
export function standaloneMessage<Message extends string>(message: Message): Message {
  STANDALONE_MESSAGES.add(message);
  return message;
}

/** The `error` text for a failed validation: the first problem, prefixed unless it stands alone. */
export function validationMessage(target: string, details: readonly ValidationDetail[]): string {
  const first = details[0];
  if (first && STANDALONE_MESSAGES.has(first.message)) return first.message;
  const summary = first ? `${first.path === '(root)' ? '' : `${first.path}: `}${first.message}` : 'invalid';
  return `Invalid ${TARGET_NOUN[target] ?? target}: ${summary}`;
}

export function describeIssues(issues: readonly z.core.$ZodIssue[]): ValidationDetail[] {
  return issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
}

const TARGET_NOUN: Record<string, string> = {
  json: 'request body',
  query: 'query parameters',
  param: 'path parameters',
  form: 'form body',
  header: 'headers',
  cookie: 'cookies',
};

export function validate<Target extends keyof ValidationTargets, Schema extends z.ZodType>(
  target: Target,
  schema: Schema,
) {
  const middleware = zValidator(target, schema, (result) => {
    if (!result.success) {
      const details = describeIssues(result.error.issues);
      const message = validationMessage(target, details);
      // A standalone message that is the only problem is the whole answer: `{"error": "<message>"}`.
      const alone = details.length === 1 && message === details[0]!.message;
      throw new ApiError(400, message, alone ? {} : { details });
    }
  });
  return Object.assign(middleware, { [REQUEST_SCHEMA]: { target, schema } });
}
