/**
 * The If request header (RFC 4918 §10.4): parsing and the shape it evaluates in.
 *
 *   If            = ( 1*No-tag-list | 1*Tagged-list )
 *   No-tag-list   = List
 *   Tagged-list   = Resource-Tag 1*List
 *   List          = "(" 1*Condition ")"
 *   Condition     = ["Not"] (State-token | "[" entity-tag "]")
 *   State-token   = Coded-URL            ; "<" absolute-URI ">"
 *   Resource-Tag  = "<" Simple-ref ">"
 *
 * The header is true when any list is true; a list is true when all its conditions are.
 * Evaluation needs the server's state, so it lives with the request context (context.ts).
 */
import { badRequest } from '../core/errors.js';

export interface IfCondition {
  readonly not: boolean;
  readonly kind: 'token' | 'etag';
  /** The state token URI, or the entity tag with its quotes (and W/ prefix, if any). */
  readonly value: string;
}

export interface IfList {
  /** The Resource-Tag (a URL as sent), or null for a No-tag-list (the request URI). */
  readonly resource: string | null;
  readonly conditions: readonly IfCondition[];
}

const MAX_IF_LENGTH = 16 * 1024;

/** Parses an If header; throws 400 on anything that is not the RFC 4918 grammar. */
export function parseIfHeader(header: string): IfList[] {
  if (header.length > MAX_IF_LENGTH) throw badRequest('If header too long');
  const lists: IfList[] = [];
  let i = 0;
  let tagged: boolean | undefined;
  let resource: string | null = null;
  const fail = (why: string): never => {
    throw badRequest(`malformed If header: ${why}`);
  };
  const skipSpace = () => {
    while (i < header.length && (header[i] === ' ' || header[i] === '\t' || header[i] === '\r' || header[i] === '\n')) i++;
  };
  const readAngle = (): string => {
    const end = header.indexOf('>', i + 1);
    if (end === -1) fail('unterminated <');
    const value = header.slice(i + 1, end);
    if (value === '' || /[\s<]/.test(value)) fail('bad URI in <>');
    i = end + 1;
    return value;
  };
  const readEntityTag = (): string => {
    // "[" entity-tag "]", entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE (RFC 9110 §8.8.3)
    i++;
    skipSpace();
    const start = i;
    if (header.startsWith('W/', i)) i += 2;
    if (header[i] !== '"') fail('entity tag must be quoted');
    const close = header.indexOf('"', i + 1);
    if (close === -1) fail('unterminated entity tag');
    i = close + 1;
    const tag = header.slice(start, i);
    skipSpace();
    if (header[i] !== ']') fail('expected ]');
    i++;
    return tag;
  };

  skipSpace();
  if (i >= header.length) fail('empty');
  while (i < header.length) {
    const c = header[i];
    if (c === '<') {
      if (tagged === false) fail('tagged and untagged lists mixed');
      tagged = true;
      resource = readAngle();
      skipSpace();
      if (header[i] !== '(') fail('a resource tag must be followed by a list');
      continue;
    }
    if (c !== '(') fail(`unexpected "${c}"`);
    if (tagged === undefined) tagged = false;
    i++;
    const conditions: IfCondition[] = [];
    for (;;) {
      skipSpace();
      if (header[i] === ')') {
        i++;
        break;
      }
      let not = false;
      if (header.slice(i, i + 3).toLowerCase() === 'not' && /[\s<[]/.test(header[i + 3] ?? '')) {
        not = true;
        i += 3;
        skipSpace();
      }
      if (header[i] === '<') conditions.push({ not, kind: 'token', value: readAngle() });
      else if (header[i] === '[') conditions.push({ not, kind: 'etag', value: readEntityTag() });
      else fail(i >= header.length ? 'unterminated list' : `unexpected "${header[i]}" in list`);
    }
    if (conditions.length === 0) fail('empty list');
    lists.push({ resource: tagged ? resource : null, conditions });
    skipSpace();
  }
  return lists;
}

/** Every state token the header names outside a Not: the tokens the client says it holds. */
export function submittedTokens(lists: readonly IfList[]): Set<string> {
  const tokens = new Set<string>();
  for (const list of lists) for (const c of list.conditions) if (c.kind === 'token' && !c.not) tokens.add(c.value);
  return tokens;
}
