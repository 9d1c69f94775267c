// A realistic etcd database for benchmarks: Kubernetes-like objects under /registry/<resource>/
// <namespace>/<name>, values shaped like kube-apiserver's protobuf encoding (the "k8s\0" magic,
// length-prefixed fields: apiVersion, kind, metadata with uid, labels, annotations and
// managedFields text, a spec/data part that is partly random — certificates, secrets, hashes), 1 to
// 20 KiB each. Written through etcd's JSON gateway in parallel transactions of about 1 MiB (under
// the default 1.5 MiB request limit and 128 operations per txn); some keys are written again (new
// revisions) and some deleted, then history up to a middle revision is compacted, until the
// backend reaches the target size. Deterministic for a seed, so the same database is made again.
import { createHash } from 'node:crypto';
import { seededRandom } from '../support/random.js';

interface Kind {
  resource: string;
  kind: string;
  api: string;
  weight: number;
  min: number;
  max: number;
  /** Share of the value that is random bytes (does not compress). */
  random: number;
}

const KINDS: Kind[] = [
  { resource: 'pods', kind: 'Pod', api: 'v1', weight: 30, min: 3, max: 14, random: 0.12 },
  { resource: 'configmaps', kind: 'ConfigMap', api: 'v1', weight: 12, min: 1, max: 20, random: 0.05 },
  { resource: 'secrets', kind: 'Secret', api: 'v1', weight: 10, min: 1, max: 8, random: 0.6 },
  { resource: 'events', kind: 'Event', api: 'v1', weight: 15, min: 1, max: 2, random: 0.05 },
  { resource: 'replicasets', kind: 'ReplicaSet', api: 'apps/v1', weight: 8, min: 3, max: 10, random: 0.08 },
  { resource: 'deployments', kind: 'Deployment', api: 'apps/v1', weight: 6, min: 3, max: 10, random: 0.08 },
  { resource: 'services/specs', kind: 'Service', api: 'v1', weight: 5, min: 1, max: 3, random: 0.05 },
  { resource: 'endpointslices', kind: 'EndpointSlice', api: 'discovery.k8s.io/v1', weight: 8, min: 1, max: 6, random: 0.1 },
  { resource: 'leases', kind: 'Lease', api: 'coordination.k8s.io/v1', weight: 3, min: 1, max: 1, random: 0.05 },
  { resource: 'customresourcedefinitions', kind: 'CustomResourceDefinition', api: 'apiextensions.k8s.io/v1', weight: 3, min: 12, max: 20, random: 0.02 },
];

const WORDS = (
  'app kubernetes io name instance version component part-of managed-by helm release controller revision hash template ' +
  'spec containers image registry k8s io pause nginx metrics server coredns kube proxy node selector tolerations ' +
  'effect NoSchedule operator Exists key value volume mount path readOnly true false resources limits requests cpu ' +
  'memory 100m 128Mi 512Mi env fieldRef status phase Running conditions Ready ContainersReady PodScheduled lastTransitionTime ' +
  'managedFields manager kube-controller-manager kubelet Update fieldsType FieldsV1 f:metadata f:labels f:spec f:status'
).split(' ');
const NAMESPACES = ['default', 'kube-system', 'monitoring', 'ingress-nginx', 'payments', 'search', 'frontend', 'batch', 'cert-manager', 'logging'];

function field(tag: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  do {
    len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.concat([Buffer.from([(tag << 3) | 2, ...len]), body]);
}

function text(r: () => number, bytes: number): Buffer {
  const out: string[] = [];
  let n = 0;
  while (n < bytes) {
    const w = WORDS[Math.floor(r() * WORDS.length)] ?? 'x';
    out.push(w);
    n += w.length + 1;
  }
  return Buffer.from(out.join(r() < 0.5 ? ' ' : '/').slice(0, bytes));
}

function randomBytes(r: () => number, bytes: number): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  let i = 0;
  for (; i + 4 <= bytes; i += 4) b.writeUInt32LE(Math.floor(r() * 4294967296), i);
  for (; i < bytes; i++) b[i] = Math.floor(r() * 256);
  return b;
}

