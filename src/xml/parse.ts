/**
 * Namespace-aware parsing of XML request bodies (PROPFIND, PROPPATCH, LOCK).
 *
 * fast-xml-parser checks well-formedness and gives the tree in document order; it does not
 * resolve namespaces, so this module does (Namespaces in XML 1.0): `D:prop` and `X:prop` are
 * different names, an undeclared prefix or `xmlns:p=""` is an error. Values are never trimmed
 * or converted, so dead properties round-trip exactly. A DOCTYPE is refused outright: no entity
 * is ever defined, expanded or fetched (RFC 4918 §20.6).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { DavError, badRequest } from '../core/errors.js';

export const DAV_NS = 'DAV:';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

export interface XmlAttribute {
  readonly ns: string;
  readonly local: string;
  readonly prefix: string;
  readonly value: string;
}

export interface XmlElement {
  /** Namespace URI; '' for no namespace. */
  readonly ns: string;
  readonly local: string;
  /** The prefix used in the document ('' when unprefixed). */
  readonly prefix: string;
  /** Attributes other than namespace declarations. */
  readonly attributes: readonly XmlAttribute[];
  readonly children: readonly XmlNode[];
  /** In-scope xml:lang, if any. */
  readonly lang: string | undefined;
}

export type XmlNode = XmlElement | string;

export const isElement = (node: XmlNode): node is XmlElement => typeof node !== 'string';

/** Child elements of `el` (text and whitespace skipped). */
export function childElements(el: XmlElement): XmlElement[] {
  return el.children.filter(isElement);
}

/** True when `el` is `{ns}local`. */
export function is(el: XmlElement, ns: string, local: string): boolean {
  return el.ns === ns && el.local === local;
}

/** Concatenated text content of an element and its descendants. */
export function textOf(el: XmlElement): string {
  return el.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  allowBooleanAttributes: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: '#cdata',
  commentPropName: '#comment',
});

type RawNode = Record<string, unknown> & { ':@'?: Record<string, string> };

/** Turns request body bytes into text, honouring a BOM and the declared encoding. */
export function decodeXmlBytes(body: Buffer): string {
  let encoding = 'utf-8';
  let start = 0;
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) start = 3;
  else if (body[0] === 0xff && body[1] === 0xfe) [encoding, start] = ['utf-16le', 2];
  else if (body[0] === 0xfe && body[1] === 0xff) [encoding, start] = ['utf-16be', 2];
  else {
    const decl = /^<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(body.subarray(0, 200).toString('latin1'));
    if (decl) encoding = decl[1]!.toLowerCase();
  }
  try {
    return new TextDecoder(encoding, { fatal: true }).decode(body.subarray(start));
  } catch {
    throw badRequest(`request body is not valid ${encoding}`);
  }
}

/** Parses an XML request body into its namespace-resolved document element. */
export function parseXml(body: Buffer | string): XmlElement {
  const text = typeof body === 'string' ? body : decodeXmlBytes(body);
  if (/<!DOCTYPE/i.test(text)) {
    // RFC 4918 §20.6: refuse rather than process entity declarations (external or internal).
    throw new DavError(400, 'DOCTYPE declarations are not accepted', { condition: 'no-external-entities' });
  }
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) throw badRequest(`malformed XML: ${valid.err.msg} (line ${valid.err.line})`);
  if (!endsWithMarkup(text)) throw badRequest('malformed XML: text after the root element');
  let raw: RawNode[];
  try {
    raw = parser.parse(text) as RawNode[];
  } catch (err) {
    throw badRequest(`malformed XML: ${(err as Error).message}`);
  }
  const roots = raw.filter((n) => !('#text' in n) && !('#comment' in n));
  if (roots.length !== 1 || raw.some((n) => '#text' in n && String(n['#text']).trim() !== '')) {
    throw badRequest('malformed XML: a document has exactly one root element');
  }
  return resolveElement(roots[0]!, new Map([['xml', XML_NS]]), undefined, 0);
}

/**
 * XML 1.0 §2.1: only comments, PIs and whitespace may follow the root element. fast-xml-parser's
 * validator misses text after a self-closing root (`<a/>text`), and its parser drops it.
 */
