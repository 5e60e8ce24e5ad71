/** Parsing of the WebDAV request headers Depth, Overwrite and Timeout (RFC 4918 §10). */
import { badRequest } from '../core/errors.js';

export type Depth = 0 | 1 | 'infinity';

/**
 * RFC 4918 §10.2: Depth is "0", "1" or "infinity". Missing means `fallback`; a value the
 * method does not accept is 400.
 */
export function parseDepth(raw: string | undefined, allowed: readonly Depth[], fallback: Depth): Depth {
  if (raw === undefined) return fallback;
  const v = raw.trim().toLowerCase();
  const depth: Depth | undefined = v === '0' ? 0 : v === '1' ? 1 : v === 'infinity' ? 'infinity' : undefined;
  if (depth === undefined || !allowed.includes(depth)) throw badRequest(`Depth: ${raw} is not allowed here (use ${allowed.join(' or ')})`);
  return depth;
}

/** RFC 4918 §10.6: Overwrite is "T" or "F"; missing means T. */
export function parseOverwrite(raw: string | undefined): boolean {
  if (raw === undefined) return true;
  const v = raw.trim().toUpperCase();
  if (v === 'T') return true;
  if (v === 'F') return false;
  throw badRequest(`Overwrite: ${raw} must be T or F`);
}

/**
 * RFC 4918 §10.7: Timeout = 1#( "Second-" 1*DIGIT | "Infinite" ). The first value the server
 * understands wins; it is capped at `max`. Missing or unusable means `fallback`.
 */
export function parseTimeout(raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return Math.min(fallback, max);
  for (const part of raw.split(',')) {
    const v = part.trim();
    if (/^infinite$/i.test(v)) return max;
    const m = /^second-(\d{1,12})$/i.exec(v);
    if (m) return Math.max(1, Math.min(Number(m[1]), max));
  }
  return Math.min(fallback, max);
}

/** A decimal Content-Length-like header; undefined when absent, 400 when malformed. */
export function parseLength(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) throw badRequest(`${name}: ${raw} is not a byte count`);
  return Number(raw.trim());
}

/** Seconds since the epoch written as a decimal number (X-OC-Mtime, ownCloud's lastmodified), or null. */
export function parseUnixSeconds(text: string): number | null {
  const value = text.trim();
  return /^\d{1,12}(\.\d{1,9})?$/.test(value) ? Number(value) : null;
}

/**
 * `X-OC-Mtime: <unix seconds>` (ownCloud, rclone): the modification time a PUT, COPY or MOVE
 * gives its result. Undefined when absent, 400 when malformed.
 */
export function parseOcMtime(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const seconds = parseUnixSeconds(raw);
  if (seconds === null) throw badRequest(`X-OC-Mtime: ${raw} is not a time in seconds since the epoch`);
  return seconds;
}
