/** One sample line: `name{labels} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One family (`# TYPE` block) with its samples, `_bucket`/`_sum`/`_count` lines of histograms included. */
export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

/** A scrape, parsed: families by name. */
export type Scrape = Map<string, Family>;

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

/**
 * Parses the Prometheus text exposition format (version 0.0.4), strictly: a line that is not a comment, a
 * `# HELP`/`# TYPE` line or a well-formed sample, a sample outside its family, or a family typed twice throws.
 */
export function parsePrometheusText(text: string): Scrape {
  const families: Scrape = new Map();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', help: '', samples: [] }));
    return f;
  };
  let current: Family | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
    if (meta) {
      current = family(meta[2]!);
      if (meta[1] === 'HELP') current.help = meta[3]!;
      else {
        if (current.type !== 'untyped') throw new Error(`family ${current.name} typed twice`);
        current.type = meta[3]!;
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const [, name, rawLabels = '', rawValue] = match;
    const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
    if (Number.isNaN(value) && rawValue !== 'NaN') throw new Error(`not a value: ${line}`);
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < rawLabels.length) {
      const l = LABEL.exec(rawLabels);
      if (!l) throw new Error(`bad labels: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const base =
      current && (name === current.name || /^(.*)_(bucket|sum|count|total|created)$/.exec(name!)?.[1] === current.name);
    if (!current || !base) throw new Error(`sample ${name} outside its family`);
    current.samples.push({ name: name!, labels, value });
  }
  return families;
}

/** Fetches a `/metrics` endpoint and parses it as Prometheus text. */
export async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain')) throw new Error(`${url} answered ${type}, not Prometheus text`);
  return parsePrometheusText(await response.text());
}

/**
 * Sum of a counter's (or gauge's) samples by the value of one label, over several scrapes (of processes whose
 * counts add up: a worker killed, then its successor). A missing family counts nothing.
 */
export function sumBy(scrapes: Scrape[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of scrapes) {
    for (const sample of s.get(name)?.samples ?? []) {
      if (sample.name !== name) continue;
      const key = sample.labels[label] ?? '';
      out[key] = (out[key] ?? 0) + sample.value;
    }
  }
  return out;
}

/** Total observations of a histogram (its `_count` samples) over several scrapes. */
export function histogramCount(scrapes: Scrape[], name: string): number {
  let n = 0;
  for (const s of scrapes)
    for (const sample of s.get(name)?.samples ?? []) if (sample.name === `${name}_count`) n += sample.value;
  return n;
}
