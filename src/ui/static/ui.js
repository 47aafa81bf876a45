// dv ui: the page's one script (no framework, no build step). It reads JSON from /api/* and
// draws four views. Every name, path, message and command comes from the repository (a clone:
// untrusted), so it reaches the page only as text (textContent, createTextNode, SVG text nodes),
// never as markup. Charts are vega-lite specs drawn by vega-embed with the SVG renderer; the
// views are kept on window.dvViews so tests and a curious user can inspect them.

const SVG = 'http://www.w3.org/2000/svg';
window.dvViews = { metrics: [] };

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = String(v);
    else if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== undefined && c !== null) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

const short = (id) => (id ? String(id).slice(0, 10) : '');
const human = (n) => {
  if (typeof n !== 'number') return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
};
const badge = (type) => el('span', { class: `badge ${type}`, text: type });

function showError(message) {
  const p = document.getElementById('error');
  p.textContent = message;
  p.hidden = false;
}

async function api(path, params) {
  const q = new URLSearchParams(params || {}).toString();
  const r = await fetch(`/api/${path}${q ? `?${q}` : ''}`, { headers: { Accept: 'application/json' } });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

// ---- Commits -------------------------------------------------------------------------------

const commitsState = { offset: 0 };

function pathRow(p) {
  const size = p.before && p.size !== undefined ? `${human(p.before.size)} → ${human(p.size)}` : human(p.size ?? p.before?.size);
  const files = p.before && p.files !== undefined ? `${p.before.files} → ${p.files}` : String(p.files ?? p.before?.files ?? '');
  return el(
    'tr',
    {},
    el('td', {}, el('code', { text: p.path })),
    el('td', {}, badge(p.status)),
    el('td', { class: 'id', title: p.snapshot || '', text: short(p.snapshot) }),
    el('td', { class: 'num', text: files }),
    el('td', { class: 'num', text: size }),
  );
}

async function showChangedFiles(c, box) {
  box.replaceChildren(el('span', { class: 'hint', text: 'loading…' }));
  try {
    const d = await api('diff', { a: c.parents[0], b: c.commit, limit: 100 });
    const rows = d.items.map((x) =>
      el(
        'tr',
        {},
        el('td', {}, badge(x.type)),
        el('td', {}, el('code', { text: x.path })),
        el('td', { class: 'num', text: human(x.size) }),
      ),
    );
    const more = d.more ? [el('p', { class: 'hint', text: `… and ${d.total - d.items.length} more: see the Dataset diff view` })] : [];
    box.replaceChildren(
      el('p', { class: 'meta', text: `${d.counts.added} added, ${d.counts.modified} modified, ${d.counts.deleted} deleted` }),
      el('table', { class: 'files' }, ...rows),
      ...more,
    );
  } catch (e) {
    box.replaceChildren(el('span', { class: 'error', text: e.message }));
  }
}

function commitCard(c) {
  const changed = c.paths.filter((p) => p.status !== 'unchanged');
  const box = el('div', { class: 'changed-files' });
  const filesButton =
    changed.length > 0 && c.parents.length > 0
      ? el('button', { class: 'link', text: 'files', onclick: () => showChangedFiles(c, box) })
      : null;
  const table =
    c.paths.length > 0
      ? el(
          'table',
          { class: 'paths' },
          el('tr', {}, ...['tracked path', 'change', 'snapshot', 'files', 'size'].map((h) => el('th', { text: h }))),
          ...c.paths.map(pathRow),
        )
      : el('p', { class: 'hint', text: 'no pointer files in this commit' });
  return el(
    'div',
    { class: 'commit', 'data-commit': c.commit },
    el(
      'div',
      { class: 'title' },
      el('code', { title: c.commit, text: c.commit.slice(0, 8) }),
      el('span', { class: 'subject', text: c.subject }),
      el('span', { class: 'meta', text: `${c.author}, ${new Date(c.time).toLocaleString()}` }),
      filesButton,
    ),
    table,
    c.pathsTruncated ? el('p', { class: 'hint', text: 'more tracked paths not shown' }) : null,
    box,
  );
}

async function loadCommits() {
  const page = await api('commits', { offset: commitsState.offset, limit: 30 });
  const list = document.getElementById('commits');
  for (const c of page.items) list.append(commitCard(c));
  commitsState.offset += page.items.length;
  document.getElementById('commits-more').hidden = !page.more;
  // The newest commits that changed data open with their files listed.
  if (page.offset === 0)
    for (const c of page.items.filter((x) => x.parents.length > 0 && x.paths.some((p) => p.status !== 'unchanged')).slice(0, 3)) {
      const card = list.querySelector(`[data-commit="${c.commit}"] .changed-files`);
      if (card) await showChangedFiles(c, card);
    }
  window.dvCommitsReady = true;
}

// ---- Pipeline ------------------------------------------------------------------------------

function drawDag(d) {
  const g = document.getElementById('dag');
  g.replaceChildren();
  g.setAttribute('width', Math.max(d.width, 100));
  g.setAttribute('height', Math.max(d.height, 60));
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8c959f' }));
  defs.append(marker);
  g.append(defs);
  for (const e of d.edges) {
    if (e.points.length < 2) continue;
    const path = svg('path', {
      class: 'edge',
      d: e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x},${p.y}`).join(' '),
      'marker-end': 'url(#arrow)',
    });
    const title = svg('title');
    title.textContent = `${e.from} → ${e.to}${e.label ? ` (${e.label})` : ''}`;
    path.append(title);
    g.append(path);
    if (e.label && e.labelAt) {
      const label = svg('text', { class: 'edge-label', x: e.labelAt.x, y: e.labelAt.y + 11 });
      label.textContent = e.label.length > 40 ? `${e.label.slice(0, 39)}…` : e.label;
      g.append(label);
    }
  }
  for (const n of d.nodes) {
    const node = svg('g', { class: 'node', 'data-stage': n.id, transform: `translate(${n.x},${n.y})`, tabindex: 0 });
    node.append(svg('rect', { width: n.width, height: n.height }));
    const text = svg('text', { x: n.width / 2, y: n.height / 2 + 4, 'text-anchor': 'middle' });
    text.textContent = n.label.length > 40 ? `${n.label.slice(0, 39)}…` : n.label;
    node.append(text);
    node.addEventListener('click', () => selectStage(n.id));
    node.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') selectStage(n.id);
    });
    g.append(node);
  }
  if (d.nodes.length === 0) {
    const t = svg('text', { x: 10, y: 30 });
    t.textContent = 'no stages in dv.yaml';
    g.append(t);
  }
}

const kv = (rows) => el('table', {}, ...rows.map(([k, v]) => el('tr', {}, el('td', {}, el('code', { text: k })), el('td', { text: v }))));

function paramRows(params) {
  const rows = [];
  for (const [file, keys] of Object.entries(params || {}))
    for (const [k, v] of Object.entries(keys)) rows.push([`${file}:${k}`, JSON.stringify(v)]);
  return rows;
}

function envRows(env) {
  if (!env) return [];
  const rows = [
    ['dv', env.dv],
    ['os', `${env.os} ${env.arch}`],
  ];
  if (env.git)
    rows.push(['code', `${short(env.git.commit)}${env.git.branch ? ` (${env.git.branch})` : ''}${env.git.dirty ? ' dirty' : ''}`]);
  for (const [k, v] of Object.entries(env.tools || {})) rows.push([k, v]);
  for (const [k, v] of Object.entries(env.vars || {})) rows.push([`$${k}`, v]);
  for (const [k, v] of Object.entries(env.lockfiles || {})) rows.push([k, short(v)]);
  if (env.cpu) rows.push(['cpu', env.cpu]);
  return rows;
}

function ioTable(rows, snapshotOf) {
  return el(
    'table',
    {},
    el('tr', {}, el('th', { text: 'path' }), el('th', { text: 'id' }), el('th', { text: 'snapshot' })),
    ...rows.map((r) =>
      el(
        'tr',
        {},
        el('td', {}, el('code', { text: r.path })),
        el('td', { class: 'id', title: r.id, text: short(r.id) }),
        el('td', { class: 'id', title: snapshotOf(r) || '', text: short(snapshotOf(r)) || (r.uncommitted ? 'uncommitted' : '') }),
      ),
    ),
  );
}

async function selectStage(name) {
  for (const n of document.querySelectorAll('#dag .node')) n.classList.toggle('selected', n.getAttribute('data-stage') === name);
  const box = document.getElementById('stage-detail');
  box.replaceChildren(el('span', { class: 'hint', text: 'loading…' }));
  try {
    const v = await api('stage', { name });
    const run = v.lineage?.stages.find((s) => s.name === name);
    const snapshots = new Map((v.lineage?.artifacts || []).map((a) => [`${a.path}\0${a.id}`, a.snapshot]));
    const ver = v.verification;
    const parts = [
      el('h3', { text: name }),
      el('h4', { text: 'command' }),
      el('pre', { class: 'cmd', text: run ? run.cmd : v.stage.cmd }),
      el('h4', { text: 'verification' }),
      el('p', { class: ver.upToDate ? 'ok' : 'warn', text: ver.state.join('; ') }),
      el('p', { class: ver.signed ? 'ok' : 'hint', text: ver.signature }),
    ];
    if (run) {
      parts.push(el('p', { class: 'meta', text: `ran ${new Date(run.ranAt).toLocaleString()}, run key ${short(run.key)}` }));
      parts.push(el('h4', { text: 'params' }), kv(paramRows(run.params)));
      parts.push(
        el('h4', { text: 'inputs' }),
        ioTable(run.inputs, (r) => r.snapshot),
      );
      parts.push(
        el('h4', { text: 'outputs' }),
        ioTable(run.outputs, (r) => snapshots.get(`${r.path}\0${r.id}`)),
      );
      if (run.metrics)
        parts.push(
          el('h4', { text: 'metrics' }),
          kv(run.metrics.flatMap((m) => Object.entries(m.values || {}).map(([k, x]) => [`${m.path}:${k}`, JSON.stringify(x)]))),
        );
      parts.push(el('h4', { text: 'environment' }), kv(envRows(run.env)));
      const upstream = v.lineage.stages.filter((s) => s !== run);
      const raw = v.lineage.artifacts.filter((a) => a.kind === 'raw');
      if (upstream.length || raw.length)
        parts.push(
          el('h4', { text: 'made from (lineage)' }),
          el(
            'ul',
            {},
            ...upstream.map((s) => el('li', {}, el('b', { text: s.name }), ' ', el('code', { text: s.cmd }))),
            ...raw.map((a) =>
              el('li', {}, 'raw data ', el('code', { text: a.path }), ` snapshot ${short(a.snapshot)}`, a.message ? ` (${a.message})` : ''),
            ),
          ),
        );
    } else {
      parts.push(el('p', { class: 'hint', text: v.lineageError || 'no lineage recorded' }));
      parts.push(
        el('h4', { text: 'declared' }),
        kv([...v.stage.deps.map((d) => ['dep', d]), ...v.stage.params.map((p) => ['param', p]), ...v.stage.outs.map((o) => ['out', o])]),
      );
    }
    box.replaceChildren(...parts);
  } catch (e) {
    box.replaceChildren(el('span', { class: 'error', text: e.message }));
  }
}

async function loadPipeline() {
  drawDag(await api('dag'));
}

// ---- Metrics -------------------------------------------------------------------------------

function seriesOf(items) {
  // Oldest commit first; one series per (file, key) with a numeric value.
  const series = new Map();
  items.forEach((c, n) => {
    for (const f of c.files)
      for (const [key, value] of Object.entries(f.values || {})) {
        if (typeof value !== 'number') continue;
        const name = `${f.path}: ${key}`;
        if (!series.has(name)) series.set(name, []);
        series.get(name).push({ n, commit: c.commit.slice(0, 7), subject: c.subject, value });
      }
  });
  return series;
}

async function loadMetrics() {
  const page = await api('metrics', { limit: 100 });
  const items = page.items.slice().reverse();
  const charts = document.getElementById('charts');
  charts.replaceChildren();
  window.dvViews.metrics = [];
  const series = seriesOf(items);
  if (series.size === 0)
    charts.append(
      el('p', { class: 'hint', text: 'no numeric metrics in these commits (metrics files are declared in dv.yaml with -m/-M)' }),
    );
  for (const [name, values] of series) {
    const box = el('div', { class: 'chart', 'data-metric': name });
    charts.append(box);
    const spec = {
      title: name,
      width: 380,
      height: 200,
      data: { values },
      mark: { type: 'line', point: true, tooltip: true },
      encoding: {
        x: { field: 'commit', type: 'ordinal', sort: null, title: 'commit (oldest first)' },
        y: { field: 'value', type: 'quantitative', title: name, scale: { zero: false } },
        tooltip: [{ field: 'commit' }, { field: 'subject' }, { field: 'value', type: 'quantitative' }],
      },
    };
    const r = await window.vegaEmbed(box, spec, { renderer: 'svg', actions: false });
    window.dvViews.metrics.push({ name, view: r.view });
  }
  if (page.more) charts.append(el('p', { class: 'hint', text: 'the latest 100 commits' }));
  const exps = document.getElementById('experiments');
  exps.replaceChildren();
  if (page.experiments.length > 0) {
    const keys = [
      ...new Set(page.experiments.flatMap((x) => x.files.flatMap((f) => Object.keys(f.values || {}).map((k) => `${f.path}: ${k}`)))),
    ];
    const value = (x, name) => {
      for (const f of x.files)
        for (const [k, v] of Object.entries(f.values || {})) if (`${f.path}: ${k}` === name) return JSON.stringify(v);
      return '';
    };
    exps.append(
      el('h3', { text: 'Experiments' }),
      el(
        'table',
        {},
        el('tr', {}, el('th', { text: 'experiment' }), el('th', { text: 'commit' }), ...keys.map((k) => el('th', { text: k }))),
        ...page.experiments.map((x) =>
          el(
            'tr',
            {},
            el('td', { text: x.name }),
            el('td', { class: 'id', text: short(x.commit) }),
            ...keys.map((k) => el('td', { class: 'num', text: value(x, k) })),
          ),
        ),
      ),
    );
  }
  window.dvMetricsReady = true;
}

// ---- Dataset diff --------------------------------------------------------------------------

const diffState = { a: '', b: '', offset: 0 };

async function loadRevs() {
  const r = await api('revs');
  document.getElementById('repo').textContent = r.repo;
  document.getElementById('head').textContent = `${r.branch || 'detached'} ${short(r.head)}`;
  const options = [
    ...r.branches.map((b) => [b, `branch ${b}`]),
    ...r.tags.map((t) => [t, `tag ${t}`]),
    ...r.recent.map((c) => [c.commit, `${c.commit.slice(0, 8)} ${c.subject.slice(0, 60)}`]),
  ];
  for (const [id, def] of [
    ['diff-a', r.recent[1]?.commit],
    ['diff-b', r.recent[0]?.commit],
  ]) {
    const s = document.getElementById(id);
    s.replaceChildren(...options.map(([value, label]) => el('option', { value, text: label })));
    if (def) s.value = def;
  }
}

async function loadDiff(reset) {
  if (reset) {
    diffState.a = document.getElementById('diff-a').value;
    diffState.b = document.getElementById('diff-b').value;
    diffState.offset = 0;
    document.querySelector('#diff-table tbody').replaceChildren();
  }
  const d = await api('diff', { a: diffState.a, b: diffState.b, offset: diffState.offset, limit: 500 });
  document.getElementById('diff-summary').textContent =
    `${short(d.from)} → ${short(d.to)}: ${d.counts.added} added, ${d.counts.modified} modified, ${d.counts.deleted} deleted (${d.total} files)`;
  const body = document.querySelector('#diff-table tbody');
  for (const x of d.items)
    body.append(
      el(
        'tr',
        { class: 'change', 'data-path': x.path },
        el('td', {}, badge(x.type)),
        el('td', {}, el('code', { text: x.path })),
        el('td', { class: 'num', text: human(x.size) }),
      ),
    );
  document.getElementById('diff-table').hidden = false;
  diffState.offset += d.items.length;
  document.getElementById('diff-more').hidden = !d.more;
  window.dvDiffReady = true;
}

// ---- Views ---------------------------------------------------------------------------------

const loaders = { commits: loadCommits, pipeline: loadPipeline, metrics: loadMetrics, diff: () => loadDiff(true) };
const loaded = new Set();

async function show() {
  const view = (location.hash || '#commits').slice(1);
  const name = Object.hasOwn(loaders, view) ? view : 'commits';
  for (const v of Object.keys(loaders)) document.getElementById(`view-${v}`).hidden = v !== name;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('data-view') === name);
  if (loaded.has(name)) return;
  loaded.add(name);
  try {
    await loaders[name]();
  } catch (e) {
    loaded.delete(name);
    showError(e.message);
  }
}

async function start() {
  try {
    await loadRevs();
  } catch (e) {
    showError(e.message);
  }
  document.getElementById('commits-more').addEventListener('click', () => loadCommits().catch((e) => showError(e.message)));
  document.getElementById('diff-more').addEventListener('click', () => loadDiff(false).catch((e) => showError(e.message)));
  document.getElementById('diff-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    loadDiff(true).catch((e) => showError(e.message));
  });
  window.addEventListener('hashchange', show);
  await show();
}

start();
