/**
 * buildApp(config): the Fastify instance that serves the tree, without listening (tests use
 * inject() or listen on port 0). Wires storage, the metadata store, locks and the method table,
 * and holds the one place where requests are dispatched and errors rendered.
 */
import Fastify, { type FastifyHttpOptions, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Server } from 'node:http';
import type { Server as TlsServer } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, type Config } from './config.js';
import { HEALTH_URL_PATH, Namespace, RequestContext, type Services } from './http/context.js';
import { ClientGoneError, DavError } from './core/errors.js';
import { evaluatePreconditions, hasPreconditions } from './http/conditional.js';
import { AccessLog } from './http/access-log.js';
import { answerPlainHttpOnTlsPort, lingerAfterReply, serverOptions, tlsOptions } from './http/transport.js';
import { defendContent } from './http/security-headers.js';
import { UI_SEGMENT, WebAssets } from './http/web-assets.js';
import { isHeavy, RequestGate } from './http/request-gate.js';
import { DavPath } from './core/paths.js';
import { errorBody } from './xml/serialize.js';
import { PostgresMetadataStore } from './metadata/postgres/store.js';
import { SqliteMetadataStore } from './metadata/sqlite/store.js';
import { MetadataUnavailableError, metadataFailure } from './metadata/store.js';
import { ERROR_CONTENT_TYPE, errorText } from './http/error-body.js';
import { replayIntents } from './metadata/intents.js';
import { type Clock, LockManager, systemClock } from './locks/lock-manager.js';
import { openStorage } from './storage/open.js';
import { BackgroundSweeper } from './storage/catalog/gc.js';
import { PartialFileReclaimer, staleAfterMs } from './storage/fs/partial-files.js';
import type { Entry } from './storage/storage.js';
import { METHODS, type DavMethod } from './methods/index.js';
import { AccountFiles } from './auth/account-files.js';
import { type Access, Authenticator, permits, READ_METHODS } from './auth/authenticator.js';
import type { LoginThrottle } from './auth/login-throttle.js';
import type { ServerMetrics } from './metrics/metrics.js';
import { ListingCache } from './props/listing-cache.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The WebDAV context of this request, once dispatch has built it. */
    dav: RequestContext | null;
    /** The authenticated user, or null. */
    principal: string | null;
    /** What the requester may reach and do, once authenticated. */
    access: Access | null;
  }
  interface FastifyInstance {
    /**
     * SIGHUP: reads the TLS certificate and key and the account files again, without touching
     * open connections (they keep the certificate they began with). What does not load is logged
     * and the version in use stays. Resolves to false when something did not load.
     */
    reloadFiles(): Promise<boolean>;
  }
}

export interface AppOptions {
  /** Time source for lock expiry (tests pass a fake one). */
  clock?: Clock;
  /** Fastify logger setting; default: pino at config.logLevel. */
  logger?: FastifyServerOptions['logger'];
  /** Slows failed logins (tests pass one with a fake clock). */
  loginThrottle?: LoginThrottle;
  /** Prometheus metrics to feed (cli.ts passes them when --metrics-port is set). */
  metrics?: ServerMetrics;
}

/** How long closing waits for handlers still running after their connections were cut. */
const SETTLE_MS = 2000;

/** Time between sweeps for partial files after the one at start-up. */
const PARTIAL_SWEEP_EVERY_MS = 6 * 3600 * 1000;

/** Methods Fastify knows without addHttpMethod. */
const BUILTIN_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'POST', 'PATCH', 'TRACE']);

