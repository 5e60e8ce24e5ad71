/**
 * The 207 Multi-Status body (RFC 4918 §13, §14.16), written as a stream of text.
 *
 * This is the hot path of PROPFIND: a Depth 1 listing of 10,000 files is 10,001 responses.
 * xmlbuilder2 (used for every other XML this server writes) took 1.1 s (document API) and
 * 4.4 s (callback API) for such a body on our machines; a template writer takes about 5 ms.
 * So the fixed multistatus skeleton is written here, with every variable piece escaped;
 * property values arrive as complete XML fragments (live ones rendered by props/live.ts, dead
 * ones serialized by xmlbuilder2 when they were stored).
 */
import { STATUS_CODES } from 'node:http';
import type { DavCondition } from '../core/errors.js';

/** Where the writer sends its text; `write` may return a promise to signal backpressure. */
export interface TextSink {
  write(chunk: string): void | Promise<void>;
  end(): void;
}

const TEXT_SPECIALS = /[&<>\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;
const HAS_TEXT_SPECIALS = /[&<>\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;

/**
 * Escapes character data. Characters that XML 1.0 cannot carry at all (most C0 controls)
 * become U+FFFD: a file name may contain them, a response must still be well-formed. Most
 * strings need nothing: testing first halves the cost of those (hrefs, names, types, tags).
 */
export function escapeXmlText(s: string): string {
  if (!HAS_TEXT_SPECIALS.test(s)) return s;
  return s.replace(TEXT_SPECIALS, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '\ufffd'));
}

/** `HTTP/1.1 200 OK` as used in `<D:status>` (RFC 4918 §14.28). */
export function statusLine(code: number): string {
  return `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Unknown'}`;
}

/** One `<D:propstat>`: rendered property elements sharing a status. */
export interface Propstat {
  readonly status: number;
  readonly props: readonly string[];
  readonly error?: ResponseError;
}

/** An error condition inside a response (RFC 4918 §14.5). */
export interface ResponseError {
  readonly condition: DavCondition;
  readonly hrefs?: readonly string[];
}

export const XML_HEADER = '<?xml version="1.0" encoding="utf-8"?>\n';

const STATUS_ELEMENTS = new Map<number, string>();

/** `<D:status>` of a code, rendered once per code. */
function statusElement(code: number): string {
  let el = STATUS_ELEMENTS.get(code);
  if (el === undefined) STATUS_ELEMENTS.set(code, (el = `<D:status>${statusLine(code)}</D:status>`));
  return el;
}

/** One `<D:propstat>` (RFC 4918 §14.22) around already rendered property elements. */
export function propstat(status: number, props: string, error?: ResponseError): string {
  return `<D:propstat><D:prop>${props}</D:prop>${statusElement(status)}${error ? renderError(error) : ''}</D:propstat>`;
}

export function renderError(error: ResponseError): string {
  const inner = (error.hrefs ?? []).map((h) => `<D:href>${escapeXmlText(h)}</D:href>`).join('');
  return `<D:error><D:${error.condition}>${inner}</D:${error.condition}></D:error>`;
}

export class MultistatusWriter {
  private readonly sink: TextSink;

  constructor(sink: TextSink) {
    this.sink = sink;
  }

  async begin(): Promise<void> {
    await this.sink.write(`${XML_HEADER}<D:multistatus xmlns:D="DAV:">`);
  }

  /** A response with propstats (PROPFIND, PROPPATCH). */
  propstatResponse(href: string, propstats: readonly Propstat[]): void | Promise<void> {
    let out = '';
    for (const ps of propstats) out += propstat(ps.status, ps.props.join(''), ps.error);
    return this.escapedResponse(escapeXmlText(href), out);
  }

  /** A response whose href is already escaped as character data (escapeXmlText) and whose `<D:propstat>` elements are already rendered (see propstat()). */
  escapedResponse(hrefText: string, propstats: string): void | Promise<void> {
    return this.sink.write(`<D:response><D:href>${hrefText}</D:href>${propstats}</D:response>`);
  }

  /** A response with one status for one resource (DELETE, COPY, MOVE, LOCK members). */
  statusResponse(href: string, status: number, error?: ResponseError, description?: string): void | Promise<void> {
    let out = `<D:response><D:href>${escapeXmlText(href)}</D:href>${statusElement(status)}`;
    if (error) out += renderError(error);
    if (description) out += `<D:responsedescription>${escapeXmlText(description)}</D:responsedescription>`;
    return this.sink.write(`${out}</D:response>`);
  }

  async end(): Promise<void> {
    await this.sink.write('</D:multistatus>\n');
    this.sink.end();
  }
}

const ATTR_SPECIALS = /[&<"]/g;

function escapeXmlAttr(s: string): string {
  return s.replace(ATTR_SPECIALS, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&quot;'));
}

/**
 * An element `{ns}local` with the given inner XML (empty when omitted): DAV: elements use the
 * document's `D:` prefix, others declare their namespace on themselves.
 */
export function element(ns: string, local: string, inner = ''): string {
  let open: string;
  let close: string;
  if (ns === 'DAV:') {
    open = `D:${local}`;
    close = open;
  } else if (ns === '') {
    open = `${local} xmlns=""`;
    close = local;
  } else {
    open = `X:${local} xmlns:X="${escapeXmlAttr(ns)}"`;
    close = `X:${local}`;
  }
  return inner === '' ? `<${open}/>` : `<${open}>${inner}</${close}>`;
}
