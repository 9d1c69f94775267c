// Wiring: host name → Transport for a run. "localhost" is the controller (LocalTransport); every
// other host gets one SshTransport, tunnelled through its `jump` host (an inventory host, reusing
// that host's connection, or user@host:port) when it has one.
import type { SshSettings } from '../model/types.js';
import { LocalTransport } from '../transports/local.js';
import { SshTransport } from '../transports/ssh/transport.js';
import { applySshConfig, type ResolvedConnection, type SshConfigSource } from '../transports/ssh/ssh-config.js';
import type { Transport } from '../transports/transport.js';

export interface HostConnection {
  address: string;
  ssh: SshSettings;
}

export interface TransportFactoryOptions {
  /** Passphrase of the identity file(s). */
  passphrase?: string;
  /** sudo password for `become` with a non-root login. */
  sudoPassword?: string;
  log?: (host: string, message: string) => void;
  /** The OpenSSH client config: ~/.ssh/config + /etc/ssh/ssh_config by default, `{file}` for -F, false for none. */
  sshConfig?: SshConfigSource | false;
}

export interface TransportFactory {
  get(host: string): Transport;
  /** Fails every SSH handshake still in progress now (an interrupted run does not wait for connect_timeout). */
  stopConnecting(): void;
  /** Closes everything created, jump hosts included (safe to call twice). */
  closeAll(): Promise<void>;
}

/** user@host:port (user and port optional) → parts. */
export function parseJump(spec: string): { user?: string; host: string; port?: number } | undefined {
  const m = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(spec);
  if (!m?.[2]) return undefined;
  return { ...(m[1] ? { user: m[1] } : {}), host: m[2].replace(/^\[|\]$/g, ''), ...(m[3] ? { port: Number(m[3]) } : {}) };
}

export function transportFactory(hosts: Record<string, HostConnection>, opts: TransportFactoryOptions = {}): TransportFactory {
  const made = new Map<string, Transport>();
  const sshConfig: SshConfigSource = opts.sshConfig === false ? {} : (opts.sshConfig ?? {});
  /** The connection with the OpenSSH config applied under the inventory's own settings. */
  const configured = (conn: HostConnection): ResolvedConnection =>
    opts.sshConfig === false ? { address: conn.address, ssh: conn.ssh } : applySshConfig(conn.address, conn.ssh, sshConfig);
  const ssh = (name: string, conn: HostConnection, seen: string[]): SshTransport => {
    const hit = made.get(name);
    if (hit instanceof SshTransport) return hit;
    const c = configured(conn);
    let jumpTransport: SshTransport | undefined;
    const jump = c.ssh.jump;
    if (jump && c.refusal === undefined) {
      if (seen.includes(jump)) throw new Error(`jump hosts form a loop: ${[...seen, jump].join(' → ')}`);
      const known = hosts[jump];
      if (known) jumpTransport = ssh(jump, known, [...seen, name]);
      else {
        const p = parseJump(jump);
        if (!p) throw new Error(`${name}: cannot read jump host "${jump}" (expected an inventory host or user@host:port)`);
        // A jump host outside the inventory: its own ssh config entry decides what user@host:port leaves open.
        const free = new Set(conn.ssh.defaulted ?? []);
        if (p.user === undefined) free.add('user');
        else free.delete('user');
        if (p.port === undefined) free.add('port');
        else free.delete('port');
        free.add('jump');
        const { jump: _ignored, ...rest } = conn.ssh;
        const jumpConn: HostConnection = {
          address: p.host,
          ssh: { ...rest, user: p.user ?? conn.ssh.user, port: p.port ?? 22, defaulted: [...free] },
        };
        jumpTransport = ssh(`jump:${jump}`, jumpConn, [...seen, name]);
      }
    }
    const shown = name.startsWith('jump:') ? name.slice(5) : name;
    const t = new SshTransport(shown, c.address, c.ssh, {
      ...transportOptions(shown),
      ...(jumpTransport ? { jumpTransport } : {}),
      ...(c.refusal !== undefined ? { refusal: c.refusal } : {}),
    });
    made.set(name, t);
    return t;
  };
  const transportOptions = (name: string): ConstructorParameters<typeof SshTransport>[3] => ({
    ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
    ...(opts.sudoPassword !== undefined ? { sudoPassword: opts.sudoPassword } : {}),
    ...(opts.log ? { log: (m: string) => opts.log?.(name, m) } : {}),
  });
  return {
    get(host: string): Transport {
      const hit = made.get(host);
      if (hit) return hit;
      if (host === 'localhost' && !hosts.localhost) {
        const t = new LocalTransport('localhost', opts.sudoPassword !== undefined ? { sudoPassword: opts.sudoPassword } : {});
        made.set(host, t);
        return t;
      }
      const conn = hosts[host];
      if (!conn) throw new Error(`no connection settings for host "${host}"`);
      return ssh(host, conn, []);
    },
    stopConnecting(): void {
      for (const t of made.values()) if (t instanceof SshTransport) t.stopConnecting();
    },
    async closeAll(): Promise<void> {
      const all = [...made.values()];
      made.clear();
      // Tunnelled connections first, then the jump hosts they run through.
      const jumps = all.filter((t) => all.some((o) => o instanceof SshTransport && o !== t && o.target.endsWith(` via ${t.host}`)));
      await Promise.allSettled(all.filter((t) => !jumps.includes(t)).map((t) => t.close()));
      await Promise.allSettled(jumps.map((t) => t.close()));
    },
  };
}
