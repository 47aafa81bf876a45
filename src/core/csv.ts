/**
 * The rows of CSV or TSV text, as RFC 4180 reads them: a field in double quotes may hold the
 * separator, line breaks and `""` for a quote; `\r\n` and `\n` end a row; a blank line is no row.
 * Pure. Shared by metrics files (pipeline/metrics.ts) and plot data (pipeline/plots-data.ts).
 *
 * Invariants: the text may come from a clone, so a row of more than `maxFields` fields or more
 * than `maxRows` rows stops the read with the caller's error (which names the file); one pass, no
 * recursion.
 */

export interface CsvLimits {
  maxFields: number;
  maxRows: number;
  /** The error thrown when a limit is crossed. */
  tooBig: (what: 'fields' | 'rows') => Error;
}

export function csvSplit(text: string, sep: string, limits: CsvLimits): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cur = '';
  let q = false;
  const field = (): void => {
    row.push(cur);
    cur = '';
    if (row.length > limits.maxFields) throw limits.tooBig('fields');
  };
  const end = (): void => {
    field();
    if (row.length > 1 || row[0].trim() !== '') rows.push(row);
    if (rows.length > limits.maxRows) throw limits.tooBig('rows');
    row = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === sep) field();
    else if (c === '\n') end();
    else if (c !== '\r') cur += c;
  }
  if (cur !== '' || row.length > 0) end();
  return rows;
}
