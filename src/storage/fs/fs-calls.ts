/**
 * Where the filesystem backend's metadata calls run (issue 13): directly on the event loop while
 * the disk answers fast, in libuv's thread pool, fairly shared between requests, while it is slow.
 *
 * Direct calls are 10-30 times cheaper than a thread-pool round trip on a warm local disk (a stat
 * ~3 µs against 30-100 µs; test/bench/NOTES.md), so that stays the fast path. But a direct call
 * holds the event loop for as long as the disk takes: on a network filesystem, a NAS or a cold
 * cache (1-5 ms a call) one listing of 1,000 files froze every other request for seconds. So every
 * direct call is timed (performance.now(), ~40 ns); when most recent calls were slow the calls go
 * to the pool instead, and one call every PROBE_MS is still made directly to see whether the disk
 * has become fast again.
 *
 * The pool is a few worker threads (fs-call-worker.ts), started at the first slow call, one call
 * per message: Node's own thread pool cannot be enlarged once the process runs (UV_THREADPOOL_SIZE
 * is read at its first use, before any module code), and it also carries the file bodies.
 *
 * In the pool, calls wait in lanes: one lane per listing or tree walk, one per single call of a
 * request (a stat, an open). Free pool slots are handed to the lanes in turn (round robin), so a
 * GET's stat waits for at most one turn of the lanes, never behind the hundreds of stats a
 * listing has queued; and a listing alone still gets every slot (its calls overlap: a slow disk
 * or network filesystem answers several at once).
 */
import fs from 'node:fs';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CallOp, StatFields } from './fs-call-worker.js';

/** A call slower than this (ms) counts as slow; a warm local stat takes ~0.003 ms. */
const SLOW_CALL_MS = 0.25;
/** Weight of one direct call in the running share of slow calls (about the last 16 calls). */
const CALL_WEIGHT = 1 / 16;
/** Weight of one probe (a direct call made while in the pool): a few fast probes switch back. */
const PROBE_WEIGHT = 1 / 4;
/** Share of slow calls above which calls move to the pool, and below which they come back. */
const TO_POOL_SHARE = 0.5;
const TO_DIRECT_SHARE = 0.1;
/** While calls go to the pool, one call this often (ms) is made directly, as a probe. */
const PROBE_MS = 500;

/**
 * Threads of the pool by default: 4 per core. They wait for a slow disk far more than they use
 * a CPU, and a slow disk (or network filesystem) answers several calls at once.
 */
export function defaultCallThreads(): number {
  return 4 * availableParallelism();
}

/** What the backend reads of a stat (fs.Stats has it; so has a stat made in the pool). */
export interface FileStat extends StatFields {
  isFile(): boolean;
  isDirectory(): boolean;
}

/** A folder member as readdir reports it (fs.Dirent has it; so has one read in the pool). */
export interface DirEntry {
  readonly name: string;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

const typeOf = (mode: number): number => mode & fs.constants.S_IFMT;

// The stat's fields, copied in by the constructor (declaration merging gives the class their types).
interface PooledStat extends StatFields {}
class PooledStat implements FileStat {
  constructor(fields: StatFields) {
    Object.assign(this, fields);
  }
  isFile(): boolean {
    return typeOf(this.mode) === fs.constants.S_IFREG;
  }
  isDirectory(): boolean {
    return typeOf(this.mode) === fs.constants.S_IFDIR;
  }
}

class PooledDirEntry implements DirEntry {
  constructor(readonly name: string, private readonly mode: number) {}
  isFile(): boolean {
    return this.mode === fs.constants.S_IFREG;
  }
  isDirectory(): boolean {
    return this.mode === fs.constants.S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return this.mode === fs.constants.S_IFLNK;
  }
}

/** Calls of one listing or walk, served in order; lanes take turns for the pool's threads. */
export class Lane {
  readonly waiting: Array<(thread: CallThread) => Promise<void>> = [];
  /** Calls of this lane in the threads now. */
  running = 0;
  /** Whether the lane is in the turn order. */
  queued = false;
}

/**
 * Calls of one lane in the threads at once. A listing alone still overlaps its calls (a slow
 * disk answers several at once), but it never fills the disk's queue, where the calls of
 * other requests would wait behind it.
 */
const LANE_CALLS_AT_ONCE = 2;

/** One worker thread of the pool; it makes one call at a time. */
class CallThread {
  private readonly worker: Worker;
  private settle: ((ok: boolean, value: unknown) => void) | null = null;
  private readonly onIdle: (t: CallThread) => void;

