/**
 * @module
 * Request validation through `@hono/zod-validator`, with one error shape for every route:
 * 400 `{"error": "Invalid <target>: <first problem>", "details": [{path, message}…]}`.
 * The schema is also attached to the middleware so the OpenAPI document is generated
 * from the very schemas that validate requests.
 */
import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import type { z } from 'zod';
import { ApiError } from './errors';

export const REQUEST_SCHEMA = Symbol('requestSchema');

export type ValidationDetail = { path: string; message: string };

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
      const first = details[0];
      const summary = first ? `${first.path === '(root)' ? '' : `${first.path}: `}${first.message}` : 'invalid';
      throw new ApiError(400, `Invalid ${TARGET_NOUN[target] ?? target}: ${summary}`, { details });
    }
  });
  return Object.assign(middleware, { [REQUEST_SCHEMA]: { target, schema } });
}
