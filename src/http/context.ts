/**
 * Everything a method handler needs about one request: the target resource, the URL namespace,
 * the If header and lock credentials, the request body. Built once per request by app.ts.
 */
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import type { Storage, Entry } from '../storage/storage.js';
import type { DeadPropertyStore, Lock, LockGuard, MetadataStore } from '../metadata/store.js';
import type { ListingCache } from '../props/listing-cache.js';
import { type Clock, type LockCredentials, type LockManager, type ModifyOptions, lockCovers } from '../locks/lock-manager.js';
import { ClientGoneError, DavError, badRequest, forbidden } from '../core/errors.js';
import { DavPath, hrefOf, parseUrlPath } from '../core/paths.js';
import { type IfList, parseIfHeader, submittedTokens } from './if-header.js';
import { parseXml, type XmlElement } from '../xml/parse.js';
import { UI_SEGMENT, type WebAssets } from './web-assets.js';

/** The server's parts that handlers use. */
export interface Services {
  readonly config: Config;
  readonly storage: Storage;
  /** Dead properties and locks (src/metadata/store.ts); `transaction` for changes that commit together. */
  readonly metadata: MetadataStore;
  /** The same as metadata.deadProps. */
  readonly deadProps: DeadPropertyStore;
  /** Null when locking is turned off. */
  readonly locks: LockManager | null;
  readonly clock: Clock;
  /** The folder view's script and stylesheet (web-assets.ts). */
  readonly webAssets: WebAssets;
  /** Rendered answers of big listings (props/listing-cache.ts); null when off or the storage cannot fingerprint listings. */
  readonly listingCache: ListingCache | null;
}

/**
 * URL space of the server itself, never part of the tree (an RFC 8615 well-known URI): the health
 * endpoint lives here. With the prefix `/`, this one name at the top of every user's tree is
 * reserved (403), so a client can never create a file that the endpoint would shadow.
 */
export const SERVER_URL_SEGMENTS: readonly string[] = ['.well-known', 'fastdav'];
export const HEALTH_URL_PATH = `/${SERVER_URL_SEGMENTS.join('/')}/health`;

/**
 * The folder view's assets live at PREFIX/.fastdav-ui/ (web-assets.ts): that name at the top of
 * every requester's tree is reserved in the same way.
 *
 * Maps between URLs and storage paths: URL `prefix` + p  <->  storage `base` + p. The base is
 * the data root, or a user's own root folder inside it: nothing outside the base can be named.
 */
export class Namespace {
  /** The server's URL space as a path below the prefix, when the prefix contains it. */
  private readonly reserved: DavPath | null;

  constructor(
    readonly prefix: string,
    readonly base: DavPath,
  ) {
    const segments = prefix.split('/').filter((s) => s !== '');
    const covers = segments.length < SERVER_URL_SEGMENTS.length && segments.every((s, i) => SERVER_URL_SEGMENTS[i] === s);
    this.reserved = covers ? DavPath.of(SERVER_URL_SEGMENTS.slice(segments.length)) : null;
  }

  /** Storage path of a URL path, or null when the URL lies outside the prefix; 403 for the server's own URLs. */
  fromUrlPath(rawPath: string): { path: DavPath; trailingSlash: boolean } | null {
    const parsed = parseUrlPath(rawPath, this.prefix);
    if (parsed && (this.reserved?.contains(parsed.path) || parsed.path.segments[0] === UI_SEGMENT)) throw forbidden('this URL is reserved by the server');
    return parsed && { path: this.base.concat(parsed.path), trailingSlash: parsed.trailingSlash };
  }

  /** True when the storage path is visible through this namespace. */
  contains(path: DavPath): boolean {
    return this.base.contains(path);
  }

  /** The href of a storage path; one above the base (a lock taken by a user who sees more) shows as the base. */
  href(path: DavPath, isCollection: boolean): string {
    if (!this.base.contains(path)) return this.prefix;
    return hrefOf(this.prefix, this.base.relative(path), isCollection);
  }
}

const ABSOLUTE_URI = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/i;
const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443' };

function normalizeAuthority(authority: string, scheme: string): string {
  const a = authority.toLowerCase().replace(/^[^@]*@/, '');
  const port = DEFAULT_PORTS[scheme.toLowerCase()];
  return port && a.endsWith(`:${port}`) ? a.slice(0, -port.length - 1) : a;
}

/** One list of the If header as judged (checkIfHeader): each condition's outcome, in order. */
interface JudgedIfList {
  readonly list: IfList;
  /** The list is about the request URL (no tag, or a tag naming it). */
  readonly onTarget: boolean;
  readonly matched: readonly boolean[];
}

