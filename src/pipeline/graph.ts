/** Renders a small graph (stages and data) as Mermaid or Graphviz DOT text. Pure. */

export interface GraphNode {
  id: string;
  label: string;
  /** stage: a pipeline stage; data: a stage output; raw: tracked data no stage wrote; file: an untracked file (code). */
  kind: 'stage' | 'data' | 'raw' | 'file';
}

export interface GraphEdge {
  from: string;
  to: string;
  label?: string;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const mermaidText = (s: string): string => s.replace(/"/g, '#quot;').replace(/\n/g, '<br/>');

/** `flowchart LR` for a README (GitHub renders it) or mermaid.live. */
export function toMermaid(g: Graph): string {
  const ids = new Map(g.nodes.map((n, i) => [n.id, `n${i}`]));
  const shape = (n: GraphNode): string => {
    const l = `"${mermaidText(n.label)}"`;
    if (n.kind === 'stage') return `{{${l}}}`;
    if (n.kind === 'raw') return `[(${l})]`;
    if (n.kind === 'file') return `>${l}]`;
    return `[${l}]`;
  };
  const lines = ['flowchart LR'];
  for (const n of g.nodes) lines.push(`  ${ids.get(n.id)}${shape(n)}`);
  for (const e of g.edges) lines.push(`  ${ids.get(e.from)} -->${e.label ? `|"${mermaidText(e.label)}"|` : ''} ${ids.get(e.to)}`);
  return lines.join('\n') + '\n';
}

const dotText = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** Graphviz: `dv lineage model.pkl --format dot | dot -Tsvg > lineage.svg`. */
export function toDot(g: Graph): string {
  const ids = new Map(g.nodes.map((n, i) => [n.id, `n${i}`]));
  const attrs: Record<GraphNode['kind'], string> = {
    stage: 'shape=box, style="rounded,filled", fillcolor="#dbeafe"',
    data: 'shape=note',
    raw: 'shape=cylinder',
    file: 'shape=component',
  };
  const lines = ['digraph dv {', '  rankdir=LR;', '  node [fontname="Helvetica"];'];
  for (const n of g.nodes) lines.push(`  ${ids.get(n.id)} [label="${dotText(n.label)}", ${attrs[n.kind]}];`);
  for (const e of g.edges) lines.push(`  ${ids.get(e.from)} -> ${ids.get(e.to)}${e.label ? ` [label="${dotText(e.label)}"]` : ''};`);
  lines.push('}');
  return lines.join('\n') + '\n';
}
