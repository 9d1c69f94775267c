// The extra vars an operator would pass for each shipped playbook on each example inventory
// (shared by the golden plans and the determinism tests).

/** The extra vars an operator would pass for each playbook on each inventory. */
export function extraVarsFor(playbook: string, inventory: string): string[] {
  const byInv: Record<string, { survivor: string; old: string; new: string; oldHost?: string; snapshot?: string }> = {
    'prod-3-https.yml': { survivor: 'etcd-2', old: 'etcd-3', new: 'etcd-3', snapshot: 'backups/prod/prod-20261101T020000Z.db' },
    'prod-5.yml': { survivor: 'etcd-1', old: 'etcd-5', new: 'etcd-5', oldHost: 'etcd-5-old' },
    'kubeadm-static-pod.yml': { survivor: 'cp-1', old: 'cp-3', new: 'cp-3' },
  };
  const v = byInv[inventory];
  if (!v) return [];
  if (playbook === 'force-new-cluster.yml') return [`survivor=${v.survivor}`];
  if (playbook === 'replace-member.yml') return [`old=${v.old}`, `new=${v.new}`, ...(v.oldHost ? [`old_host=${v.oldHost}`] : [])];
  if (playbook === 'restore-all.yml' && v.snapshot) return [`snapshot=${v.snapshot}`];
  return [];
}
