// SSH transport: one persistent ssh2 connection per host. Commands run in its session shell
// (session-shell.ts: one bash per connection, a job per command) when they can; uploads,
// downloads, commands with stdin and those meeting a busy shell get an exec channel of their own.
//
// ssh2 is used directly rather than through node-ssh (which only wraps it): node-ssh's
// execCommand decodes every chunk to a string on its own (a UTF-8 character split across two
// chunks is mangled), keeps all output in memory without bound, hides the channel we need for
// timeouts/backpressure, and removes its 'error' listener after `ready`, so a later socket error
// would crash the process. Everything needed here (hostVerifier, sock for ProxyJump, forwardOut,
// keepalive, exec channels) is ssh2 API anyway.
//
// On an exec channel, commands run through the login user's shell (sshd runs `$SHELL -c <string>`), which
// sshd makes a session and process-group leader. The wrapper first prints that shell's PID on
// stderr behind a marker (stripped from the output), then `eval`s the quoted command. A timeout
// or abort kills that process group from a second exec channel (TERM, up to 1 s grace, KILL):
// OpenSSH ignores most channel signal requests, so closing the channel alone would leave the
// command running. With `become` the command runs as `sudo -n sh -c <wrapper>` (or `sudo -k -S`
// with the password on stdin), reporting the PID inside sudo too, and the kill runs under sudo.
// For a root login `become` is a no-op (no sudo needed or required on the host) unless
// `alwaysSudo` is set.
import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig, ParsedKey, ServerHostKeyAlgorithm } from 'ssh2';
import { createReadStream, createWriteStream } from 'node:fs';
import { access, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname as localDirname, join } from 'node:path';
import { posix } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { SshSettings } from '../model/types.js';
import {
  abortError,
  BoundedOutput,
  execResult,
  DEFAULT_MAX_OUTPUT_BYTES,
  HashingStream,
  transferMode,
  now,
  randomSuffix,
} from './common.js';
import {
  appendKnownHost,
  checkHostKey,
  fingerprintSha256,
  knownHostsName,
  knownKeyTypes,
  loadKnownHosts,
  parseKnownHosts,
  type KnownHosts,
} from './known-hosts.js';
import { SESSION_SHELL_COMMAND, SessionShell } from './session-shell.js';
import { shq } from '../shell/quote.js';
import { BecomeError, UnreachableError, type ExecOptions, type ExecResult, type TransferResult, type Transport } from './transport.js';

const { Client, utils } = ssh2;
type SshClient = InstanceType<typeof Client>;

export interface SshTransportOptions {
  /** Passphrase for an encrypted identity file. */
  passphrase?: string;
  /** Password for `sudo -S` when `become` is used by a non-root login. */
  sudoPassword?: string;
  /** Already-configured transport of the jump host (ProxyJump): the connection is tunnelled through it. */
  jumpTransport?: SshTransport;
  /** Warnings and notable events (accepted host keys, host key checking off, dropped connections). */
  log?: (msg: string) => void;
  /** Use sudo for `become` even when logging in as root (default: root runs the command directly). */
  alwaysSudo?: boolean;
  /**
   * At most this many exec channels at once on the connection. OpenSSH's MaxSessions is 10: with
   * the session shell and the kill channel that leaves 8, and sshd frees a closed session only
   * after it has read what follows the close, so one stays spare. Default 7.
   */
  maxChannels?: number;
}

type State = 'idle' | 'connecting' | 'ready' | 'dropped' | 'failed' | 'closed';
type SudoMode = 'nopasswd' | 'password';

/** Exit statuses recorded as soon as a channel opens (see openExec). */
const exitStatuses = new WeakMap<object, { code: number | null; signal?: string }>();

/** The part of an exec channel that drive() uses; a session-shell command provides it too. */
interface CommandChannel {
  // EventEmitter's own listener type, so both an ssh2 channel and an EventEmitter fit.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly stderr: { on(event: string, listener: (...args: any[]) => void): unknown };
  signal(name: string): unknown;
  close(): unknown;
  write(chunk: Buffer): unknown;
  end(chunk?: string | Buffer): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** Marker line the wrapper prints on stderr before the command: `\x1eRUNBOOK-PID:<pid>\n`. */
const PID_MARK = Buffer.from('\x1eRUNBOOK-PID:', 'latin1');
const REPORT_PID = `printf '\\036RUNBOOK-PID:%s\\n' "$$" >&2`;
/** How long a killed command may take to close its channel before we close it ourselves. */
const CLOSE_GRACE_MS = 1500;
/** How long a stop waits for the wrapper's PID report before closing the channel without a kill. */
const PID_WAIT_MS = 5000;
/** Bytes of stderr scanned for PID markers before giving up on them. */
const MAX_MARKER_SCAN = 64 * 1024;

/** Host key algorithms to offer first for each known_hosts key type, so a known key gets picked. */
const HOST_KEY_ALGOS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

export function expandHome(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  return p;
}

/** The command line the remote login shell gets for `cmd` (exported for tests/diagnostics). */
export function wrapRemoteCommand(cmd: string, sudo?: SudoMode): string {
  return `${REPORT_PID}; ${commandBody(cmd, sudo)}`;
}

/** The wrapper without its first PID report (the session shell reports its job's PID itself). */
function commandBody(cmd: string, sudo?: SudoMode): string {
  if (sudo === undefined) return `eval ${shq(cmd)}`;
  return `exec ${sudoPrefix(sudo)} sh -c ${shq(`${REPORT_PID}; eval ${shq(cmd)}`)}`;
}

function sudoPrefix(mode: SudoMode): string {
  // -k: always ask for (read) the password, so the first stdin line is never passed to the command.
  return mode === 'password' ? "sudo -k -S -p '' --" : 'sudo -n --';
}

/**
 * Kill the process groups (or, failing that, the processes) of `pids`: TERM, ≤1 s grace, KILL.
 * `kill -SIG -PGID` without `--`: dash's kill builtin does not accept `--`.
 */
export function killScript(pids: number[]): string {
  const list = pids.map((p) => String(Math.trunc(p))).join(' ');
  return [
    `for p in ${list}; do kill -TERM -$p 2>/dev/null || kill -TERM $p 2>/dev/null; done`,
    'i=0',
    'while [ $i -lt 10 ]; do',
    `  a=0; for p in ${list}; do if kill -0 -$p 2>/dev/null || kill -0 $p 2>/dev/null; then a=1; fi; done`,
    '  [ $a = 0 ] && exit 0',
    '  sleep 0.1 2>/dev/null || sleep 1; i=$((i+1))',
    'done',
    `for p in ${list}; do kill -KILL -$p 2>/dev/null; kill -KILL $p 2>/dev/null; done`,
    'exit 0',
  ].join('\n');
}

/** Counting semaphore for channels. */
class Semaphore {
  private waiters: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

/**
 * Splits the PID marker lines out of a stderr stream; everything else passes through unchanged
 * and in order. Markers may appear after other output (e.g. a noisy ~/.bashrc), even mid-line.
 * Scanning ends ("settles") once the expected number of PIDs is known, or after
 * MAX_MARKER_SCAN bytes of other output, or when `settle()` is called.
 */
class PidMarkerFilter {
  readonly pids: number[] = [];
  private held = Buffer.alloc(0);
  private scanning: boolean;
  private scanned = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(
    private readonly expected: number,
    private readonly out: (chunk: Buffer) => void,
  ) {
    this.scanning = expected > 0;
  }