  constructor(onIdle: (t: CallThread) => void, onExit: (t: CallThread) => void) {
    // Under tap's TypeScript loader this module is a .ts file, and so is its worker.
    const here = fileURLToPath(import.meta.url);
    this.worker = new Worker(path.join(path.dirname(here), `fs-call-worker${path.extname(here)}`));
    this.onIdle = onIdle;
    this.worker.on('message', ([, ok, value]: [number, boolean, unknown]) => this.done(ok, value));
    // A thread that dies (out of memory, terminated) fails its call and leaves the pool.
    this.worker.on('error', () => undefined);
    this.worker.on('exit', () => {
      this.dead = true;
      onExit(this);
      const settle = this.settle;
      this.settle = null;
      settle?.(false, Object.assign(new Error('filesystem call thread stopped'), { code: 'EIO' }));
    });
    // An idle thread never keeps the process alive; one with a call in flight does (call()), as
    // the direct call would. After the listeners: Node 20 refs the worker's message port again
    // when a 'message' listener is added, so an unref() before them was undone (a test process
    // whose disk had turned slow never exited).
    this.worker.unref();
  }

  /** True once the thread has stopped. */
  dead = false;

  private done(ok: boolean, value: unknown): void {
    const settle = this.settle;
    if (!settle) return; // the thread stopped meanwhile and already failed the call
    this.settle = null;
    this.worker.unref();
    if (!this.dead) this.onIdle(this);
    settle(ok, value);
  }