export function k8sValue(r: () => number, kind: Kind, ns: string, name: string, rv: number): Buffer {
  const size = Math.round((kind.min + r() * (kind.max - kind.min)) * 1024);
  const uid = createHash('md5').update(`${ns}/${name}`).digest('hex');
  const meta = Buffer.concat([
    field(1, Buffer.from(name)),
    field(3, Buffer.from(ns)),
    field(5, Buffer.from(`${uid.slice(0, 8)}-${uid.slice(8, 12)}-${uid.slice(12, 16)}-${uid.slice(16, 20)}-${uid.slice(20)}`)),
    field(6, Buffer.from(String(rv))),
    field(11, text(r, 200)),
    field(12, text(r, 300)),
  ]);
  const head = Buffer.concat([Buffer.from('k8s\0'), field(1, Buffer.concat([field(1, Buffer.from(kind.api)), field(2, Buffer.from(kind.kind))]))]);
  const rest = Math.max(64, size - head.length - meta.length - 16);
  const rnd = Math.round(rest * kind.random);
  const body = Buffer.concat([field(2, meta), field(3, Buffer.concat([text(r, rest - rnd), randomBytes(r, rnd)]))]);
  return Buffer.concat([head, field(2, body)]);
}

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');

async function post(url: string, path: string, body: object): Promise<Record<string, unknown>> {
  const r = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(120_000) });
  const j = (await r.json()) as Record<string, unknown>;
  if (!r.ok || j.error !== undefined) throw new Error(`${url}${path}: HTTP ${r.status} ${JSON.stringify(j).slice(0, 300)}`);
  return j;
}

export async function dbSize(url: string): Promise<number> {
  const s = await post(url, '/v3/maintenance/status', {});
  return Number(s.dbSize ?? 0);
}

export interface FillReport {
  keys: number;
  puts: number;
  deletes: number;
  compactedAt: number;
  revision: number;
  dbBytes: number;
  ms: number;
}

/** Fill the cluster behind `url` (an http client URL) until its backend is at least `targetBytes`. */
export async function fillK8s(
  url: string,
  targetBytes: number,
  opts: { seed?: number; parallel?: number; log?: (s: string) => void } = {},
): Promise<FillReport> {
  const t0 = performance.now();
  const r = seededRandom(opts.seed ?? 16);
  const parallel = opts.parallel ?? 16;
  const weights = KINDS.reduce((s, k) => s + k.weight, 0);
  const pick = (): Kind => {
    let w = r() * weights;
    for (const k of KINDS) if ((w -= k.weight) < 0) return k;
    return KINDS[0] as Kind;
  };
  const names: string[] = [];
  let puts = 0;
  let deletes = 0;
  let rv = 1;
  let compactedAt = 0;
  let revision = 0;
  const txn = async (ops: object[]): Promise<void> => {
    const res = await post(url, '/v3/kv/txn', { success: ops });
    revision = Math.max(revision, Number((res.header as { revision?: string } | undefined)?.revision ?? 0));
  };
  /** One batch of about 1 MiB: new objects, or (later) new revisions of earlier ones and a few deletes. */
  const batch = (rewrite: boolean): object[] => {
    const ops: object[] = [];
    const seen = new Set<string>();
    let bytes = 0;
    while (bytes < 900 * 1024 && ops.length < 100) {
      const kind = pick();
      let key: string;
      if (rewrite && names.length > 0 && r() < 0.5) {
        key = names[Math.floor(r() * names.length)] as string;
        // etcd refuses a txn naming a key twice.
        if (seen.has(key)) continue;
        seen.add(key);
        if (r() < 0.05) {
          ops.push({ request_delete_range: { key: b64(key) } });
          deletes++;
          continue;
        }
      } else {
        const ns = NAMESPACES[Math.floor(r() * NAMESPACES.length)] as string;
        key = `/registry/${kind.resource}/${ns}/${kind.kind.toLowerCase()}-${names.length.toString(36)}-${Math.floor(r() * 1e6).toString(36)}`;
        names.push(key);
        seen.add(key);
      }
      const [, , , ns = 'default', name = 'x'] = key.split('/');
      const v = k8sValue(r, kind, ns, name, rv++);
      ops.push({ request_put: { key: b64(key), value: b64(v) } });
      bytes += v.length + key.length;
      puts++;
    }
    return ops;
  };
  let size = await dbSize(url);
  let round = 0;
  while (size < targetBytes) {
    // Past 60% of the target, half the writes are new revisions of existing keys; at 70%, compact up to the middle.
    const rewrite = size > targetBytes * 0.6;
    await Promise.all(Array.from({ length: parallel }, () => txn(batch(rewrite))));
    if (compactedAt === 0 && size > targetBytes * 0.7) {
      compactedAt = Math.floor(revision / 2);
      await post(url, '/v3/kv/compaction', { revision: String(compactedAt), physical: true });
    }
    size = await dbSize(url);
    if (++round % 20 === 0) opts.log?.(`fill: ${(size / 1024 / 1024).toFixed(0)} MiB, ${puts} puts, revision ${revision}`);
  }
  return { keys: names.length, puts, deletes, compactedAt, revision, dbBytes: size, ms: performance.now() - t0 };
}