  /** Call `cb` once scanning has settled (at once if it already has). */
  whenSettled(cb: () => void): void {
    if (this.scanning) this.waiters.push(cb);
    else cb();
  }

  push(chunk: Buffer): void {
    if (!this.scanning) {
      this.out(chunk);
      return;
    }
    let buf = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = Buffer.alloc(0);
    while (this.scanning) {
      const at = buf.indexOf(PID_MARK);
      if (at === -1) {
        // Hold back a tail that could be the start of a marker.
        let keep = 0;
        for (let k = Math.min(PID_MARK.length - 1, buf.length); k > 0; k--) {
          if (buf.subarray(buf.length - k).equals(PID_MARK.subarray(0, k))) {
            keep = k;
            break;
          }
        }
        this.pass(buf.subarray(0, buf.length - keep));
        buf = buf.subarray(buf.length - keep);
        break;
      }
      const nl = buf.indexOf(0x0a, at);
      if (nl === -1) {
        this.pass(buf.subarray(0, at));
        buf = buf.subarray(at);
        if (buf.length > 64) this.settle(); // too long for a marker line
        break;
      }
      this.pass(buf.subarray(0, at));
      const pid = Number(buf.subarray(at + PID_MARK.length, nl).toString('latin1'));
      if (Number.isInteger(pid) && pid > 1) this.pids.push(pid);
      buf = buf.subarray(nl + 1);
      if (this.pids.length >= this.expected) this.settle();
    }
    if (this.scanning) this.held = Buffer.from(buf);
    else if (buf.length > 0) this.out(buf);
  }

  /** Stop scanning, release anything held and notify waiters. */
  settle(): void {
    if (!this.scanning) return;
    this.scanning = false;
    const held = this.held;
    this.held = Buffer.alloc(0);
    if (held.length > 0) this.out(held);
    for (const cb of this.waiters.splice(0)) cb();
  }

  private pass(b: Buffer): void {
    if (b.length === 0) return;
    this.scanned += b.length;
    this.out(b);
    if (this.scanned > MAX_MARKER_SCAN) this.settle();
  }
}

interface ChannelRun {
  command: string;
  /** Bytes written to stdin before `stdin` (the sudo password line). */
  stdinPrefix?: Buffer;
  stdin?: string | Buffer | Readable;
  timeoutMs?: number;
  signal?: AbortSignal;
  maxOutputBytes?: number;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Stream stdout here (with backpressure) instead of capturing it. */
  stdoutSink?: Writable;
  /** Number of PID markers the wrapper prints (0 for raw commands that cannot be killed by PID). */
  pidMarkers: number;
  /** Run the kill under sudo (become by a non-root login). */
  killSudo?: SudoMode;
}

/** Identity files (by path, content and passphrase) already parsed and found usable. */
const checkedKeys = new Set<string>();

export class SshTransport implements Transport {
  readonly host: string;
  readonly address: string;
  readonly settings: SshSettings;
  /** Connections opened and channels used, for diagnostics and tests. */
  readonly stats = { connects: 0, channels: 0, shellCommands: 0, killChannels: 0 };

  private readonly opts: SshTransportOptions;
  private state: State = 'idle';
  private client: SshClient | undefined;
  private connecting: Promise<void> | undefined;
  /** Ends the handshake in progress, if any (see stopConnecting). */
  private cancelHandshake: (() => void) | undefined;
  private failure: Error | undefined;
  private dropReason = '';
  private sudo: Promise<SudoMode> | undefined;
  private readonly channels: Semaphore;
  /** The session shell (see session-shell.ts), once opened; shellUnsupported after it could not start on this connection. */
  private shell: SessionShell | undefined;
  private shellOpening: Promise<void> | undefined;
  private shellUnsupported = false;
  /** Kills waiting for the kill channel (see killRemote). */
  private readonly killQueue: { pids: number[]; sudo: SudoMode | undefined; done: () => void }[] = [];
  private killing: Promise<void> | undefined;

  constructor(hostName: string, address: string, settings: SshSettings, options: SshTransportOptions = {}) {
    this.host = hostName;
    this.address = address;
    this.settings = settings;
    this.opts = options;
    this.channels = new Semaphore(Math.max(1, options.maxChannels ?? 7));
  }

  /** `user@address:port` (plus the jump host), for messages. */
  get target(): string {
    const via = this.opts.jumpTransport ? ` via ${this.opts.jumpTransport.host}` : '';
    return `${this.settings.user}@${this.address}:${this.settings.port}${via}`;
  }

  get knownHostsPath(): string {
    return expandHome(this.settings.knownHosts);
  }

  get connected(): boolean {
    return this.state === 'ready';
  }

