/**
 * Dead properties that also change the resource when a PROPPATCH sets them: one table row
 * each, saying how to read the value and what it does. The property is still stored as a dead
 * property (clients read back what they wrote); the side effect is applied before it is stored,
 * so a failed effect leaves nothing changed. Adding such a property is one row here.
 */
import { parseUnixSeconds } from '../http/headers.js';
import type { DavPath } from '../core/paths.js';
import type { Storage } from '../storage/storage.js';

/** What setting a property does to the resource. */
export type SideEffect = (storage: Storage, path: DavPath) => Promise<void>;

interface SideEffectRow {
  readonly ns: string;
  readonly name: string;
  /** The effect of setting the property to `text`, or null when the value is unusable (409). */
  plan(text: string): SideEffect | null;
}

/** RFC 9110 §5.6.7 IMF-fixdate, the RFC 1123 form Windows sends: `Sat, 16 Feb 2019 18:24:58 GMT`. */
const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Seconds since the epoch of an RFC 1123 date, or null. */
export function parseHttpDateSeconds(text: string): number | null {
  const value = text.trim();
  if (!IMF_FIXDATE.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms / 1000;
}

const setModifiedTime = (seconds: number | null): SideEffect | null =>
  seconds === null ? null : (storage, path) => storage.setModifiedTime(path, seconds);

const TABLE: readonly SideEffectRow[] = [
  // Windows Mini-Redirector ([MS-WDV]): Explorer sets the Win32 times after every upload.
  { ns: 'urn:schemas-microsoft-com:', name: 'Win32LastModifiedTime', plan: (text) => setModifiedTime(parseHttpDateSeconds(text)) },
  // ownCloud/Nextcloud clients and rclone's owncloud vendor: <d:lastmodified>UNIX SECONDS</d:lastmodified>.
  { ns: 'DAV:', name: 'lastmodified', plan: (text) => setModifiedTime(parseUnixSeconds(text)) },
];

const BY_NAME: ReadonlyMap<string, SideEffectRow> = new Map(TABLE.map((r) => [`{${r.ns}}${r.name}`, r]));

/**
 * The side effect of setting `{ns}name` to `text`: undefined when the property has none,
 * null when it has one but the value is unusable.
 */
export function sideEffectOf(ns: string, name: string, text: string): SideEffect | null | undefined {
  return BY_NAME.get(`{${ns}}${name}`)?.plan(text);
}
