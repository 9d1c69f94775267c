// The floor for fan-out benchmarks: the least work that runs the same commands over SSH. Bare
// ssh2 (no runbook code): one connection per host (Nagle off), host key checked against the lab
// known_hosts, the commands one after another on that connection, all hosts in parallel.
// No PID wrapper, no output capture beyond draining, no events, no journal.
//
// Used in-process (sshFloor) and as a child process, to compare with `runbook apply` as users
// run it: node dist/test/bench/ssh-floor.js SPEC.json
import ssh2 from 'ssh2';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const { Client } = ssh2;
type SshClient = InstanceType<typeof Client>;

export interface FloorSpec {
  addresses: string[];
  user: string;
  keyPath: string;
  knownHostsPath: string;
  commands: string[];
  /**
   * free (default): each host runs its commands one after another, independently of the others.
   * linear: command i starts on every host only after command i-1 finished on every host (the
   * barrier of a linear strategy), still over one connection per host.
   */
  mode?: 'free' | 'linear';
}

/** address → raw public key blobs from an OpenSSH known_hosts file (plain `addr type base64` lines only). */
function knownKeys(path: string): Map<string, Buffer[]> {
  const out = new Map<string, Buffer[]>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [names, , b64] = line.trim().split(/\s+/);
    if (!names || !b64 || names.startsWith('#') || names.startsWith('|')) continue;
    for (const n of names.split(',')) out.set(n, [...(out.get(n) ?? []), Buffer.from(b64, 'base64')]);
  }
  return out;
}

function runOne(client: SshClient, cmd: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    client.exec(cmd, (err, ch) => {
      if (err) return reject(err);
      let code: number | null = null;
      ch.on('exit', (c: number | null) => (code = c));
      ch.on('data', () => undefined);
      ch.stderr.on('data', () => undefined);
      ch.on('close', () => resolve(code));
      ch.end();
    });
  });
}

function connect(address: string, spec: FloorSpec, privateKey: Buffer, keys: Map<string, Buffer[]>): Promise<SshClient> {
  const client = new Client();
  return new Promise<SshClient>((resolve, reject) => {
    client.once('ready', () => resolve(client));
    client.once('error', reject);
    client.connect({
      host: address,
      port: 22,
      username: spec.user,
      privateKey,
      readyTimeout: 10_000,
      hostVerifier: (key: Buffer) => (keys.get(address) ?? []).some((k) => k.equals(key)),
    });
    client.setNoDelay(true);
  });
}

function end(client: SshClient): Promise<void> {
  return new Promise<void>((resolve) => {
    client.once('close', () => resolve());
    client.end();
  });
}

async function must(client: SshClient, address: string, cmd: string): Promise<void> {
  const code = await runOne(client, cmd);
  if (code !== 0) throw new Error(`${address}: ${cmd} exited ${String(code)}`);
}

async function host(address: string, spec: FloorSpec, privateKey: Buffer, keys: Map<string, Buffer[]>): Promise<void> {
  const client = await connect(address, spec, privateKey, keys);
  try {
    for (const cmd of spec.commands) await must(client, address, cmd);
  } finally {
    await end(client);
  }
}

async function linear(spec: FloorSpec, privateKey: Buffer, keys: Map<string, Buffer[]>): Promise<void> {
  const clients = await Promise.all(spec.addresses.map((a) => connect(a, spec, privateKey, keys)));
  try {
    for (const cmd of spec.commands) await Promise.all(clients.map((c, i) => must(c, spec.addresses[i] ?? '?', cmd)));
  } finally {
    await Promise.all(clients.map(end));
  }
}

/** Every host in parallel; resolves when every connection is closed again. */
export async function sshFloor(spec: FloorSpec): Promise<void> {
  const privateKey = readFileSync(spec.keyPath);
  const keys = knownKeys(spec.knownHostsPath);
  if (spec.mode === 'linear') await linear(spec, privateKey, keys);
  else await Promise.all(spec.addresses.map((a) => host(a, spec, privateKey, keys)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const specPath = process.argv[2];
  if (!specPath) {
    process.stderr.write('usage: ssh-floor.js SPEC.json\n');
    process.exit(2);
  }
  sshFloor(JSON.parse(readFileSync(specPath, 'utf8')) as FloorSpec).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`ssh-floor: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