  // ───────────────────────────── connection ─────────────────────────────

  async connect(): Promise<void> {
    switch (this.state) {
      case 'ready':
        return;
      case 'connecting':
        return this.connecting;
      case 'failed':
        // No retry storm: a host that failed to connect/authenticate stays failed until reconnect().
        throw this.failure ?? new UnreachableError(this.host, `${this.host}: connection failed`, 'connect');
      case 'dropped':
        throw this.droppedError();
      case 'closed':
        throw new Error(`${this.host}: transport is closed`);
      case 'idle':
        break;
    }
    this.state = 'connecting';
    this.connecting = this.open().then(
      () => {
        this.state = 'ready';
      },
      (err: unknown) => {
        this.state = 'failed';
        this.failure = err instanceof Error ? err : new Error(String(err));
        throw err;
      },
    );
    return this.connecting;
  }

  /** Drop the current connection (if any) and open a new one; clears a cached failure. */
  async reconnect(): Promise<void> {
    if (this.state === 'closed') throw new Error(`${this.host}: transport is closed`);
    if (this.state === 'connecting') await this.connecting?.catch(() => undefined);
    this.teardown();
    this.state = 'idle';
    this.failure = undefined;
    this.sudo = undefined;
    this.shellUnsupported = false;
    await this.connect();
  }

