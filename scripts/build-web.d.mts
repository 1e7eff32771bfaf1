/** Bundles every web page's browser code into its generated module; answers the page names. See build-web.mjs. */
export function buildWeb(): Promise<string[]>;
