// SSH transport: one persistent ssh2 connection per host. Commands run in its session shell
// (../session-shell.ts: one bash per connection, a job per command) when they can; uploads,
// downloads, commands with stdin, sudo with a password and those meeting a busy shell get an
// exec channel of their own (at most maxChannels at once). The command text always reaches the
// host on stdin (remote-command.ts), so `ps` there never shows it.
//
// ssh2 is used directly rather than through node-ssh (which only wraps it): node-ssh's
// execCommand decodes every chunk to a string on its own (a UTF-8 character split across two
// chunks is mangled), keeps all output in memory without bound, hides the channel we need for
// timeouts/backpressure, and removes its 'error' listener after `ready`, so a later socket error
// would crash the process. Everything needed here (hostVerifier, sock for ProxyJump, forwardOut,
// keepalive, exec channels) is ssh2 API anyway.
//
// For a root login `become` is a no-op (no sudo needed or required on the host) unless
// `alwaysSudo` is set.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Client, ClientChannel } from 'ssh2';
import { RunError } from '../../model/errors.js';
import type { SshSettings } from '../../model/types.js';
import { stoppedResult } from '../command-run.js';
import { now } from '../common.js';
import { SESSION_SHELL_COMMAND, SessionShell } from '../session-shell.js';
import { UnreachableError, type ExecOptions, type ExecResult, type TransferResult, type Transport } from '../transport.js';
import { expandHome } from './auth.js';
import { driveChannel, openExec, type ChannelRun, type CommandChannel } from './channel.js';
import { openConnection } from './connection.js';
import { forwardOut } from './jump.js';
import { KillQueue } from './kill.js';
import { execRequest, execStdinPrefix, shellJobBody, type SudoMode } from './remote-command.js';
import { probeSudo } from './sudo.js';
import { getFile, putStream } from './transfer.js';

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
  /** Why this host cannot be connected as configured (an ssh config's ProxyCommand): connect() fails with it. */
  refusal?: string;
}

type State = 'idle' | 'connecting' | 'ready' | 'dropped' | 'failed' | 'closed';

export class SshTransport implements Transport {
  readonly host: string;
  readonly address: string;
  readonly settings: SshSettings;
  /** Connections opened and channels used, for diagnostics and tests. */
  readonly stats = { connects: 0, channels: 0, shellCommands: 0, killChannels: 0 };

  private readonly opts: SshTransportOptions;
  private state: State = 'idle';
  private client: Client | undefined;
  /** Opens exec channels on `client` (one function per connection: the kill queue compares them). */
  private opener: ((command: string) => Promise<ClientChannel>) | undefined;
  private connecting: Promise<void> | undefined;
  /** Ends the handshake in progress, if any (see stopConnecting). */
  private cancelHandshake: (() => void) | undefined;
  private failure: Error | undefined;
  private dropReason = '';
  private sudo: Promise<SudoMode | undefined> | undefined;
  private readonly channels: LimitFunction;
  /** The session shell, once opened; shellUnsupported after it could not start on this connection. */
  private shell: SessionShell | undefined;
  private shellOpening: Promise<void> | undefined;
  private shellUnsupported = false;
  private readonly kills: KillQueue;

