// etcd_cert: a member's TLS files, checked, issued and rotated.
//
// check   will etcd accept them? Read-only: the CAs and the member's server, peer and client
//         certificates are read off the host (`cat`, as the user etcd runs as, so a file etcd
//         cannot read is found too), of each private key only its public half (`openssl pkey
//         -pubout`: the key itself never leaves the host); engine/tls/check.ts judges them on the
//         controller (derive tls_check): readable, signed by the cluster CA, valid, SANs covering
//         the host of the member's peer and client URLs, each belonging to its key.
// issue   new certificates beside the old ones (`<file>.new-<run stamp>`): the key is made on the
//         member and never leaves it; its CSR (the old certificate's subject) is signed on the
//         controller with openssl by the cluster CA, whose key is an inventory secret (filled into
//         the command only when it runs: the plan shows the placeholder, the journal ******; the
//         controller's shell gets the command on stdin and hands the key to openssl on a pipe, so it
//         is never on an argv or on disk); the certificate is written back and checked like `check`.
// install old files copied aside (`<file>.bak-<run stamp>`, never deleted), the new ones renamed
//         into the paths the inventory and etcd's config name.
// check_ca_key the CA key secret belongs to the cluster CA on the member (before anything is issued).
// config  the member's config names exactly those paths (what a rotation rewrites).
// served  the certificate each of the member's URLs presents is the installed file (serial, expiry).
import { hostTls } from '../../inventory/tls.js';
import type { Action, JsonObject } from '../../model/types.js';
import { joinSh, sh, type ShellText, type ShValue } from '../../shell/sh.js';
import type { CertRole } from '../../tls/check.js';
import { urlHost } from '../../tls/check.js';
import { ArgError, exec, local, num, opsModule, optStr, RUN_STAMP, str, type ModulePlan, type PlanCtx } from '../module.js';
import { ref, stoppedManifest } from './common.js';

/** A certificate and its key. */
export interface CertPair {
  cert: string;
  key: string;
}

/** The TLS files a member uses, as etcd's config and etcdctl name them. */
export interface MemberTls {
  ca: string;
  peerCa: string;
  server: CertPair;
  peer: CertPair;
  client: CertPair;
}

/** This host's TLS files (the one place they are resolved for etcd_cert), or undefined without TLS. */
export function memberTls(ctx: PlanCtx): MemberTls | undefined {
  const t = hostTls(ctx.inventory, ctx.host);
  if (!t) return undefined;
  const serverCert = t.serverCert ?? t.cert;
  const serverKey = t.serverKey ?? t.key;
  return {
    ca: t.ca,
    peerCa: t.peerCa ?? t.ca,
    server: { cert: serverCert, key: serverKey },
    peer: { cert: t.peerCert ?? serverCert, key: t.peerKey ?? serverKey },
    client: { cert: t.cert, key: t.key },
  };
}

/** One certificate file with every role it serves (kubespray names one file for server and peer). */
export interface CertFile extends CertPair {
  roles: CertRole[];
  ca: string;
}

export function certFiles(f: MemberTls): CertFile[] {
  const out: CertFile[] = [];
  const add = (p: CertPair, role: CertRole, ca: string): void => {
    const same = out.find((x) => x.cert === p.cert);
    if (same) same.roles.push(role);
    else out.push({ ...p, roles: [role], ca });
  };
  add(f.server, 'server', f.ca);
  add(f.peer, 'peer', f.peerCa);
  add(f.client, 'client', f.ca);
  return out;
}

const READ_CODES = [0, 1, 2, 125, 126, 127];
/** etcd reads its files as the etcd user (systemd); as root, a file only root can read looks fine. */
const etcdReader = (ctx: PlanCtx): string =>
  ctx.inventory.cluster.deployment === 'systemd' && ctx.inventory.cluster.etcdUser !== 'root' ? ctx.inventory.cluster.etcdUser : '';
const asUser = (user: string, cmd: ShellText): ShellText => (user ? sh`runuser -u ${user} -- ${cmd}` : cmd);
const readAs = (user: string, file: string, bind: string): Action => exec(asUser(user, sh`cat -- ${file}`), { probe: true, okCodes: READ_CODES, bind });
// The key is read as that user too (cat names a missing or unreadable file plainly), then only its
// public half is printed: the key passes through a shell variable and printf, never an argv.
const publicHalf = (user: string, key: string, bind: string): Action =>
  exec(sh`k=$(${asUser(user, sh`cat -- ${key}`)}) && printf '%s\\n' "$k" | openssl pkey -pubout`, { probe: true, okCodes: READ_CODES, bind });