  /** Keeps the thread busy until `work` settles. */
  hold<T>(work: Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      this.settle = (ok, value) => (ok ? resolve(value as T) : reject(value));
      work.then((v) => this.done(true, v), (err: unknown) => this.done(false, err));
    });
  }

  call(op: CallOp, args: unknown[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.settle = (ok, value) => (ok ? resolve(value) : reject(Object.assign(new Error((value as Error).message), value)));
      // (errors come back as plain fields: code, errno, syscall, path)
      this.worker.ref();
      this.worker.postMessage([0, op, args]);
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export interface FsCallsOptions {
  /** Threads of the pool (default defaultCallThreads()). */
  readonly threads?: number;
  /** Force a mode (tests): 'direct' never leaves the event loop, 'pool' always does. */
  readonly mode?: 'adaptive' | 'direct' | 'pool';
}

export class FsCalls {
  private readonly threadCount: number;
  private readonly fixedMode: 'adaptive' | 'direct' | 'pool';
  /** Running share of slow calls among the recent direct calls (0..1). */
  private slowShare = 0;
  private pooled: boolean;
  private lastProbe = 0;
  private readonly threads: CallThread[] = [];
  private readonly idle: CallThread[] = [];
  /** Lanes with calls waiting, in turn order. */
  private readonly turns: Lane[] = [];
  /** Calls made directly and in the pool so far (tests, diagnostics). */
  readonly counts = { direct: 0, pooled: 0 };

  constructor(options: FsCallsOptions = {}) {
    this.threadCount = Math.max(1, options.threads ?? defaultCallThreads());
    this.fixedMode = options.mode ?? 'adaptive';
    this.pooled = this.fixedMode === 'pool';
  }

  /** True while calls run on the event loop. */
  get direct(): boolean {
    return !this.pooled;
  }

  /** Stops the pool's threads (they never keep the process alive, but tests tidy up). */
  async close(): Promise<void> {
    await Promise.all(this.threads.splice(0).map((t) => t.terminate()));
    this.idle.length = 0;
  }

  stat(p: string, lane?: Lane): Promise<FileStat | undefined> {
    return this.call<FileStat | undefined>(lane, () => fs.statSync(p, { throwIfNoEntry: false }), 'stat', [p], (f) => (f ? new PooledStat(f as StatFields) : undefined));
  }

  lstat(p: string, lane?: Lane): Promise<FileStat> {
    return this.call(lane, () => fs.lstatSync(p), 'lstat', [p], (f) => new PooledStat(f as StatFields));
  }

  fstat(fd: number): Promise<FileStat> {
    return this.call(undefined, () => fs.fstatSync(fd), 'fstat', [fd], (f) => new PooledStat(f as StatFields));
  }

  realpath(p: string, lane?: Lane): Promise<string> {
    return this.call(lane, () => fs.realpathSync.native(p), 'realpath', [p]);
  }

  readdir(p: string, lane?: Lane): Promise<DirEntry[]> {
    return this.call<DirEntry[]>(lane, () => fs.readdirSync(p, { withFileTypes: true }), 'readdir', [p],
      (list) => (list as Array<[string, number]>).map(([name, mode]) => new PooledDirEntry(name, mode)), false);
  }

  /**
   * Opens a file. Never in a worker thread: Node closes the descriptors a worker opened when the
   * worker stops, and would track them wrongly once the main thread has closed them. In the
   * pool's turn, the open goes through libuv's own pool instead.
   */
  open(p: string, flags: fs.OpenMode, mode?: fs.Mode, lane?: Lane): Promise<number> {
    const inLibuv = (): Promise<number> => new Promise((resolve, reject) => fs.open(p, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
    return this.call(lane, () => fs.openSync(p, flags, mode), inLibuv);
  }

  mkdir(p: string, lane?: Lane): Promise<void> {
    return this.call(lane, () => void fs.mkdirSync(p), 'mkdir', [p]);
  }

  rmdir(p: string, lane?: Lane): Promise<void> {
    return this.call(lane, () => fs.rmdirSync(p), 'rmdir', [p]);
  }

  unlink(p: string, lane?: Lane): Promise<void> {
    return this.call(lane, () => fs.unlinkSync(p), 'unlink', [p]);
  }

  rename(from: string, to: string): Promise<void> {
    return this.call(undefined, () => fs.renameSync(from, to), 'rename', [from, to]);
  }

  /** Sets the modification time (seconds since the epoch); the access time becomes now. */
  utimes(p: string, mtime: number): Promise<void> {
    const atime = Date.now() / 1000;
    return this.call(undefined, () => fs.utimesSync(p, atime, mtime), 'utimes', [p, atime, mtime]);
  }

  /**
   * Runs one call: directly (timed) while the disk is fast or a probe is due, else in the pool
   * when its lane's turn comes. `timed: false` for calls whose cost grows with the answer
   * (readdir of a big folder), which say nothing about the disk.
   */
  private call<T>(lane: Lane | undefined, direct: () => T, op: CallOp | (() => Promise<T>), args: unknown[] = [], revive: (v: unknown) => T = (v) => v as T, timed = true): Promise<T> {
    if (this.fixedMode !== 'pool' && (!this.pooled || (timed && this.probeDue()))) {
      this.counts.direct++;
      const started = performance.now();
      try {
        return Promise.resolve(direct());
      } catch (err) {
        return Promise.reject(err);
      } finally {
        if (timed && this.fixedMode === 'adaptive') this.observe(performance.now() - started);
      }
    }
    this.counts.pooled++;
    return new Promise<T>((resolve, reject) => {
      const l = lane ?? new Lane();
      l.waiting.push((thread) =>
        typeof op !== 'function'
          ? thread.call(op, args).then((v) => resolve(revive(v)), reject)
          // Work done elsewhere in the thread's turn (see open): the thread waits idle meanwhile.
          : thread.hold(op()).then(resolve, reject));
      this.queue(l);
      this.next();
    });
  }

  /** Puts a lane with waiting calls and room for one more at the end of the turn order. */
  private queue(lane: Lane): void {
    if (!lane.queued && lane.waiting.length > 0 && lane.running < LANE_CALLS_AT_ONCE) {
      lane.queued = true;
      this.turns.push(lane);
    }
  }

  /** Hands idle threads (started as needed, up to threadCount) to the waiting lanes in turn. */
  private next(): void {
    while (this.turns.length > 0) {
      let thread = this.idle.pop();
      if (!thread && this.threads.length < this.threadCount) {
        thread = new CallThread(
          (t) => {
            this.idle.push(t);
            this.next();
          },
          (t) => {
            for (const list of [this.threads, this.idle]) if (list.includes(t)) list.splice(list.indexOf(t), 1);
          },
        );
        this.threads.push(thread);
      }
      if (!thread) return;
      const lane = this.turns.shift()!;
      lane.queued = false;
      const start = lane.waiting.shift()!;
      lane.running++;
      this.queue(lane);
      void start(thread).finally(() => {
        lane.running--;
        this.queue(lane);
        this.next();
      });
    }
  }

  private probeDue(): boolean {
    const now = performance.now();
    if (now - this.lastProbe < PROBE_MS) return false;
    this.lastProbe = now;
    return true;
  }

  private observe(ms: number): void {
    const weight = this.pooled ? PROBE_WEIGHT : CALL_WEIGHT;
    this.slowShare += weight * ((ms > SLOW_CALL_MS ? 1 : 0) - this.slowShare);
    if (!this.pooled && this.slowShare > TO_POOL_SHARE) this.pooled = true;
    else if (this.pooled && this.slowShare < TO_DIRECT_SHARE) this.pooled = false;
  }
}
