/**
 * The served OpenAPI document passes an OpenAPI 3.1 schema validator (Ajv-based, so it runs in
 * Node: workerd forbids code generation), and /docs renders every operation in a real browser
 * and can call the API from its "try it" form.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { launch, text, watchedPage } from './support/browser';
import { api, stack } from './support/http';

type Doc = { openapi: string; paths: Record<string, Record<string, { operationId: string }>> };

describe('OpenAPI document and /docs', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const { status, body } = await api<Doc>('GET', '/openapi.json');
    expect(status).toBe(200);
    const validator = new Validator();
    const result = await validator.validate(body as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('/docs renders every operation offline and "try it" calls the API', async () => {
    const { body: doc } = await api<Doc>('GET', '/openapi.json');
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    const { context, close } = await launch();
    try {
      const w = await watchedPage(context);
      const { page } = w;
      const external: string[] = [];
      page.on('request', (req) => {
        if (!req.url().startsWith(stack().apiUrl)) external.push(req.url());
      });
      await page.goto(`${stack().apiUrl}/docs`);
      await page.waitForSelector('#operations[data-ready="true"]');
      const rendered = await page.$$eval('details.op', (nodes) => nodes.map((n) => n.id));
      expect(rendered.sort()).toEqual([...ids].sort());

      await page.click('#getHealth > summary');
      await page.click('#getHealth button');
      await page.waitForFunction(() =>
        /HTTP 200/.test(document.querySelector('#getHealth .result')?.textContent ?? ''),
      );
      expect(await text(page, '#getHealth .result')).toContain('"status": "ok"');
      expect(external).toEqual([]);
      expect(w.cspViolations).toEqual([]);
      expect(w.pageErrors).toEqual([]);
    } finally {
      await close();
    }
  });
});
