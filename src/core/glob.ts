/**
 * Path patterns of a partial fetch (`dv pull 'data/images/train/**'`), matched component by
 * component: `*` and `?` stay inside one component, `[abc]`/`[a-z]`/`[!x]` is one character of a
 * class, `**` as a whole component is any number of components (none included).
 *
 * Invariants: pure; matching is iterative and linear in the path times the pattern (no
 * backtracking regular expressions built from user text, so no pattern costs exponential time).
 */

/** Whether `s` holds a glob character (a path with none names one entry). */
export const isGlob = (s: string): boolean => /[*?[]/.test(s);

/** Whether one component matches one pattern component (no `/` in either). */
export function matchComponent(pat: string, name: string): boolean {
  // Iterative wildcard matching with one saved star position: O(|pat| * |name|) at worst.
  let p = 0;
  let n = 0;
  let star = -1;
  let mark = 0;
  while (n < name.length) {
    const c = pat[p];
    if (c === '*') {
      star = p++;
      mark = n;
      continue;
    }
    if (p < pat.length) {
      const step = one(pat, p, name[n]);
      if (step > 0) {
        p += step;
        n++;
        continue;
      }
    }
    if (star < 0) return false;
    p = star + 1;
    n = ++mark;
  }
  while (pat[p] === '*') p++;
  return p === pat.length;
}

/** Length of the pattern item at `p` when it matches character `ch`, else 0. */
function one(pat: string, p: number, ch: string): number {
  const c = pat[p];
  if (c === '?') return 1;
  if (c !== '[') return c === ch ? 1 : 0;
  const close = pat.indexOf(']', p + 2);
  if (close < 0) return ch === '[' ? 1 : 0;
  let body = pat.slice(p + 1, close);
  const negate = body.startsWith('!') || body.startsWith('^');
  if (negate) body = body.slice(1);
  let hit = false;
  for (let i = 0; i < body.length; i++) {
    if (body[i + 1] === '-' && i + 2 < body.length) {
      if (ch >= body[i] && ch <= body[i + 2]) hit = true;
      i += 2;
    } else if (body[i] === ch) hit = true;
  }
  return hit !== negate ? close - p + 1 : 0;
}

/**
 * Whether `path` matches the pattern (both as components). `prefix`: whether some path below
 * `path` could still match (a directory worth descending into).
 */
export function matchPath(pat: string[], path: string[], prefix = false): boolean {
  // States: positions in the pattern reachable after the components read so far.
  let states = new Set<number>([0]);
  const close = (s: Set<number>): Set<number> => {
    // `**` may match nothing: the position after it is reachable too.
    for (const i of [...s]) for (let k = i; k < pat.length && pat[k] === '**'; k++) s.add(k + 1);
    return s;
  };
  states = close(states);
  for (const name of path) {
    const next = new Set<number>();
    for (const i of states) {
      if (i >= pat.length) continue;
      if (pat[i] === '**') next.add(i);
      else if (matchComponent(pat[i], name)) next.add(i + 1);
    }
    states = close(next);
    if (states.size === 0) return false;
  }
  if (prefix) return [...states].some((i) => i < pat.length);
  return states.has(pat.length);
}
