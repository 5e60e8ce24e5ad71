/**
 * buildApp(config): the Fastify instance that serves the tree, without listening (tests use
 * inject() or listen on port 0). Wires storage, the metadata store, locks and the method table,
 * and holds the one place where requests are dispatched and errors rendered.
 */
import Fastify, { type FastifyHttpOptions, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { STATUS_CODES, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from './config.js';
import { HEALTH_URL_PATH, Namespace, RequestContext, type Services } from './http/context.js';
import { ClientGoneError, DavError } from './core/errors.js';
import { evaluatePreconditions, hasPreconditions } from './http/conditional.js';
import { AccessLog } from './http/access-log.js';
import { lingerAfterReply, serverOptions } from './http/transport.js';
import { isHeavy, RequestGate } from './http/request-gate.js';
import { DavPath } from './core/paths.js';
import { errorBody } from './xml/serialize.js';
import { openDatabase } from './metadata/database.js';
import { DeadPropertyStore } from './props/dead-store.js';
import { type Clock, LockManager, systemClock } from './locks/lock-manager.js';
import { LockStore } from './locks/lock-store.js';
import { FileSystemStorage } from './storage/fs/fs-storage.js';
import { FsCalls } from './storage/fs/fs-calls.js';
import type { Entry } from './storage/storage.js';
import { METHODS, type DavMethod } from './methods/index.js';
import { AccountFiles } from './auth/account-files.js';
import { Authenticator } from './auth/authenticator.js';
import type { LoginThrottle } from './auth/login-throttle.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The WebDAV context of this request, once dispatch has built it. */
    dav: RequestContext | null;
    /** The authenticated user, or null. */
    principal: string | null;
  }
}

export interface AppOptions {
  /** Time source for lock expiry (tests pass a fake one). */
  clock?: Clock;
  /** Fastify logger setting; default: pino at config.logLevel. */
  logger?: FastifyServerOptions['logger'];
  /** Slows failed logins (tests pass one with a fake clock). */
  loginThrottle?: LoginThrottle;
}

/** How long closing waits for handlers still running after their connections were cut. */
const SETTLE_MS = 2000;

/** Methods Fastify knows without addHttpMethod. */
const BUILTIN_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'POST', 'PATCH', 'TRACE']);

