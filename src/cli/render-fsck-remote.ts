/** The one-line summary of `dv fsck --remote` (problems and warnings go to stderr before it). */
import type { FsckRemoteResult } from '../ops/fsck-remote.js';
import { count, human } from './progress.js';

export function renderFsckRemote(r: FsckRemoteResult): string {
  const parts = [
    `${count(r.packs, 'pack')} and ${count(r.objects, 'object')} listed`,
    `${count(r.roots, 'root')}${r.runs ? ` and ${count(r.runs, 'run record')}` : ''} checked`,
  ];
  if (r.notPushed) parts.push(`${count(r.notPushed, 'snapshot')} not pushed`);
  if (r.orphanPacks) parts.push(`${count(r.orphanPacks, 'unindexed pack')} for \`dv gc --remote\``);
  if (r.readData) {
    const share = r.sample ? ` from ${count(r.sample.packs.length, 'pack')} (${r.sample.percent}% sampled, seed ${r.sample.seed})` : '';
    parts.push(`${count(r.objectsRead, 'object')} read back and verified${share}`);
  }
  parts.push(`${human(r.bytesRead)} downloaded`);
  if (r.repair) {
    const x = r.repair;
    parts.push(
      `repaired: ${count(x.objectsSent, 'object')} sent again in ${count(x.packsSent, 'pack')}${x.packsRewritten.length ? ` (${x.packsRewritten.length} rewritten in place)` : ''}, ${count(x.packsRemoved.length, 'bad pack')} and ${`${x.indexesRemoved.length} unusable index(es)`} removed${x.packsKept.length ? `, ${count(x.packsKept.length, 'bad pack')} kept` : ''}`,
    );
  }
  return `${r.remote}: ${r.ok ? 'ok' : count(r.problems.length, 'problem')}: ${parts.join(', ')}`;
}
