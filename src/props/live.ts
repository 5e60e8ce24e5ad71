/**
 * Live properties (RFC 4918 §15, RFC 4331 §3): one table row each, saying how to compute the
 * value, whether allprop includes it and whether PROPPATCH may change it. Adding a live
 * property is one row here.
 */
import mime from 'mime-types';
import type { Entry, SpaceInfo } from '../storage/storage.js';
import type { Lock } from '../metadata/store.js';
import { renderLockDiscovery, renderSupportedLock } from '../locks/render.js';
import { escapeXmlText } from '../xml/multistatus.js';

/** What a property needs to know about the resource and the request. */
export interface PropertyContext {
  readonly entry: Entry;
  readonly now: number;
  readonly lockingEnabled: boolean;
  /** Locks covering the resource. */
  locks(): readonly Lock[];
  /** href of a lock root, for lockdiscovery. */
  lockRootHref(lock: Lock): string;
  /** Quota figures; asked only of collections (the quota properties are theirs alone). */
  space(): SpaceInfo;
}

export interface LiveProperty {
  /** Local name in the DAV: namespace. */
  readonly name: string;
  /** RFC 4918 §15: a protected property cannot be changed with PROPPATCH. */
  readonly protected: boolean;
  /** Returned by allprop (RFC 4918 §9.1; RFC 4331 §3 keeps quota out of it). */
  readonly allprop: boolean;
  /** Defined for files only (length, type, entity tag); a collection does not have it. */
  readonly filesOnly?: boolean;
  /** Defined for collections only (RFC 4331 quota); a file does not have it. */
  readonly collectionsOnly?: boolean;
  /** Has no value for this resource after all (a total too costly to count, no quota configured): 404 like an absent one. */
  unknown?(ctx: PropertyContext): boolean;
  /** The property element (called only where the property applies, see appliesTo). */
  render(ctx: PropertyContext): string;
}

/** Whether the resource has the property at all: propname lists it, prop finds it (else 404). */
export function appliesTo(p: LiveProperty, entry: Entry): boolean {
  return entry.isCollection ? !p.filesOnly : !p.collectionsOnly;
}

/**
 * A function of a string key with its last results kept (listings repeat the same extensions
 * and, often, the same seconds). Bounded: the table starts over when it is full.
 */
function memoize<T>(compute: (key: string) => T, size = 4096): (key: string) => T {
  const table = new Map<string, T>();
  return (key) => {
    let value = table.get(key);
    if (value === undefined) {
      if (table.size >= size) table.clear();
      table.set(key, (value = compute(key)));
    }
    return value;
  };
}

/**
 * A rendering of a time that depends only on its whole second (`ms` since the epoch), made once
 * per second: the members of a folder share a few seconds, often one, so the last second is
 * checked first and the others are kept in a bounded table (it starts over when full).
 */
export function perSecond(render: (date: Date) => string, size = 4096): (ms: number) => string {
  const table = new Map<number, string>();
  let lastSecond = NaN;
  let lastText = '';
  return (ms) => {
    const second = Math.floor(ms / 1000);
    if (second === lastSecond) return lastText;
    let text = table.get(second);
    if (text === undefined) {
      if (table.size >= size) table.clear();
      table.set(second, (text = render(new Date(second * 1000))));
    }
    lastSecond = second;
    lastText = text;
    return text;
  };
}

/** RFC 1123 date, as getlastmodified requires (RFC 4918 §15.7). */
export const httpDate = perSecond((d) => d.toUTCString());

const contentTypeOfExtension = memoize((extension) => {
  const type = mime.lookup(extension);
  if (!type) return 'application/octet-stream';
  const charset = mime.charset(type);
  return charset ? `${type}; charset=${charset.toLowerCase()}` : type;
});

/** What follows the last dot of a name, or the whole name when there is none (as mime-types reads it). */
const extensionOf = (name: string): string => name.slice(name.lastIndexOf('.') + 1);

/**
 * Content-Type from the file name's extension (never by sniffing). mime-types looks at what
 * follows the last dot, or at the whole name when there is none, case-insensitively.
 */
export function contentTypeOf(name: string): string {
  return contentTypeOfExtension(extensionOf(name).toLowerCase());
}

const el = (name: string, value: string): string => `<D:${name}>${value}</D:${name}>`;

// Whole elements kept where the values repeat: per second, per extension (as it is written).
const lastModifiedElement = perSecond((d) => el('getlastmodified', d.toUTCString()));
/** RFC 3339 date-time for creationdate (RFC 4918 §15.1), whole seconds. */
const creationDateElement = perSecond((d) => el('creationdate', d.toISOString().replace('.000Z', 'Z')));
const contentTypeElement = memoize((extension) => el('getcontenttype', escapeXmlText(contentTypeOfExtension(extension.toLowerCase()))));

const TABLE: readonly LiveProperty[] = [
  {
    name: 'resourcetype', protected: true, allprop: true,
    render: ({ entry }) => (entry.isCollection ? '<D:resourcetype><D:collection/></D:resourcetype>' : '<D:resourcetype/>'),
  },
  {
    name: 'getcontentlength', protected: true, allprop: true, filesOnly: true,
    render: ({ entry }) => el('getcontentlength', String(entry.size)),
  },
  {
    name: 'getcontenttype', protected: true, allprop: true, filesOnly: true,
    render: ({ entry }) => contentTypeElement(extensionOf(entry.path.name)),
  },
  {
    name: 'getetag', protected: true, allprop: true, filesOnly: true,
    render: ({ entry }) => el('getetag', escapeXmlText(entry.etag)),
  },
  { name: 'getlastmodified', protected: true, allprop: true, render: ({ entry }) => lastModifiedElement(entry.mtimeMs) },
  { name: 'creationdate', protected: true, allprop: true, render: ({ entry }) => creationDateElement(entry.birthtimeMs) },
  // Not protected (RFC 4918 §15.2): a PROPPATCH stores a dead value that then takes precedence.
  { name: 'displayname', protected: false, allprop: true, render: ({ entry }) => el('displayname', escapeXmlText(entry.path.name)) },
  {
    name: 'lockdiscovery', protected: true, allprop: true,
    render: (ctx) => renderLockDiscovery(ctx.locks(), ctx.now, (l) => ctx.lockRootHref(l)),
  },
  { name: 'supportedlock', protected: true, allprop: true, render: (ctx) => renderSupportedLock(ctx.lockingEnabled) },
  // RFC 4331 §3: quota properties belong to collections. A file answering them misleads clients
  // that take quota-used-bytes for its size (davix, gfal2), so files answer 404, as in Apache.
  {
    name: 'quota-available-bytes', protected: true, allprop: false, collectionsOnly: true,
    unknown: (ctx) => ctx.space().availableBytes === null,
    render: (ctx) => el('quota-available-bytes', String(ctx.space().availableBytes)),
  },
  {
    name: 'quota-used-bytes', protected: true, allprop: false, collectionsOnly: true,
    unknown: (ctx) => ctx.space().usedBytes === null,
    render: (ctx) => el('quota-used-bytes', String(ctx.space().usedBytes)),
  },
];

export const LIVE_PROPERTIES: ReadonlyMap<string, LiveProperty> = new Map(TABLE.map((p) => [p.name, p]));
export const ALLPROP_LIVE: readonly LiveProperty[] = TABLE.filter((p) => p.allprop);
export const ALL_LIVE: readonly LiveProperty[] = TABLE;

/** The live property `{ns}name`, if there is one. */
export function liveProperty(ns: string, name: string): LiveProperty | undefined {
  return ns === 'DAV:' ? LIVE_PROPERTIES.get(name) : undefined;
}
