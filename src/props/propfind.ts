/**
 * PROPFIND evaluation (RFC 4918 §9.1): what was asked (allprop, propname, named properties,
 * include) and the propstats for one resource. The method handler (methods/propfind.ts) walks
 * the resources and streams the answers.
 */
import { badRequest } from '../core/errors.js';
import { DAV_NS, childElements, is, type XmlElement } from '../xml/parse.js';
import { element, propstat } from '../xml/multistatus.js';
import { ALLPROP_LIVE, ALL_LIVE, appliesTo, liveProperty, type LiveProperty, type PropertyContext } from './live.js';
import type { DeadProperty } from '../metadata/store.js';

export interface PropertyName {
  readonly ns: string;
  readonly name: string;
}

export type PropfindRequest =
  | { readonly kind: 'allprop'; readonly include: readonly PropertyName[] }
  | { readonly kind: 'propname' }
  | { readonly kind: 'prop'; readonly names: readonly PropertyName[] };

/** RFC 4918 §9.1: an empty body means allprop. */
export function parsePropfind(body: XmlElement | null): PropfindRequest {
  if (body === null) return { kind: 'allprop', include: [] };
  if (!is(body, DAV_NS, 'propfind')) throw badRequest('PROPFIND body must be a DAV:propfind element');
  const children = childElements(body);
  const first = children[0];
  if (!first) throw badRequest('DAV:propfind needs allprop, propname or prop');
  if (is(first, DAV_NS, 'propname')) {
    if (children.length > 1) throw badRequest('DAV:propname stands alone');
    return { kind: 'propname' };
  }
  if (is(first, DAV_NS, 'allprop')) {
    const rest = children.slice(1);
    const include = rest.find((c) => is(c, DAV_NS, 'include'));
    if (rest.some((c) => c !== include && c.ns === DAV_NS)) throw badRequest('only DAV:include may follow DAV:allprop');
    return { kind: 'allprop', include: include ? namesIn(include) : [] };
  }
  if (is(first, DAV_NS, 'prop')) return { kind: 'prop', names: namesIn(first) };
  throw badRequest(`unexpected {${first.ns}}${first.local} in DAV:propfind`);
}

function namesIn(el: XmlElement): PropertyName[] {
  return childElements(el).map((c) => ({ ns: c.ns, name: c.local }));
}

/** True when answering needs the dead properties from the store. */
export function needsDeadProperties(req: PropfindRequest): boolean {
  return req.kind !== 'prop' || req.names.some((n) => !liveProperty(n.ns, n.name) || (n.ns === DAV_NS && n.name === 'displayname'));
}

/** True when answering needs the locks (DAV:lockdiscovery, which allprop includes). */
export function needsLocks(req: PropfindRequest): boolean {
  return req.kind === 'allprop' || (req.kind === 'prop' && req.names.some((n) => n.ns === DAV_NS && n.name === 'lockdiscovery'));
}

/** True when answering needs the quota figures (of each collection). */
export function needsSpace(req: PropfindRequest): boolean {
  const names = req.kind === 'prop' ? req.names : req.kind === 'allprop' ? req.include : [];
  return names.some((n) => n.ns === DAV_NS && n.name.startsWith('quota-'));
}

const findDead = (dead: readonly DeadProperty[], ns: string, name: string) => dead.find((d) => d.ns === ns && d.name === name);

/** The live property's element for this resource, or null when the resource does not have it. */
const liveValue = (p: LiveProperty | undefined, ctx: PropertyContext): string | null => (p && appliesTo(p, ctx.entry) && !p.unknown?.(ctx) ? p.render(ctx) : null);

/** Renders the `<D:propstat>` elements of one resource: properties found under 200, unknown ones under 404. */
export type PropstatRenderer = (ctx: PropertyContext, dead: readonly DeadProperty[]) => string;

/**
 * The propstat renderer for a request, decided once per request rather than once per resource:
 * which live property answers each name, whether a dead value may stand in for it (only for
 * unprotected live properties, RFC 4918 §15.2 displayname), and the element of a name not found.
 */
export function propstatRenderer(req: PropfindRequest): PropstatRenderer {
  if (req.kind === 'propname') {
    return (ctx, dead) => {
      let names = '';
      for (const p of ALL_LIVE) if (appliesTo(p, ctx.entry)) names += `<D:${p.name}/>`;
      for (const d of dead) if (!liveProperty(d.ns, d.name)) names += element(d.ns, d.name);
      return propstat(200, names);
    };
  }
  if (req.kind === 'allprop') {
    const included = req.include.map((n) => liveProperty(n.ns, n.name)).filter((live) => live !== undefined && !live.allprop);
    return (ctx, dead) => {
      let found = '';
      for (const p of ALLPROP_LIVE) {
        const value = (p.protected || dead.length === 0 ? undefined : findDead(dead, DAV_NS, p.name)?.xml) ?? liveValue(p, ctx);
        if (value !== null) found += value;
      }
      for (const d of dead) if (!liveProperty(d.ns, d.name)) found += d.xml;
      for (const live of included) found += liveValue(live, ctx) ?? '';
      return propstat(200, found);
    };
  }
  const plan = req.names.map((n) => {
    const live = liveProperty(n.ns, n.name);
    return { ns: n.ns, name: n.name, live, deadFirst: !live?.protected, missing: element(n.ns, n.name) };
  });
  return (ctx, dead) => {
    let found = '';
    let missing = '';
    for (const n of plan) {
      const value = (n.deadFirst && dead.length > 0 ? findDead(dead, n.ns, n.name)?.xml : undefined) ?? liveValue(n.live, ctx);
      if (value !== null) found += value;
      else missing += n.missing;
    }
    if (missing === '') return propstat(200, found);
    return found === '' ? propstat(404, missing) : propstat(200, found) + propstat(404, missing);
  };
}
