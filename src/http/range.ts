/** Single byte ranges (RFC 9110 §14.1.2). Several ranges are answered with the whole content. */

export type RangeResult = { readonly start: number; readonly end: number } | 'unsatisfiable' | null;

/** null: no usable Range (serve everything); 'unsatisfiable': 416. */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null; // invalid or multiple ranges: §14.2 lets a server ignore Range
  const [, first, last] = m;
  if (first === '' && last === '') return null;
  if (first === '') {
    // suffix range: the last N bytes
    const n = Number(last);
    if (n === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}
