/**
 * A thread that makes filesystem metadata calls for FsCalls (fs-calls.ts) while the disk is slow:
 * one message per call in, one answer out ([id, true, value] or [id, false, error fields]).
 * Stats and directory entries travel as plain fields (structured clone keeps no classes).
 * It never opens files: Node closes what a worker opened when the worker stops.
 */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';

export type CallOp = 'stat' | 'lstat' | 'fstat' | 'realpath' | 'readdir' | 'mkdir' | 'rmdir' | 'unlink' | 'rename' | 'utimes';

/** The fields of a Stats that the filesystem backend reads. */
export interface StatFields {
  readonly mode: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly birthtimeMs: number;
  readonly ctimeMs: number;
}

const statFields = (st: fs.Stats): StatFields => ({ mode: st.mode, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, birthtimeMs: st.birthtimeMs, ctimeMs: st.ctimeMs });

/** Type bits of a directory entry, as in a stat's mode. */
const direntMode = (d: fs.Dirent): number =>
  d.isFile() ? fs.constants.S_IFREG : d.isDirectory() ? fs.constants.S_IFDIR : d.isSymbolicLink() ? fs.constants.S_IFLNK : 0;

function run(op: CallOp, a: unknown[]): unknown {
  switch (op) {
    case 'stat': {
      const st = fs.statSync(a[0] as string, { throwIfNoEntry: false });
      return st && statFields(st);
    }
    case 'lstat': return statFields(fs.lstatSync(a[0] as string));
    case 'fstat': return statFields(fs.fstatSync(a[0] as number));
    case 'realpath': return fs.realpathSync.native(a[0] as string);
    case 'readdir': return fs.readdirSync(a[0] as string, { withFileTypes: true }).map((d) => [d.name, direntMode(d)]);
    case 'mkdir': return void fs.mkdirSync(a[0] as string);
    case 'rmdir': return fs.rmdirSync(a[0] as string);
    case 'unlink': return fs.unlinkSync(a[0] as string);
    case 'rename': return fs.renameSync(a[0] as string, a[1] as string);
    case 'utimes': return fs.utimesSync(a[0] as string, a[1] as number, a[2] as number);
  }
}

parentPort?.on('message', ([id, op, args]: [number, CallOp, unknown[]]) => {
  try {
    parentPort!.postMessage([id, true, run(op, args)]);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    parentPort!.postMessage([id, false, { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path }]);
  }
});
