/**
 * Serialization of parsed XML back to text with xmlbuilder2, which declares every namespace an
 * element needs. Used for dead property values and lock owners: the stored string is a
 * self-contained element that can be embedded anywhere in a response unchanged.
 */
import { create, fragment } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import type { XmlElement } from './parse.js';
import { DAV_NS } from './parse.js';
import type { DavCondition } from '../core/errors.js';

const XML_NS = 'http://www.w3.org/XML/1998/namespace';

/**
 * xmlbuilder2 leaves an "&" alone when it already looks like a reference ("&amp;", "&#65;"), so
 * text holding those characters literally would come back changed: escape every "&" first.
 */
const escapeAmpersands = (s: string): string => s.replaceAll('&', '&amp;');

function qualified(prefix: string, local: string): string {
  return prefix === '' ? local : `${prefix}:${local}`;
}

function appendElement(parent: XMLBuilder, el: XmlElement, lang: string | undefined): void {
  const child = parent.ele(el.ns === '' ? null : el.ns, el.ns === '' ? el.local : qualified(el.prefix, el.local));
  // xml:lang is part of a dead property's value (RFC 4918 §4.3): keep it where it applies.
  if (lang !== undefined) child.att(XML_NS, 'xml:lang', lang);
  for (const a of el.attributes) {
    if (a.ns === XML_NS && a.local === 'lang') continue;
    child.att(a.ns === '' ? null : a.ns, qualified(a.prefix, a.local), escapeAmpersands(a.value));
  }
  for (const c of el.children) {
    if (typeof c === 'string') child.txt(escapeAmpersands(c));
    else appendElement(child, c, c.lang !== el.lang ? c.lang : undefined);
  }
}

/** The element as self-contained XML text (namespace declarations and in-scope xml:lang included). */
export function serializeElement(el: XmlElement): string {
  const f = fragment();
  appendElement(f, el, el.lang);
  return f.end({ headless: true, wellFormed: true });
}

/** RFC 4918 §16: `<D:error><D:condition>(<D:href>…</D:href>)*</D:condition></D:error>`. */
export function errorBody(condition: DavCondition, hrefs: readonly string[]): string {
  const cond = create({ version: '1.0', encoding: 'utf-8' }).ele(DAV_NS, 'D:error').ele(DAV_NS, `D:${condition}`);
  for (const href of hrefs) cond.ele(DAV_NS, 'D:href').txt(href);
  return cond.end({ prettyPrint: false });
}
