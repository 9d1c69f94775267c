// A slow controller link for the lab: traffic from the controller to the lab hosts' sshd
// (destination 127.0.LAB_NET.0/24, port 22) goes through an htb class at the given rate on the
// loopback device; everything else on `lo` (member-to-member traffic, etcd, other labs) is not
// classified and leaves at full speed (htb's default: unclassified packets bypass the classes).
// netem does not exist on this kernel, so this limits rate only, with no delay or loss.
//
// The qdisc is removed by remove(), and also when the process exits, on failure too. A root
// qdisc on `lo` that is not the default (someone else shaping) is refused rather than replaced.
import { execFileSync } from 'node:child_process';
import { labNet } from './lab.js';

const TC = '/usr/sbin/tc';

function tc(...args: string[]): string {
  return execFileSync(TC, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Shaper {
  rateMbit: number;
  remove(): void;
}

export function shapeControllerLink(rateMbit: number, net = labNet()): Shaper {
  const root = tc('qdisc', 'show', 'dev', 'lo').split('\n')[0] ?? '';
  if (!root.startsWith('qdisc noqueue 0: root')) throw new Error(`shaper: lo already has a root qdisc (${root.trim()}): not replacing someone else's`);
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    process.off('exit', remove);
    try {
      tc('qdisc', 'del', 'dev', 'lo', 'root', 'handle', '1:');
    } catch {
      // already gone
    }
  };
  tc('qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb');
  process.on('exit', remove);
  try {
    // lo has a 64 KiB MTU and GSO: the bucket must hold several such packets.
    const rate = `${rateMbit}mbit`;
    tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:25', 'htb', 'rate', rate, 'ceil', rate, 'burst', '512k', 'cburst', '512k');
    // A short queue (this kernel has no fair-queuing qdisc): a bulk transfer cannot hold seconds of bytes in front of a small message.
    tc('qdisc', 'add', 'dev', 'lo', 'parent', '1:25', 'handle', '25:', 'pfifo', 'limit', '16');
    tc(
      'filter',
      'add',
      'dev',
      'lo',
      'parent',
      '1:',
      'protocol',
      'ip',
      'prio',
      '1',
      'u32',
      'match',
      'ip',
      'dst',
      `127.0.${net}.0/24`,
      'match',
      'ip',
      'dport',
      '22',
      '0xffff',
      'flowid',
      '1:25',
    );
  } catch (e) {
    remove();
    throw e;
  }
  return { rateMbit, remove };
}
