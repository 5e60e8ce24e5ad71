/**
 * How far the V8 heap may grow between full collections in a process that serves (cli.ts).
 *
 * V8 sets the old generation's limit at the live size times a factor it derives from how fast
 * the program allocates against how fast it collects; by our reading of its heuristics the limit
 * is also reached by external memory (Buffers) allocated since the last full collection. A
 * server that relays bytes makes Buffers fast (node:http gives a 1 GiB GET from object storage
 * as ~16,000 fresh 64 KiB Buffers) and keeps little alive, and V8 could stay at a factor so
 * small that it ran a full collection every ~100 ms: 14-58 per GiB and 1.4-3.0 CPU seconds per
 * GiB instead of 1.0, worst right after a big PUT (test/bench/NOTES.md, "the collector"). With
 * the factor fixed at 3 the same GETs ran 0-1 full collections; the process's peak memory over
 * two 1 GiB PUTs and three GETs stayed the same (~195 MB, the PUTs' part buffers dominate).
 * An operator's own `--heap-growing-percent` (node's flag) is left as it is.
 */
import v8 from 'node:v8';

/** Old generation's growth allowed over the live size, in percent (V8's flag; 0 lets V8 choose). */
export const HEAP_GROWING_PERCENT = 200;

/**
 * The V8 flag to set, or undefined when the operator gave node one on its command line (node
 * refuses this flag in NODE_OPTIONS, so the command line is the only place to look).
 */
export function heapGrowthFlag(execArgv: readonly string[]): string | undefined {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))) return undefined;
  return `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

/** Applies heapGrowthFlag to this process (V8 reads it each time it sets a new limit). */
export function tuneHeapGrowth(): void {
  const flag = heapGrowthFlag(process.execArgv);
  if (flag) v8.setFlagsFromString(flag);
}
