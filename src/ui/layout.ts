/**
 * The pipeline DAG of `dv ui`, laid out on the server by elkjs (Eclipse's layered layout, the
 * bundled build that needs no worker and no DOM): the page receives positions and only draws.
 *
 * Invariants: the graph is bounded before layout (at most MAX_NODES stages and MAX_EDGES edges;
 * beyond, the caller gets `truncated` and the first ones); node sizes come from label lengths
 * capped at MAX_LABEL characters, so one long stage name cannot make the layout huge; names are
 * data (from a clone), never markup: the page draws them with textContent.
 */
import type { ELK, ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import elkBundled from 'elkjs/lib/elk.bundled.js';

export const MAX_NODES = 500;
export const MAX_EDGES = 2000;
const MAX_LABEL = 40;
const CHAR_W = 7.5;
const NODE_H = 36;

export interface LayoutInput {
  nodes: { id: string; label: string }[];
  edges: { from: string; to: string; label?: string }[];
}

export interface LaidOutNode {
  id: string;
  label: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface LaidOutEdge {
  from: string;
  to: string;
  label?: string;
  /** Polyline from the source's border to the target's. */
  points: { x: number; y: number }[];
  /** Where elkjs put the label (its top left corner), when there is one. */
  labelAt?: { x: number; y: number };
}

export interface Layout {
  width: number;
  height: number;
  nodes: LaidOutNode[];
  edges: LaidOutEdge[];
  truncated: boolean;
}

// The bundle is CommonJS: at run time the default import is its `module.exports`, the constructor.
const Elk = elkBundled as unknown as new () => ELK;
const elk = new Elk();

/** Positions for every node and a route for every edge, left to right. */
export async function layoutDag(g: LayoutInput): Promise<Layout> {
  const nodes = g.nodes.slice(0, MAX_NODES);
  const ids = new Set(nodes.map((n) => n.id));
  const edges = g.edges.filter((e) => ids.has(e.from) && ids.has(e.to)).slice(0, MAX_EDGES);
  const truncated = nodes.length < g.nodes.length || edges.length < g.edges.length;
  const width = (label: string): number => Math.round(Math.min(label.length, MAX_LABEL) * CHAR_W + 24);
  const input: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.spacing.nodeNode': '24',
      'elk.layered.spacing.nodeNodeBetweenLayers': '48',
      'elk.padding': '[top=16,left=16,bottom=16,right=16]',
      'elk.edgeLabels.placement': 'CENTER',
    },
    children: nodes.map((n) => ({ id: n.id, width: width(n.label), height: NODE_H })),
    // Edge ids are positions: two stages may be linked by several paths.
    edges: edges.map(
      (e, i): ElkExtendedEdge => ({
        id: `e${i}`,
        sources: [e.from],
        targets: [e.to],
        ...(e.label ? { labels: [{ id: `l${i}`, text: e.label, width: width(e.label) - 16, height: 14 }] } : {}),
      }),
    ),
  };
  const graph = await elk.layout(input);
  const laid = new Map((graph.children ?? []).map((c) => [c.id, c]));
  const routes = new Map((graph.edges ?? []).map((e) => [e.id, e.sections?.[0]]));
  const labels = new Map((graph.edges ?? []).map((e) => [e.id, e.labels?.[0]]));
  return {
    width: Math.ceil(graph.width ?? 0),
    height: Math.ceil(graph.height ?? 0),
    nodes: nodes.map((n) => {
      const c = laid.get(n.id);
      return { id: n.id, label: n.label, x: c?.x ?? 0, y: c?.y ?? 0, width: c?.width ?? width(n.label), height: NODE_H };
    }),
    edges: edges.map((e, i) => {
      const s = routes.get(`e${i}`);
      const points = s ? [s.startPoint, ...(s.bendPoints ?? []), s.endPoint].map((p) => ({ x: p.x, y: p.y })) : [];
      const l = labels.get(`e${i}`);
      const labelAt = l?.x !== undefined && l.y !== undefined ? { labelAt: { x: l.x, y: l.y } } : {};
      return { from: e.from, to: e.to, ...(e.label !== undefined ? { label: e.label } : {}), points, ...labelAt };
    }),
    truncated,
  };
}
