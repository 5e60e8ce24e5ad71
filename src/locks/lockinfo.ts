/** The DAV:lockinfo body of a LOCK request (RFC 4918 §9.10, §14.11). */
import { badRequest } from '../core/errors.js';
import { DAV_NS, childElements, is, type XmlElement } from '../xml/parse.js';
import { serializeElement } from '../xml/serialize.js';
import type { LockScope } from '../metadata/store.js';

export interface LockInfo {
  readonly scope: LockScope;
  /** The DAV:owner element as sent (serialized, namespaces declared), or null. */
  readonly owner: string | null;
}

export function parseLockInfo(body: XmlElement): LockInfo {
  if (!is(body, DAV_NS, 'lockinfo')) throw badRequest('LOCK body must be a DAV:lockinfo element');
  const parts = childElements(body);
  const scopeEl = parts.find((c) => is(c, DAV_NS, 'lockscope'));
  const typeEl = parts.find((c) => is(c, DAV_NS, 'locktype'));
  const ownerEl = parts.find((c) => is(c, DAV_NS, 'owner'));
  const scope = scopeEl && childElements(scopeEl)[0];
  if (!scope || !(is(scope, DAV_NS, 'exclusive') || is(scope, DAV_NS, 'shared'))) {
    throw badRequest('DAV:lockscope must hold DAV:exclusive or DAV:shared');
  }
  const type = typeEl && childElements(typeEl)[0];
  if (!type || !is(type, DAV_NS, 'write')) throw badRequest('only DAV:write locks exist (RFC 4918 §7)');
  return { scope: scope.local as LockScope, owner: ownerEl ? serializeElement(ownerEl) : null };
}