export async function buildApp(config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const clock = options.clock ?? systemClock;
  // Connection trouble is logged once the app's logger exists; requests meanwhile get 503.
  let reportMetadataError = (err: Error): void => void err;
  // Object storage (--s3-bucket): the tree in PostgreSQL, the contents in S3; else the folder.
  const opened = await openStorage(config, { clock, onError: (err) => reportMetadataError(err) });
  const { storage, metadata } = opened;
  const services: Services = {
    config,
    storage,
    metadata,
    deadProps: metadata.deadProps,
    locks: config.locking ? new LockManager(metadata.locks) : null,
    clock,
    webAssets: WebAssets.load(),
    listingCache: config.listingCacheBytes > 0 && storage.listingFingerprints ? new ListingCache(config.listingCacheBytes) : null,
  };
  const methods = new Map<string, DavMethod>(METHODS.filter((m) => !m.needsLocking || services.locks).map((m) => [m.name, m]));
  // RFC 9110 §10.2.1: Allow lists what this resource supports for this requester (a read-only
  // user is never offered PUT, DELETE, MOVE, LOCK…: davfs2 then mounts read-only); with
  // --read-only (the Authenticator refuses the rest with 403) only the reading methods.
  const offered = (m: DavMethod, access: Access | null): boolean =>
    (!config.readOnly || READ_METHODS.has(m.name)) && (access === null || permits(access, m.name));
  const allowFor = (entry: Entry | null, access: Access | null): string =>
    [...methods.values()].filter((m) => offered(m, access) && m.allowedOn(entry)).map((m) => m.name).join(', ');

  const app = Fastify({
    ...serverOptions(config),
    logger: options.logger ?? { level: config.logLevel },
    logController: new AccessLog(),
    exposeHeadRoutes: false,
    // request.host and request.protocol then follow X-Forwarded-Host/-Proto (http/context.ts).
    trustProxy: config.trustProxy,
    routerOptions: { maxParamLength: 65_536 },
    // A URL whose percent-encoding is not UTF-8 never reaches a route: answer it in our format.
    frameworkErrors: (error: Error & { code?: string }, _request: FastifyRequest, reply: FastifyReply) => {
      const bad = error.code === 'FST_ERR_BAD_URL';
      reply.code(bad ? 400 : 500).header('content-type', ERROR_CONTENT_TYPE).send(errorText(bad ? 400 : 500, bad ? 'the URL is not valid percent-encoded UTF-8' : undefined));
    },
  } as FastifyHttpOptions<Server>);
  reportMetadataError = (err) => {
    options.metrics?.metadataErrors.inc();
    app.log.warn({ err }, `metadata store (${metadata.kind}): ${err.message}`);
  };
  if (metadata instanceof SqliteMetadataStore && metadata.startupWarning) app.log.warn(metadata.startupWarning);
  // Partial files of uploads and copies cut short by a dead process (kill -9) are reclaimed at
  // start-up and every few hours, by age, so the live uploads of other instances are never touched.
  // (Object storage has its own sweep below: nothing of it lives under --root; --read-only writes nothing.)
  const reclaimer = opened.objectStorage || config.readOnly
    ? null
    : new PartialFileReclaimer({
        root: config.root,
        metadataDir: config.metadataDir,
        staleAfterMs: staleAfterMs(config.idleTimeout, config.requestTimeout),
        sweepEveryMs: PARTIAL_SWEEP_EVERY_MS,
        log: app.log,
      });
  reclaimer?.start();
  // Operations cut short by a process that died between a tree change and its metadata update.
  if (!config.readOnly) await replayIntents(storage, metadata, app.log);
  if (config.tlsCert) answerPlainHttpOnTlsPort(app.server, config.headersTimeout * 1000);
  app.decorateRequest('dav', null);
  app.decorateRequest('principal', null);
  if (options.metrics) {
    options.metrics.instrument(app, HEALTH_URL_PATH);
    const locks = services.locks;
    // Every active lock covers the root or lies within it.
    if (locks) options.metrics.setSources({ activeLocks: async () => (await locks.relevantTo(DavPath.root)).length });
    if (metadata instanceof PostgresMetadataStore) {
      const pool = metadata.pool;
      options.metrics.setSources({ poolUse: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }) });
    }
    const cache = services.listingCache;
    if (cache) options.metrics.setSources({ listingCache: () => ({ hits: cache.hits, misses: cache.misses, bytes: cache.size }) });
  }
  app.decorateRequest('access', null);
  // No stored file may act as its viewer (http/security-headers.ts); the folder view sets its own policy.
  app.addHook('onRequest', async (_request, reply) => defendContent(reply));
  // RFC 9110 §10.1.1: a client waiting for 100 Continue gets it when a handler starts reading
  // the body (RequestContext.bodyStream), so refused uploads are never sent.
  app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));

  const accounts = config.users ? await AccountFiles.open(config.users, config.userAccess, storage, app.log, !config.readOnly) : null;
  const auth = new Authenticator(config, accounts, app.log, options.loginThrottle);

  app.decorate('reloadFiles', async () => {
    const reloaded: string[] = [];
    let ok = true;
    const attempt = async (what: string, load: () => unknown): Promise<void> => {
      try {
        await load();
        reloaded.push(what);
      } catch (err) {
        ok = false;
        app.log.error(`${what} not reloaded, the ones in use stay: ${err instanceof ConfigError ? err.message : String(err)}`);
      }
    };
    // node:tls: connections opened from now on use the new context, open ones keep theirs.
    if (config.tlsCert) await attempt('certificate', () => (app.server as unknown as TlsServer).setSecureContext(tlsOptions(config)!));
    if (accounts) await attempt('accounts', () => accounts.reloadNow());
    app.log.info({ reloaded }, 'SIGHUP: files reloaded');
    return ok;
  });

  // Bodies are never parsed by Fastify: PUT streams them to disk, PROPFIND/PROPPATCH/LOCK read
  // and parse their XML themselves with a size limit (a global XML parser would also swallow
  // uploaded .xml files).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  for (const m of methods.values()) {
    if (!BUILTIN_METHODS.has(m.name)) app.addHttpMethod(m.name, { hasBody: m.hasBody });
  }

  const davHeaders = (reply: FastifyReply, allow: string): void => {
    // RFC 4918 §10.1, §18: class 2 only with locking; MS-Author-Via for Microsoft clients.
    reply.header('dav', services.locks ? '1, 2' : '1').header('ms-author-via', 'DAV').header('allow', allow);
  };

  const wholeTree = new Namespace(config.prefix, DavPath.root);
  const heavyRequests = new RequestGate();

  async function dispatch(method: DavMethod, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const url = request.raw.url ?? '/';
    // RFC 9110 §9.3.7: `OPTIONS *` asks about the server in general, like a URL outside the prefix.
    if (url === '*' || !wholeTree.fromUrlPath(url)) {
      // Outside the mount prefix only OPTIONS answers, without credentials: Windows and Office
      // probe the server root, and nothing there belongs to anyone.
      if (method.name !== 'OPTIONS') throw new DavError(404, `this server serves its files under ${config.prefix}`);
      davHeaders(reply, 'OPTIONS');
      reply.code(200).header('content-length', '0').send();
      return;
    }
    const access = await auth.authenticate(request.headers.authorization, request.ip);
    request.principal = access.principal;
    request.access = access;
    auth.authorize(access, method.name);
    // Everything a request names (target, Destination, If tags) is resolved in the requester's
    // namespace, so nothing outside their root can even be named.
    const ns = access.root.isRoot ? wholeTree : new Namespace(config.prefix, access.root);
    const target = ns.fromUrlPath(url)!;
    if (storage.isReserved(target.path)) throw new DavError(403, 'this name is reserved by the server');
    const ctx = new RequestContext(services, request, reply, ns, target, request.principal);
    request.dav = ctx;

    if (request.headers.if !== undefined) await ctx.checkIfHeader();
    // RFC 9110 §13.2: conditional headers apply to every method; GET/HEAD evaluate them
    // themselves (304, If-Range), everyone else fails with 412 here.
    if (!method.ownPreconditions && hasPreconditions(request.headers)) {
      if (evaluatePreconditions(request.headers, await ctx.target(), false) !== 'pass') throw new DavError(412, 'Precondition Failed');
    }
    if (method.name === 'OPTIONS') davHeaders(reply, allowFor(await ctx.target(), access));
    if (isHeavy(method.name, request.headers)) await heavyRequests.run(() => method.handle(ctx));
    else await method.handle(ctx);
  }

  // Object storage: the background sweep (src/storage/catalog/gc.ts), on one instance at a time.
  const gc =
    opened.objectStorage && config.gcInterval > 0
      ? new BackgroundSweeper(opened.objectStorage.storage.sql.run, opened.objectStorage.storage.blobs, {
          graceSeconds: config.gcGrace,
          intervalSeconds: config.gcInterval,
          log: app.log,
        }).start()
      : null;

  const running = new Set<Promise<unknown>>();
  app.route({
    method: [...methods.keys()],
    url: '*',
    handler: (request, reply) => {
      // Return the reply: a handler that resolves to undefined before a streamed body has ended
      // makes Fastify send an empty reply in its place (GET of files above smallFileBytes, ranges).
      const handled = dispatch(methods.get(request.method)!, request, reply).then(() => reply);
      running.add(handled);
      void handled.catch(() => undefined).finally(() => running.delete(handled));
      return handled;
    },
  });

  // The folder view's script and stylesheet (http/web-assets.ts): public, versioned, cached for a year.
  app.route({
    method: ['GET', 'HEAD'],
    url: `${config.prefix}${UI_SEGMENT}/:version/:file`,
    handler: async (request, reply) => {
      const { version, file } = request.params as { version: string; file: string };
      const asset = services.webAssets.find(version, file);
      if (!asset) throw new DavError(404, 'Not Found');
      reply.code(200).header('content-type', asset.contentType).header('cache-control', 'public, max-age=31536000, immutable');
      reply.header('content-length', asset.body.length);
      return reply.send(request.method === 'HEAD' ? undefined : asset.body);
    },
  });

  // For container health checks and load balancers: no credentials, outside the tree (context.ts),
  // logged only on trouble. 503 while the data root or the metadata database is unreachable and,
  // from Fastify, while stopping.
  app.route({
    method: ['GET', 'HEAD'],
    url: HEALTH_URL_PATH,
    logLevel: 'warn',
    handler: async (_request, reply) => {
      const [root, metadataUp] = await Promise.all([
        storage.stat(DavPath.root).catch(() => null),
        metadata.check().then(() => true, () => false),
      ]);
      const status = root?.isCollection !== true ? 'data root unavailable' : !metadataUp ? 'metadata store unavailable' : 'ok';
      reply.code(status === 'ok' ? 200 : 503).header('cache-control', 'no-store').header('content-type', 'application/json; charset=utf-8');
      return reply.send(JSON.stringify({ status }));
    },
  });

  // Any other method: 405 when it is a WebDAV method that is turned off, else 501.
  app.setNotFoundHandler((request, reply) => {
    const known = METHODS.some((m) => m.name === request.method);
    // --read-only turns locking off, but LOCK and UNLOCK are refused as every write is.
    if (known && config.readOnly && !READ_METHODS.has(request.method)) {
      reply.code(403).header('content-type', ERROR_CONTENT_TYPE).send(errorText(403, 'this server is read-only'));
      return;
    }
    const status = known ? 405 : 501;
    if (known) reply.header('allow', allowFor(null, null));
    const message = known ? `${request.method} is turned off on this server` : `this server does not implement the method ${request.method}`;
    reply.code(status).header('content-type', ERROR_CONTENT_TYPE).send(errorText(status, message));
  });

  app.setErrorHandler(async (thrown: Error & { statusCode?: number }, request, reply) => {
    if (reply.sent) return;
    const error = metadataFailure(thrown) ?? thrown;
    if (error instanceof ClientGoneError) {
      // Nobody is left to answer; make sure no answer (not even an empty 200) goes out.
      reply.raw.destroy();
      return;
    }
    if (reply.raw.headersSent) {
      // A streamed body broke off (a 207 listing whose database went away): too late for an
      // error status; the connection is cut so the client sees the body incomplete.
      request.log.error({ err: error }, 'request failed after its answer began');
      reply.raw.destroy();
      return;
    }
    const status = error instanceof DavError || (error.statusCode && error.statusCode >= 400) ? error.statusCode! : 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    if (error instanceof MetadataUnavailableError) options.metrics?.metadataErrors.inc();
    reply.code(status);
    // RFC 9110 §10.1.1: the rest of a body left unread (a refused upload) cannot be told from the
    // next request if the client never sends it: close after the answer.
    if (!request.raw.complete) {
      reply.header('connection', 'close');
      lingerAfterReply(request.raw);
    }
    if (error instanceof DavError) {
      for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
      if (status === 405 && request.dav) reply.header('allow', allowFor(await request.dav.target().catch(() => null), request.access));
      if (error.condition) {
        // Collections are named with their trailing slash, as in lockdiscovery.
        const hrefOf = async (p: DavPath) => request.dav?.href(p, (await storage.stat(p).catch(() => null))?.isCollection ?? false) ?? p.toString();
        const hrefs = await Promise.all(error.paths.map(hrefOf));
        return reply.header('content-type', 'application/xml; charset=utf-8').send(errorBody(error.condition, hrefs));
      }
    }
    const message = status >= 500 && !(error instanceof DavError) ? undefined : error.message;
    return reply.header('content-type', ERROR_CONTENT_TYPE).send(errorText(status, message));
  });

  // Closing (cli.ts stops on SIGTERM): Fastify stops accepting and answers 503 to new requests on
  // open connections; connections are closed as soon as their request in flight is answered; the
  // metadata store closes once the handlers have settled (an upload cut short removes its
  // temporary file): SQLite checkpoints its journal, PostgreSQL's pool disconnects.
  let sweeper: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    sweeper = setInterval(() => app.server.closeIdleConnections(), 100);
  });
  app.addHook('onClose', async () => {
    clearInterval(sweeper);
    reclaimer?.stop();
    await Promise.race([Promise.allSettled(running), sleep(SETTLE_MS, undefined, { ref: false })]);
    await gc?.stop();
    await opened.close();
  });
  return app;
}
