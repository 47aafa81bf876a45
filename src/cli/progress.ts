/** Progress bars on a TTY only; nothing when piped, with -q, or with --json. */
import { createRequire } from 'node:module';
import type * as CliProgress from 'cli-progress';

export interface Progress {
  update(done: number, detail?: { bytes?: number; files?: number }): void;
  stop(): void;
}

const NOOP: Progress = { update: () => undefined, stop: () => undefined };

function human(n: number): string {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${u[i]}`;
}

/** Where a bar is drawn: a terminal stream (a bar is only drawn when `isTTY`). */
export interface BarStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** A bar (or spinner-like counter when `total` is unknown) on `stream`, started lazily after 300 ms. */
export function progress(label: string, enabled: boolean, stream: BarStream, total?: number): Progress {
  if (!enabled || !stream.isTTY) return NOOP;
  const started = Date.now();
  let bar: CliProgress.SingleBar | undefined;
  const t0 = Date.now();
  return {
    update(done, detail) {
      if (!bar) {
        if (Date.now() - started < 300) return;
        // Loaded only once a bar is due (a TTY, 300 ms in).
        const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
        bar = new cliProgress.SingleBar(
          {
            stream: stream as NodeJS.WriteStream,
            format: total ? `${label} [{bar}] {percentage}% {value}/{total} {extra}` : `${label} {value} {extra}`,
            hideCursor: true,
            clearOnComplete: true,
            noTTYOutput: false,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total ?? 0, 0, { extra: '' });
      }
      const secs = Math.max((Date.now() - t0) / 1000, 0.001);
      const extra = detail?.bytes !== undefined ? `${human(detail.bytes)} ${human(detail.bytes / secs)}/s` : '';
      bar.update(done, { extra });
    },
    stop() {
      bar?.stop();
    },
  };
}

export { human };

/** "1 object", "2 objects". */
export function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
