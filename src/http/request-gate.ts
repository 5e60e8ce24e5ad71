/**
 * Request-level fairness, for every storage backend: requests that may do a lot of work (a
 * listing, a tree copy, move or delete) run at most `limit` at a time and are admitted in their
 * order of arrival; the rest wait their turn before doing any work. Requests already under way
 * thus finish before newly arrived ones start: with 64 clients listing at once, each waits its
 * turn once instead of every listing sharing the event loop with all the others and all
 * finishing late (the PROPFIND tail of issue 13). Small requests (GET, PUT, a Depth 0 PROPFIND)
 * never wait here, so they pass a queue of listings.
 *
 * The gate orders starts; it does not let one request hold a slot for long. A client that stops
 * reading its 207 (or a very long tree operation) keeps its slot at most `maxHoldMs`; the slot
 * then passes on while that request goes on outside the gate. Without this bound, a handful of
 * clients that never read their answers would stop every listing on the server until their
 * connections time out.
 *
 * Nor does it let listings hold the event loop: heavy requests start one after another only for
 * about a millisecond (`turnBudgetMs`); then the loop turns (accepts a connection, reads requests,
 * writes answers, runs timers) before the next one starts. A listing on a fast disk never yields
 * by itself, so without this bound one turn ran every queued listing back to back.
 */
import { availableParallelism } from 'node:os';
import type { IncomingHttpHeaders } from 'node:http';

/** Heavy requests run at once by default: enough to keep every core (and a slow disk) busy. */
export function defaultHeavyLimit(): number {
  return Math.max(4, 2 * availableParallelism());
}

/** Whether a request may touch many resources: PROPFIND below Depth 0, COPY, MOVE, DELETE. */
export function isHeavy(method: string, headers: IncomingHttpHeaders): boolean {
  switch (method) {
    case 'PROPFIND':
      return headers.depth !== '0'; // RFC 4918 §9.1: no Depth means infinity
    case 'COPY':
    case 'MOVE':
    case 'DELETE':
      return true;
    default:
      return false;
  }
}

/** Longest time one request keeps its slot by default. */
export const DEFAULT_MAX_HOLD_MS = 2000;

/**
 * Most time heavy requests may start one after another without letting the event loop turn.
 * Node accepts one new connection per turn of its loop (libuv since 1.45, libuv/libuv#3696), and
 * a listing on a fast disk runs to its end without yielding: 64 clients listing a folder each made
 * one turn last ~45 ms, so the 64th connection waited 64 turns (~2.9 s) for its first answer. With
 * this budget a turn runs at most about a millisecond of listings plus one per free slot.
 */
export const DEFAULT_TURN_BUDGET_MS = 1;

export class RequestGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** When the current run of starts began (the last time the loop turned for the gate). */
  private turnStart = -Infinity;
  private turnScheduled = false;

  constructor(
    private readonly limit = defaultHeavyLimit(),
    private readonly maxHoldMs = DEFAULT_MAX_HOLD_MS,
    private readonly turnBudgetMs = DEFAULT_TURN_BUDGET_MS,
  ) {}

  /** Runs `work` when its turn comes (first come, first served). */
  async run<T>(work: () => Promise<T>): Promise<T> {
    // Nobody may overtake a waiting request; and past the turn's budget even the first waits.
    if (this.running < this.limit && this.waiting.length === 0 && this.withinTurn()) this.running++;
    else {
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        this.nextTurn();
      });
    }
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.running--;
      this.startNext();
    };
    const timer = setTimeout(release, this.maxHoldMs);
    try {
      return await work();
    } finally {
      clearTimeout(timer);
      release();
    }
  }

  private withinTurn(): boolean {
    return performance.now() - this.turnStart < this.turnBudgetMs;
  }

  /** A freed slot goes to the first waiting request: now if the turn has time left, else next turn. */
  private startNext(): void {
    if (this.waiting.length === 0 || this.running >= this.limit) return;
    if (!this.withinTurn()) return this.nextTurn();
    this.running++;
    this.waiting.shift()!(); // the slot passes on directly (counted already)
  }

  /**
   * Starts the first waiting request after the loop has turned (accepted connections, read and
   * written sockets, run timers): setImmediate runs after the current poll phase, or in the next
   * turn when called from an immediate.
   */
  private nextTurn(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(() => {
      this.turnScheduled = false;
      this.turnStart = performance.now();
      // Every free slot is taken at once (requests that wait for I/O must not start one per turn:
      // that starved listings and tree operations behind a stream of GETs); those that run to
      // their end without yielding then pass their slots on while the turn's budget lasts.
      while (this.waiting.length > 0 && this.running < this.limit) {
        this.running++;
        this.waiting.shift()!();
      }
    });
  }
}
