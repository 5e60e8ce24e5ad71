/**
 * Request paths as decoded segments. A URL path is percent-decoded exactly once here, at the
 * edge, and checked segment by segment; code further in never re-joins or re-decodes strings.
 */
import { badRequest } from './errors.js';

/** A resource location: decoded name segments below the served root (root = no segments). */
export class DavPath {
  static readonly root = new DavPath([], '');

  /** `key`, once asked for (or handed down by `child`); a # field, so that deep comparisons of paths ignore it. */
  #key: string | undefined;

  private constructor(
    readonly segments: readonly string[],
    key?: string,
  ) {
    this.#key = key;
  }

  /** Builds a path from already-validated segments. */
  static of(segments: readonly string[]): DavPath {
    for (const s of segments) assertValidSegment(s);
    return segments.length === 0 ? DavPath.root : new DavPath([...segments]);
  }

  /** Inverse of `key`. */
  static fromKey(key: string): DavPath {
    return key === '' ? DavPath.root : new DavPath(key.slice(1).split('/'), key);
  }

  /** Stable string form used by the metadata store: '' for the root, '/a/b' otherwise. Made once. */
  get key(): string {
    return (this.#key ??= this.segments.length === 0 ? '' : `/${this.segments.join('/')}`);
  }

  get isRoot(): boolean {
    return this.segments.length === 0;
  }

  /** Last segment ('' for the root). */
  get name(): string {
    return this.segments[this.segments.length - 1] ?? '';
  }

  /** The parent collection; the root is its own parent. */
  parent(): DavPath {
    return this.segments.length <= 1 ? DavPath.root : new DavPath(this.segments.slice(0, -1));
  }

  /** The member `name`; its key is the parent's plus the name (the members of a listing share their parent's). */
  child(name: string): DavPath {
    assertValidSegment(name);
    return new DavPath([...this.segments, name], `${this.key}/${name}`);
  }

  /** Joins another relative path below this one. */
  concat(other: DavPath): DavPath {
    return other.isRoot ? this : this.isRoot ? other : new DavPath([...this.segments, ...other.segments]);
  }

  /** True when `other` is this path or lies below it. */
  contains(other: DavPath): boolean {
    if (other.segments.length < this.segments.length) return false;
    for (let i = 0; i < this.segments.length; i++) if (this.segments[i] !== other.segments[i]) return false;
    return true;
  }

  equals(other: DavPath): boolean {
    return this.key === other.key;
  }

  /** `other` made relative to this path; call only when `this.contains(other)`. */
  relative(other: DavPath): DavPath {
    return other.segments.length === this.segments.length ? DavPath.root : new DavPath(other.segments.slice(this.segments.length));
  }

  toString(): string {
    return this.key || '/';
  }
}

/**
 * Names that may never be a path segment: empty, dot segments, NUL and '/'. A backslash is an
 * ordinary character here (Linux allows it in names, Apache and rclone serve such files): it is
 * never a separator on this server, since paths are only ever joined from validated segments.
 */
export function isValidSegment(s: string): boolean {
  return s !== '' && s !== '.' && s !== '..' && !/[\0/]/.test(s);
}

function assertValidSegment(s: string): void {
  if (!isValidSegment(s)) throw badRequest(`invalid path segment ${JSON.stringify(s)}`);
}

export interface ParsedUrlPath {
  readonly path: DavPath;
  /** The URL ended with '/' (names a collection). */
  readonly trailingSlash: boolean;
}

/**
 * Decodes the path of a request-target or Destination. Returns null when it lies outside
 * `prefix`. Malformed percent-encoding (including overlong UTF-8), NUL, an encoded '/' and
 * dot segments answer 400: nothing is ever resolved relative to a parent.
 */
export function parseUrlPath(rawPath: string, prefix: string): ParsedUrlPath | null {
  let p = rawPath;
  const q = p.indexOf('?');
  if (q !== -1) p = p.slice(0, q);
  if (!p.startsWith('/')) throw badRequest('request path must be absolute');
  if (prefix !== '/') {
    const bare = prefix.slice(0, -1);
    if (p === bare) p = '/';
    else if (p.startsWith(prefix)) p = p.slice(bare.length);
    else return null;
  }
  const segments: string[] = [];
  for (const raw of p.split('/')) {
    if (raw === '') continue;
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      throw badRequest('malformed percent-encoding in path');
    }
    if (!isValidSegment(decoded)) throw badRequest(`invalid path segment ${JSON.stringify(decoded)}`);
    segments.push(decoded);
  }
  return { path: DavPath.of(segments), trailingSlash: p.length > 1 && p.endsWith('/') };
}

/** What encodeURIComponent leaves as it is: a segment made only of these is its own encoding. */
const UNESCAPED = /^[A-Za-z0-9\-_.!~*'()]*$/;

/**
 * Percent-encodes one segment for an href (RFC 3986 pchar; upper-case hex, as gvfs wants).
 * Most names need no escape: tested first, they are returned as they are (no new string).
 */
export function encodeSegment(segment: string): string {
  return UNESCAPED.test(segment) ? segment : encodeURIComponent(segment);
}

/** The href of a resource: prefix + encoded segments, collections with a trailing slash. */
export function hrefOf(prefix: string, path: DavPath, isCollection: boolean): string {
  if (path.isRoot) return prefix;
  let href = prefix;
  for (let i = 0; i < path.segments.length; i++) {
    if (i > 0) href += '/';
    href += encodeSegment(path.segments[i]!);
  }
  return isCollection ? `${href}/` : href;
}
