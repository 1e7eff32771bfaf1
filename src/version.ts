/** The API version reported by /health and sent in the upstream User-Agent. */
import pkg from '../package.json';

export const VERSION: string = pkg.version;
export const USER_AGENT = `${pkg.name}/${pkg.version}`;
