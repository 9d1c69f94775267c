// runbook snapshot verify FILE: prove a snapshot is restorable on the controller. It restores the
// file into a scratch directory, starts a throwaway one-member etcd that listens only on unix
// sockets inside that directory (mode 0700: no TCP port, so no other user or host can read the
// restored keys while it runs), reads its revision and live key count, then stops that etcd by
// its PID and removes the scratch directory. Output of every child is kept within a bound. A manifest next to the file (FILE.manifest.json,
// written by backup.yml) is checked too: sha256, revision and live key count must match.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastLine } from '../execute/actions.js';
import { parseEtcdJson } from '../modules/derive.js';
import { BoundedOutput } from '../transports/common.js';
import { stableStringify } from '../report/stable-json.js';
import { EXIT, type Io } from '../model/io.js';

export interface SnapshotVerifyOptions {
  format?: string;
  /** A raw member/snap/db copy has no snapshot hash: restore it with --skip-hash-check. */
  skipHashCheck?: boolean;
  /** Seconds to wait for the throwaway etcd to serve (default 60). */
  timeout?: number;
  /** Called while the throwaway etcd serves (tests check who can reach it): its scratch dir and client URL. */
  whileServing?: (served: { scratch: string; clientUrl: string; pid: number }) => Promise<void>;
}

const SYS_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment for etcd tools: without ETCD_* / ETCDCTL_* of the caller (etcd refuses a setting given twice). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD_') && !k.startsWith('ETCDCTL_')) env[k] = v;
  env.PATH = process.env.PATH ? `${process.env.PATH}:${SYS_PATH}` : SYS_PATH;
  return env;
}

/** What is kept of a tool's output: JSON answers are small; a noisy or broken tool must not fill memory. */
export const MAX_TOOL_OUTPUT_BYTES = 1024 * 1024;
/** What is kept of the throwaway etcd's log (its last lines explain an early exit). */
export const MAX_ETCD_LOG_BYTES = 64 * 1024;

/** Run an etcd tool; stdout and stderr each kept up to `maxBytes` (the rest counted and dropped). */
export function runTool(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; cwd?: string; maxBytes?: number } = {},
): Promise<Run & { truncated: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    const out = new BoundedOutput(opts.maxBytes ?? MAX_TOOL_OUTPUT_BYTES);
    const err = new BoundedOutput(opts.maxBytes ?? MAX_TOOL_OUTPUT_BYTES);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    const done = (code: number | null, extra = ''): void => {
      clearTimeout(timer);
      resolve({ code, stdout: out.text(), stderr: `${err.text()}${extra}`, truncated: out.truncated || err.truncated });
    };
    child.on('error', (e) => done(null, e.message));
    child.on('close', (code) => done(code));
  });
}

const run = (cmd: string, args: string[], timeoutMs = 60_000, cwd?: string): Promise<Run> => runTool(cmd, args, { timeoutMs, ...(cwd ? { cwd } : {}) });

/** The last `limit` bytes of a stream (etcd's log: the end says why it stopped). */
class Tail {
  private buf = Buffer.alloc(0);
  constructor(private readonly limit: number) {}
  push(b: Buffer): void {
    this.buf = Buffer.concat([this.buf, b]);
    if (this.buf.length > 2 * this.limit) this.buf = Buffer.from(this.buf.subarray(this.buf.length - this.limit));
  }
  text(): string {
    return this.buf.subarray(Math.max(0, this.buf.length - this.limit)).toString('utf8');
  }
}

