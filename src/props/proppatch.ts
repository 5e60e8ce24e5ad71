/**
 * PROPPATCH (RFC 4918 §9.2): set and remove instructions in document order, all applied or
 * none. Protected live properties are refused with 403, values a property with a side effect
 * cannot use (props/side-effects.ts) with 409; when anything fails, everything else is reported
 * 424 (Failed Dependency) and nothing changes.
 */
import { badRequest } from '../core/errors.js';
import { DAV_NS, childElements, is, textOf, type XmlElement } from '../xml/parse.js';
import { serializeElement } from '../xml/serialize.js';
import { liveProperty } from './live.js';
import type { DeadPropertyChange } from '../metadata/store.js';
import type { PropertyName } from './propfind.js';
import { type SideEffect, sideEffectOf } from './side-effects.js';

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
 * Decides each instruction: returns the changes to apply and the side effects to run (both
 * empty when any instruction fails) and one result per instruction for the 207.
 */
export function planPropertyUpdate(instructions: readonly PropertyInstruction[]): {
  changes: DeadPropertyChange[];
  effects: SideEffect[];
  results: PatchResult[];
} {
  const effects: SideEffect[] = [];
  // §9.2.1: 403 for a protected property, 409 for a value whose semantics do not fit it.
  const refusals = instructions.map((i): 403 | 409 | null => {
    if (liveProperty(i.prop.ns, i.prop.local)?.protected === true) return 403;
    if (i.op !== 'set') return null;
    const effect = sideEffectOf(i.prop.ns, i.prop.local, textOf(i.prop));
    if (effect === null) return 409;
    if (effect) effects.push(effect);
    return null;
  });
  const anyRefused = refusals.some((r) => r !== null);
  const results = instructions.map((i, n) => ({
    name: { ns: i.prop.ns, name: i.prop.local },
    status: refusals[n] ?? (anyRefused ? 424 : 200),
    protectedProperty: refusals[n] === 403,
  }));
  if (anyRefused) return { changes: [], effects: [], results };
  const changes: DeadPropertyChange[] = instructions.map((i) =>
    i.op === 'set'
      ? { op: 'set', prop: { ns: i.prop.ns, name: i.prop.local, xml: serializeElement(i.prop) } }
      : { op: 'remove', ns: i.prop.ns, name: i.prop.local },
  );
  return { changes, effects, results };
}