  constructor(hostName: string, address: string, settings: SshSettings, options: SshTransportOptions = {}) {
    this.host = hostName;
    this.address = address;
    this.settings = settings;
    this.opts = options;
    this.channels = pLimit(Math.max(1, options.maxChannels ?? 7));
    this.kills = new KillQueue({
      host: hostName,
      sudoPassword: options.sudoPassword,
      opener: () => (this.state === 'ready' ? this.opener : undefined),
      log: (msg) => this.log(msg),
      opened: () => void this.stats.killChannels++,
    });
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
        throw this.closedError();
      case 'idle':
        break;
    }
    if (this.opts.refusal !== undefined) {
      this.state = 'failed';
      this.failure = new UnreachableError(this.host, `${this.host}: ${this.opts.refusal}`, 'connect');
      throw this.failure;
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
    if (this.state === 'closed') throw this.closedError();
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
    this.opener = undefined;
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
    this.opener = undefined;
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

  private closedError(): RunError {
    return new RunError('TRANSPORT_CLOSED', `${this.host}: transport is closed`);
  }

  private log(msg: string): void {
    this.opts.log?.(msg);
  }

  private async open(): Promise<void> {
    const peer = {
      host: this.host,
      address: this.address,
      settings: this.settings,
      knownHostsPath: this.knownHostsPath,
      target: this.target,
      passphrase: this.opts.passphrase,
      jump: this.opts.jumpTransport,
      log: (msg: string) => this.log(msg),
    };
    const client = await openConnection(peer, {
      cancellable: (cancel) => {
        this.cancelHandshake = cancel;
      },
      error: (err) => {
        this.dropReason = err.message;
        this.log(`${this.host}: SSH connection error: ${err.message}`);
      },
      closed: (c) => {
        if (this.client !== c || this.state !== 'ready') return;
        this.state = 'dropped';
        this.client = undefined;
        this.opener = undefined;
        this.dropReason ||= 'connection closed';
        this.log(`${this.host}: SSH connection to ${this.target} dropped: ${this.dropReason}`);
      },
      opened: () => void this.stats.connects++,
    });
    this.client = client;
    this.opener = (command) => this.openExec(client, command);
    this.dropReason = '';
  }

  /** Open a direct-tcpip channel from this (jump) host's connection to address:port. */
  async forwardOut(address: string, port: number, timeoutMs: number): Promise<ClientChannel> {
    await this.connect();
    const client = this.client;
    if (!client) throw this.droppedError();
    return forwardOut(client, address, port, timeoutMs);
  }

  private openExec(client: Client, command: string): Promise<ClientChannel> {
    const failed = (err: Error): Error =>
      this.state !== 'ready' || this.client !== client
        ? this.droppedError()
        : new RunError('CHANNEL_OPEN_FAILED', `${this.host}: cannot open an SSH channel on ${this.target}: ${err.message}`, { cause: err });
    return openExec(client, command, failed, () => void this.stats.channels++);
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
    const run: ChannelRun = { pidMarkers: sudo === undefined ? 1 : 2 };
    if (sudo !== undefined) run.killSudo = sudo;
    if (stdoutSink !== undefined) run.stdoutSink = stdoutSink;
    if (opts.stdin !== undefined) run.stdin = opts.stdin;
    if (opts.timeoutMs !== undefined) run.timeoutMs = opts.timeoutMs;
    if (opts.signal !== undefined) run.signal = opts.signal;
    if (opts.maxOutputBytes !== undefined) run.maxOutputBytes = opts.maxOutputBytes;
    if (opts.onStdout !== undefined) run.onStdout = opts.onStdout;
    if (opts.onStderr !== undefined) run.onStderr = opts.onStderr;
    // The session shell runs commands without stdin (a sudo password is stdin too); the others get a channel.
    const viaShell = run.stdin === undefined && sudo !== 'password' && stdoutSink === undefined;
    if (viaShell) await this.ensureShell();
    let res: ExecResult;
    if (viaShell && this.shell?.usable) res = await this.runInShell(this.shell, shellJobBody(cmd, sudo), run);
    else res = await this.runChannel({ ...run, command: execRequest(sudo), stdinPrefix: execStdinPrefix(cmd, sudo, this.opts.sudoPassword) });
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

  /** How `become` works on this connection (sudo.ts); probed once per connection. */
  private async sudoMode(): Promise<SudoMode | undefined> {
    if (this.settings.user === 'root' && !this.opts.alwaysSudo) return undefined;
    this.sudo ??= probeSudo(this, this.opts.sudoPassword, (run) => this.runChannel(run));
    return this.sudo;
  }

  /** Run a command on a new channel of the current connection. Resolves (never rejects) once it opened. */
  private runChannel(run: ChannelRun & { command: string }): Promise<ExecResult> {
    return this.channels(async () => {
      const started = now();
      if (run.signal?.aborted) return stoppedResult(started, 'aborted');
      const client = this.client;
      if (!client || this.state !== 'ready') throw this.state === 'closed' ? this.closedError() : this.droppedError();
      const channel = await this.openExec(client, run.command);
      return await this.drive(channel, run, started);
    });
  }

  private drive(channel: CommandChannel, run: ChannelRun, started: number): Promise<ExecResult> {
    return driveChannel(channel, run, started, {
      host: this.host,
      kill: (pids, sudo) => this.kills.kill(pids, sudo),
      log: (msg) => this.log(msg),
    });
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
    return putStream(this.transferHost(), source, remotePath, opts);
  }

  async putContent(
    content: string | Buffer,
    remotePath: string,
    opts: { mode?: string; signal?: AbortSignal; become?: boolean } = {},
  ): Promise<TransferResult> {
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    return putStream(this.transferHost(), Readable.from([data]), remotePath, opts);
  }

  async getFile(remotePath: string, localPath: string, opts: { signal?: AbortSignal; become?: boolean } = {}): Promise<TransferResult> {
    return getFile(this.transferHost(), remotePath, localPath, opts);
  }

  private transferHost(): { host: string; exec: SshTransport['exec']; execToSink: SshTransport['execWith'] } {
    return { host: this.host, exec: (cmd, o) => this.exec(cmd, o), execToSink: (cmd, o, sink) => this.execWith(cmd, o, sink) };
  }
}
