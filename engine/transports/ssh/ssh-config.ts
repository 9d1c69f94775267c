// OpenSSH client configuration: ~/.ssh/config then /etc/ssh/ssh_config (or only the file given
// with -F, as ssh -F does), read with the `ssh-config` library, for the settings runbook's SSH
// connection has: HostName, User, Port, IdentityFile, IdentitiesOnly, ProxyJump,
// UserKnownHostsFile, GlobalKnownHostsFile, StrictHostKeyChecking, ConnectTimeout.
// What the inventory sets wins (as `ssh -o` would); what it leaves to runbook's defaults, the
// config decides. The inventory's address is the name looked up (`Host` patterns match it), so an
// alias can stand for a machine. ProxyCommand cannot be honoured (runbook opens no local process
// for a connection): a host whose config has one is refused with that reason.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import SSHConfig from 'ssh-config';
import type { HostKeyChecking, SshSettings } from '../../model/types.js';

export interface SshConfigSource {
  /** `-F FILE`: only this file (no ~/.ssh/config, no /etc/ssh/ssh_config). */
  file?: string;
  /** Tests: another home directory and system config. */
  home?: string;
  systemFile?: string;
}

export interface ResolvedConnection {
  /** The address to connect to (HostName, else the inventory's address). */
  address: string;
  ssh: SshSettings;
  /** Why this host cannot be connected as configured (ProxyCommand), if so. */
  refusal?: string;
}

const GLOBAL_KNOWN_HOSTS = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];

const parsedCache = new Map<string, { version: string; config: SSHConfig }>();

/** `Include` lines inlined (globs in the last path segment; relative to ~/.ssh or /etc/ssh, as OpenSSH does), at most 16 levels. */
function inlineIncludes(text: string, base: string, home: string, depth = 0): string {
  if (depth > 16) return text;
  return text
    .split(/\r?\n/)
    .map((line) => {
      const m = /^\s*Include\s+(.+)$/i.exec(line);
      if (!m) return line;
      return (m[1] ?? '')
        .trim()
        .split(/\s+/)
        .flatMap((pattern) => {
          const p = pattern.startsWith('~/') ? join(home, pattern.slice(2)) : isAbsolute(pattern) ? pattern : join(base, pattern);
          const dir = dirname(p);
          const glob = new RegExp(
            `^${basename(p)
              .replace(/[.+^${}()|[\]\\]/g, '\\$&')
              .replace(/\*/g, '.*')
              .replace(/\?/g, '.')}$`,
          );
          if (!existsSync(dir)) return [];
          return readdirSync(dir)
            .filter((f) => glob.test(f))
            .sort()
            .map((f) => join(dir, f))
            .filter((f) => statSync(f).isFile())
            .map((f) => inlineIncludes(readFileSync(f, 'utf8'), base, home, depth + 1));
        })
        .join('\n');
    })
    .join('\n');
}

function load(file: string, base: string, home: string): SSHConfig | undefined {
  let version: string;
  try {
    const st = statSync(file);
    version = `${st.mtimeMs}:${st.size}`;
  } catch {
    return undefined;
  }
  const hit = parsedCache.get(file);
  if (hit?.version === version) return hit.config;
  const config = SSHConfig.parse(inlineIncludes(readFileSync(file, 'utf8'), base, home));
  parsedCache.set(file, { version, config });
  return config;
}

/** The configs to read, first obtained value wins across them (ssh_config(5)). */
function configs(src: SshConfigSource): SSHConfig[] {
  const home = src.home ?? homedir();
  if (src.file !== undefined) {
    const c = load(src.file, dirname(src.file), home);
    if (!c) throw new Error(`cannot read the ssh config file ${src.file}`);
    return [c];
  }
  return [load(join(home, '.ssh', 'config'), join(home, '.ssh'), home), load(src.systemFile ?? '/etc/ssh/ssh_config', '/etc/ssh', home)].filter(
    (c): c is SSHConfig => c !== undefined,
  );
}

/** Settings for `name` across the configs: the first value of each directive wins; IdentityFile accumulates. */
export function computeSshConfig(name: string, src: SshConfigSource = {}): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const c of configs(src)) {
    // Match exec would run a shell command from the config: not from runbook.
    const r = c.compute(name, { ignoreCase: true, matchExec: false });
    for (const [k, v] of Object.entries(r)) {
      if (k === 'identityfile') out[k] = [...((out[k] as string[] | undefined) ?? []), ...(Array.isArray(v) ? v : [v])];
      else if (!(k in out)) out[k] = v;
    }
  }
  return out;
}

