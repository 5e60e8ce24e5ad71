/**
 * Crash points for the crash-safety tests (as PostgreSQL's injection points): with the
 * environment variable FASTDAV_TEST_CRASH_AT naming one, the process kills itself with SIGKILL
 * (no handler, no flush: what `kill -9` or a power cut does) when it gets there, so a test can
 * stop a real server between a filesystem step and the metadata update that follows it. Unset,
 * a crash point costs one comparison.
 */
const CRASH_AT = process.env['FASTDAV_TEST_CRASH_AT'];

export function crashPoint(name: string): void {
  if (CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}