function endsWithMarkup(text: string): boolean {
  let end = text.trimEnd();
  for (;;) {
    const open = end.endsWith('-->') ? end.lastIndexOf('<!--') : end.endsWith('?>') ? end.lastIndexOf('<?') : -2;
    if (open === -2) break;
    if (open === -1) return false;
    end = end.slice(0, open).trimEnd();
  }
  return /^<(?:[^<>"']|"[^"]*"|'[^']*')*>$/.test(end.slice(end.lastIndexOf('<')));
}

const MAX_DEPTH = 200;

function resolveElement(node: RawNode, outerScope: ReadonlyMap<string, string>, outerLang: string | undefined, depth: number): XmlElement {
  if (depth > MAX_DEPTH) throw badRequest('XML nested too deeply');
  const qname = Object.keys(node).find((k) => k !== ':@')!;
  const rawAttrs = node[':@'] ?? {};
  let scope = outerScope;
  const plainAttrs: [string, string][] = [];
  for (const [name, rawValue] of Object.entries(rawAttrs)) {
    const value = decodeEntities(rawValue);
    if (name === 'xmlns' || name.startsWith('xmlns:')) {
      const declared = name === 'xmlns' ? '' : name.slice(6);
      if (declared !== '' && value === '') throw badRequest(`malformed XML: prefix "${declared}" bound to the empty namespace`);
      if (declared === 'xmlns' || value === XMLNS_NS || (declared === 'xml') !== (value === XML_NS)) {
        throw badRequest(`malformed XML: reserved namespace binding ${name}="${value}"`);
      }
      if (scope === outerScope) scope = new Map(outerScope);
      (scope as Map<string, string>).set(declared, value);
    } else {
      plainAttrs.push([name, value]);
    }
  }
  const { prefix, local } = splitQName(qname);
  const ns = scope.get(prefix);
  if (ns === undefined && prefix !== '') throw badRequest(`malformed XML: undeclared prefix "${prefix}"`);
  const attributes: XmlAttribute[] = plainAttrs.map(([name, value]) => {
    const a = splitQName(name);
    // Namespaces in XML §6.2: unprefixed attributes are in no namespace.
    const attrNs = a.prefix === '' ? '' : scope.get(a.prefix);
    if (attrNs === undefined) throw badRequest(`malformed XML: undeclared prefix "${a.prefix}"`);
    return { ns: attrNs, local: a.local, prefix: a.prefix, value };
  });
  const lang = attributes.find((a) => a.ns === XML_NS && a.local === 'lang')?.value ?? outerLang;
  const children: XmlNode[] = [];
  for (const child of (node[qname] as RawNode[]) ?? []) {
    if ('#text' in child) children.push(decodeEntities(String(child['#text'])));
    else if ('#cdata' in child) children.push(((child['#cdata'] as RawNode[]) ?? []).map((t) => String(t['#text'] ?? '')).join(''));
    else if ('#comment' in child) continue;
    else children.push(resolveElement(child, scope, lang, depth + 1));
  }
  return { ns: ns ?? '', local, prefix, attributes, children: mergeText(children), lang };
}

function splitQName(qname: string): { prefix: string; local: string } {
  const colon = qname.indexOf(':');
  if (colon === -1) return { prefix: '', local: qname };
  const prefix = qname.slice(0, colon);
  const local = qname.slice(colon + 1);
  if (prefix === '' || local === '' || local.includes(':')) throw badRequest(`malformed XML: bad name "${qname}"`);
  return { prefix, local };
}

/** Adjacent text and CDATA pieces become one string. */
function mergeText(nodes: XmlNode[]): XmlNode[] {
  const out: XmlNode[] = [];
  for (const n of nodes) {
    const last = out[out.length - 1];
    if (typeof n === 'string' && typeof last === 'string') out[out.length - 1] = last + n;
    else if (n !== '') out.push(n);
  }
  return out;
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** XML 1.0 §4.1/§4.6: the five predefined entities and character references; nothing else. */
function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&([^;&]*);?/g, (match, ref: string) => {
    if (!match.endsWith(';')) throw badRequest('malformed XML: "&" must start a reference');
    if (ref in PREDEFINED) return PREDEFINED[ref]!;
    const m = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(ref);
    if (!m) throw badRequest(`malformed XML: undefined entity &${ref};`);
    const code = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2]!, 10);
    const allowed = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
    if (!allowed) throw badRequest(`malformed XML: character reference &${ref}; is not an XML character`);
    return String.fromCodePoint(code);
  });
}
