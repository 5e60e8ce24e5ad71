/**
 * Slows failed logins, per client address. A client with failures gets at most one password
 * check per delay, and the delay doubles with each failure (from BASE_MS up to MAX_MS); the
 * failed answer itself waits for it too. Parallel attempts queue behind each other, so opening
 * more connections does not help. Failures are forgotten FORGET_MS after the last one. Clients
 * without failures, and requests answered from the credential cache, never wait.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface ThrottleClock {
  now(): number;
  sleep(ms: number): Promise<unknown>;
}

const systemThrottleClock: ThrottleClock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

const BASE_MS = 250;
const MAX_MS = 8000;
const FORGET_MS = 15 * 60_000;
/** Most clients remembered; the longest-quiet ones are forgotten first. */
const MAX_CLIENTS = 10_000;

const delayAfter = (failures: number): number => Math.min(BASE_MS * 2 ** (failures - 1), MAX_MS);

interface ClientState {
  failures: number;
  lastFailure: number;
  /** Earliest time of this client's next password check. */
  nextSlot: number;
}

export class LoginThrottle {
  private readonly clients = new Map<string, ClientState>();

  constructor(private readonly clock: ThrottleClock = systemThrottleClock) {}

  /** Current delay between checks for `client` (0 without failures). */
  delayFor(client: string): number {
    const state = this.state(client);
    return state ? delayAfter(state.failures) : 0;
  }

  /** Waits for the client's turn to have a password checked. */
  async turn(client: string): Promise<void> {
    const state = this.state(client);
    if (!state) return;
    const now = this.clock.now();
    const at = Math.max(now, state.nextSlot);
    state.nextSlot = at + this.delayFor(client);
    if (at > now) await this.clock.sleep(at - now);
  }

  /** Records a failure and waits out its delay before the client is answered. */
  async failed(client: string): Promise<void> {
    const now = this.clock.now();
    const state = this.state(client) ?? { failures: 0, lastFailure: now, nextSlot: now };
    state.failures++;
    state.lastFailure = now;
    state.nextSlot = Math.max(state.nextSlot, now) + delayAfter(state.failures);
    this.clients.delete(client);
    this.clients.set(client, state);
    if (this.clients.size > MAX_CLIENTS) this.clients.delete(this.clients.keys().next().value!);
    await this.clock.sleep(state.nextSlot - now);
  }

  private state(client: string): ClientState | undefined {
    const state = this.clients.get(client);
    if (state && this.clock.now() - state.lastFailure > FORGET_MS) {
      this.clients.delete(client);
      return undefined;
    }
    return state;
  }
}
