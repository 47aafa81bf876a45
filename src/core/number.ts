/**
 * Counts and durations written as text (command-line options, config values): one parser, so
 * every `-j`, `-n`, `--keep-days` and `remote.NAME.jobs` refuses bad values the same way.
 */
export interface NumberRule {
  /** The smallest value accepted. */
  min: number;
  /** Whole numbers only (counts); otherwise decimals too (seconds, days). */
  whole: boolean;
  /** The largest value accepted (a committed config must not set a wait of days or a million jobs). */
  max?: number;
}

/** A count of 1 or more: jobs, snapshots to show. */
export const COUNT: NumberRule = { min: 1, whole: true };

/**
 * The number `text` spells, or undefined when it breaks `rule`. Plain decimal digits only: no
 * sign, exponent, hex or spaces, which `Number()` would quietly accept or turn into 0.
 */
export function parseNumber(text: string, rule: NumberRule): number | undefined {
  if (!(rule.whole ? /^\d+$/ : /^\d+(\.\d+)?$/).test(text)) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < rule.min || (rule.whole && !Number.isSafeInteger(n))) return undefined;
  if (rule.max !== undefined && n > rule.max) return undefined;
  return n;
}

/** What to give instead, for messages: "a whole number of 1 or more". */
export function numberHint(rule: NumberRule): string {
  const what = rule.whole ? 'a whole number' : 'a number';
  return rule.max === undefined ? `${what} of ${rule.min} or more` : `${what} from ${rule.min} to ${rule.max}`;
}