/** `file` owned like `like` (when it exists), else by `owner`. */
const sameOwner = (like: string, file: string, owner: string): ShellText =>
  sh`if [ -e ${like} ]; then chown --reference=${like} ${file}; else chown ${owner} ${file}; fi`;

function member(ctx: PlanCtx): NonNullable<PlanCtx['host']['etcd']> {
  const m = ctx.host.etcd;
  if (!m) {
    const hint = 'run it on a host of group etcd';
    throw new ArgError('op', `${ctx.host.name} is not an etcd member in ${ctx.inventory.file}`, hint);
  }
  return m;
}

/** A cluster without TLS has no certificates: the step says so and runs nothing. */
const noTls = (): ModulePlan => {
  const none: Action = { kind: 'derive', fn: 'json', args: ['no TLS in this inventory: no certificates to check'], bind: 'skipped' };
  return { actions: [none], result: ref('skipped') };
};

const NEW = `.new-${RUN_STAMP}`;
const BAK = `.bak-${RUN_STAMP}`;

/** Read every file of the member (with `suffix`: the new ones beside them) and judge them. */
function checkActions(ctx: PlanCtx, f: MemberTls, suffix: string): Action[] {
  const m = member(ctx);
  const user = etcdReader(ctx);
  const cas = [...new Set([f.ca, f.peerCa])];
  const files = certFiles(f);
  const actions: Action[] = cas.map((ca, i) => readAs(user, ca, `ca${i}`));
  files.forEach((c, i) => {
    const as = c.roles.includes('client') && c.roles.length === 1 ? '' : user;
    actions.push(readAs(as, c.cert + suffix, `crt${i}`), publicHalf(as, c.key + suffix, `pub${i}`));
  });
  // Keys in sorted order, as a saved plan (stable JSON) stores them: `runbook diff` of a saved plan and of --base then agree.
  const spec: JsonObject = {
    cas: cas.map((ca, i) => ({ as: user, file: ca, read: ref(`ca${i}`) })),
    certs: files.map((c, i) => ({
      as: c.roles.includes('client') && c.roles.length === 1 ? '' : user,
      ca: cas.indexOf(c.ca),
      file: c.cert + suffix,
      key: c.key + suffix,
      pub: ref(`pub${i}`),
      read: ref(`crt${i}`),
      roles: c.roles,
    })),
    ...(suffix ? { fresh: true } : {}),
    hosts: [...new Set([urlHost(m.peerUrl), urlHost(m.clientUrl)])],
  };
  actions.push({ kind: 'derive', fn: 'tls_check', args: [spec, RUN_STAMP], bind: 'certs' });
  return actions;
}

function check(args: JsonObject, ctx: PlanCtx): ModulePlan {
  member(ctx);
  const f = memberTls(ctx);
  if (!f) return noTls();
  return { actions: checkActions(ctx, f, str(args, 'files', 'current') === 'new' ? NEW : ''), result: ref('certs') };
}

/** Names a certificate for a member carries: kubeadm's set (name, localhost, loopbacks) and the hosts of its URLs and address. */
export function memberSans(ctx: PlanCtx, extra: string | undefined): string[] {
  const m = member(ctx);
  const hosts = [ctx.host.name, m.name, 'localhost', urlHost(m.peerUrl), urlHost(m.clientUrl), ctx.host.address, '127.0.0.1', '::1'];
  const sans = hosts.map((h) => (/^[0-9.]+$/.test(h) || h.includes(':') ? `IP:${h}` : `DNS:${h}`));
  for (const s of (extra ?? '').split(',').map((x) => x.trim())) if (s) sans.push(s);
  return [...new Set(sans)];
}

/** The inventory secret holding the CA key (refused at the argument when the inventory lacks it). */
function caKeySecret(args: JsonObject, ctx: PlanCtx): string {
  const secret = str(args, 'ca_key', 'etcd_ca_key');
  if (!ctx.inventory.secretVars.includes(secret)) {
    throw new ArgError(
      'ca_key',
      `no secret "${secret}" in ${ctx.inventory.file}`,
      `declare the cluster CA's key under secrets: (e.g. ${secret}: {file: /path/to/ca.key})`,
    );
  }
  return secret;
}

