/**
 * @module
 * `npDescribe()`: `describe()` for the layer's routes, under the `nowplaying` tag and with the layer's
 * error shape (./errors.ts) in the OpenAPI document.
 */
import { describe, type RouteContract } from '../http/describe';
import { NP_ERRORS } from './errors';

export function npDescribe(contract: Omit<RouteContract, 'tag' | 'errors'>) {
  return describe({ ...contract, tag: 'nowplaying', errors: NP_ERRORS });
}
