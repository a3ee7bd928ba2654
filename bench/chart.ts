import type { BenchResults } from './results';
import { CONCURRENCY_KEYS, STREAM_SYSTEMS } from './results';

const COLORS: Record<(typeof STREAM_SYSTEMS)[number], string> = {
  turnflow: '#2563eb',
  turnflow_gateway: '#60a5fa',
  direct: '#16a34a',
  workflow_streams: '#dc2626',
};

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/**
 * An SVG bar chart of delta latency (p50 bar, p99 tick) per concurrency and of TTFT overhead, per system, on a
 * log scale (the direct floor is three orders of magnitude below the durable systems). Pure.
 */
export function chartSvg(r: BenchResults): string {
  const W = 900;
  const H = 420;
  const left = 70;
  const top = 50;
  const bottom = 70;
  const plotH = H - top - bottom;
  const groups: { label: string; values: Record<string, { p50: number; p99: number }> }[] = [
    ...CONCURRENCY_KEYS.map((c) => ({
      label: `delta latency ${c}`,
      values: Object.fromEntries(STREAM_SYSTEMS.map((s) => [s, r.delta_latency_ms[s][c]])),
    })),
    { label: 'TTFT overhead', values: Object.fromEntries(STREAM_SYSTEMS.map((s) => [s, r.ttft_overhead_ms[s]])) },
  ];
  const lo = 0.01;
  const all = groups.flatMap((g) => Object.values(g.values).flatMap((v) => [v.p50, v.p99]));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(1, ...all)));
  const y = (v: number) =>
    top + plotH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH;
  const groupW = (W - left - 20) / groups.length;
  const barW = (groupW - 30) / STREAM_SYSTEMS.length;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" font-size="16" text-anchor="middle">ms, log scale: bar = p50, tick = p99 (${esc(r.meta.mode)} run, ${r.meta.chunksPerTurn} chunks at ${r.meta.chunkPacingMs} ms)</text>`,
  ];
  for (let e = Math.log10(lo); e <= Math.log10(hi); e++) {
    const v = 10 ** e;
    parts.push(
      `<line x1="${left}" x2="${W - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${v >= 1 ? v : v.toFixed(-e)}</text>`,
    );
  }
  groups.forEach((g, gi) => {
    const x0 = left + gi * groupW + 15;
    STREAM_SYSTEMS.forEach((s, si) => {
      const v = g.values[s]!;
      const x = x0 + si * barW;
      parts.push(
        `<rect x="${x}" y="${y(v.p50)}" width="${barW - 4}" height="${top + plotH - y(v.p50)}" fill="${COLORS[s]}"/>`,
        `<line x1="${x}" x2="${x + barW - 4}" y1="${y(v.p99)}" y2="${y(v.p99)}" stroke="black" stroke-width="2"/>`,
      );
    });
    parts.push(
      `<text x="${x0 + (groupW - 30) / 2}" y="${top + plotH + 18}" font-size="13" text-anchor="middle">${g.label}</text>`,
    );
  });
  STREAM_SYSTEMS.forEach((s, si) => {
    const x = left + si * 190;
    parts.push(
      `<rect x="${x}" y="${H - 28}" width="14" height="14" fill="${COLORS[s]}"/>`,
      `<text x="${x + 20}" y="${H - 16}" font-size="13">${s}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Renders the chart to PNG bytes with resvg (its platform binary is an npm optional package). */
export async function chartPng(r: BenchResults): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js');
  return Buffer.from(new Resvg(chartSvg(r), { font: { loadSystemFonts: true } }).render().asPng());
}