function onPath(tool: string): boolean {
  const dirs = (cleanEnv().PATH ?? '').split(':');
  return dirs.some((d) => d !== '' && existsSync(join(d, tool)));
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Stop the throwaway etcd: SIGTERM to its PID, SIGKILL after 10 s. Only this child is signalled. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

export interface VerifyReport {
  file: string;
  sha256: string;
  size: number;
  snapshot: { hash: number; revision: number; total_keys: number; total_size: number };
  restored: { revision: number; keys: number; endpoint: string };
  manifest: { path: string; checked: boolean; problems: string[] } | null;
  ok: boolean;
}

/** Compare a snapshot with the manifest written beside it (if there is one). */
function checkManifest(manifestPath: string, sha: string, revision: number, keys: number): VerifyReport['manifest'] {
  if (!existsSync(manifestPath)) return null;
  const problems: string[] = [];
  try {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as { sha256?: string; revision?: number; live_keys?: number | null };
    if (m.sha256 !== sha) problems.push(`sha256 ${sha} differs from the manifest's ${String(m.sha256)}`);
    if (typeof m.revision === 'number' && m.revision !== revision) problems.push(`revision ${revision} differs from the manifest's ${m.revision}`);
    if (typeof m.live_keys === 'number' && m.live_keys !== keys) problems.push(`${keys} keys, the manifest says ${m.live_keys}`);
  } catch (e) {
    problems.push(`manifest unreadable: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { path: manifestPath, checked: true, problems };
}

export async function runSnapshotVerify(file: string, opts: SnapshotVerifyOptions, io: Io): Promise<number> {
  const fail = (msg: string, code: number = EXIT.FAILED): number => {
    io.err(`runbook snapshot verify: ${msg}\n`);
    return code;
  };
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    return fail(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`, EXIT.INVALID);
  }
  if (!st.isFile()) return fail(`${file} is not a file`, EXIT.INVALID);
  if (!onPath('etcd')) return fail('etcd is not installed on this machine (needed to start the throwaway member)', EXIT.INVALID);
  // etcdutl (3.5+) restores snapshots; 3.4 has only etcdctl.
  const restoreTool = onPath('etcdutl') ? 'etcdutl' : 'etcdctl';
  if (!onPath(restoreTool)) return fail('neither etcdutl nor etcdctl is installed on this machine', EXIT.INVALID);

  const sha = await sha256File(file);
  const statusRun = await run(restoreTool, ['--write-out=json', 'snapshot', 'status', file]);
  if (statusRun.code !== 0) return fail(`${file} is not a readable snapshot: ${lastLine(statusRun.stderr) || lastLine(statusRun.stdout)}`);
  const status = parseEtcdJson(statusRun.stdout) as { hash?: number; revision?: number; totalKey?: number; totalSize?: number };

  const scratch = await mkdtemp(join(tmpdir(), 'runbook-snapshot-verify-'));
  const dataDir = join(scratch, 'data');
  let child: ChildProcess | undefined;
  const killOnExit = (): void => {
    if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  try {
    // Unix sockets in the scratch dir (mkdtemp makes it 0700): only this user reaches them, and no
    // TCP port is opened. etcd wants unix URLs in host:port form and makes the socket file of that
    // name in its working directory, so etcd and etcdctl run with the scratch dir as cwd.
    const clientUrl = 'unix://client:2379';
    const peerUrl = 'unix://peer:2380';
    const restore = await run(restoreTool, [
      'snapshot',
      'restore',
      file,
      `--data-dir=${dataDir}`,
      '--name=verify',
      `--initial-cluster=verify=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      '--initial-cluster-token=runbook-snapshot-verify',
      ...(opts.skipHashCheck ? ['--skip-hash-check'] : []),
    ]);
    if (restore.code !== 0) {
      const why = lastLine(restore.stderr) || lastLine(restore.stdout);
      return fail(`restoring ${file} failed: ${why}${/missing hash/.test(why) ? ' (a raw member/snap/db copy: pass --skip-hash-check)' : ''}`);
    }

    const log = new Tail(MAX_ETCD_LOG_BYTES);
    child = spawn(
      'etcd',
      [
        '--name=verify',
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=verify=${peerUrl}`,
      ],
      { env: cleanEnv(), cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (b: Buffer) => log.push(b));
    child.stderr?.on('data', (b: Buffer) => log.push(b));
    child.on('error', () => undefined);
    const ctl = (...args: string[]): Promise<Run> =>
      run('etcdctl', [`--endpoints=${clientUrl}`, '--dial-timeout=2s', '--command-timeout=10s', ...args], 30_000, scratch);

    const deadline = Date.now() + (opts.timeout ?? 60) * 1000;
    let served: Run | undefined;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const last = log.text().trim().split('\n').slice(-5).join('\n');
        return fail(`the throwaway etcd exited (${child.exitCode ?? child.signalCode ?? '?'}) before serving:\n${last}`);
      }
      served = await ctl('endpoint', 'status', '--write-out=json');
      if (served.code === 0) break;
      if (Date.now() > deadline) return fail(`the throwaway etcd did not serve within ${opts.timeout ?? 60} s: ${lastLine(served.stderr)}`);
      await sleep(200);
    }
    if (opts.whileServing && child.pid !== undefined) await opts.whileServing({ scratch, clientUrl, pid: child.pid });
    const es = parseEtcdJson(served.stdout) as { Status?: { header?: { revision?: number } } }[];
    const revision = es[0]?.Status?.header?.revision ?? 0;
    const count = await ctl('get', '', '--prefix', '--keys-only', '--limit=1', '--write-out=json');
    if (count.code !== 0) return fail(`reading the restored keys failed: ${lastLine(count.stderr)}`);
    const keys = (parseEtcdJson(count.stdout) as { count?: number }).count ?? 0;

    const manifestPath = `${file}.manifest.json`;
    const manifest = checkManifest(manifestPath, sha, revision, keys);
    const report: VerifyReport = {
      file,
      sha256: sha,
      size: st.size,
      snapshot: { hash: status.hash ?? 0, revision: status.revision ?? 0, total_keys: status.totalKey ?? 0, total_size: status.totalSize ?? 0 },
      restored: { revision, keys, endpoint: `unix:${join(scratch, 'client:2379')}` },
      manifest,
      ok: (manifest?.problems.length ?? 0) === 0,
    };
    if (opts.format === 'json') io.out(stableStringify({ format: 'runbook-snapshot-verify/1', ...report }));
    else {
      io.out(`${file}: ${report.ok ? 'restorable' : 'restorable, but it does not match its manifest'}\n`);
      io.out(`  sha256 ${sha} · ${st.size} bytes · snapshot hash ${report.snapshot.hash}\n`);
      io.out(`  restored and served by a throwaway etcd on a private unix socket: revision ${revision}, ${keys} keys\n`);
      if (manifest) io.out(manifest.problems.length ? manifest.problems.map((p) => `  MISMATCH: ${p}\n`).join('') : `  matches ${manifestPath}\n`);
    }
    return report.ok ? EXIT.OK : EXIT.FAILED;
  } finally {
    if (child) await stopChild(child);
    process.off('exit', killOnExit);
    await rm(scratch, { recursive: true, force: true });
  }
}
