/**
 * Finding a node by its path in one statement: `walk` follows the names in $1 (a text[] of path
 * segments) from the root, one (parent, name) index lookup per segment; the node sought is the
 * row of `walk` at depth cardinality($1). Nothing is stored per path, so MOVE rewrites nothing.
 */
export const WALK = `
WITH RECURSIVE walk AS (
  SELECT id, 0 AS depth FROM catalog_nodes WHERE parent IS NULL
  UNION ALL
  SELECT n.id, w.depth + 1 FROM walk w JOIN catalog_nodes n ON n.parent = w.id AND n.name = ($1::text[])[w.depth + 1]
  WHERE w.depth < cardinality($1::text[])
)`;

/** The id of the node at $1, as a subquery after WALK. */
export const TARGET = `(SELECT id FROM walk WHERE depth = cardinality($1::text[]))`;
