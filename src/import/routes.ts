/**
 * @module
 * `/trakt/import/*`: importing Trakt's data export (the ZIP from trakt.tv Settings → Data → Export),
 * for users with or without a Trakt connection. Mounted by src/trakt/routes.ts. Their bodies are
 * larger than any other route's: src/app.ts applies the limits from src/config.ts to these paths.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { MAX_IMPORT_BATCH_BYTES, MAX_IMPORT_ZIP_BYTES } from '../config';
import { describe, errorResponse } from '../http/describe';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { requireUser } from '../users/middleware';
import { MAX_IMPORT_BATCH_ITEMS } from './export-files';
import { importBatch as batchSchema } from './items';
import { type ImportBatchOutput, type ImportOutput, importBatchOutput, importOutput } from './schemas';
import { importBatch, latestImport, startImport } from './service';

/** The ZIP's media types: `application/zip`, and what some browsers send for a `.zip` file. */
export const ZIP_CONTENT_TYPE = /^application\/(?:zip|x-zip-compressed)\b/i;

const IDEMPOTENT =
  'Plays are deduplicated by their Trakt history id: importing again, or importing and syncing the same account ' +
  'in either order, never stores a play twice.';

export const importRoutes = new Hono<AppEnv>()
  .post(
    '/import',
    describe({
      summary: "Import Trakt's data export (the ZIP as downloaded)",
      description:
        'The body is the ZIP from trakt.tv Settings → Data → Export, with Content-Type: application/zip ' +
        `(at most ${MAX_IMPORT_ZIP_BYTES} bytes). Only the watched-history-N.json files are read; no Trakt ` +
        'connection is needed. Declared sizes are checked before anything is inflated. A small export is imported ' +
        'within the request (200); a larger one continues in the background, one history file per step (202; ' +
        'follow it with GET /trakt/import/). Each history file is stored completely or not at all; a file that ' +
        `fails ends the import as failed, naming the file and the item. ${IDEMPOTENT}`,
      requestBody: { contentType: 'application/zip', description: "Trakt's export ZIP" },
      responses: {
        200: { description: 'Imported within the request', schema: importOutput },
        202: { description: 'Accepted; the import continues in the background', schema: importOutput },
        400: errorResponse('Not a ZIP, no watched-history-N.json in it, or (within the request) a file that fails'),
        409: errorResponse('An import (or a sync) is already running for this account'),
        413: errorResponse('The upload, a history file or the whole history is larger than the limits'),
        415: errorResponse('Content-Type is not application/zip'),
        503: errorResponse('The import could not be started; try again (Retry-After)'),
      },
    }),
    requireUser,
    async (c) => {
      if (!ZIP_CONTENT_TYPE.test(c.req.header('Content-Type') ?? ''))
        throw new ApiError(415, 'Content-Type must be application/zip');
      const archive = new Uint8Array(await c.req.arrayBuffer());
      const { finished, view } = await startImport(c.env, c.var.db, c.var.userId, archive);
      return c.json({ import: view } satisfies ImportOutput, finished ? 200 : 202);
    },
  )
  .get(
    '/import',
    describe({
      summary: 'The latest import of a Trakt export, and where it stands',
      responses: {
        200: { description: 'The latest import', schema: importOutput },
        404: errorResponse('No import yet'),
      },
    }),
    requireUser,
    async (c) => {
      const view = await latestImport(c.var.db, c.var.userId);
      if (!view) throw new ApiError(404, 'No import yet: POST the export ZIP to /trakt/import/');
      return c.json({ import: view } satisfies ImportOutput);
    },
  )
  .post(
    '/import/history',
    describe({
      summary: "Import a batch of history items from Trakt's export",
      description:
        `A JSON array of at most ${MAX_IMPORT_BATCH_ITEMS} items of the export's watched-history-N.json files ` +
        `(at most ${MAX_IMPORT_BATCH_BYTES} bytes), as the dashboard and \`npm run import\` send them after ` +
        'unzipping on your side. Stored in one transaction: all new plays of the batch, or none (an invalid item ' +
        `answers 400 naming its index). ${IDEMPOTENT}`,
      responses: {
        200: { description: 'Stored', schema: importBatchOutput },
        409: errorResponse('A sync or another import is writing this account right now; retry (Retry-After)'),
      },
    }),
    requireUser,
    validate('json', batchSchema),
    async (c) => {
      const result = await importBatch(c.env, c.var.db, c.var.userId, c.req.valid('json'));
      return c.json(result satisfies ImportBatchOutput);
    },
  );
