/**
 * Where the `fastdav` command's log goes: standard output, written so that nothing that happens to
 * it can stop or crash the server (issue 11 item 3). pino's default destination retries a failing
 * write forever in a synchronous loop when the process exits (a closed pipe: EPIPE every 100 ms,
 * deaf to SIGTERM). This one:
 * - writes asynchronously (sonic-boom), so a reader that stops reading never blocks a request;
 * - keeps at most MAX_BUFFERED bytes waiting and drops lines beyond (counted, reported once the
 *   sink drains), so a stalled reader cannot exhaust memory;
 * - stops writing for good when the reader has gone (EPIPE), and never throws;
 * - registers no exit handler: the command flushes it with a time limit (flushWithin) before it exits.
 * Standard output and error themselves get an error listener for the same reason: a closed pipe
 * makes their writes fail asynchronously, which would otherwise end the process.
 */
import type { SonicBoom } from 'sonic-boom';
import sonicBoom from 'sonic-boom';

// The package is CommonJS: at run time its default export is the class (its types say so only by name).
const SonicBoomClass = sonicBoom as unknown as typeof SonicBoom;

const MAX_BUFFERED = 16 * 1024 * 1024;

export interface LogSink {
  readonly stream: SonicBoom;
  /** Writes out what is buffered, for at most `ms` milliseconds. */
  flushWithin(ms: number): Promise<void>;
}

const ignore = (): void => undefined;

/** Makes writes to a closed stdout/stderr harmless (the message is lost, the process lives). */
export function tolerateClosedStdio(): void {
  process.stdout.on('error', ignore);
  process.stderr.on('error', ignore);
}

export function stdoutLogSink(): LogSink {
  const stream = new SonicBoomClass({ fd: 1, sync: false, maxLength: MAX_BUFFERED });
  let gone = false;
  let dropped = 0;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    // The reader has gone (EPIPE) or the descriptor failed: nothing can be logged any more.
    gone = true;
    stream.write = () => true;
    if (err.code !== 'EPIPE') process.stderr.write(`fastdav: the log on standard output failed (${err.code ?? err.message}); logging stops\n`);
  });
  stream.on('drop', () => {
    dropped++;
  });
  stream.on('write', () => {
    if (dropped === 0 || gone) return;
    const lost = dropped;
    dropped = 0;
    stream.write(`${JSON.stringify({ level: 40, time: Date.now(), msg: 'log lines dropped: standard output was not read', dropped: lost })}\n`);
  });
  return {
    stream,
    flushWithin: (ms) =>
      new Promise<void>((resolve) => {
        // sonic-boom's flush() answers at once when minLength is 0, even while a write is under
        // way, and the process would then exit with its last lines (`"stopped"`) unwritten. So
        // wait for 'drain' (the buffer written out), or for the limit, whichever comes first.
        const state = stream as unknown as { _writing: boolean; _len: number };
        if (gone || (!state._writing && state._len === 0)) return resolve();
        const done = (): void => {
          clearTimeout(timer);
          stream.off('drain', done);
          stream.off('error', done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        timer.unref();
        stream.once('drain', done);
        stream.once('error', done);
      }),
  };
}
