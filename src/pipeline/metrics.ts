/** Metrics files (JSON or YAML written by a stage): their scalar values by dotted key. Pure. */
import { parseYaml } from './spec.js';

export type MetricValues = Record<string, string | number | boolean | null>;

/** The scalars of a metrics file, by dotted key (`eval.acc`, `losses.0`); null when it does not parse. */
export function metricValues(text: string, file: string): MetricValues | null {
  let doc: unknown;
  try {
    doc = parseYaml(text, file);
  } catch {
    return null;
  }
  const out: MetricValues = {};
  const walk = (v: unknown, key: string): void => {
    if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, key ? `${key}.${k}` : k);
    } else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) {
      if (key) out[key] = v;
    }
  };
  walk(doc, '');
  return out;
}

/** `acc=0.91, loss=0.2` (at most `max` values). */
export function formatMetrics(v: MetricValues | null, max = 8): string {
  if (v === null) return '(not JSON or YAML)';
  const e = Object.entries(v);
  return (
    e
      .slice(0, max)
      .map(([k, x]) => `${k}=${JSON.stringify(x)}`)
      .join(', ') + (e.length > max ? `, ... (${e.length - max} more)` : '')
  );
}
