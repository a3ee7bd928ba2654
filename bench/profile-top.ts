/**
 * `tsx bench/profile-top.ts <file.cpuprofile> [n]`: the functions with the most self time in a V8 CPU profile (as
 * written by `node --cpu-prof`), with their share of the samples, and the same summed by package / project folder.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

function main(): void {
  const [file, n = '25'] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-top.ts <file.cpuprofile> [n]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const where = url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'nm:');
    fns.set(
      `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`,
      (fns.get(`${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`) ?? 0) + us,
    );
    const area = where.startsWith('nm:')
      ? where
          .slice(3)
          .split('/')
          .slice(0, where.slice(3).startsWith('@') ? 2 : 1)
          .join('/')
      : where === ''
        ? `(${functionName})`
        : where.startsWith('node:')
          ? 'node internals'
          : where.replace(/^.*\/h-speed[^/]*\//, '').split('/')[0]!;
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const line = (name: string, us: number) =>
    `${((100 * us) / total).toFixed(1).padStart(5)}% ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`;
  console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
  console.log('-- by area');
  for (const [name, us] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(line(name, us));
  console.log('-- by function (self)');
  for (const [name, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) console.log(line(name, us));
}

main();