/** Does the CA key secret belong to the cluster CA on this member? Its public half is printed on the controller (the key on a pipe). */
function caKey(args: JsonObject, ctx: PlanCtx): ModulePlan {
  member(ctx);
  const f = memberTls(ctx);
  if (!f) return noTls();
  const secret = caKeySecret(args, ctx);
  return {
    actions: [
      exec(sh`cat -- ${f.ca}`, { probe: true, okCodes: READ_CODES, bind: 'ca' }),
      local(sh`printf '%s\\n' ${`⟨!secrets.${secret}⟩`} | openssl pkey -pubout`, { probe: true, bind: 'key' }),
      { kind: 'derive', fn: 'ca_key_matches', args: [ref('ca'), f.ca, ref('key'), secret], bind: 'ca_key' },
    ],
    result: ref('ca_key'),
  };
}

function issue(args: JsonObject, ctx: PlanCtx): ModulePlan {
  const m = member(ctx);
  const f = memberTls(ctx);
  if (!f) return noTls();
  const secret = caKeySecret(args, ctx);
  const days = num(args, 'days', 365);
  const sans = memberSans(ctx, optStr(args, 'sans'));
  const actions: Action[] = [exec(sh`cat -- ${f.ca}`, { probe: true, bind: 'ca' })];
  certFiles(f).forEach((c, i) => {
    const serving = c.roles.includes('server') || c.roles.includes('peer');
    const key = c.key + NEW;
    const owner = serving ? `${ctx.inventory.cluster.etcdUser}:` : 'root:';
    // The key is made here once (a resumed run reuses it), owner-only and owned like the old one;
    // the CSR carries the old certificate's subject (a CN that RBAC may map to a user stays).
    const genKey = sh`if [ ! -s ${key} ]; then openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ${key}; fi`;
    const keyCmd = sh`umask 077; ${genKey} && chmod 0600 ${key} && ${sameOwner(c.key, key, owner)}`;
    const subject = `/CN=${serving ? m.name : `${m.name}-client`}`;
    const csrCmd = sh`if [ -r ${c.cert} ]; then openssl x509 -x509toreq -in ${c.cert} -signkey ${key}; else openssl req -new -key ${key} -subj ${subject}; fi`;
    actions.push(exec(sh`${keyCmd} && ${csrCmd}`, { bind: `csr${i}`, note: `new key beside ${c.key} (never leaves the host), and its CSR` }));
    const ext = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${serving ? 'serverAuth,clientAuth' : 'clientAuth'}`,
      ...(serving ? [`subjectAltName=${sans.join(',')}`] : []),
    ];
    // On the controller: public inputs in a private temp dir, the CA key only on openssl's stdin.
    const tmp = sh`d=$(mktemp -d) && trap 'rm -rf "$d"' EXIT`;
    const write = (value: ShValue, to: ShellText): ShellText => sh`printf '%s\\n' ${value} > ${to}`;
    const files = sh`${tmp} && ${write(ref(`csr${i}.stdout`), sh`"$d/csr"`)} && ${write(ref('ca.stdout'), sh`"$d/ca"`)} && ${write(ext, sh`"$d/ext"`)}`;
    const caKey = sh`printf '%s\\n' ${`⟨!secrets.${secret}⟩`}`;
    const sign = sh`${caKey} | openssl x509 -req -in "$d/csr" -CA "$d/ca" -CAkey /dev/stdin -days ${days} -sha256 -extfile "$d/ext"`;
    actions.push(local(sh`${files} && ${sign}`, { bind: `signed${i}` }));
    actions.push({ kind: 'put', dest: c.cert + NEW, mode: '0644', content: `${ref(`signed${i}.stdout`)}\n` });
    actions.push(exec(sameOwner(c.cert, c.cert + NEW, owner)));
  });
  actions.push(...checkActions(ctx, f, NEW));
  return { actions, result: ref('certs') };
}

function install(_args: JsonObject, ctx: PlanCtx): ModulePlan {
  member(ctx);
  const f = memberTls(ctx);
  if (!f) return noTls();
  // Per file: the old cert and key copied aside once, then the key and the certificate renamed
  // into place (a rename never leaves the path missing). Nothing to do when already moved (a resumed run).
  const moves = certFiles(f).map((c) => {
    const aside = (p: string): ShellText => sh`{ [ ! -e ${p} ] || [ -e ${p + BAK} ] || cp -p ${p} ${p + BAK}; }`;
    const key = sh`{ [ ! -e ${c.key + NEW} ] || mv -f ${c.key + NEW} ${c.key}; }`;
    return sh`if [ -e ${c.cert + NEW} ]; then ${aside(c.cert)} && ${aside(c.key)} && ${key} && mv -f ${c.cert + NEW} ${c.cert}; fi`;
  });
  return { actions: [exec(joinSh(moves, ' && '), { note: 'old files kept aside (.bak-<run stamp>), the new ones in their place' })] };
}

function config(_args: JsonObject, ctx: PlanCtx): ModulePlan {
  member(ctx);
  const f = memberTls(ctx);
  if (!f) return noTls();
  const c = ctx.inventory.cluster;
  const pairs: [string, string][] = [
    ['trusted-ca-file', f.ca],
    ['cert-file', f.server.cert],
    ['key-file', f.server.key],
    ['peer-trusted-ca-file', f.peerCa],
    ['peer-cert-file', f.peer.cert],
    ['peer-key-file', f.peer.key],
  ];
  const envKey = (flag: string): string => `ETCD_${flag.toUpperCase().replace(/-/g, '_')}`;
  const file = c.deployment === 'systemd' ? c.configFile : c.manifestFile;
  // systemd: an ETCD_X=path line; static pod: a `- --x=path` line (the manifest may be parked while etcd is stopped).
  const tests = pairs.map(([flag, path]) => {
    const line = c.deployment === 'systemd' ? `${envKey(flag)}=${path}` : `- --${flag}=${path}`;
    const setting = c.deployment === 'systemd' ? envKey(flag) : `--${flag}`;
    const missing = `${file} does not name ${path} (${setting}): the rotation replaces the files the inventory names`;
    return sh`{ sed 's/^[[:space:]]*//' "$f" | grep -qxF -- ${line} || { echo ${missing} >&2; false; }; }`;
  });
  const where = c.deployment === 'systemd' ? sh`f=${file}` : sh`f=${file}; [ -e "$f" ] || f=${stoppedManifest(ctx)}`;
  return { actions: [exec(sh`${where}; ${joinSh(tests, ' && ')}`, { probe: true })] };
}

function served(_args: JsonObject, ctx: PlanCtx): ModulePlan {
  const m = member(ctx);
  const f = memberTls(ctx);
  if (!f) return noTls();
  // The handshake as a client would make it (client-cert-auth is on), printing the server's certificate.
  const probe = (url: string, ca: string, as: CertPair, bind: string): Action =>
    exec(sh`openssl s_client -connect ${new URL(url).host} -CAfile ${ca} -cert ${as.cert} -key ${as.key} </dev/null 2>/dev/null | openssl x509`, {
      probe: true,
      okCodes: READ_CODES,
      bind,
    });
  const actions: Action[] = [
    probe(m.clientUrl, f.ca, f.client, 'client_served'),
    exec(sh`cat -- ${f.server.cert}`, { probe: true, okCodes: READ_CODES, bind: 'server_file' }),
    probe(m.peerUrl, f.peerCa, f.peer, 'peer_served'),
    exec(sh`cat -- ${f.peer.cert}`, { probe: true, okCodes: READ_CODES, bind: 'peer_file' }),
  ];
  const spec: JsonObject = {
    checks: [
      { file: f.server.cert, installed: ref('server_file'), served: ref('client_served'), url: m.clientUrl },
      { file: f.peer.cert, installed: ref('peer_file'), served: ref('peer_served'), url: m.peerUrl },
    ],
  };
  actions.push({ kind: 'derive', fn: 'served_certs', args: [spec], bind: 'served' });
  return { actions, result: ref('served') };
}

export const etcd_cert = opsModule({
  name: 'etcd_cert',
  schema: 'etcd_cert',
  summary: "check, issue and rotate this member's server, peer and client certificates from the cluster CA",
  ops: {
    check: {
      readOnly: true,
      plan: check,
      intent: () => "refuse unless this member's server and peer certificates are signed by the cluster CA, valid, and cover its URLs",
    },
    check_ca_key: { readOnly: true, plan: caKey, intent: () => 'refuse unless the CA key secret belongs to the cluster CA' },
    config: { readOnly: true, plan: config, intent: () => "refuse unless this member's etcd config names the inventory's TLS files" },
    served: { readOnly: true, plan: served, intent: () => "refuse unless each of this member's URLs presents the installed certificate" },
    issue: { readOnly: false, plan: issue, intent: () => 'make a new key here and a certificate signed by the cluster CA, beside the old files' },
    install: { readOnly: false, plan: install, intent: () => 'copy the old TLS files aside and rename the new ones into place' },
  },
});
