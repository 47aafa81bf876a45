/**
 * How a version's files and directories look over HTTP (`dv serve`): byte ranges, content types,
 * an HTML directory listing, and a WebDAV multistatus (RFC 4918) for PROPFIND. Pure: no I/O.
 *
 * Invariants:
 * - every name from a tree (untrusted: it came with a clone or a remote) is escaped for HTML or
 *   XML, and percent-encoded segment by segment in an href, so a name cannot inject markup or
 *   change which path a link names;
 * - a file is never served with a type a browser would run (HTML, SVG, JavaScript): data from a
 *   clone must not get script into the server's origin; text is text/plain.
 */

/** One entry of a listing; `path` is the URL path of the entry, without its trailing slash. */
export interface HttpEntry {
  name: string;
  type: 'file' | 'dir' | 'link';
  size?: number;
  id?: string;
  files?: number;
  target?: string;
}

export type RangeAnswer = { start: number; end: number } | 'all' | 'unsatisfiable';

/**
 * A `Range` header against a file of `size` bytes (RFC 9110 §14): one range `a-b`, `a-` or `-n`
 * is served; several ranges, or a header that does not parse, are answered with the whole file
 * (the RFC lets a server ignore Range); a range past the end is unsatisfiable (416).
 */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return 'all';
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '') || m[1].length > 15 || m[2].length > 15) return 'all';
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return 'all';
  if (start >= size) return 'unsatisfiable';
  return { start, end: last + 1 };
}

const TYPES: Record<string, string> = {
  txt: 'text/plain; charset=utf-8',
  csv: 'text/plain; charset=utf-8',
  tsv: 'text/plain; charset=utf-8',
  md: 'text/plain; charset=utf-8',
  json: 'application/json',
  yaml: 'text/plain; charset=utf-8',
  yml: 'text/plain; charset=utf-8',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  parquet: 'application/vnd.apache.parquet',
  gz: 'application/gzip',
  zip: 'application/zip',
};

/** The Content-Type of a file by its extension; never one a browser runs (see the header). */
export function contentType(name: string): string {
  const dot = name.lastIndexOf('.');
  return (dot > 0 && TYPES[name.slice(dot + 1).toLowerCase()]) || 'application/octet-stream';
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe inside HTML or XML content and attributes; C0 controls (not allowed in XML 1.0) as U+FFFD. */
export function escapeMarkup(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '\ufffd');
}

/** A URL path from its segments, each percent-encoded (a `/` or `?` inside a name stays inside it). */
export function hrefOf(segments: string[], dir: boolean): string {
  const p = `/${segments.map(encodeURIComponent).join('/')}`;
  return dir && p !== '/' ? `${p}/` : p;
}

const human = (n: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
};

/** An HTML page listing one directory of a version; `base` holds the directory's URL segments. */
export function htmlListing(title: string, base: string[], entries: HttpEntry[]): string {
  const rows = entries.map((e) => {
    const href = hrefOf([...base, e.name], e.type === 'dir');
    const name = escapeMarkup(e.name) + (e.type === 'dir' ? '/' : '');
    const what =
      e.type === 'link'
        ? `link to ${escapeMarkup(e.target ?? '')}`
        : e.type === 'dir'
          ? `${e.files ?? 0} files, ${human(e.size ?? 0)}`
          : human(e.size ?? 0);
    const cell = e.type === 'link' ? name : `<a href="${escapeMarkup(href)}">${name}</a>`;
    return `<tr><td>${cell}</td><td>${what}</td><td><code>${escapeMarkup((e.id ?? '').slice(0, 12))}</code></td></tr>`;
  });
  const up = base.length > 0 ? `<p><a href="${escapeMarkup(hrefOf(base.slice(0, -1), true))}">../</a></p>` : '';
  return [
    '<!doctype html><html><head><meta charset="utf-8">',
    `<title>${escapeMarkup(title)}</title>`,
    '<style>body{font-family:sans-serif;margin:2em}td{padding:2px 12px}code{color:#555}</style>',
    `</head><body><h1>${escapeMarkup(title)}</h1>${up}`,
    '<table><tr><th align="left">name</th><th align="left">size</th><th align="left">id</th></tr>',
    ...rows,
    '</table></body></html>\n',
  ].join('\n');
}

/** One `<D:response>` of a multistatus: the entry at `segments`. */
function davResponse(segments: string[], e: HttpEntry, modified: string): string {
  const props =
    e.type === 'dir'
      ? '<D:resourcetype><D:collection/></D:resourcetype>'
      : `<D:resourcetype/><D:getcontentlength>${e.size ?? 0}</D:getcontentlength>` +
        `<D:getcontenttype>${escapeMarkup(contentType(e.name))}</D:getcontenttype>` +
        (e.id ? `<D:getetag>"${escapeMarkup(e.id)}"</D:getetag>` : '');
  return (
    `<D:response><D:href>${escapeMarkup(hrefOf(segments, e.type === 'dir'))}</D:href><D:propstat><D:prop>` +
    `<D:displayname>${escapeMarkup(e.name)}</D:displayname>${props}<D:getlastmodified>${modified}</D:getlastmodified>` +
    '</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>'
  );
}

/**
 * The multistatus body of a PROPFIND: the resource itself (`self`, at `base`) and, for a
 * directory at depth 1, its entries. Links are left out: WebDAV has no symbolic links.
 */
export function davMultistatus(base: string[], self: HttpEntry, children: HttpEntry[], modified: Date): string {
  const when = modified.toUTCString();
  const parts = ['<?xml version="1.0" encoding="utf-8"?>', '<D:multistatus xmlns:D="DAV:">', davResponse(base, self, when)];
  for (const c of children) if (c.type !== 'link') parts.push(davResponse([...base, c.name], c, when));
  parts.push('</D:multistatus>\n');
  return parts.join('\n');
}
