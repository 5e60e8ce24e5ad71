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

export class RequestGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly limit = defaultHeavyLimit(),
    private readonly maxHoldMs = DEFAULT_MAX_HOLD_MS,
  ) {}

  /** Runs `work` when its turn comes (first come, first served). */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      const next = this.waiting.shift();
      if (next) next(); // the slot passes on directly
      else this.running--;
    };
    const timer = setTimeout(release, this.maxHoldMs);
    try {
      return await work();
    } finally {
      clearTimeout(timer);
      release();
    }
  }
}
