// The extra vars an operator would pass for each shipped playbook on each example inventory
// (shared by the golden plans and the determinism tests).

/** The extra vars an operator would pass for each playbook on each inventory. */
export function extraVarsFor(playbook: string, inventory: string): string[] {
  const byInv: Record<string, { survivor: string; old: string; new: string; oldHost?: string; snapshot?: string; removed: string }> = {
    'prod-3-https.yml': { survivor: 'etcd-2', old: 'etcd-3', new: 'etcd-3', snapshot: 'backups/prod/prod-20261101T020000Z.db', removed: 'etcd-4' },
    'prod-5.yml': { survivor: 'etcd-1', old: 'etcd-5', new: 'etcd-5', oldHost: 'etcd-5-old', removed: 'etcd-6' },
    'kubeadm-static-pod.yml': { survivor: 'cp-1', old: 'cp-3', new: 'cp-3', removed: 'cp-4' },
  };
  const v = byInv[inventory];
  if (!v) return [];
  if (playbook === 'force-new-cluster.yml') return [`survivor=${v.survivor}`];
  if (playbook === 'replace-member.yml') return [`old=${v.old}`, `new=${v.new}`, ...(v.oldHost ? [`old_host=${v.oldHost}`] : [])];
  // add-member: the inventory already lists the new member (its end state), so any member stands for it.
  if (playbook === 'add-member.yml') return [`new=${v.new}`];
  // remove-member: a member the inventory no longer lists (prod-5 keeps the retired machine under hosts:).
  if (playbook === 'remove-member.yml') return [`name=${v.oldHost ?? v.removed}`];
  // update-member: the member the inventory gives a new address (any member stands for it).
  if (playbook === 'update-member.yml') return [`name=${v.survivor}`];
  if (playbook === 'restore-all.yml' && v.snapshot) return [`snapshot=${v.snapshot}`];
  // upgrade: a release tarball on the controller (systemd), the new image (static pods).
  if (playbook === 'upgrade.yml')
    return [inventory === 'kubeadm-static-pod.yml' ? 'etcd_image=registry.k8s.io/etcd:3.5.30-0' : 'etcd_binaries=/srv/etcd/etcd-v3.5.30-linux-amd64.tar.gz'];
  return [];
}
