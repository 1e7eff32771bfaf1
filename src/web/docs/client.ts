/**
 * @module
 * The API reference page's browser code (markup in ./page.tsx): renders `/openapi.json` with a
 * "try it" form per operation. Everything from the document or from responses is inserted with
 * `textContent`. Calls and the bearer token go through the pages' shared layer
 * (../shared/browser/session.ts): the token lives in this tab's sessionStorage, under a key of this
 * page's own (it is whatever the reader pastes or a "try it" sign-in answers), and a "try it" shows
 * the API's answer exactly as it came, 401 included.
 */
import { apiFetch, store, stored } from '../shared/browser/session';

type JsonSchema = {
  type?: string | string[];
  example?: unknown;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
};
type Parameter = { name: string; in: string; required?: boolean; schema?: JsonSchema };
type Content = Record<string, { schema?: JsonSchema }>;
type Operation = {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: Parameter[];
  requestBody?: { content: Content };
  responses?: Record<string, { description?: string; content?: Content }>;
};
type OpenApi = {
  info: { title: string; version: string; description?: string };
  tags?: Array<{ name: string; description?: string }>;
  paths: Record<string, Record<string, Operation | undefined>>;
};

const TOKEN_KEY = 'api-docs.access';
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

type Props = Record<string, string | number | boolean | null | undefined>;

/** A DOM element; `text` sets textContent, never HTML. */
function h(tag: string, props: Props = {}, children: Array<Node | null> = []): HTMLElement {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key === 'class') node.className = String(value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

const pretty = (value: unknown) => JSON.stringify(value, null, 2);
const tokenInput = () => document.getElementById('token') as HTMLInputElement;

function token(): string {
  return stored(TOKEN_KEY) || '';
}

function setToken(value: string): void {
  store(TOKEN_KEY, value);
  tokenInput().value = value;
}

function example(schema: JsonSchema | undefined, depth: number): unknown {
  if (!schema || depth > 6) return null;
  if (schema.example !== undefined) return schema.example;
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (Array.isArray(schema.anyOf)) return example(schema.anyOf[0], depth + 1);
  if (Array.isArray(schema.oneOf)) return example(schema.oneOf[0], depth + 1);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, property] of Object.entries(schema.properties ?? {})) out[key] = example(property, depth + 1);
    return out;
  }
  if (type === 'array') return [example(schema.items, depth + 1)];
  if (type === 'integer' || type === 'number') return 0;
  if (type === 'boolean') return false;
  if (type === 'string') return 'string';
  return null;
}

function schemaBlock(title: string, schema: unknown): HTMLElement {
  return h('details', {}, [h('summary', { text: title }), h('pre', { text: pretty(schema) })]);
}