/** %d %h %p %r %u %% and a leading ~ in a path, as ssh_config(5) TOKENS. */
function expandTokens(p: string, ctx: { host: string; port: number; user: string; home: string }): string {
  const s = p.replace(/%([%dhpru])/g, (_m, t: string) =>
    t === '%' ? '%' : t === 'd' ? ctx.home : t === 'h' ? ctx.host : t === 'p' ? String(ctx.port) : t === 'r' ? ctx.user : userInfo().username,
  );
  return s === '~' ? ctx.home : s.startsWith('~/') ? join(ctx.home, s.slice(2)) : s;
}

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
const words = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : (Array.isArray(v) ? v : [v]).flatMap((x) => x.split(/\s+/)).filter(Boolean);

function strictness(v: string | undefined): HostKeyChecking | undefined {
  if (v === undefined) return undefined;
  const x = v.toLowerCase();
  if (x === 'yes' || x === 'ask') return 'strict';
  if (x === 'accept-new') return 'accept-new';
  // `no` is ignored: an ssh config (a machine's /etc/ssh/ssh_config included) never switches host-key
  // checking off; only the inventory can, where a reviewer sees it.
  return undefined;
}

/**
 * A host's connection with the ssh config applied under the inventory's explicit settings. `ssh.defaulted`
 * lists what the inventory left to runbook's defaults; only those (and what runbook has no setting
 * for: more identity files, IdentitiesOnly, more known_hosts files) come from the config.
 */
export function applySshConfig(address: string, ssh: SshSettings, src: SshConfigSource = {}): ResolvedConnection {
  const home = src.home ?? homedir();
  const c = computeSshConfig(address, src);
  const free = new Set(ssh.defaulted ?? []);
  const out: SshSettings = { ...ssh };
  const user = first(c.user);
  if (free.has('user') && user) out.user = user;
  const port = Number(first(c.port));
  if (free.has('port') && Number.isInteger(port) && port > 0 && port < 65536) out.port = port;
  const host = first(c.hostname)?.replace(/%h/g, address) ?? address;
  const ctx = { host, port: out.port, user: out.user, home };
  const ids = words(c.identityfile).map((p) => expandTokens(p, ctx));
  if (ids.length > 0) {
    if (out.identityFile === undefined) out.identityFile = ids[0];
    const more = ids.filter((p) => p !== out.identityFile);
    if (more.length) out.identityFiles = more;
  }
  if (first(c.identitiesonly)?.toLowerCase() === 'yes') out.identitiesOnly = true;
  const userKnown = words(c.userknownhostsfile).map((p) => expandTokens(p, ctx));
  const known: string[] = [];
  if (free.has('knownHosts') && userKnown[0] !== undefined) {
    out.knownHosts = userKnown[0];
    known.push(...userKnown.slice(1));
  }
  const global = c.globalknownhostsfile !== undefined ? words(c.globalknownhostsfile).map((p) => expandTokens(p, ctx)) : GLOBAL_KNOWN_HOSTS;
  known.push(...global);
  out.knownHostsExtra = [...new Set(known)].filter((p) => p !== out.knownHosts);
  const strict = strictness(first(c.stricthostkeychecking));
  if (free.has('hostKeyChecking') && strict) out.hostKeyChecking = strict;
  const timeout = Number(first(c.connecttimeout));
  if (free.has('connectTimeoutSec') && Number.isInteger(timeout) && timeout > 0) out.connectTimeoutSec = timeout;
  const jump = first(c.proxyjump);
  if (free.has('jump') && jump && jump.toLowerCase() !== 'none') out.jump = jump;
  const r: ResolvedConnection = { address: host, ssh: out };
  const proxyCommand = first(c.proxycommand);
  if (proxyCommand && proxyCommand.toLowerCase() !== 'none' && out.jump === undefined) {
    r.refusal =
      `the ssh config sets ProxyCommand for ${address}, which runbook cannot run (its SSH connections are made in-process); ` +
      'use ProxyJump in the ssh config, or ssh.jump in the inventory';
  }
  if (out.jump?.includes(','))
    r.refusal = `the ssh config sets a ProxyJump chain (${out.jump}) for ${address}; runbook follows one jump host per hop: give the jump host its own ProxyJump`;
  return r;
}
