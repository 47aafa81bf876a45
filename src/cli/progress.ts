/**
 * Progress bars on a TTY only; nothing when piped, with -q, or with --json.
 *
 * What a bar says is one pure function (`renderLine`: state to line): the phase, done/total
 * items and bytes, the percentage, the rate and the ETA, and the latest retry of a remote
 * request. Totals come from the ops through the progress callbacks, known before the transfer
 * starts; without one the line shows counts and rate only, never a made-up percentage. A new
 * phase (pull: fetch, then checkout) is named on the line and restarts the rate clock. While a
 * bar is drawn, a retry line goes onto it (`retryLine`) instead of breaking it on stderr.
 * cli-progress draws (throttled, the cursor hidden, cut to the terminal's width, cleared at the end).
 */
import { createRequire } from 'node:module';
import type * as CliProgress from 'cli-progress';

/** Where a command is and what it knows of the whole (totals known before the work starts). */
export interface ProgressDetail {
  bytes?: number;
  /** Items (files, objects) in all; undefined when not known beforehand. */
  total?: number;
  totalBytes?: number;
  /** A new phase (`checkout`): named on the line; its counts and rate start afresh. */
  phase?: string;
  /** What the phase counts, when not the bar's unit. */
  unit?: string;
}

export interface Progress {
  update(done: number, detail?: ProgressDetail): void;
  stop(): void;
}

/** What one line of a bar shows. */
export interface ProgressState {
  phase: string;
  /** What is counted: `files`, `objects`. */
  unit: string;
  done: number;
  total?: number;
  bytes?: number;
  totalBytes?: number;
  /** Since the phase started. */
  elapsedMs: number;
  /** The latest retry (`retrying s3://… (2/6): SlowDown`), while it is fresh. */
  note?: string;
}

const NOOP: Progress = { update: () => undefined, stop: () => undefined };
/** Narrow enough that an 80-column terminal shows the rate and ETA of a long phase name. */
const BAR_WIDTH = 12;
/** How long a retry stays on the bar after it was told. */
const NOTE_MS = 10_000;

export function human(n: number): string {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${u[i]}`;
}

/** `45s`, `3m05s`, `2h10m`. */
export function duration(secs: number): string {
  const s = Math.max(0, Math.round(secs));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The fraction done: by bytes when their total is known (files differ in size), else by items; undefined without totals. */
function fraction(s: ProgressState): number | undefined {
  if (s.totalBytes !== undefined && s.totalBytes > 0 && s.bytes !== undefined) return Math.min(1, s.bytes / s.totalBytes);
  if (s.total !== undefined && s.total > 0) return Math.min(1, s.done / s.total);
  if (s.total === 0 || s.totalBytes === 0) return 1;
  return undefined;
}

/** One line of a bar: pure (the same state gives the same line), cut to `width` characters when given. */
export function renderLine(s: ProgressState, width?: number): string {
  const secs = Math.max(s.elapsedMs / 1000, 0.001);
  const f = fraction(s);
  const parts = [s.phase];
  if (f !== undefined) {
    const full = Math.round(f * BAR_WIDTH);
    parts.push(`[${'#'.repeat(full)}${'-'.repeat(BAR_WIDTH - full)}]`, `${Math.floor(f * 100)}%`);
  }
  parts.push(s.total !== undefined ? `${s.done}/${s.total} ${s.unit}` : `${s.done} ${s.unit}`);
  if (s.bytes !== undefined) parts.push(s.totalBytes !== undefined ? `${human(s.bytes)}/${human(s.totalBytes)}` : human(s.bytes));
  const rate = s.bytes !== undefined ? s.bytes / secs : s.done / secs;
  parts.push(s.bytes !== undefined ? `${human(rate)}/s` : `${rate.toFixed(rate < 10 ? 1 : 0)} ${s.unit}/s`);
  // The ETA from the rate of whatever the fraction counts; none before there is a rate to go by.
  if (f !== undefined && f < 1 && f > 0 && s.elapsedMs >= 1000) parts.push(`ETA ${duration((secs * (1 - f)) / f)}`);
  if (s.note) parts.push(`| ${s.note}`);
  const line = parts.join(' ');
  return width !== undefined && line.length > width ? `${line.slice(0, Math.max(0, width - 1))}…` : line;
}

/** Where a bar is drawn: a terminal stream (a bar is only drawn when `isTTY`). */
export interface BarStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** The bar drawn on each stream right now, for `retryLine`. */
const drawn = new Map<BarStream, (note: string) => void>();

/** A retry (or any passing remark) while a command runs: onto the bar drawn on `stream`, else a line of its own. */
export function retryLine(stream: BarStream, text: string): void {
  const onBar = drawn.get(stream);
  if (onBar) onBar(text);
  else stream.write(`${text}\n`);
}

/**
 * A bar on `stream` counting `unit`, started lazily after 300 ms (a quick command draws nothing;
 * `DV_PROGRESS_DELAY` in milliseconds changes that, as git's GIT_PROGRESS_DELAY does).
 * `now` is the clock (tests give their own).
 */
export function progress(label: string, enabled: boolean, stream: BarStream, unit = 'files', now: () => number = Date.now): Progress {
  if (!enabled || !stream.isTTY) return NOOP;
  const started = now();
  const delayMs = Number(process.env.DV_PROGRESS_DELAY ?? 300) || 0;
  const state: ProgressState = { phase: label, unit, done: 0, elapsedMs: 0 };
  let phaseStart = started;
  let lastUpdate = started;
  let note: { text: string; at: number } | undefined;
  let bar: CliProgress.SingleBar | undefined;
  const refresh = (): void => {
    state.elapsedMs = now() - phaseStart;
    state.note = note && now() - note.at < NOTE_MS ? note.text : undefined;
    bar?.update(state.done);
  };
  const start = (): void => {
    // Loaded only once a bar is due (a TTY, 300 ms in).
    const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
    bar = new cliProgress.SingleBar({
      stream: stream as NodeJS.WriteStream,
      // maxWidth: the terminal's columns (a line wider than them would wrap and scroll).
      format: (_o, params) => renderLine(state, (params as { maxWidth?: number }).maxWidth),
      hideCursor: true,
      clearOnComplete: true,
      noTTYOutput: false,
    });
    bar.start(1, 0);
    drawn.set(stream, (text) => {
      note = { text, at: now() };
      refresh();
    });
  };
  return {
    update(done, detail = {}) {
      if (detail.phase !== undefined && `${label}: ${detail.phase}` !== state.phase) {
        state.phase = `${label}: ${detail.phase}`;
        // What this first update counts was done since the last one: the phase began then.
        phaseStart = lastUpdate;
        state.total = state.bytes = state.totalBytes = undefined;
      }
      state.done = done;
      if (detail.unit !== undefined) state.unit = detail.unit;
      if (detail.bytes !== undefined) state.bytes = detail.bytes;
      if (detail.total !== undefined) state.total = detail.total;
      if (detail.totalBytes !== undefined) state.totalBytes = detail.totalBytes;
      if (!bar && now() - started >= delayMs) start();
      refresh();
      lastUpdate = now();
    },
    stop() {
      if (drawn.get(stream) && bar) drawn.delete(stream);
      bar?.stop();
    },
  };
}

/** "1 object", "2 objects". */
export function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
