/**
 * PROPPATCH (RFC 4918 §9.2): set and remove instructions in document order, all applied or
 * none. Protected live properties are refused with 403; when anything fails, everything else
 * is reported 424 (Failed Dependency) and nothing changes.
 */
import { badRequest } from '../http/errors.js';
import { DAV_NS, childElements, is, type XmlElement } from '../xml/parse.js';
import { serializeElement } from '../xml/serialize.js';
import { liveProperty } from './live.js';
import type { DeadPropertyChange } from './dead-store.js';
import type { PropertyName } from './propfind.js';

export interface PropertyInstruction {
  readonly op: 'set' | 'remove';
  readonly prop: XmlElement;
}

/** The instructions of a DAV:propertyupdate body, in document order. */
export function parsePropertyUpdate(body: XmlElement | null): PropertyInstruction[] {
  if (body === null) throw badRequest('PROPPATCH needs a DAV:propertyupdate body');
  if (!is(body, DAV_NS, 'propertyupdate')) throw badRequest('PROPPATCH body must be a DAV:propertyupdate element');
  const out: PropertyInstruction[] = [];
  for (const instruction of childElements(body)) {
    const op = is(instruction, DAV_NS, 'set') ? 'set' : is(instruction, DAV_NS, 'remove') ? 'remove' : undefined;
    if (!op) {
      if (instruction.ns === DAV_NS) throw badRequest(`unexpected DAV:${instruction.local} in DAV:propertyupdate`);
      continue; // RFC 4918 §17: ignore unknown elements from other namespaces
    }
    const props = childElements(instruction).filter((c) => is(c, DAV_NS, 'prop'));
    if (props.length === 0) throw badRequest(`DAV:${op} needs a DAV:prop`);
    for (const p of props) for (const prop of childElements(p)) out.push({ op, prop });
  }
  if (out.length === 0) throw badRequest('DAV:propertyupdate names no property');
  return out;
}

export interface PatchResult {
  readonly name: PropertyName;
  readonly status: number;
  /** RFC 4918 §16 condition for a refused property. */
  readonly protectedProperty: boolean;
}

/**
 * Decides each instruction: returns the changes to apply (empty when any instruction fails)
 * and one result per instruction for the 207.
 */
export function planPropertyUpdate(instructions: readonly PropertyInstruction[]): { changes: DeadPropertyChange[]; results: PatchResult[] } {
  const refused = instructions.map((i) => liveProperty(i.prop.ns, i.prop.local)?.protected === true);
  const anyRefused = refused.some(Boolean);
  const results = instructions.map((i, n) => ({
    name: { ns: i.prop.ns, name: i.prop.local },
    status: refused[n] ? 403 : anyRefused ? 424 : 200,
    protectedProperty: refused[n]!,
  }));
  if (anyRefused) return { changes: [], results };
  const changes: DeadPropertyChange[] = instructions.map((i) =>
    i.op === 'set'
      ? { op: 'set', prop: { ns: i.prop.ns, name: i.prop.local, xml: serializeElement(i.prop) } }
      : { op: 'remove', ns: i.prop.ns, name: i.prop.local },
  );
  return { changes, results };
}
