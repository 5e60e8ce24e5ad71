/**
 * Several server processes on one port (`--workers N`, node:cluster). The primary process only
 * supervises: it forks the workers and passes a stop on to them, and loads nothing else (cli.ts
 * imports the server only in a worker: the primary stays at ~43 MiB instead of ~81). Every worker
 * runs the whole server (cli.ts → buildApp) and listens on the same socket; the first to open
 * the metadata store creates it, the others wait for its lock (busy_timeout comes first).
 *
 * What keeps the workers consistent is the metadata store they share: dead properties are read
 * from it on every request; the SQLite store reloads its lock cache whenever SQLite's data_version
 * says another process committed (src/metadata/sqlite/locks.ts), PostgreSQL is asked every time;
 * a new lock is checked and written in one transaction, so two workers can never grant
 * conflicting locks (test/http/cluster.test.ts).
 *
 * Connections are handed out by the kernel (SCHED_NONE: every worker accepts on the shared
 * socket) rather than by the primary (round robin): on a 2-core machine the round-robin primary
 * gained nothing over one process for small GETs, the shared socket 1.7 times (test/bench/NOTES.md).
 */
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { metricsUrl, servingUrl, type Config } from './config.js';

/** IPC message from the primary: stop as on SIGTERM. */
const STOP_MESSAGE = 'fastdav:stop';
/** IPC message from the primary: reload files as on SIGHUP. */
const RELOAD_MESSAGE = 'fastdav:reload';

/** IPC message from a worker: start-up refused for this reason (the primary prints it once). */
interface RefusalMessage {
  readonly fastdavRefusal: string;
}
const isRefusal = (message: unknown): message is RefusalMessage => typeof (message as RefusalMessage | null)?.fastdavRefusal === 'string';

/** Worker side: tells the primary why this worker cannot start (it exits with code 2 next). */
export function reportRefusal(reason: string): Promise<void> {
  return new Promise((resolve) => {
    const message: RefusalMessage = { fastdavRefusal: reason };
    if (!process.send?.(message, undefined, {}, () => resolve())) resolve();
  });
}

/** True in a process forked by the primary. */
export const isWorkerProcess = cluster.isWorker;

/** How many processes `config` asks for (0 = one per core). */
export function workerCount(config: Config): number {
  return config.workers === 0 ? os.availableParallelism() : config.workers;
}

/** True when this process should supervise workers instead of serving. */
export function isClusterPrimary(config: Config): boolean {
  return cluster.isPrimary && workerCount(config) > 1;
}

/**
 * Worker side: a stop sent by the primary acts as a SIGTERM, once. A worker may also receive the
 * signal itself (Ctrl-C reaches the whole process group, systemd signals the whole cgroup); it
 * then ignores the primary's message, since a second SIGTERM means "stop now" to a worker.
 */
export function followPrimary(): void {
  if (!cluster.isWorker) return;
  let signalled = false;
  const mark = (signal: NodeJS.Signals): void => {
    signalled = true;
    // Before cli.ts listens for signals (still starting), a stop simply ends the process.
    if (process.listenerCount(signal) === 1) process.exit(0);
  };
  process.prependListener('SIGTERM', mark).prependListener('SIGINT', mark);
  process.on('message', (message) => {
    if (message === STOP_MESSAGE && !signalled) process.emit('SIGTERM', 'SIGTERM');
    if (message === RELOAD_MESSAGE) process.emit('SIGHUP', 'SIGHUP');
  });
}

/**
 * Primary side: forks the workers, prints one line once all of them listen, replaces a worker
 * that dies, on SIGTERM/SIGINT stops them all (a second signal is passed on: stop now), and on
 * SIGHUP has them all reload their files.
 * Resolves with the exit code: 0 after a clean stop, 1 when workers cannot start or stay up.
 */
export async function runPrimary(config: Config): Promise<number> {
  const count = workerCount(config);
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  // --metrics-port: the primary serves the sum of its workers' metrics (metrics/listener.ts).
  const listening = new Set<Worker>();
  let closeMetrics = async (): Promise<void> => undefined;
  if (config.metricsPort !== undefined) {
    const { closeListener, listenForScrapes, scrapeWorkers } = await import('./metrics/listener.js');
    const listener = await listenForScrapes(config.host, config.metricsPort, scrapeWorkers((w) => listening.has(w)));
    closeMetrics = () => closeListener(listener);
  }

  const code = await new Promise<number>((resolve) => {
    const alive = new Set<Worker>();
    const restarts: number[] = [];
    let stopping = false;
    let announced = false;
    let exitCode = 0;

    const fork = (): void => {
      alive.add(cluster.fork());
    };
    const stopAll = (code: number): void => {
      exitCode ||= code;
      stopping = true;
      for (const w of alive) if (w.isConnected()) w.send(STOP_MESSAGE);
      if (alive.size === 0) resolve(exitCode);
    };

    cluster.on('listening', (worker, address) => {
      listening.add(worker);
      if (announced || listening.size < count) return;
      announced = true;
      process.stdout.write(`fastdav serving ${config.root} at ${servingUrl(config, address.port)} (${count} worker processes)\n`);
      if (config.metricsPort !== undefined) process.stdout.write(`fastdav metrics at ${metricsUrl(config)}\n`);
    });

    let refusal: string | undefined;
    cluster.on('message', (_worker, message) => {
      if (!isRefusal(message) || refusal !== undefined) return;
      refusal = message.fastdavRefusal;
      process.stderr.write(`fastdav: ${refusal}\n`);
    });

    cluster.on('exit', (worker, code, signal) => {
      alive.delete(worker);
      const started = listening.delete(worker);
      if (stopping) {
        if (alive.size === 0) resolve(exitCode);
        return;
      }
      // A worker that refused to start has said why (once, above); the others would only repeat it.
      if (code === 2 && !started && refusal !== undefined) {
        stopAll(2);
        return;
      }
      process.stderr.write(`fastdav: worker ${worker.process.pid} exited (${signal ?? `code ${code}`})\n`);
      // A worker that never listened will not do better the next time (port taken, a bad
      // accounts or certificate file: exit code 2, passed on like the single process's).
      const now = Date.now();
      restarts.push(now);
      while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
      if (!started || restarts.length > 5) {
        if (code !== 2) process.stderr.write('fastdav: stopping: the worker processes do not stay up\n');
        stopAll(code === 2 && !started ? 2 : 1);
        return;
      }
      fork();
    });

    const onSignal = (signal: NodeJS.Signals): void => {
      if (!stopping) stopAll(0);
      else for (const w of alive) w.process.kill(signal);
    };
    process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
    // SIGHUP to the primary (systemctl reload signals the main process): every worker reloads.
    process.on('SIGHUP', () => {
      for (const w of alive) if (w.isConnected()) w.send(RELOAD_MESSAGE);
    });

    for (let i = 0; i < count; i++) fork();
  });
  await closeMetrics();
  return code;
}
