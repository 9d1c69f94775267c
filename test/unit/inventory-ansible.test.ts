// Issue #17, "Why" item 1: Ansible and kubespray inventories. kubespray's sample inventories as
// published (test/fixtures/ansible/kubespray-published, commits in its README) and filled in as a
// user would (kubespray-ini, kubespray-yaml), converted and planned; errors at the Ansible file's
// own line and column; per-host TLS paths; IPv6 addresses.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadInventory } from '../../engine/inventory/load.js';
import { hostTls } from '../../engine/inventory/tls.js';
import { buildPlan } from '../../engine/cli/inputs.js';
import { buildProgram } from '../../engine/cli/main.js';
import { stableStringify } from '../../engine/report/stable-json.js';
import type { Plan } from '../../engine/model/types.js';
import { captureIo } from '../support/io.js';
import { ROOT } from '../support/fixtures.js';

const FIX = path.join(ROOT, 'test', 'fixtures', 'ansible');

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(['node', 'runbook', ...args]);
  } catch (e) {
    code = (e as { exitCode?: number }).exitCode ?? 1;
  }
  return { code, out: io.stdout(), err: io.stderr() };
}

/** Every etcd command's --endpoints= list and the hosts each step runs on, in plan order. */
function stepsOf(plan: Plan): { task: string; hosts: string[]; cmds: string[] }[] {
  const out: { task: string; hosts: string[]; cmds: string[] }[] = [];
  for (const play of plan.plays)
    for (const t of play.tasks) {
      const live = t.steps.filter((st) => st.skip === undefined);
      const hosts = live.map((st) => st.host);
      const cmds = live.flatMap((st) => st.actions.flatMap((a) => ('cmd' in a && typeof a.cmd === 'string' ? [a.cmd] : [])));
      out.push({ task: t.name, hosts, cmds });
    }
  return out;
}