  /**
   * A handshake in progress fails now (unreachable, "stopped") instead of running to its
   * connect_timeout: an interrupted run must not wait on a host that does not answer.
   */
  stopConnecting(): void {
    this.cancelHandshake?.();
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'connecting') {
      this.stopConnecting();
      await this.connecting?.catch(() => undefined);
    }
    this.state = 'closed';
    this.shell?.end();
    this.shell = undefined;
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        client.destroy();
        resolve();
      }, 1000);
      client.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      client.end();
    });
  }

  private teardown(): void {
    this.shell?.destroy();
    this.shell = undefined;
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        client.end();
      } catch {
        // already gone
      }
      setTimeout(() => client.destroy(), 1000).unref();
    }
  }

  private droppedError(): UnreachableError {
    return new UnreachableError(
      this.host,
      `${this.host}: the SSH connection to ${this.target} dropped${this.dropReason ? ` (${this.dropReason})` : ''}; ` +
        'results of commands running at that moment are unknown. Reconnect explicitly to continue.',
      'dropped',
    );
  }

  private log(msg: string): void {
    this.opts.log?.(msg);
  }

  private async open(): Promise<void> {
    const s = this.settings;
    const auth = await this.authConfig();
    const khPath = this.knownHostsPath;
    let kh: KnownHosts;
    try {
      kh = await loadKnownHosts(khPath);
    } catch (err) {
      if (s.hostKeyChecking !== 'off') {
        throw new UnreachableError(
          this.host,
          `${this.host}: cannot read known_hosts file ${khPath}: ${(err as Error).message}`,
          'host-key',
        );
      }
      kh = parseKnownHosts('', khPath);
    }

    const connectTimeoutMs = Math.max(1, s.connectTimeoutSec) * 1000;
    let sock: ClientChannel | undefined;
    const jump = this.opts.jumpTransport;
    if (jump) sock = await this.tunnelThrough(jump, connectTimeoutMs);

    const client = new Client();
    this.stats.connects++;
    let hostKeyFailure: UnreachableError | undefined;
    const preferred = knownKeyTypes(kh, this.address, s.port).flatMap((t) => HOST_KEY_ALGOS[t] ?? []) as ServerHostKeyAlgorithm[];
    const config: ConnectConfig = {
      host: this.address,
      port: s.port,
      username: s.user,
      readyTimeout: connectTimeoutMs,
      keepaliveInterval: Math.max(0, s.keepaliveSec) * 1000,
      keepaliveCountMax: 3,
      ...auth,
      hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
        this.verifyHostKey(kh, key).then(
          () => verify(true),
          (err: unknown) => {
            hostKeyFailure =
              err instanceof UnreachableError
                ? err
                : new UnreachableError(this.host, `${this.host}: host key verification failed: ${String(err)}`, 'host-key');
            verify(false);
          },
        );
      },
    };
    if (sock) config.sock = sock;
    if (preferred.length > 0) {
      // Offer the known key types first (as OpenSSH does), so a host with several keys presents the known one.
      config.algorithms = { serverHostKey: { remove: preferred, prepend: preferred, append: [] } };
    }

    await new Promise<void>((resolve, reject) => {
      let ready = false;
      let settled = false;
      const fail = (err: UnreachableError): void => {
        if (settled) return;
        settled = true;
        this.cancelHandshake = undefined;
        reject(err);
        try {
          client.end();
        } catch {
          // ignore
        }
        setTimeout(() => client.destroy(), 200).unref();
      };
      client.on('error', (err: Error & { level?: string; code?: string }) => {
        if (!ready) {
          fail(hostKeyFailure ?? this.classifyConnectError(err, connectTimeoutMs));
          return;
        }
        this.dropReason = err.message;
        this.log(`${this.host}: SSH connection error: ${err.message}`);
      });
      client.on('close', () => {
        if (!ready) {
          fail(
            hostKeyFailure ??
              new UnreachableError(this.host, `${this.host}: connection to ${this.target} closed during the SSH handshake`, 'connect'),
          );
          return;
        }
        if (this.client === client && this.state === 'ready') {
          this.state = 'dropped';
          this.client = undefined;
          this.dropReason ||= 'connection closed';
          this.log(`${this.host}: SSH connection to ${this.target} dropped: ${this.dropReason}`);
        }
      });
      this.cancelHandshake = () => {
        // destroy() first: after fail()'s end() the socket no longer counts as writable and
        // ssh2's destroy() would leave it (and its handshake timer) alive.
        client.destroy();
        fail(new UnreachableError(this.host, `${this.host}: connecting to ${this.target} was stopped (the run is ending)`, 'connect'));
      };
      client.on('ready', () => {
        ready = true;
        if (settled) return;
        settled = true;
        this.cancelHandshake = undefined;
        client.setNoDelay(true);
        this.client = client;
        this.dropReason = '';
        resolve();
      });
      try {
        client.connect(config);
        // The socket exists now (net.Socket; a tunnel channel has no Nagle to disable).
        client.setNoDelay(true);
      } catch (err) {
        const msg = (err as Error).message;
        fail(new UnreachableError(this.host, `${this.host}: cannot connect to ${this.target}: ${msg}`, /private ?key/i.test(msg) ? 'auth' : 'connect'));
      }
    });
  }

  private classifyConnectError(err: Error & { level?: string; code?: string }, timeoutMs: number): UnreachableError {
    const h = this.host;
    const level = err.level ?? '';
    if (level === 'client-authentication') {
      const how = this.settings.identityFile
        ? `identity file ${expandHome(this.settings.identityFile)}`
        : process.env.SSH_AUTH_SOCK
          ? `keys from ssh-agent (${process.env.SSH_AUTH_SOCK})`
          : 'the default key in ~/.ssh';
      return new UnreachableError(
        h,
        `${h}: authentication failed for ${this.target} (publickey with ${how}); check that the key is in ${this.settings.user}'s authorized_keys on the host. Not retrying.`,
        'auth',
      );
    }
    if (level === 'agent') {
      return new UnreachableError(h, `${h}: ssh-agent error while authenticating to ${this.target}: ${err.message}`, 'auth');
    }
    if (level === 'client-timeout' || err.code === 'ETIMEDOUT') {
      return new UnreachableError(
        h,
        `${h}: no SSH handshake with ${this.target} within ${timeoutMs / 1000} s (${err.message})`,
        'timeout',
      );
    }
    const code = err.code && !err.message.includes(err.code) ? `${err.code}: ` : '';
    return new UnreachableError(h, `${h}: cannot connect to ${this.target}: ${code}${err.message}`, 'connect');
  }

  /** Open a direct-tcpip channel from this (jump) host's connection to address:port. */
  async forwardOut(address: string, port: number, timeoutMs: number): Promise<ClientChannel> {
    await this.connect();
    const client = this.client;
    if (!client) throw this.droppedError();
    return new Promise<ClientChannel>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        reject(new Error(`no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      try {
        client.forwardOut('127.0.0.1', 0, address, port, (err, channel) => {
          clearTimeout(timer);
          if (done) {
            if (!err) channel.close();
            return;
          }
          done = true;
          if (err) reject(err);
          else resolve(channel);
        });
      } catch (err) {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  private async tunnelThrough(jump: SshTransport, timeoutMs: number): Promise<ClientChannel> {
    try {
      await jump.connect();
    } catch (err) {
      if (err instanceof UnreachableError) {
        throw new UnreachableError(this.host, `${this.host}: jump host unreachable: ${err.message}`, err.reason);
      }
      throw err;
    }
    try {
      return await jump.forwardOut(this.address, this.settings.port, timeoutMs);
    } catch (err) {
      if (err instanceof UnreachableError) {
        throw new UnreachableError(this.host, `${this.host}: jump host ${jump.host}: ${err.message}`, err.reason);
      }
      const msg = (err as Error).message;
      throw new UnreachableError(
        this.host,
        `${this.host}: jump host ${jump.host} could not open a tunnel to ${this.address}:${this.settings.port}: ${msg}` +
          (/prohibited|administratively/i.test(msg) ? ' (is AllowTcpForwarding enabled on the jump host?)' : ''),
        /no answer/.test(msg) ? 'timeout' : 'connect',
      );
    }
  }

  private async authConfig(): Promise<Partial<ConnectConfig>> {
    const s = this.settings;
    const passphrase = this.opts.passphrase;
    if (s.identityFile) {
      const path = expandHome(s.identityFile);
      return { privateKey: await this.loadKey(path, passphrase), ...(passphrase !== undefined ? { passphrase } : {}) };
    }
    const agent = process.env.SSH_AUTH_SOCK;
    if (agent) return { agent };
    for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
      const path = join(homedir(), '.ssh', name);
      try {
        await access(path);
      } catch {
        continue;
      }
      return { privateKey: await this.loadKey(path, passphrase), ...(passphrase !== undefined ? { passphrase } : {}) };
    }
    throw new UnreachableError(
      this.host,
      `${this.host}: no way to authenticate to ${this.target}: no identity file configured, SSH_AUTH_SOCK is not set and there is no ~/.ssh/id_ed25519, id_ecdsa or id_rsa`,
      'auth',
    );
  }

  /** Read and check a private key up front, so an encrypted key without passphrase fails once and clearly. */
  private async loadKey(path: string, passphrase: string | undefined): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      throw new UnreachableError(this.host, `${this.host}: cannot read identity file ${path}: ${(err as Error).message}`, 'auth');
    }
    // Every host of a run uses the same key file: check it once per content and passphrase.
    const memo = `${path}\u0000${createHash('sha256').update(data).update(passphrase ?? '\u0000none').digest('hex')}`;
    if (checkedKeys.has(memo)) return data;
    const parsed = utils.parseKey(data, passphrase);
    if (parsed instanceof Error) {
      let why = `cannot use identity file ${path}: ${parsed.message}`;
      if (/encrypted/i.test(parsed.message) && passphrase === undefined) {
        why = `identity file ${path} is encrypted and no passphrase was given; provide the key passphrase or load the key into ssh-agent`;
      } else if (passphrase !== undefined && /decrypt|bad decrypt|passphrase/i.test(parsed.message)) {
        why = `identity file ${path} could not be decrypted with the given passphrase (${parsed.message})`;
      }
      throw new UnreachableError(this.host, `${this.host}: ${why}`, 'auth');
    }
    // (parseKey returns an array for a file holding several keys, whatever its type says.)
    const first: ParsedKey | undefined = Array.isArray(parsed) ? (parsed as ParsedKey[])[0] : parsed;
    if (first !== undefined && !first.isPrivateKey()) {
      throw new UnreachableError(this.host, `${this.host}: identity file ${path} holds a public key, not a private key`, 'auth');
    }
    checkedKeys.add(memo);
    return data;
  }

  private async verifyHostKey(kh: KnownHosts, key: Buffer): Promise<void> {
    const s = this.settings;
    const path = this.knownHostsPath;
    const check = checkHostKey(kh, this.address, s.port, key);
    const name = knownHostsName(this.address, s.port);
    const presented = `${check.keyType} key ${check.fingerprint}`;
    const h = this.host;
    switch (check.status) {
      case 'match':
        return;
      case 'revoked':
        throw new UnreachableError(
          h,
          `${h}: the ${presented} presented by ${name} is marked @revoked in ${path} (line ${check.entry?.line ?? '?'}). ` +
            'Refusing to connect whatever the host key checking mode: the host may be compromised or impersonated; investigate before removing the @revoked line.',
          'host-key',
        );
      case 'mismatch': {
        const knownList = check.known.map((e) => `line ${e.line}: ${e.keyType} ${fingerprintSha256(e.key)}`).join('; ');
        if (s.hostKeyChecking === 'off') {
          this.log(
            `WARNING: ${h}: HOST KEY CHANGED for ${name}: server presented ${presented}, ${path} has ${knownList}. ` +
              'Host key checking is OFF, connecting anyway: this connection could be intercepted (man-in-the-middle).',
          );
          return;
        }
        throw new UnreachableError(
          h,
          `${h}: HOST KEY CHANGED for ${name}: the server presented ${presented}, but ${path} has a different key (${knownList}). ` +
            'Someone could be intercepting the connection (man-in-the-middle), or the host was reinstalled. ' +
            `If the change is expected, verify the new fingerprint out of band, remove the old entry with ` +
            `\`ssh-keygen -R ${shq(name)} -f ${shq(path)}\` and add the new key (or let host key checking accept-new record it).`,
          'host-key',
        );
      }
      case 'unknown':
        if (s.hostKeyChecking === 'off') {
          this.log(
            `WARNING: ${h}: host key checking is OFF: accepting ${presented} from ${name} without verification; ` +
              'anyone who can intercept the connection can impersonate this host.',
          );
          return;
        }
        if (s.hostKeyChecking === 'accept-new') {
          try {
            await appendKnownHost(path, this.address, s.port, key);
          } catch (err) {
            throw new UnreachableError(
              h,
              `${h}: could not record the new host key ${check.fingerprint} for ${name} in ${path}: ${(err as Error).message}`,
              'host-key',
            );
          }
          this.log(`${h}: accepted new host key for ${name}: ${presented}, added to ${path}`);
          return;
        }
        throw new UnreachableError(
          h,
          `${h}: unknown host key for ${name}: the server presented ${presented}, which is not in ${path}. ` +
            `Verify the fingerprint out of band (on the host: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then add it, e.g. ` +
            `\`ssh-keyscan -p ${s.port} ${shq(this.address)} >> ${shq(path)}\`, or set host key checking to accept-new to trust it on first use.`,
          'host-key',
        );
    }
  }

  // ───────────────────────────── exec ─────────────────────────────

  async exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.execWith(cmd, opts);
  }

  /** exec, optionally streaming stdout into `stdoutSink` (with backpressure) instead of capturing it. */
  private async execWith(cmd: string, opts: ExecOptions, stdoutSink?: Writable): Promise<ExecResult> {
    const started = now();
    if (opts.signal?.aborted) return stoppedResult(started, 'aborted');
    await this.connect();
    const sudo = opts.become ? await this.sudoMode() : undefined;
    const run: ChannelRun = {
      command: wrapRemoteCommand(cmd, sudo),
      pidMarkers: sudo === undefined ? 1 : 2,
    };
    if (sudo === 'password') run.stdinPrefix = Buffer.from(`${this.opts.sudoPassword ?? ''}\n`);
    if (sudo !== undefined) run.killSudo = sudo;
    if (stdoutSink !== undefined) run.stdoutSink = stdoutSink;
    if (opts.stdin !== undefined) run.stdin = opts.stdin;
    if (opts.timeoutMs !== undefined) run.timeoutMs = opts.timeoutMs;
    if (opts.signal !== undefined) run.signal = opts.signal;
    if (opts.maxOutputBytes !== undefined) run.maxOutputBytes = opts.maxOutputBytes;
    if (opts.onStdout !== undefined) run.onStdout = opts.onStdout;
    if (opts.onStderr !== undefined) run.onStderr = opts.onStderr;
    // The session shell runs commands without stdin; those with stdin (or a streamed stdout) get a channel.
    const viaShell = run.stdin === undefined && run.stdinPrefix === undefined && stdoutSink === undefined;
    if (viaShell) await this.ensureShell();
    const res = viaShell && this.shell?.usable ? await this.runInShell(this.shell, commandBody(cmd, sudo), run) : await this.runChannel(run);
    res.durationMs = now() - started;
    return res;
  }

  /** Open the session shell if it is enabled and not open yet. Never rejects: commands fall back to channels. */
  private async ensureShell(): Promise<void> {
    if (this.settings.sessionShell === false || this.shellUnsupported || this.shell?.alive || this.state !== 'ready') return;
    this.shellOpening ??= this.openShell().finally(() => {
      this.shellOpening = undefined;
    });
    await this.shellOpening;
  }

  private async openShell(): Promise<void> {
    const client = this.client;
    if (!client) return;
    let shell: SessionShell | undefined;
    try {
      shell = await SessionShell.start(await this.openExec(client, SESSION_SHELL_COMMAND), Math.max(1, this.settings.connectTimeoutSec) * 1000);
    } catch {
      // No channel for it (the command's own channel will say why, if the connection is gone).
    }
    if (this.client !== client || this.state !== 'ready') {
      shell?.destroy();
      return;
    }
    if (shell) this.shell = shell;
    else {
      // One try per connection: no retry on every command against a host where it cannot work.
      this.shellUnsupported = true;
      this.log(`${this.host}: no session shell (the login shell is not bash, no job control, or no answer): one SSH session per command`);
    }
  }

  /** Run a command in the (idle) session shell; the same stop/timeout/output handling as a channel. */
  private runInShell(shell: SessionShell, body: string, run: ChannelRun): Promise<ExecResult> {
    const started = now();
    if (run.signal?.aborted) return Promise.resolve(stoppedResult(started, 'aborted'));
    this.stats.shellCommands++;
    return this.drive(shell.run(body), run, started);
  }

  /**
   * How `become` works on this connection: not at all for root; otherwise probe once whether
   * sudo needs a password, and check the configured one once (a wrong password must not be
   * retried on every step: that is slow and can lock the account).
   */
  private async sudoMode(): Promise<SudoMode | undefined> {
    if (this.settings.user === 'root' && !this.opts.alwaysSudo) return undefined;
    this.sudo ??= this.probeSudo();
    return this.sudo;
  }

  private async probeSudo(): Promise<SudoMode> {
    const h = this.host;
    const nopass = await this.runChannel({ command: 'sudo -n true', pidMarkers: 0, timeoutMs: 15_000, maxOutputBytes: 4096 });
    if (nopass.code === 0) return 'nopasswd';
    const pw = this.opts.sudoPassword;
    if (pw === undefined) {
      throw new BecomeError(
        h,
        `${h}: become failed: sudo on ${this.target} needs a password and none was given (${nopass.stderr.trim() || `exit ${nopass.code}`})`,
      );
    }
    const withPw = await this.runChannel({
      command: "sudo -k -S -p '' -- true",
      pidMarkers: 0,
      stdin: `${pw}\n`,
      timeoutMs: 30_000,
      maxOutputBytes: 4096,
    });
    if (withPw.code === 0) return 'password';
    throw new BecomeError(
      h,
      `${h}: become failed: sudo on ${this.target} rejected the given password (${withPw.timedOut ? 'timed out' : withPw.stderr.trim() || `exit ${withPw.code}`})`,
    );
  }

  /** Run a command on a new channel of the current connection. Resolves (never rejects) once it opened. */
  private async runChannel(run: ChannelRun): Promise<ExecResult> {
    const started = now();
    await this.channels.acquire();
    try {
      if (run.signal?.aborted) return stoppedResult(started, 'aborted');
      const client = this.client;
      if (!client || this.state !== 'ready') throw this.state === 'closed' ? new Error(`${this.host}: transport is closed`) : this.droppedError();
      const channel = await this.openExec(client, run.command);
      return await this.drive(channel, run, started);
    } finally {
      this.channels.release();
    }
  }

  private openExec(client: SshClient, command: string): Promise<ClientChannel> {
    return new Promise<ClientChannel>((resolve, reject) => {
      const failed = (err: Error): void => {
        if (this.state !== 'ready' || this.client !== client) reject(this.droppedError());
        else reject(new Error(`${this.host}: cannot open an SSH channel on ${this.target}: ${err.message}`));
      };
      try {
        client.exec(command, (err, channel) => {
          if (err) failed(err);
          else {
            this.stats.channels++;
            // ssh2 emits 'exit' when the packet is read, which for a fast command can be in this
            // very tick (the whole reply in one read), before an awaiting caller attaches listeners.
            channel.once('exit', (code: number | null, signal?: string) => {
              exitStatuses.set(channel, { code: typeof code === 'number' ? code : null, ...(typeof signal === 'string' ? { signal } : {}) });
            });
            resolve(channel);
          }
        });
      } catch (err) {
        failed(err as Error);
      }
    });
  }

  private drive(channel: CommandChannel, run: ChannelRun, started: number): Promise<ExecResult> {
    const limit = run.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const stdout = new BoundedOutput(limit);
    const stderr = new BoundedOutput(limit);
    const markers = new PidMarkerFilter(run.pidMarkers, (chunk) => {
      stderr.push(chunk);
      run.onStderr?.(chunk);
    });

    return new Promise<ExecResult>((resolve) => {
      let exitCode: number | null = null;
      let exitSignal: string | undefined;
      // 'stdin': the stdin stream failed, so the command was stopped (code null, neither flag).
      let stopped: 'timedOut' | 'aborted' | 'stdin' | undefined;
      let channelClosed = false;
      let stderrClosed = false;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      let forceTimer: NodeJS.Timeout | undefined;
      const sink = run.stdoutSink;

      const finish = (): void => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        if (forceTimer) clearTimeout(forceTimer);
        run.signal?.removeEventListener('abort', onAbort);
        markers.settle();
        if (run.stdin instanceof Readable && channel instanceof Writable) run.stdin.unpipe(channel);
        const early = exitStatuses.get(channel);
        if (exitCode === null && early) {
          exitCode = early.code;
          exitSignal ??= early.signal;
        }
        const result = execResult(stdout, stderr, { code: exitCode, stopped, durationMs: now() - started });
        if (exitSignal !== undefined) result.signal = exitSignal;
        resolve(result);
      };
      // A stopped command's result waits for its kill to finish, so nothing it started is still
      // running when exec returns (in the session shell the command can end before its children).
      let killed: Promise<void> | undefined;
      const maybeFinish = (): void => {
        if (!channelClosed || !stderrClosed) return;
        if (killed) void killed.then(finish);
        else finish();
      };

      const stop = (why: 'timedOut' | 'aborted' | 'stdin'): void => {
        if (stopped || done) return;
        stopped = why;
        // Kill by PID group; if the wrapper has not reported its PID(s) yet (the command has
        // hardly started, or sudo is still deciding), wait a little for them.
        let proceeded = false;
        let pidWait: NodeJS.Timeout | undefined = undefined;
        const proceed = (): void => {
          if (proceeded || done) return;
          proceeded = true;
          if (pidWait) clearTimeout(pidWait);
          const pids = markers.pids.slice();
          if (pids.length < run.pidMarkers) {
            this.log(
              `${this.host}: stopping a command that had not reported its PID${pids.length ? ' inside sudo' : ''} after ${PID_WAIT_MS / 1000} s: ` +
                'closing its channel; it may still run on the host (its outcome is unknown)',
            );
          }
          killed = pids.length > 0 ? this.killRemote(pids, run.killSudo) : Promise.resolve();
          void killed.finally(closeChannel);
        };
        pidWait = setTimeout(proceed, PID_WAIT_MS);
        markers.whenSettled(proceed);
      };
      const closeChannel = (): void => {
        if (done) return;
        try {
          channel.signal('KILL');
        } catch {
          // not supported / channel gone
        }
        try {
          channel.close();
        } catch {
          // already closed
        }
        forceTimer = setTimeout(finish, CLOSE_GRACE_MS);
      };
      const onAbort = (): void => stop('aborted');

      channel.on('exit', (code: number | null, signal?: string) => {
        exitCode = typeof code === 'number' ? code : null;
        if (typeof signal === 'string') exitSignal = signal;
      });
      channel.on('data', (chunk: Buffer) => {
        if (sink) {
          if (!sink.write(chunk)) {
            channel.pause();
            sink.once('drain', () => channel.resume());
          }
          return;
        }
        stdout.push(chunk);
        run.onStdout?.(chunk);
      });
      channel.stderr.on('data', (chunk: Buffer) => markers.push(chunk));
      channel.stderr.on('close', () => {
        stderrClosed = true;
        maybeFinish();
      });
      channel.on('close', () => {
        channelClosed = true;
        // stderr 'close' follows its 'end'; do not wait for it forever.
        setImmediate(() => {
          stderrClosed = true;
          maybeFinish();
        });
        maybeFinish();
      });
      channel.on('error', () => {
        // Surfaces as a close without exit status (code null).
      });

      if (run.timeoutMs !== undefined && run.timeoutMs > 0) timer = setTimeout(() => stop('timedOut'), run.timeoutMs);
      run.signal?.addEventListener('abort', onAbort, { once: true });
      if (run.signal?.aborted) stop('aborted');

      // stdin: optional prefix (sudo password), then the data, then EOF.
      if (run.stdinPrefix) channel.write(run.stdinPrefix);
      const input = run.stdin;
      if (input === undefined) channel.end();
      else if (typeof input === 'string' || Buffer.isBuffer(input)) channel.end(input);
      else {
        input.on('error', (err: Error) => {
          // Never let the command go on with partial input: stop it; the result has code null.
          const note = Buffer.from(`\n[runbook: stdin stream failed: ${err.message}; command stopped]\n`);
          stderr.push(note);
          run.onStderr?.(note);
          if (channel instanceof Writable) input.unpipe(channel);
          stop('stdin');
        });
        if (channel instanceof Writable) input.pipe(channel);
        else input.emit('error', new Error('this channel takes no stdin'));
      }
    });
  }

  /**
   * Kill remote process groups from a second channel; resolves once they are gone. Never rejects.
   * One kill channel at a time per connection: kills asked for meanwhile share the next one (one
   * script, all their PIDs), so many commands timing out together never need more sessions than
   * sshd allows (MaxSessions, 10 by default) and none waits for more than two kills.
   */
  private killRemote(pids: number[], sudo: SudoMode | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      this.killQueue.push({ pids, sudo, done: resolve });
      this.killing ??= this.drainKills();
    });
  }

  private async drainKills(): Promise<void> {
    while (this.killQueue.length > 0) {
      const batch = this.killQueue.splice(0);
      // sudo and non-sudo kills cannot share a script.
      for (const mode of new Set(batch.map((k) => k.sudo))) {
        const part = batch.filter((k) => k.sudo === mode);
        await this.killNow(part.flatMap((k) => k.pids), mode);
        for (const k of part) k.done();
      }
    }
    this.killing = undefined;
  }

  private async killNow(pids: number[], sudo: SudoMode | undefined): Promise<void> {
    const client = this.client;
    if (!client || this.state !== 'ready') return;
    const script = killScript(pids);
    const command = sudo === undefined ? `sh -c ${shq(script)}` : `${sudoPrefix(sudo)} sh -c ${shq(script)}`;
    try {
      // Not through the channel semaphore: a kill must not wait behind the command it kills. A
      // session that just closed may not be freed by sshd yet: try the open a few times.
      let channel: ClientChannel | undefined;
      for (let attempt = 1; channel === undefined; attempt++) {
        try {
          channel = await this.openExec(client, command);
        } catch (err) {
          if (attempt >= 3 || this.client !== client || this.state !== 'ready') throw err;
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
      this.stats.killChannels++;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          channel.close();
          resolve();
        }, 10_000);
        channel.on('close', () => {
          clearTimeout(t);
          resolve();
        });
        channel.on('data', () => undefined);
        channel.stderr.on('data', () => undefined);
        channel.on('error', () => undefined);
        if (sudo === 'password') channel.end(`${this.opts.sudoPassword ?? ''}\n`);
        else channel.end();
      });
    } catch (err) {
      this.log(`${this.host}: could not kill remote process group(s) ${pids.join(',')}: ${(err as Error).message}`);
    }
  }

  // ───────────────────────────── files ─────────────────────────────

  async putFile(
    localPath: string,
    remotePath: string,
    opts: { mode?: string; signal?: AbortSignal; become?: boolean; expectedSha256?: string } = {},
  ): Promise<TransferResult> {
    // Open first so a missing local file fails before anything happens remotely.
    const fh = await open(localPath, 'r');
    const source = createReadStream('', { fd: fh, highWaterMark: 256 * 1024 });
    return this.putStream(source, remotePath, opts);
  }

  async putContent(
    content: string | Buffer,
    remotePath: string,
    opts: { mode?: string; signal?: AbortSignal; become?: boolean } = {},
  ): Promise<TransferResult> {
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    return this.putStream(Readable.from([data]), remotePath, opts);
  }

  private async putStream(
    source: Readable,
    remotePath: string,
    opts: { mode?: string; signal?: AbortSignal; become?: boolean; expectedSha256?: string },
  ): Promise<TransferResult> {
    const what = `${this.host}: put ${remotePath}`;
    const mode = transferMode(source, opts.mode);
    if (opts.signal?.aborted) {
      source.destroy();
      throw abortError(opts.signal, what);
    }
    const dir = posix.dirname(remotePath);
    const tmp = posix.join(dir, `.${posix.basename(remotePath)}.runbook-tmp-${randomSuffix()}`);
    const hashing = new HashingStream();
    let sourceError: Error | undefined;
    // A failing source stops the remote `cat` (exec stops a command whose stdin fails).
    source.on('error', (err) => {
      sourceError = err;
      hashing.destroy(err);
    });
    hashing.on('error', (err) => {
      sourceError ??= err;
    });
    // Hashing locally costs a full read of CPU per host; skip it when the expected hash is known.
    if (opts.expectedSha256) hashing.skipHash();
    source.pipe(hashing);

    const upload = [
      `if [ ! -d ${shq(dir)} ]; then echo ${shq(`runbook: directory ${dir} does not exist`)} >&2; exit 3; fi`,
      'umask 077',
      `cat > ${shq(tmp)} && sha256sum < ${shq(tmp)}`,
    ].join('\n');
    const base: ExecOptions = { stdin: hashing, maxOutputBytes: 64 * 1024 };
    if (opts.become !== undefined) base.become = opts.become;
    if (opts.signal !== undefined) base.signal = opts.signal;
    const cleanup = async (): Promise<void> => {
      try {
        await this.exec(`rm -f -- ${shq(tmp)}`, opts.become ? { become: true } : {});
      } catch {
        // connection gone: nothing more we can do
      }
    };
    const res = await this.exec(upload, base);
    if (!hashing.readableEnded) {
      // The remote side stopped reading (error/abort): release the source.
      source.unpipe(hashing);
      source.destroy();
      hashing.destroy();
    }
    if (sourceError) {
      await cleanup();
      throw new Error(`${what}: reading the source failed: ${sourceError.message}`);
    }
    if (res.aborted) {
      await cleanup();
      throw abortError(opts.signal, what);
    }
    if (res.code !== 0) {
      if (res.code !== 3) await cleanup();
      throw new Error(`${what} failed (${res.code === null ? 'connection lost' : `exit ${res.code}`}): ${res.stderr.trim()}`);
    }
    // With a known expected hash (a snapshot's manifest) the copy is checked against it; the
    // local hash computed while streaming is the reference otherwise.
    const local = opts.expectedSha256 ?? hashing.digest();
    const remote = res.stdout.trim().slice(0, 64);
    if (remote !== local) {
      await cleanup();
      throw new Error(`${what}: checksum mismatch after upload (${opts.expectedSha256 ? 'expected' : 'local'} sha256 ${local}, remote ${remote || '(none)'}); temp file removed`);
    }
    const chmod =
      mode !== undefined
        ? `chmod ${mode} ${shq(tmp)}`
        : `if [ -e ${shq(remotePath)} ]; then chmod --reference=${shq(remotePath)} ${shq(tmp)} 2>/dev/null || :; ` +
          `else chmod "$(printf '%o' $(( 0666 & ~0$(umask) )))" ${shq(tmp)}; fi`;
    // -T: a directory at the destination is an error, never a place to move the file into.
    const fin = await this.exec(`${chmod} && mv -f -T -- ${shq(tmp)} ${shq(remotePath)}`, opts.become ? { become: true } : {});
    if (fin.code !== 0) {
      await cleanup();
      throw new Error(`${what}: could not install the file (${fin.code === null ? 'connection lost' : `exit ${fin.code}`}): ${fin.stderr.trim()}`);
    }
    return { bytes: hashing.bytes, sha256: local };
  }

  async getFile(remotePath: string, localPath: string, opts: { signal?: AbortSignal; become?: boolean } = {}): Promise<TransferResult> {
    const what = `${this.host}: get ${remotePath}`;
    if (opts.signal?.aborted) throw abortError(opts.signal, what);
    const tmp = `${localPath}.runbook-tmp-${randomSuffix()}`;
    // 0600: fetched files are often snapshots or keys.
    const file = createWriteStream(tmp, { mode: 0o600, flags: 'wx' });
    const hashing = new HashingStream();
    hashing.pipe(file);
    const fileDone = finished(file);
    fileDone.catch(() => undefined); // awaited on success; on failure the error is reported otherwise
    try {
      await new Promise<void>((resolve, reject) => {
        file.once('open', () => resolve());
        file.once('error', reject);
      });
    } catch (err) {
      throw new Error(`${what}: cannot write ${tmp} (does ${localDirname(localPath)} exist?): ${(err as Error).message}`, {
        cause: err,
      });
    }
    const removeTmp = async (): Promise<void> => {
      hashing.destroy();
      file.destroy();
      await rm(tmp, { force: true });
    };
    try {
      const base: ExecOptions = { maxOutputBytes: 64 * 1024 };
      if (opts.become !== undefined) base.become = opts.become;
      if (opts.signal !== undefined) base.signal = opts.signal;
      const res = await this.execWith(`cat -- ${shq(remotePath)}`, base, hashing);
      hashing.end();
      await fileDone;
      if (res.aborted) throw abortError(opts.signal, what);
      if (res.code !== 0) {
        throw new Error(`${what} failed (${res.code === null ? 'connection lost' : `exit ${res.code}`}): ${res.stderr.trim()}`);
      }
      const local = hashing.digest();
      const sum = await this.exec(`sha256sum < ${shq(remotePath)}`, opts.become ? { become: true } : {});
      const remote = sum.stdout.trim().slice(0, 64);
      if (sum.code !== 0 || remote !== local) {
        throw new Error(
          `${what}: checksum mismatch after download (local sha256 ${local}, remote ${remote || `(sha256sum failed: ${sum.stderr.trim()})`}); temp file removed`,
        );
      }
      await rename(tmp, localPath);
      return { bytes: hashing.bytes, sha256: local };
    } catch (err) {
      await removeTmp();
      throw err;
    }
  }
}

function stoppedResult(started: number, why: 'aborted' | 'timedOut'): ExecResult {
  return {
    code: null,
    stdout: '',
    stderr: '',
    truncated: false,
    timedOut: why === 'timedOut',
    aborted: why === 'aborted',
    durationMs: now() - started,
  };
}
