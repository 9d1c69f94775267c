// The one place a host's TLS file paths are decided. An inventory's tls paths may name the host
// (`/etc/ssl/etcd/ssl/member-{{ inventory_hostname }}.pem`, kubespray's layout) or the member
// (`{{ member_name }}`), and a host may set its own tls: (each key replaces the cluster's). Everything
// that reads a host's certificate paths (etcdctl flags, etcd.conf, certificate checks) asks here.
import type { ClusterSettings, Host, TlsSettings } from '../model/types.js';

/** The placeholders a tls path may hold; both values match the host/member name pattern (no shell metacharacters). */
const PLACEHOLDER = /\{\{\s*(inventory_hostname|member_name)\s*\}\}/g;

export function isTemplatedPath(p: string): boolean {
  return new RegExp(PLACEHOLDER.source).test(p);
}

function render(p: string, host: Pick<Host, 'name'> & { etcd?: { name: string } }): string {
  return p.replace(PLACEHOLDER, (_m, name: string) => (name === 'inventory_hostname' ? host.name : (host.etcd?.name ?? host.name)));
}

/** The cluster's tls with the host's own tls: over it, placeholders filled for this host; undefined without TLS. */
export function resolveHostTls(cluster: ClusterSettings, host: Pick<Host, 'name' | 'etcd'>, own?: Partial<TlsSettings>): TlsSettings | undefined {
  if (!cluster.tls && !own) return undefined;
  const merged = { ...(cluster.tls ?? { ca: '', cert: '', key: '' }), ...(own ?? {}) };
  const out = {} as TlsSettings;
  for (const [k, v] of Object.entries(merged) as [keyof TlsSettings, string | undefined][]) if (typeof v === 'string') out[k] = render(v, host);
  return out;
}

/** A host's TLS paths (resolved when the inventory was loaded); the cluster's for a host without its own. */
export function hostTls(inv: { cluster: ClusterSettings; hosts: Record<string, Host> }, host: string | Host | undefined): TlsSettings | undefined {
  const h = typeof host === 'string' ? inv.hosts[host] : host;
  if (h?.tls) return h.tls;
  if (!inv.cluster.tls) return undefined;
  return h ? resolveHostTls(inv.cluster, h) : inv.cluster.tls;
}
