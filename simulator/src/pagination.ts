/**
 * @module pagination
 * Trakt pagination maths: read `page`/`limit`, clamp `limit` to the endpoint's cap and
 * produce the `X-Pagination-*` headers. Pure.
 */

export interface PageRules {
  /** Limit used when the request has none (or an invalid one). */
  defaultLimit: number;
  /** Largest limit honoured; larger values are clamped to it. */
  maxLimit: number;
}

export interface Page<T> {
  items: T[];
  page: number;
  limit: number;
  pageCount: number;
  itemCount: number;
  headers: Record<string, string>;
}

function positiveInt(raw: string | undefined): number | null {
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return null;
  const n = Number.parseInt(raw, 10);
  return n >= 1 ? n : null;
}

/** Resolves the effective page and limit for a request. */
export function pageParams(
  query: { page?: string; limit?: string },
  rules: PageRules,
): { page: number; limit: number } {
  const page = positiveInt(query.page) ?? 1;
  const limit = Math.min(positiveInt(query.limit) ?? rules.defaultLimit, rules.maxLimit);
  return { page, limit };
}

/**
 * Slices one page. The page count is at least 1 (an empty list still has one, empty, page);
 * pages past the end are empty.
 */
export function paginate<T>(all: readonly T[], query: { page?: string; limit?: string }, rules: PageRules): Page<T> {
  const { page, limit } = pageParams(query, rules);
  const itemCount = all.length;
  const pageCount = Math.max(1, Math.ceil(itemCount / limit));
  const items = all.slice((page - 1) * limit, page * limit);
  return {
    items,
    page,
    limit,
    pageCount,
    itemCount,
    headers: {
      'X-Pagination-Page': String(page),
      'X-Pagination-Limit': String(limit),
      'X-Pagination-Page-Count': String(pageCount),
      'X-Pagination-Item-Count': String(itemCount),
    },
  };
}
