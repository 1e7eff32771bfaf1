/**
 * @module
 * Which webhook URLs the API will call (SSRF safety), checked when an endpoint is saved and again
 * before every delivery:
 * - `https:` only, no credentials in the URL;
 * - no IP literal outside public unicast space (private, loopback, link-local, unique-local, CGNAT,
 *   multicast, reserved, unspecified, IPv4-mapped forms of those; parsed with `ipaddr.js`, after the
 *   URL parser has normalized shorthand forms such as `http://2130706433/`);
 * - no local names (`localhost`, `*.localhost`, `*.local`, `*.internal`, `*.home.arpa`, single labels).
 * Names are not resolved here: a Worker's outbound fetch leaves from Cloudflare's edge, which has no route
 * into the deployment's private networks, so a public name pointing at a private address reaches nothing.
 * Deliveries never follow redirects (src/webhooks/sender.ts), so an allowed URL cannot bounce elsewhere.
 * `WEBHOOKS_ALLOW_INSECURE=true` (local development and tests only) also allows `http:` and loopback.
 */
import ipaddr from 'ipaddr.js';

const LOCAL_NAME = /(^|\.)(localhost|local|internal|intranet|lan|home\.arpa)$/i;

/** Why the URL is refused, or null when it may be called. */
export function webhookUrlProblem(raw: string, allowInsecure: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'url must be an absolute URL';
  }
  if (url.protocol !== 'https:' && !(allowInsecure && url.protocol === 'http:')) return 'url must use https';
  if (url.username || url.password) return 'url must not contain credentials';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (ipaddr.isValid(host)) {
    const range = ipaddr.process(host).range();
    if (range === 'unicast') return null;
    if (allowInsecure && range === 'loopback') return null;
    return 'url must not point to a private, loopback or link-local address';
  }
  if (LOCAL_NAME.test(host)) {
    return allowInsecure && /(^|\.)localhost$/i.test(host) ? null : 'url must not point to a local host name';
  }
  if (!host.includes('.')) return 'url must name a public host';
  return null;
}
