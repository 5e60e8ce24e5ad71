/**
 * Finding a node by its path in one statement: a walk follows the names in a text[] parameter of
 * path segments from the root, one (parent, name) index lookup per segment; the node sought is
 * the walk's row at depth cardinality(param). Nothing is stored per path, so MOVE rewrites nothing.
 */

/**
 * A recursive CTE `name (id, depth)` walking the segments in parameter `$param`; several walks
 * (say a MOVE's source and destination) share one `WITH RECURSIVE`.
 */
export function walkCte(name: string, param: number): string {
  const segments = `$${param}::text[]`;
  return `${name} AS (
  SELECT id, 0 AS depth FROM catalog_nodes WHERE parent IS NULL
  UNION ALL
  SELECT n.id, w.depth + 1 FROM ${name} w JOIN catalog_nodes n ON n.parent = w.id AND n.name = (${segments})[w.depth + 1]
  WHERE w.depth < cardinality(${segments})
)`;
}

/** The id of the node a walk reached (null when the path does not resolve), as a subquery. */
export const walkTarget = (name: string, param: number): string => `(SELECT id FROM ${name} WHERE depth = cardinality($${param}::text[]))`;

/** `WITH RECURSIVE walk …` over the segments in $1. */
export const WALK = `
WITH RECURSIVE ${walkCte('walk', 1)}`;

/** The id of the node at $1, as a subquery after WALK. */
export const TARGET = walkTarget('walk', 1);
