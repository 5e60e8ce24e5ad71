/** The XML of lock discovery (RFC 4918 §14.1 activelock, §15.8 lockdiscovery, §15.10 supportedlock). */
import { escapeXmlText } from '../xml/multistatus.js';
import type { Lock } from '../metadata/store.js';

export function renderActiveLock(lock: Lock, now: number, rootHref: string): string {
  const seconds = Math.max(0, Math.ceil((lock.expires - now) / 1000));
  return (
    '<D:activelock>' +
    `<D:locktype><D:write/></D:locktype><D:lockscope><D:${lock.scope}/></D:lockscope>` +
    `<D:depth>${lock.depth}</D:depth>` +
    (lock.owner ?? '') +
    `<D:timeout>Second-${seconds}</D:timeout>` +
    `<D:locktoken><D:href>${escapeXmlText(lock.token)}</D:href></D:locktoken>` +
    `<D:lockroot><D:href>${escapeXmlText(rootHref)}</D:href></D:lockroot>` +
    '</D:activelock>'
  );
}

export function renderLockDiscovery(locks: readonly Lock[], now: number, rootHref: (lock: Lock) => string): string {
  if (locks.length === 0) return '<D:lockdiscovery/>';
  return `<D:lockdiscovery>${locks.map((l) => renderActiveLock(l, now, rootHref(l))).join('')}</D:lockdiscovery>`;
}

const LOCK_ENTRY = (scope: string) => `<D:lockentry><D:lockscope><D:${scope}/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>`;
const SUPPORTED = `<D:supportedlock>${LOCK_ENTRY('exclusive')}${LOCK_ENTRY('shared')}</D:supportedlock>`;

/** Exclusive and shared write locks, or none when locking is off. */
export function renderSupportedLock(lockingEnabled: boolean): string {
  return lockingEnabled ? SUPPORTED : '<D:supportedlock/>';
}
