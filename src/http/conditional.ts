/** HTTP conditional requests (RFC 9110 §13): If-Match, If-None-Match, If-(Un)Modified-Since, If-Range. */
import type { IncomingHttpHeaders } from 'node:http';
import type { Entry } from '../storage/storage.js';

export type PreconditionResult = 'pass' | 'not-modified' | 'failed';

/** Entity tags of an If-Match / If-None-Match value ('*' is returned as ['*']). */
function entityTags(value: string): string[] {
  if (value.trim() === '*') return ['*'];
  return value.match(/(?:W\/)?"[^"]*"/g) ?? [];
}

const opaque = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag);

/** RFC 9110 §8.8.3.2: strong comparison (neither weak, same opaque tag). */
function strongMatch(a: string, b: string): boolean {
  return !a.startsWith('W/') && !b.startsWith('W/') && a === b;
}

function httpDateMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Last-Modified has one-second resolution: compare whole seconds. */
const seconds = (ms: number): number => Math.floor(ms / 1000);

/**
 * RFC 9110 §13.2.2, steps 1-4, for a resource that is `entry` (null when unmapped).
 * `safe` is true for GET and HEAD, where a matching If-None-Match means 304.
 */
export function evaluatePreconditions(headers: IncomingHttpHeaders, entry: Entry | null, safe: boolean): PreconditionResult {
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined) {
    const tags = entityTags(ifMatch);
    if (!entry || !(tags[0] === '*' || tags.some((t) => strongMatch(t, entry.etag)))) return 'failed';
  } else {
    const since = httpDateMs(headers['if-unmodified-since']);
    if (since !== undefined && entry && seconds(entry.mtimeMs) > seconds(since)) return 'failed';
  }
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    const tags = entityTags(ifNoneMatch);
    // §13.1.2: weak comparison.
    const matched = entry !== null && (tags[0] === '*' || tags.some((t) => opaque(t) === opaque(entry.etag)));
    if (matched) return safe ? 'not-modified' : 'failed';
  } else if (safe && entry) {
    const since = httpDateMs(headers['if-modified-since']);
    if (since !== undefined && seconds(entry.mtimeMs) <= seconds(since)) return 'not-modified';
  }
  return 'pass';
}

/** True when any header that evaluatePreconditions reads is present. */
export function hasPreconditions(headers: IncomingHttpHeaders): boolean {
  return (
    headers['if-match'] !== undefined ||
    headers['if-none-match'] !== undefined ||
    headers['if-modified-since'] !== undefined ||
    headers['if-unmodified-since'] !== undefined
  );
}

/** RFC 9110 §13.1.5: a Range applies only if If-Range still names the current representation. */
export function ifRangeHolds(headers: IncomingHttpHeaders, entry: Entry, lastModified: string): boolean {
  const value = headers['if-range'] as string | undefined;
  if (value === undefined) return true;
  if (value.startsWith('"') || value.startsWith('W/')) return strongMatch(value.trim(), entry.etag);
  return value.trim() === lastModified;
}
