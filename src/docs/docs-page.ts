/**
 * @module
 * `GET /docs`: an interactive API reference that works offline. A small script of its own
 * fetches `/openapi.json` and renders each operation (parameters, request body and response
 * schemas) with a "try it" form that calls this origin. No CDN, no framework: bundling Swagger
 * UI or Scalar would add megabytes and need `'unsafe-inline'` styles; this page keeps the same
 * strict, hash-based CSP as the OAuth helper. Everything from the document or from responses is
 * inserted with `textContent`; the bearer token lives in sessionStorage only.
 */
import { selfContainedPage } from './self-contained-page';

const STYLE = `
:root { color-scheme: light dark; --muted: #6b7280; --line: #8884; }
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
header p { color: var(--muted); } code, pre { font-family: ui-monospace, monospace; font-size: .85rem; }
pre { background: #8881; padding: .5rem; overflow: auto; max-height: 24rem; border-radius: .3rem; }
#auth { position: sticky; top: 0; background: Canvas; padding: .5rem 0; border-bottom: 1px solid var(--line); z-index: 1; }
#auth input { width: 60%; font: inherit; padding: .3rem; }
details.op { border: 1px solid var(--line); border-radius: .4rem; margin: .4rem 0; padding: .3rem .6rem; }
details.op > summary { cursor: pointer; }
.method { display: inline-block; min-width: 4.5rem; font-weight: 700; font-family: ui-monospace, monospace; }
.GET { color: #1f6feb; } .POST { color: #1a7f37; } .DELETE { color: #b42318; } .PUT, .PATCH { color: #9a6700; }
.lock { color: var(--muted); font-size: .85rem; } .summary { margin-left: .5rem; }
table { border-collapse: collapse; } td, th { border-bottom: 1px solid var(--line); padding: .2rem .5rem; text-align: left; vertical-align: top; }
label { display: block; margin: .3rem 0; } label input { font: inherit; padding: .2rem; width: 50%; }
textarea { width: 100%; min-height: 6rem; font-family: ui-monospace, monospace; }
button { font: inherit; padding: .3rem .8rem; cursor: pointer; }
`;

const BODY = `<header><h1 id="title">API reference</h1><p id="description">Loading /openapi.json…</p>
<p><a href="/openapi.json">/openapi.json</a> · <a href="/trakt/oauth-helper/">Trakt connection helper</a></p></header>
<div id="auth"><label>Bearer token (from POST /users/token; kept in this tab only) <input id="token" autocomplete="off" spellcheck="false"></label></div>
<main id="operations"></main>`;

