// Where the service's log lines go: stdout, in one of two formats. JSON (pino's own: one object a
// line, `time` in epoch milliseconds) is what containers and log shippers read; pretty lines
// (pino-pretty's formatter: local time, level, message, the fields on one line) are for a person
// at a terminal. Either way stdout is written asynchronously, so a slow reader of stdout (a full
// pipe to a log shipper) cannot block the event loop, and main.ts flushes it before exiting.
import { pino, type DestinationStream } from 'pino';
import type { Config } from './config.ts';

export type LogFormat = 'json' | 'pretty';

export interface LogStream extends DestinationStream {
  /** Resolves once every line written so far is on stdout. */
  flush(): Promise<void>;
  /**
   * Writes what is buffered, synchronously: for an exit that cannot wait (the 'exit' event). A
   * write already in flight is not waited for, so call flush() first where the exit can wait.
   */
  flushSync(): void;
}

/** SonicBoom emits 'drain' when it has nothing left to write; an empty write makes it check. */
function flushed(stdout: ReturnType<typeof pino.destination>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stdout.off('drain', done).off('error', done);
      resolve();
    };
    stdout.once('drain', done).once('error', done);
    stdout.write('');
  });
}

/** LOG_FORMAT=auto is pretty when stdout is a terminal (`npm start` in a shell), else JSON. */
export function logFormatFor(setting: Config['logFormat'], stdoutIsTerminal: boolean): LogFormat {
  if (setting === 'auto') return stdoutIsTerminal ? 'pretty' : 'json';
  return setting;
}

/** A stream of pino lines to stdout (fd 1) in `format`; pino-pretty is loaded only when used. */
export async function stdoutLogStream(format: LogFormat): Promise<LogStream> {
  // Under the 8x overload asynchronous writes did not make writing cheaper (fs.write still took
  // 12-17% of the event loop in profiles), but lines written while a write is in flight go out together.
  const stdout = pino.destination({ dest: 1, sync: false });
  const flush = () => flushed(stdout);
  const flushSync = () => stdout.flushSync();
  if (format === 'json') return { write: (line: string) => void stdout.write(line), flush, flushSync };
  const { prettyFactory } = await import('pino-pretty');
  // Colours only where pino-pretty detects a terminal that shows them (not in a pipe or a file).
  const prettify = prettyFactory({
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service,reqId',
  });
  return { write: (line: string) => void stdout.write(prettify(line)), flush, flushSync };
}
