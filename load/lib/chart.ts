// A hand-written SVG chart of latency against throughput: one line per setting, one point per
// run (labelled with its connection count), x = images/s, y = latency (p99 by default). The
// shape to look for: throughput rises with connections until it flattens while latency climbs;
// the knee is the useful operating point.

export interface ChartPoint {
  readonly series: string;
  readonly connections: number;
  readonly imagesPerSecond: number;
  readonly latencyMs: number;
}

export interface ChartOptions {
  readonly title: string;
  readonly yLabel?: string;
  readonly width?: number;
  readonly height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'] as const;
const MARGIN = { left: 64, right: 150, top: 40, bottom: 48 } as const;

/** 1, 2 or 5 times a power of ten, at least value/4: four or five ticks per axis. */
export function niceStep(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const raw = value / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  return step ?? 10 * power;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(Math.abs(n) < 10 ? 1 : 0);
}

export function latencyThroughputSvg(points: readonly ChartPoint[], options: ChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 420;
  const finite = points.filter((p) => Number.isFinite(p.imagesPerSecond) && Number.isFinite(p.latencyMs));
  const xStep = niceStep(Math.max(...finite.map((p) => p.imagesPerSecond), 1));
  const yStep = niceStep(Math.max(...finite.map((p) => p.latencyMs), 1));
  const xMax = xStep * Math.ceil(Math.max(...finite.map((p) => p.imagesPerSecond), 1) / xStep);
  const yMax = yStep * Math.ceil(Math.max(...finite.map((p) => p.latencyMs), 1) / yStep);
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const x = (v: number) => MARGIN.left + (plotW * v) / xMax;
  const y = (v: number) => MARGIN.top + plotH - (plotH * v) / yMax;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
    ...axes({ x, y, xMax, yMax, xStep, yStep, width, height }, options.yLabel ?? 'latency p99 (ms)'),
  ];
  const series = [...new Set(finite.map((p) => p.series))];
  series.forEach((name, i) => {
    const color = PALETTE[i % PALETTE.length] ?? '#000';
    const own = finite.filter((p) => p.series === name).sort((a, b) => a.connections - b.connections);
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${own.map((p) => `${x(p.imagesPerSecond).toFixed(1)},${y(p.latencyMs).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const p of own) {
      const cx = x(p.imagesPerSecond).toFixed(1);
      const cy = y(p.latencyMs).toFixed(1);
      parts.push(
        `<circle cx="${cx}" cy="${cy}" r="4" fill="${color}"><title>${escapeXml(`${name}, ${p.connections} connections: ${fmt(p.imagesPerSecond)} images/s, ${fmt(p.latencyMs)} ms`)}</title></circle>`,
      );
      parts.push(
        `<text x="${Number(cx) + 6}" y="${Number(cy) - 6}" fill="${color}" font-size="10">c=${p.connections}</text>`,
      );
    }
    const ly = MARGIN.top + 16 * i;
    parts.push(`<rect x="${width - MARGIN.right + 12}" y="${ly - 9}" width="12" height="12" fill="${color}"/>`);
    parts.push(`<text x="${width - MARGIN.right + 30}" y="${ly + 1}">${escapeXml(name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

interface Frame {
  x(v: number): number;
  y(v: number): number;
  xMax: number;
  yMax: number;
  xStep: number;
  yStep: number;
  width: number;
  height: number;
}

function axes(f: Frame, yLabel: string): string[] {
  const out: string[] = [];
  const bottom = f.y(0);
  for (let v = 0; v <= f.xMax + 1e-9; v += f.xStep) {
    const x = f.x(v).toFixed(1);
    out.push(`<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${bottom}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${bottom + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  for (let v = 0; v <= f.yMax + 1e-9; v += f.yStep) {
    const y = f.y(v);
    out.push(`<line x1="${MARGIN.left}" y1="${y.toFixed(1)}" x2="${f.x(f.xMax)}" y2="${y.toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`);
  }
  out.push(`<line x1="${MARGIN.left}" y1="${bottom}" x2="${f.x(f.xMax)}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<text x="${f.x(f.xMax / 2)}" y="${f.height - 10}" text-anchor="middle">throughput (images/s)</text>`);
  out.push(
    `<text transform="translate(16 ${(MARGIN.top + bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  );
  return out;
}