const SCRIPT = `
(function () {
  'use strict';
  var TOKEN_KEY = 'api-docs.access';
  var METHODS = ['get', 'post', 'put', 'patch', 'delete'];
  function h(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null) return;
      if (key === 'text') node.textContent = String(value);
      else if (key === 'class') node.className = value;
      else node.setAttribute(key, String(value));
    });
    (children || []).forEach(function (child) { if (child) node.append(child); });
    return node;
  }
  function pretty(value) { return JSON.stringify(value, null, 2); }
  function token() { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; } }
  function setToken(value) { try { sessionStorage.setItem(TOKEN_KEY, value); } catch (e) { /* ignore */ } document.getElementById('token').value = value; }

  function example(schema, depth) {
    if (!schema || depth > 6) return null;
    if (schema.example !== undefined) return schema.example;
    if (schema['const'] !== undefined) return schema['const'];
    if (Array.isArray(schema['enum'])) return schema['enum'][0];
    if (Array.isArray(schema.anyOf)) return example(schema.anyOf[0], depth + 1);
    if (Array.isArray(schema.oneOf)) return example(schema.oneOf[0], depth + 1);
    var type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    if (type === 'object') {
      var out = {};
      Object.keys(schema.properties || {}).forEach(function (k) { out[k] = example(schema.properties[k], depth + 1); });
      return out;
    }
    if (type === 'array') return [example(schema.items, depth + 1)];
    if (type === 'integer' || type === 'number') return 0;
    if (type === 'boolean') return false;
    if (type === 'string') return 'string';
    return null;
  }

  function schemaBlock(title, schema) {
    return h('details', {}, [h('summary', { text: title }), h('pre', { text: pretty(schema) })]);
  }

  function tryIt(path, method, op) {
    var params = op.parameters || [];
    var inputs = params.map(function (p) {
      var input = h('input', { 'data-name': p.name, 'data-in': p['in'], placeholder: p.required ? 'required' : 'optional', autocomplete: 'off' });
      return { param: p, input: input, label: h('label', {}, [h('span', { text: p.name + ' (' + p['in'] + ') ' }), input]) };
    });
    var body = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
    var textarea = body ? h('textarea', { 'aria-label': 'JSON body', spellcheck: 'false' }) : null;
    if (textarea) textarea.value = pretty(example(body.schema, 0));
    var result = h('pre', { class: 'result', 'aria-live': 'polite' });
    var button = h('button', { type: 'button', text: 'Send ' + method.toUpperCase() + ' ' + path });
    button.addEventListener('click', async function () {
      var url = path;
      var query = new URLSearchParams();
      var headers = { Accept: 'application/json' };
      inputs.forEach(function (i) {
        var v = i.input.value;
        if (i.param['in'] === 'path') url = url.replace('{' + i.param.name + '}', encodeURIComponent(v));
        else if (i.param['in'] === 'query' && v !== '') query.set(i.param.name, v);
        else if (i.param['in'] === 'header' && v !== '') headers[i.param.name] = v;
      });
      if (query.toString()) url += '?' + query.toString();
      var init = { method: method.toUpperCase(), headers: headers, credentials: 'omit', cache: 'no-store' };
      if (op.security && token()) headers.Authorization = 'Bearer ' + token();
      if (textarea) { headers['Content-Type'] = 'application/json'; init.body = textarea.value; }
      result.textContent = 'Sending…';
      try {
        var res = await fetch(url, init);
        var text = await res.text();
        var shown = text;
        try { var data = JSON.parse(text); shown = pretty(data); if (data && typeof data.access === 'string') setToken(data.access); } catch (e) { /* not JSON */ }
        result.textContent = 'HTTP ' + res.status + ' ' + res.statusText + '\\n' + (res.headers.get('Content-Type') || '') + '\\n\\n' + shown;
      } catch (e) {
        result.textContent = 'Request failed: ' + (e && e.message ? e.message : String(e));
      }
    });
    return h('section', { class: 'try' }, [h('h4', { text: 'Try it' })].concat(inputs.map(function (i) { return i.label; }), [textarea, button, result]));
  }

  function operation(path, method, op) {
    var summary = h('summary', {}, [
      h('span', { class: 'method ' + method.toUpperCase(), text: method.toUpperCase() }),
      h('code', { text: path }),
      h('span', { class: 'summary', text: op.summary || '' }),
      op.security ? h('span', { class: 'lock', text: ' · JWT required' }) : null,
    ]);
    var parts = [summary];
    if (op.description) parts.push(h('p', { text: op.description }));
    if (op.parameters && op.parameters.length) {
      var rows = op.parameters.map(function (p) {
        return h('tr', {}, [h('td', {}, [h('code', { text: p.name })]), h('td', { text: p['in'] }), h('td', { text: p.required ? 'required' : 'optional' }), h('td', { text: JSON.stringify(p.schema) })]);
      });
      parts.push(h('h4', { text: 'Parameters' }), h('table', {}, [h('tbody', {}, rows)]));
    }
    if (op.requestBody) {
      Object.keys(op.requestBody.content).forEach(function (type) { parts.push(schemaBlock('Request body (' + type + ')', op.requestBody.content[type].schema)); });
    }
    parts.push(h('h4', { text: 'Responses' }));
    Object.keys(op.responses || {}).forEach(function (status) {
      var r = op.responses[status];
      var row = h('div', { class: 'response' }, [h('strong', { text: status + ' ' }), h('span', { text: r.description || '' })]);
      parts.push(row);
      Object.keys(r.content || {}).forEach(function (type) { parts.push(schemaBlock(status + ' ' + type, r.content[type].schema)); });
    });
    parts.push(tryIt(path, method, op));
    return h('details', { class: 'op', id: op.operationId }, parts);
  }

  async function main() {
    var tokenInput = document.getElementById('token');
    tokenInput.value = token();
    tokenInput.addEventListener('input', function () { setToken(tokenInput.value.trim().replace(/^Bearer\\s+/i, '')); });
    var spec;
    try {
      var res = await fetch('/openapi.json', { cache: 'no-store' });
      spec = await res.json();
    } catch (e) {
      document.getElementById('description').textContent = 'Could not load /openapi.json';
      return;
    }
    document.getElementById('title').textContent = spec.info.title + ' ' + spec.info.version;
    document.getElementById('description').textContent = spec.info.description || '';
    var root = document.getElementById('operations');
    var byTag = {};
    Object.keys(spec.paths).forEach(function (path) {
      METHODS.forEach(function (method) {
        var op = spec.paths[path][method];
        if (!op) return;
        var tag = (op.tags && op.tags[0]) || 'other';
        (byTag[tag] = byTag[tag] || []).push(operation(path, method, op));
      });
    });
    (spec.tags || []).map(function (t) { return t.name; }).concat(Object.keys(byTag)).forEach(function (tag, index, all) {
      if (!byTag[tag] || all.indexOf(tag) !== index) return;
      var info = (spec.tags || []).filter(function (t) { return t.name === tag; })[0];
      root.append(h('section', { id: 'tag-' + tag }, [h('h2', { text: tag }), info && info.description ? h('p', { text: info.description }) : null].concat(byTag[tag])));
    });
    root.dataset.ready = 'true';
  }
  main();
})();
`;

export const docsPage = selfContainedPage({ title: 'API reference', style: STYLE, script: SCRIPT, body: BODY });