function tryIt(path: string, method: string, op: Operation): HTMLElement {
  const inputs = (op.parameters ?? []).map((param) => {
    const input = h('input', {
      'data-name': param.name,
      'data-in': param.in,
      placeholder: param.required ? 'required' : 'optional',
      autocomplete: 'off',
    }) as HTMLInputElement;
    return { param, input, label: h('label', {}, [h('span', { text: `${param.name} (${param.in}) ` }), input]) };
  });
  const body = op.requestBody?.content?.['application/json'];
  const textarea = body
    ? (h('textarea', { 'aria-label': 'JSON body', spellcheck: 'false' }) as HTMLTextAreaElement)
    : null;
  if (textarea && body) textarea.value = pretty(example(body.schema, 0));
  const result = h('pre', { class: 'result', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', text: `Send ${method.toUpperCase()} ${path}` });
  button.addEventListener('click', async () => {
    let url = path;
    const query = new URLSearchParams();
    const headers: Record<string, string> = {};
    for (const { param, input } of inputs) {
      const value = input.value;
      if (param.in === 'path') url = url.replace(`{${param.name}}`, encodeURIComponent(value));
      else if (param.in === 'query' && value !== '') query.set(param.name, value);
      else if (param.in === 'header' && value !== '') headers[param.name] = value;
    }
    if (query.toString()) url += `?${query.toString()}`;
    result.textContent = 'Sending…';
    try {
      // The body as typed (a reader may try a malformed one), the token only where the operation needs it.
      const res = await apiFetch(url, {
        method: method.toUpperCase(),
        headers,
        token: op.security ? token() : null,
        body: textarea ? textarea.value : undefined,
      });
      const text = await res.text();
      let shown = text;
      try {
        const data = JSON.parse(text) as { access?: unknown } | null;
        shown = pretty(data);
        if (data && typeof data.access === 'string') setToken(data.access);
      } catch {
        // not JSON
      }
      const type = res.headers.get('Content-Type') || '';
      result.textContent = `HTTP ${res.status} ${res.statusText}\n${type}\n\n${shown}`;
    } catch (error) {
      result.textContent = `Request failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  });
  return h('section', { class: 'try' }, [
    h('h4', { text: 'Try it' }),
    ...inputs.map((i) => i.label),
    textarea,
    button,
    result,
  ]);
}

function operation(path: string, method: string, op: Operation): HTMLElement {
  const summary = h('summary', {}, [
    h('span', { class: `method ${method.toUpperCase()}`, text: method.toUpperCase() }),
    h('code', { text: path }),
    h('span', { class: 'summary', text: op.summary || '' }),
    op.security ? h('span', { class: 'lock', text: ' · JWT required' }) : null,
  ]);
  const parts: HTMLElement[] = [summary];
  if (op.description) parts.push(h('p', { text: op.description }));
  if (op.parameters?.length) {
    const rows = op.parameters.map((p) =>
      h('tr', {}, [
        h('td', {}, [h('code', { text: p.name })]),
        h('td', { text: p.in }),
        h('td', { text: p.required ? 'required' : 'optional' }),
        h('td', { text: JSON.stringify(p.schema) }),
      ]),
    );
    parts.push(h('h4', { text: 'Parameters' }), h('table', {}, [h('tbody', {}, rows)]));
  }
  for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
    parts.push(schemaBlock(`Request body (${type})`, media.schema));
  }
  parts.push(h('h4', { text: 'Responses' }));
  for (const [status, response] of Object.entries(op.responses ?? {})) {
    parts.push(
      h('div', { class: 'response' }, [
        h('strong', { text: `${status} ` }),
        h('span', { text: response.description || '' }),
      ]),
    );
    for (const [type, media] of Object.entries(response.content ?? {})) {
      parts.push(schemaBlock(`${status} ${type}`, media.schema));
    }
  }
  parts.push(tryIt(path, method, op));
  return h('details', { class: 'op', id: op.operationId }, parts);
}

async function main(): Promise<void> {
  const input = tokenInput();
  input.value = token();
  input.addEventListener('input', () => setToken(input.value.trim().replace(/^Bearer\s+/i, '')));
  let spec: OpenApi;
  try {
    const res = await fetch('/openapi.json', { cache: 'no-store' }); // the document itself: no session involved
    spec = (await res.json()) as OpenApi;
  } catch {
    document.getElementById('description')!.textContent = 'Could not load /openapi.json';
    return;
  }
  document.getElementById('title')!.textContent = `${spec.info.title} ${spec.info.version}`;
  document.getElementById('description')!.textContent = spec.info.description || '';
  const root = document.getElementById('operations')!;
  const byTag = new Map<string, HTMLElement[]>();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = op.tags?.[0] || 'other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), operation(path, method, op)]);
    }
  }
  const tagInfo = new Map((spec.tags ?? []).map((t) => [t.name, t]));
  // Documented tags first, in the document's order, then any others.
  for (const tag of new Set([...tagInfo.keys(), ...byTag.keys()])) {
    const operations = byTag.get(tag);
    if (!operations) continue;
    const description = tagInfo.get(tag)?.description;
    root.append(
      h('section', { id: `tag-${tag}` }, [
        h('h2', { text: tag }),
        description ? h('p', { text: description }) : null,
        ...operations,
      ]),
    );
  }
  root.dataset.ready = 'true';
}

void main();
