/**
 * Waits for `work` at most `ms` milliseconds; `work` goes on regardless and its failure is
 * ignored. For the clean-up after a failed write (abort a multipart upload, delete the new
 * object): against a store that answers it is done before the client hears of the failure;
 * one that hangs does not hold the answer (nor outlast the connection's idle timeout), and the
 * sweep (gc.ts) finishes whatever the clean-up could not.
 */
export async function waitAtMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.then(noop, noop), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

const noop = (): void => undefined;

/** How long a failed write's answer waits for its clean-up (waitAtMost). */
export const CLEANUP_WAIT_MS = 1000;