export async function buildApp(config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const clock = options.clock ?? systemClock;
  const fsCalls = new FsCalls({ mode: config.fsCalls, threads: config.fsThreads || undefined });
  const storage = await FileSystemStorage.open(config.root, config.metadataDir, fsCalls);
  const db = openDatabase(config.metadataDir);
  const services: Services = {
    config,
    storage,
    deadProps: new DeadPropertyStore(db),
    locks: config.locking ? new LockManager(new LockStore(db), clock) : null,
    clock,
  };
  const methods = new Map<string, DavMethod>(METHODS.filter((m) => !m.needsLocking || services.locks).map((m) => [m.name, m]));
  const allowFor = (entry: Entry | null): string =>
    [...methods.values()].filter((m) => m.allowedOn(entry)).map((m) => m.name).join(', ');

  const app = Fastify({
    ...serverOptions(config),
    logger: options.logger ?? { level: config.logLevel },
    logController: new AccessLog(),
    exposeHeadRoutes: false,
    // request.host and request.protocol then follow X-Forwarded-Host/-Proto (http/context.ts).
    trustProxy: config.trustProxy,
    routerOptions: { maxParamLength: 65_536 },
  } as FastifyHttpOptions<Server>);
  app.decorateRequest('dav', null);
  app.decorateRequest('principal', null);
  // RFC 9110 §10.1.1: a client waiting for 100 Continue gets it when a handler starts reading
  // the body (RequestContext.bodyStream), so refused uploads are never sent.
  app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));

  const accounts = config.users ? await AccountFiles.open(config.users, config.userAccess, storage, app.log) : null;
  const auth = new Authenticator(config, accounts, app.log, options.loginThrottle);

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
      if (method.name !== 'OPTIONS') throw new DavError(404, 'Not Found');
      davHeaders(reply, 'OPTIONS');
      reply.code(200).header('content-length', '0').send();
      return;
    }
    const access = await auth.authenticate(request.headers.authorization, request.ip);
    request.principal = access.principal;
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
    if (method.name === 'OPTIONS') davHeaders(reply, allowFor(await ctx.target()));
    if (isHeavy(method.name, request.headers)) await heavyRequests.run(() => method.handle(ctx));
    else await method.handle(ctx);
  }

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

  // For container health checks: no credentials, outside the tree (context.ts), logged only on
  // trouble. 503 while the data root is unreachable and, from Fastify, while stopping.
  app.route({
    method: ['GET', 'HEAD'],
    url: HEALTH_URL_PATH,
    logLevel: 'warn',
    handler: async (_request, reply) => {
      const root = await storage.stat(DavPath.root).catch(() => null);
      const ok = root?.isCollection === true;
      reply.code(ok ? 200 : 503).header('cache-control', 'no-store').header('content-type', 'application/json; charset=utf-8');
      return reply.send(JSON.stringify({ status: ok ? 'ok' : 'data root unavailable' }));
    },
  });

  // Any other method: 405 when it is a WebDAV method that is turned off, else 501.
  app.setNotFoundHandler((request, reply) => {
    const known = METHODS.some((m) => m.name === request.method);
    const status = known ? 405 : 501;
    if (known) reply.header('allow', allowFor(null));
    reply.code(status).header('content-type', 'text/plain; charset=utf-8').send(`${status} ${STATUS_CODES[status]}: ${request.method}\n`);
  });

  app.setErrorHandler(async (error: Error & { statusCode?: number }, request, reply) => {
    if (reply.sent) return;
    if (error instanceof ClientGoneError) {
      // Nobody is left to answer; make sure no answer (not even an empty 200) goes out.
      reply.raw.destroy();
      return;
    }
    const status = error instanceof DavError || (error.statusCode && error.statusCode >= 400) ? error.statusCode! : 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    reply.code(status);
    // RFC 9110 §10.1.1: the rest of a body left unread (a refused upload) cannot be told from the
    // next request if the client never sends it: close after the answer.
    if (!request.raw.complete) {
      reply.header('connection', 'close');
      lingerAfterReply(request.raw);
    }
    if (error instanceof DavError) {
      for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
      if (status === 405 && request.dav) reply.header('allow', allowFor(await request.dav.target().catch(() => null)));
      if (error.condition) {
        // Collections are named with their trailing slash, as in lockdiscovery.
        const hrefOf = async (p: DavPath) => request.dav?.href(p, (await storage.stat(p).catch(() => null))?.isCollection ?? false) ?? p.toString();
        const hrefs = await Promise.all(error.paths.map(hrefOf));
        return reply.header('content-type', 'application/xml; charset=utf-8').send(errorBody(error.condition, hrefs));
      }
    }
    const message = status >= 500 && !(error instanceof DavError) ? 'internal error' : error.message;
    return reply.header('content-type', 'text/plain; charset=utf-8').send(`${status} ${STATUS_CODES[status] ?? ''}: ${message}\n`);
  });

  // Closing (cli.ts stops on SIGTERM): Fastify stops accepting and answers 503 to new requests on
  // open connections; connections are closed as soon as their request in flight is answered; the
  // metadata store closes once the handlers have settled (an upload cut short removes its
  // temporary file), so SQLite checkpoints its journal.
  let sweeper: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    sweeper = setInterval(() => app.server.closeIdleConnections(), 100);
  });
  app.addHook('onClose', async () => {
    clearInterval(sweeper);
    await Promise.race([Promise.allSettled(running), sleep(SETTLE_MS, undefined, { ref: false })]);
    // Flush: the journal goes into the database file, so the store is whole on its own (a copy
    // of the volume taken after a stop needs no -wal file). Another server process still
    // reading (cluster mode) only makes this wait briefly, then it is left for later.
    try {
      db.exec('PRAGMA busy_timeout = 500; PRAGMA wal_checkpoint(TRUNCATE);');
    } catch {
      /* the journal stays valid; SQLite folds it in at the next open */
    }
    db.close();
    await fsCalls.close();
  });
  return app;
}