/** Whether an If header's entity tag (weak or strong, quoted) names the resource's current one. */
const etagNames = (tag: string, entry: Entry | null): boolean => entry !== null && tag.replace(/^W\//, '') === entry.etag;

/** Whether a judged list holds; with `now`, its entity tags are judged against `now.entry` instead. */
function listHolds(judged: JudgedIfList, now: { entry: Entry | null } | null): boolean {
  return judged.list.conditions.every((c, i) => {
    const matched = now !== null && c.kind === 'etag' ? etagNames(c.value, now.entry) : judged.matched[i]!;
    return matched !== c.not;
  });
}

export class RequestContext {
  readonly services: Services;
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  readonly ns: Namespace;
  /** Storage path of the request target. */
  readonly path: DavPath;
  /** The request URL ended with '/'. */
  readonly trailingSlash: boolean;
  /** Authenticated user, or null. */
  readonly principal: string | null;
  private targetEntry: Promise<Entry | null> | undefined;
  private ifLists: IfList[] | undefined;
  /** The If header as checkIfHeader judged it (undefined: not judged, or no header). */
  private judgedIf: JudgedIfList[] | undefined;
  private continued = false;

  constructor(services: Services, request: FastifyRequest, reply: FastifyReply, ns: Namespace, target: { path: DavPath; trailingSlash: boolean }, principal: string | null) {
    this.services = services;
    this.request = request;
    this.reply = reply;
    this.ns = ns;
    this.path = target.path;
    this.trailingSlash = target.trailingSlash;
    this.principal = principal;
  }

  get config(): Config {
    return this.services.config;
  }

  get storage(): Storage {
    return this.services.storage;
  }

  /** First value of a request header. */
  header(name: string): string | undefined {
    const v = this.request.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  /** The target resource as it was when the request began (stat'ed once per request). */
  target(): Promise<Entry | null> {
    // RFC 4918 §5.2: a URL ending in '/' names a collection; on a file it names nothing.
    this.targetEntry ??= this.storage.stat(this.path).then((e) => (e && this.trailingSlash && !e.isCollection ? null : e));
    return this.targetEntry;
  }

  /** The target, or 404. */
  async existingTarget(): Promise<Entry> {
    const entry = await this.target();
    if (!entry) throw new DavError(404, 'Not Found');
    return entry;
  }

  href(path: DavPath, isCollection: boolean): string {
    return this.ns.href(path, isCollection);
  }

  /**
   * Storage path of a URL given as an absolute URI or an absolute path (Destination, tagged If
   * lists). Null when it names another server or lies outside this namespace.
   */
  resolveUrl(value: string): DavPath | null {
    let rawPath = value;
    const m = ABSOLUTE_URI.exec(value);
    if (m) {
      const [, scheme, authority, pathPart] = m;
      const own = this.requestAuthority();
      if (own.host === '' || normalizeAuthority(authority!, scheme!) !== normalizeAuthority(own.host, own.scheme)) return null;
      rawPath = pathPart || '/';
    } else if (!value.startsWith('/')) {
      throw badRequest(`"${value}" is neither an absolute URI nor an absolute path`);
    }
    const parsed = this.ns.fromUrlPath(rawPath);
    return parsed ? parsed.path : null;
  }

  /**
   * The scheme and host the client addressed: Host and the connection's scheme, or behind a
   * trusted reverse proxy (config trustProxy) X-Forwarded-Host and X-Forwarded-Proto.
   */
  private requestAuthority(): { scheme: string; host: string } {
    return { scheme: this.request.protocol, host: this.request.host };
  }

  /** RFC 4918 §10.3: the Destination of COPY/MOVE, on this server (else 502). */
  destination(): DavPath {
    const value = this.header('destination');
    if (!value) throw badRequest('Destination header missing');
    const path = this.resolveUrl(value.trim());
    if (!path) throw new DavError(502, 'Destination is not on this server');
    if (this.storage.isReserved(path)) throw new DavError(403, 'Destination is reserved by the server');
    return path;
  }

  /** The parsed If header (empty when absent); 400 when malformed. */
  ifHeader(): IfList[] {
    if (this.ifLists === undefined) {
      const raw = this.header('if');
      this.ifLists = raw === undefined ? [] : parseIfHeader(raw);
    }
    return this.ifLists;
  }

  /**
   * RFC 4918 §10.4: the If header must be true, else 412. A state token is true for a resource
   * when it names a current lock that covers the resource; an entity tag when it is the
   * resource's current one. Unknown tokens and resources elsewhere are simply false. Every
   * condition is evaluated and kept, so that a write can judge the header again where it
   * commits (ifHeaderHoldsFor).
   */
  async checkIfHeader(): Promise<void> {
    const lists = this.ifHeader();
    if (lists.length === 0) return;
    const judged: JudgedIfList[] = [];
    for (const list of lists) {
      const path = list.resource === null ? this.path : this.resolveTag(list.resource);
      if (path === null) continue;
      const entry = path.equals(this.path) ? await this.target() : await this.storage.stat(path);
      const matched: boolean[] = [];
      for (const c of list.conditions) {
        if (c.kind === 'etag') {
          matched.push(etagNames(c.value, entry));
        } else {
          const lock = await this.services.locks?.byToken(c.value);
          matched.push(lock !== undefined && lockCovers(lock, path));
        }
      }
      judged.push({ list, onTarget: path.equals(this.path), matched });
    }
    this.judgedIf = judged;
    if (!judged.some((j) => listHolds(j, null))) throw new DavError(412, 'the If header is not satisfied');
  }

  /** True when the If header has an entity-tag condition on the request URL: a write must then judge it again where it commits. */
  ifHeaderNamesTargetEtag(): boolean {
    return (this.judgedIf ?? []).some((j) => j.onTarget && j.list.conditions.some((c) => c.kind === 'etag'));
  }

  /**
   * The If header judged again with `current` as the request URL's resource (a PUT's commit,
   * after an upload that took its time): its entity-tag conditions against `current`, the rest
   * as judged before (the locks are checked again on their own, CommitCheck.locks).
   */
  ifHeaderHoldsFor(current: Entry | null): boolean {
    const judged = this.judgedIf;
    return judged === undefined || judged.some((j) => listHolds(j, j.onTarget ? { entry: current } : null));
  }

  private resolveTag(tag: string): DavPath | null {
    try {
      return this.resolveUrl(tag);
    } catch {
      return null;
    }
  }

  /** The lock tokens this request submitted, and who sent them. */
  credentials(): LockCredentials {
    return { tokens: submittedTokens(this.ifHeader()), principal: this.principal };
  }

  /** 423 unless the request holds every lock on `path` (see LockManager.assertCanModify). */
  async assertCanModify(path: DavPath, options: ModifyOptions = {}): Promise<void> {
    await this.services.locks?.assertCanModify(path, this.credentials(), options);
  }

  /**
   * The same check as a guard for the metadata write that follows it (LockManager.modifyGuard), so
   * the store makes both at once; undefined when locking is off.
   */
  modifyGuard(path: DavPath, options: ModifyOptions = {}, accepted?: (relevant: readonly Lock[]) => void): LockGuard | undefined {
    return this.services.locks?.modifyGuard(path, this.credentials(), options, accepted);
  }

  /**
   * The request body as a stream, for a handler that has decided to take it. A client that sent
   * `Expect: 100-continue` gets its 100 only now (app.ts holds it back), so a request refused
   * before (401, 403, 412, 413 on Content-Length) never uploads its body. A consumer that gives
   * up (413) stops reading and leaves the stream alone: the connection must stay open to carry
   * the refusal (app.ts then closes it after the answer).
   */
  bodyStream(): Readable {
    const raw = this.request.raw;
    // The connection may already be gone (a framing error the parser found after the head).
    if (raw.destroyed && !raw.complete) throw new ClientGoneError();
    if (!this.continued && /100-continue/i.test(this.header('expect') ?? '') && !this.reply.raw.headersSent) this.reply.raw.writeContinue();
    this.continued = true;
    return raw;
  }

  /** The request body, at most `limit` bytes (413 beyond). */
  async readBody(limit: number): Promise<Buffer> {
    const declared = this.header('content-length');
    if (declared !== undefined && Number(declared) > limit) throw new DavError(413, `request body larger than ${limit} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    const raw = this.bodyStream();
    try {
      // Leaving the loop early (413) must not destroy the request: the refusal still has to go out.
      for await (const chunk of raw.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > limit) throw new DavError(413, `request body larger than ${limit} bytes`);
        chunks.push(chunk);
      }
    } catch (err) {
      // The iterator throws only when the request breaks off (the connection is gone).
      throw err instanceof DavError ? err : new ClientGoneError();
    }
    return Buffer.concat(chunks, size);
  }

  /** True when the request carries a body (RFC 9110 §6.4.1: Content-Length > 0 or chunked). */
  hasBody(): boolean {
    const length = this.header('content-length');
    return this.header('transfer-encoding') !== undefined || (length !== undefined && length !== '0');
  }

  /** The XML request body, namespace-resolved; null when there is none (or it is empty). */
  async readXml(): Promise<XmlElement | null> {
    if (!this.hasBody()) return null;
    const body = await this.readBody(this.config.maxXmlBytes);
    if (body.length === 0 || body.toString('latin1').trim() === '') return null;
    return parseXml(body);
  }
}