describe('Why: an Ansible INI or YAML inventory (all:/children:, group_vars, ansible_host, ansible_user, kubespray\'s etcd_member_name) is refused with "Unexpected scalar at node end" or "expected array, got a mapping", and nothing says what it is or how to convert it', () => {
  it("kubespray's inventory.ini as published: read as an Ansible inventory; its empty etcd group (every host commented out) and the missing etcd version are named at their lines", () => {
    const r = loadInventory(path.join(FIX, 'kubespray-published', 'inventory.ini'), 'kubespray-published/inventory.ini');
    assert.equal(r.inventory, undefined);
    const msgs = r.diagnostics.map((d) => `${d.file}:${d.line}:${d.col} [${d.code}] ${d.message}`);
    assert.ok(!msgs.some((m) => /Unexpected scalar|expected array/.test(m)), msgs.join('\n'));
    const empty = r.diagnostics.find((d) => d.code === 'no-hosts');
    assert.ok(empty, msgs.join('\n'));
    // `[etcd]` is line 21 of the published file; the group name starts in column 2.
    assert.deepEqual([empty.file, empty.line, empty.col], ['kubespray-published/inventory.ini', 21, 2]);
    assert.match(empty.message, /commented out/);
    const version = r.diagnostics.find((d) => /etcd version/.test(d.message));
    assert.ok(version?.hint?.includes('runbook-cluster.yml'), 'says where the etcd version goes');
  });

  it("kubespray's inventory.yml as published: each folded hosts: list is named at its line (YAML folds `node1\\n node2` into one string)", () => {
    const r = loadInventory(path.join(FIX, 'kubespray-published', 'inventory.yml'), 'inventory.yml');
    const folded = r.diagnostics.filter((d) => d.code === 'ansible-inventory' && /folds/.test(d.message));
    assert.deepEqual(
      folded.map((d) => [d.line, d.col, /"([a-z-]+)"/.exec(d.message)?.[1]]),
      [
        [21, 9, 'etcd'],
        [29, 13, 'kube-master'],
        [34, 13, 'kube-node'],
      ],
    );
    assert.ok(folded.every((d) => d.hint?.includes('node1:')));
  });

  for (const [form, file, dependentsGroup, first] of [
    ['INI', 'kubespray-ini/inventory.ini', 'kube_control_plane', '95.54.0.12'],
    ['YAML', 'kubespray-yaml/inventory.yml', 'kube-master', '192.168.0.11'],
  ] as const) {
    it(`kubespray's sample (${form}, hosts filled in): members etcd1..3 on node1..3 at kubespray's URLs, group_vars and runbook-cluster.yml read`, () => {
      const r = loadInventory(path.join(FIX, file), file);
      assert.ok(r.inventory, JSON.stringify(r.diagnostics, null, 2));
      const inv = r.inventory;
      assert.deepEqual(inv.groups.etcd, ['node1', 'node2', 'node3']);
      const prefix = first.split('.').slice(0, 3).join('.');
      const last = Number(first.split('.')[3]);
      assert.deepEqual(
        inv.facts.members.map((m) => [m.name, m.peerUrl, m.clientUrl, m.dataDir]),
        [0, 1, 2].map((i) => [`etcd${i + 1}`, `https://${prefix}.${last + i}:2380`, `https://${prefix}.${last + i}:2379`, '/var/lib/etcd']),
      );
      assert.equal(inv.cluster.etcdVersion, '3.5.16');
      assert.equal(inv.cluster.deployment, 'systemd', 'etcd_deployment_type: containerd (group_vars/all/etcd.yml) runs etcd from a systemd unit');
      assert.equal(inv.cluster.configFile, '/etc/etcd.env');
      assert.deepEqual(inv.cluster.dependents, [{ group: dependentsGroup, services: ['manifest:kube-apiserver'] }]);
      assert.equal(inv.hosts.node4?.etcd, undefined, 'a worker is no member');
      assert.equal(inv.hosts.node1?.src.file, file, 'a host points into the Ansible file');
    });

    it(`kubespray's sample (${form}): restore-all and replace-member plan with the right members, and the converted inventory plans byte-identically`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'runbook-kubespray-'));
      const prefix = first.split('.').slice(0, 3).join('.');
      const last = Number(first.split('.')[3]);
      try {
        cpSync(path.dirname(path.join(FIX, file)), dir, { recursive: true });
        const src = path.join(dir, path.basename(file));
        const converted = path.join(dir, 'converted.yml');
        const imp = await cli(['inventory', 'import', '-i', src, '-o', converted]);
        assert.equal(imp.code, 0, imp.err);
        assert.match(imp.out, /etcd members etcd1, etcd2, etcd3/);
        const again = await cli(['inventory', 'import', '-i', src, '-o', converted]);
        assert.equal(again.code, 2, 'an existing file is never overwritten');

        for (const [pb, ev] of [
          ['restore-all.yml', []],
          ['replace-member.yml', ['old=etcd3', 'new=node3']],
        ] as const) {
          const a = buildPlan({ playbook: path.join(ROOT, 'playbooks', pb), inventory: src, extraVars: [...ev] });
          const b = buildPlan({ playbook: path.join(ROOT, 'playbooks', pb), inventory: converted, extraVars: [...ev] });
          assert.ok(a.plan && b.plan, JSON.stringify([...a.diagnostics, ...b.diagnostics], null, 2));
          // The same plan apart from naming its inventory file (path and sha256 of the file given).
          const strip = (p: Plan): string =>
            stableStringify({ ...p, inventory: 'INV', inputs: p.inputs.map((i) => (i.role === 'inventory' ? { ...i, path: 'INV', sha256: '-' } : i)) });
          assert.equal(strip(a.plan), strip(b.plan), `${pb}: the Ansible inventory and its conversion compile to the same plan`);
          const steps = stepsOf(a.plan);
          if (pb === 'restore-all.yml') {
            const restore = steps.find((s) => s.cmds.some((c) => /snapshot restore/.test(c)));
            assert.deepEqual(restore?.hosts, ['node1', 'node2', 'node3']);
            const all = restore.cmds.join('\n');
            for (const [i, h] of ['node1', 'node2', 'node3'].entries()) {
              const ip = `${prefix}.${last + i}`;
              assert.match(all, new RegExp(`--name=etcd${i + 1} `), `${h} is restored as etcd${i + 1}`);
              assert.match(all, new RegExp(`--initial-advertise-peer-urls=https://${ip.replace(/\./g, '\\.')}:2380`));
            }
            assert.match(all, /--initial-cluster=etcd1=https:\/\/[0-9.]+:2380,etcd2=https:\/\/[0-9.]+:2380,etcd3=https:\/\/[0-9.]+:2380/);
          } else {
            // The new member's own (not yet serving) client URL is never among the endpoints it asks.
            const add = steps.find((s) => s.cmds.some((c) => /member add etcd3 /.test(c)));
            assert.deepEqual(add?.hosts, ['node3']);
            const own = `https://${prefix}.${last + 2}:2379`;
            for (const c of add.cmds.filter((x) => x.includes('--endpoints='))) assert.ok(!c.includes(own), `asks only the remaining members: ${c}`);
            assert.match(add.cmds.join('\n'), new RegExp(`member add etcd3 --peer-urls=https://${prefix.replace(/\./g, '\\.')}\\.${last + 2}:2380`));
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('runbook validate takes an Ansible inventory given as a file (no "Unexpected scalar"), and with -i', async () => {
    for (const args of [
      ['validate', path.join(FIX, 'kubespray-ini', 'inventory.ini')],
      ['validate', '-i', path.join(FIX, 'kubespray-yaml', 'inventory.yml')],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /ok: 1 file\(s\) valid/);
    }
    const bad = await cli(['validate', path.join(FIX, 'kubespray-published', 'inventory.yml')]);
    assert.equal(bad.code, 2);
    assert.doesNotMatch(bad.err, /Unexpected scalar|expected array/);
    assert.match(bad.err, /inventory\.yml:21:9: error \[ansible-inventory\] hosts of group "etcd"/);
  });

  it('runbook diff --base reads group_vars/ and runbook-cluster.yml as they were at the revision too', async () => {
    const repo = mkdtempSync(path.join(tmpdir(), 'runbook-ansible-git-'));
    const prev = process.cwd();
    try {
      cpSync(path.join(FIX, 'kubespray-ini'), repo, { recursive: true });
      const git = (...a: string[]): string => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { cwd: repo, encoding: 'utf8' });
      git('init', '-q');
      git('add', '.');
      git('commit', '-qm', 'kubespray sample');
      const gv = path.join(repo, 'group_vars', 'all', 'etcd.yml');
      writeFileSync(gv, readFileSync(gv, 'utf8').replace('etcd_data_dir: /var/lib/etcd', 'etcd_data_dir: /srv/etcd'));
      process.chdir(repo);
      const r = await cli(['diff', '--base', 'HEAD', 'restore-all', '-i', 'inventory.ini']);
      assert.equal(r.code, 3, r.out + r.err);
      assert.match(r.out, /\/var\/lib\/etcd/);
      assert.match(r.out, /\/srv\/etcd/);
      const same = await cli(['diff', '--base', 'HEAD', 'backup', '-i', 'inventory.ini']);
      assert.equal(same.code, 0, same.out + same.err);
    } finally {
      process.chdir(prev);
      rmSync(repo, { recursive: true, force: true });
    }
  });

  describe('an Ansible inventory of our own', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'runbook-ansible-'));
      mkdirSync(path.join(dir, 'group_vars'), { recursive: true });
      mkdirSync(path.join(dir, 'host_vars'), { recursive: true });
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const write = (name: string, text: string): string => {
      writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };

    it('connection settings (ansible_host, ansible_user, ansible_port, host:port, ansible_ssh_private_key_file, -o ProxyJump) and Ansible precedence: [all:vars] < group_vars/all < group_vars/<group> < host line < host_vars/', () => {
      const inv = write(
        'hosts.ini',
        [
          '[etcd]',
          'e1 ansible_host=10.0.0.1 ansible_user=ops',
          'e2:2222 ansible_host=10.0.0.2',
          'e[3:3] ansible_host=10.0.0.3 ansible_ssh_common_args="-o ProxyJump=bastion"',
          '[bastion]',
          'bastion ansible_host=10.0.0.9',
          '[all:vars]',
          'ansible_user=from-all-vars',
          'ansible_ssh_private_key_file=~/.ssh/from-all-vars',
          '',
        ].join('\n'),
      );
      write('group_vars/all.yml', 'ansible_ssh_private_key_file: keys/group-vars-all\nansible_port: 2200\n');
      write('group_vars/etcd.yml', 'ansible_ssh_private_key_file: keys/group-etcd\n');
      write('host_vars/e1.yml', 'ansible_port: 2201\n');
      write('runbook-cluster.yml', 'cluster: {name: ours, etcd_version: "3.4.23"}\nansible: {flavor: ansible}\n');
      const r = loadInventory(inv);
      assert.ok(r.inventory, JSON.stringify(r.diagnostics, null, 2));
      const h = r.inventory.hosts;
      assert.deepEqual(
        ['e1', 'e2', 'e3', 'bastion'].map((n) => [n, h[n]?.address, h[n]?.ssh.user, h[n]?.ssh.port, h[n]?.ssh.identityFile, h[n]?.ssh.jump]),
        [
          ['e1', '10.0.0.1', 'ops', 2201, path.join(dir, 'keys/group-etcd'), undefined],
          ['e2', '10.0.0.2', 'from-all-vars', 2222, path.join(dir, 'keys/group-etcd'), undefined],
          ['e3', '10.0.0.3', 'from-all-vars', 2200, path.join(dir, 'keys/group-etcd'), 'bastion'],
          ['bastion', '10.0.0.9', 'from-all-vars', 2200, path.join(dir, 'keys/group-vars-all'), undefined],
        ],
      );
      // Plain Ansible (not kubespray): members named like their hosts, URLs from the address.
      assert.deepEqual(
        r.inventory.facts.members.map((m) => [m.name, m.peerUrl]),
        [
          ['e1', 'http://10.0.0.1:2380'],
          ['e2', 'http://10.0.0.2:2380'],
          ['e3', 'http://10.0.0.3:2380'],
        ],
      );
    });

    it('a bad value is reported at the Ansible file, line and column it was written (INI token, group_vars file, runbook-cluster.yml), with what was expected', () => {
      const inv = write(
        'inventory.ini',
        ['[etcd]', 'node1 ansible_host=10.0.0.1 ansible_port=ssh', 'node2 ansible_host=10.0.0.2 etcd_member_name=Bad;Name', ''].join('\n'),
      );
      write('group_vars/all.yml', '# kubespray-style\netcd_data_dir: "{{ data_root | default(\'/srv\') }}/etcd"\n');
      write('runbook-cluster.yml', 'cluster:\n  etcd_version: "3.5"\n');
      const r = loadInventory(inv, 'inventory.ini');
      const at = r.diagnostics.map((d) => `${path.basename(d.file)}:${d.line}:${d.col} ${d.code}`);
      assert.ok(at.includes('all.yml:2:16 ansible-inventory'), `Jinja in group_vars at its value: ${at.join(', ')}`);
      assert.ok(r.diagnostics.find((d) => d.line === 2 && /Jinja/.test(d.message))?.hint?.includes('runbook-cluster.yml'));
      // The schema problems come after conversion and still point into the files the values came from.
      write('group_vars/all.yml', 'etcd_data_dir: /srv/etcd\n');
      const s = loadInventory(inv, 'inventory.ini');
      const sat = s.diagnostics.map((d) => `${path.basename(d.file)}:${d.line}:${d.col} ${d.code}`);
      assert.ok(sat.includes('inventory.ini:2:42 schema-type'), `ansible_port=ssh at its value: ${sat.join(', ')}`);
      assert.ok(sat.includes('inventory.ini:3:46 schema-pattern'), `etcd_member_name at its value: ${sat.join(', ')}`);
      assert.ok(sat.includes('runbook-cluster.yml:2:17 schema-pattern'), `etcd_version in the cluster file: ${sat.join(', ')}`);
    });

    it('INI as Ansible reads it: ranges (node[01:03]), quoted values, ; and # comments, :children named before their section, host:port', () => {
      const inv = write(
        'hosts',
        [
          '; a comment',
          '[etcd:children]',
          'members',
          '[members]',
          'node[01:03] ansible_user="ops" # trailing comment',
          '[members:vars]',
          'ansible_port=2201',
          '[lb]',
          'lb1:2222 ansible_host=10.9.9.9 note="two words"',
          '',
        ].join('\n'),
      );
      write('runbook-cluster.yml', 'cluster: {name: ranges, etcd_version: "3.4.23"}\n');
      const r = loadInventory(inv);
      assert.ok(r.inventory, JSON.stringify(r.diagnostics, null, 2));
      assert.deepEqual(r.inventory.groups.etcd, ['node01', 'node02', 'node03']);
      assert.deepEqual(
        ['node01', 'node03', 'lb1'].map((h) => [r.inventory!.hosts[h]?.address, r.inventory!.hosts[h]?.ssh.user, r.inventory!.hosts[h]?.ssh.port]),
        [
          ['node01', 'ops', 2201],
          ['node03', 'ops', 2201],
          ['10.9.9.9', 'root', 2222],
        ],
      );
    });

    it('YAML: hosts: as a list, or a group that is not a mapping, is named at its line with how to write it', () => {
      const inv = write('inv.yml', ['all:', '  children:', '    etcd:', '      hosts: [a, b]', '    other: [x]', ''].join('\n'));
      const r = loadInventory(inv, 'inv.yml');
      assert.deepEqual(
        r.diagnostics.filter((d) => d.code === 'ansible-inventory' && /mapping/.test(d.message)).map((d) => [d.line, d.col]),
        [
          [4, 14],
          [5, 12],
        ],
      );
    });

    it('runbook inventory import: refuses a runbook inventory (nothing to import) and prints the converted YAML with its origin', async () => {
      const same = await cli(['inventory', 'import', '-i', path.join(ROOT, 'inventories', 'prod-5.yml')]);
      assert.equal(same.code, 2);
      assert.match(same.err, /already a runbook inventory/);
      const inv = write('inventory.ini', '[etcd]\nnode1 ansible_host=10.0.0.1 etcd_member_name=etcd1\n[kube_control_plane]\nnode1\n');
      write('group_vars/all.yml', 'etcd_version: v3.5.16\n');
      const out = await cli(['inventory', 'import', '-i', inv]);
      assert.equal(out.code, 0, out.err);
      assert.match(out.out, /^# runbook inventory converted from .*inventory\.ini \(kubespray\)/);
      const back = write('converted.yml', out.out);
      const r = loadInventory(back);
      assert.ok(r.inventory, JSON.stringify(r.diagnostics));
      assert.equal(r.inventory.cluster.etcdVersion, '3.5.16', "kubespray's v-prefixed version");
    });
  });
});

describe("Why: kubespray's per-node certificate names (member-<host>.pem) cannot be expressed", () => {
  it('tls paths with {{ inventory_hostname }} resolve per host in every command that names them (etcdctl, etcd.conf, certificate checks)', () => {
    const file = path.join(FIX, 'kubespray-ini', 'inventory.ini');
    const r = buildPlan({ playbook: path.join(ROOT, 'playbooks', 'add-member.yml'), inventory: file, extraVars: ['new=node2'] });
    assert.ok(r.plan, JSON.stringify(r.diagnostics, null, 2));
    const cmds = (host: string): string =>
      r
        .plan!.plays.flatMap((p) => p.tasks)
        .flatMap((t) => t.steps.filter((st) => st.host === host && st.skip === undefined))
        .flatMap((st) => st.actions)
        .map((a) => JSON.stringify(a))
        .join('\n');
    const node2 = cmds('node2');
    assert.match(node2, /--cert=\/etc\/ssl\/etcd\/ssl\/admin-node2\.pem --key=\/etc\/ssl\/etcd\/ssl\/admin-node2-key\.pem/);
    assert.match(node2, /ETCD_CERT_FILE=\/etc\/ssl\/etcd\/ssl\/member-node2\.pem/);
    assert.match(node2, /ETCD_PEER_KEY_FILE=\/etc\/ssl\/etcd\/ssl\/member-node2-key\.pem/);
    assert.match(node2, /cat -- \/etc\/ssl\/etcd\/ssl\/member-node2\.pem/, 'etcd_cert reads the member certificate of this host');
    assert.ok(!node2.includes('inventory_hostname') && !node2.includes('node1.pem'), 'no other host’s and no unfilled path');
  });

  it("a host's own tls: replaces the cluster's key by key; {{ member_name }} names the member; hostTls is the one resolver", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'runbook-tls-'));
    try {
      const file = path.join(dir, 'inv.yml');
      writeFileSync(
        file,
        [
          'cluster:',
          '  name: t',
          '  etcd_version: "3.5.16"',
          '  tls: {ca: /pki/ca.pem, cert: "/pki/admin-{{ inventory_hostname }}.pem", key: "/pki/admin-{{inventory_hostname}}-key.pem", server_cert: "/pki/{{ member_name }}.pem"}',
          'hosts:',
          '  h1: {address: 10.0.0.1, etcd: {name: m1}}',
          '  h2: {address: 10.0.0.2, tls: {cert: /other/h2.pem}}',
          'groups: {etcd: {hosts: [h1, h2]}}',
          '',
        ].join('\n'),
      );
      const r = loadInventory(file);
      assert.ok(r.inventory, JSON.stringify(r.diagnostics));
      assert.deepEqual(hostTls(r.inventory, 'h1'), { ca: '/pki/ca.pem', cert: '/pki/admin-h1.pem', key: '/pki/admin-h1-key.pem', serverCert: '/pki/m1.pem' });
      assert.deepEqual(hostTls(r.inventory, 'h2'), { ca: '/pki/ca.pem', cert: '/other/h2.pem', key: '/pki/admin-h2-key.pem', serverCert: '/pki/h2.pem' });
      // Anything else in braces is not a placeholder: refused by the schema like any other bad path.
      writeFileSync(file, readFileSync(file, 'utf8').replace('{{ member_name }}', "{{ lookup('env', 'X') }}"));
      const bad = loadInventory(file);
      assert.equal(bad.inventory, undefined);
      assert.deepEqual(
        bad.diagnostics.map((d) => [d.code, d.line]),
        [['schema-pattern', 4]],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Why: IPv6 addresses are refused outright', () => {
  it('a host address fd00::11 gives bracketed URLs (https://[fd00::11]:2380); a malformed one is refused at its position', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'runbook-v6-'));
    try {
      const file = path.join(dir, 'inv.yml');
      const text = (a3: string): string =>
        [
          'cluster: {name: v6, etcd_version: "3.4.23", scheme: https, tls: {ca: /p/ca.pem, cert: /p/c.pem, key: /p/k.pem}}',
          'hosts:',
          '  e1: {address: "fd00::11"}',
          '  e2: {address: "fd00::12", ssh: {jump: "root@[fd00::11]:22"}}',
          `  e3: {address: "${a3}"}`,
          'groups: {etcd: {hosts: [e1, e2, e3]}}',
          '',
        ].join('\n');
      writeFileSync(file, text('fd00::13'));
      const r = loadInventory(file);
      assert.ok(r.inventory, JSON.stringify(r.diagnostics));
      assert.equal(r.inventory.facts.initialCluster, 'e1=https://[fd00::11]:2380,e2=https://[fd00::12]:2380,e3=https://[fd00::13]:2380');
      assert.equal(r.inventory.facts.endpoints, 'https://[fd00::11]:2379,https://[fd00::12]:2379,https://[fd00::13]:2379');
      writeFileSync(file, text('fd00:::13'));
      const bad = loadInventory(file);
      assert.deepEqual(
        bad.diagnostics.map((d) => [d.code, d.line, d.col]),
        [['schema-pattern', 5, 17]],
      );
      // kubespray: ip=fd00::21 becomes the bracketed member URL too.
      writeFileSync(path.join(dir, 'inventory.ini'), '[etcd]\nnode1 ansible_host=fd00::21\n[kube_control_plane]\nnode1\n[all:vars]\netcd_version=3.5.16\n');
      const k = loadInventory(path.join(dir, 'inventory.ini'));
      assert.ok(k.inventory, JSON.stringify(k.diagnostics));
      assert.equal(k.inventory.facts.members[0]?.peerUrl, 'https://[fd00::21]:2380');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
