// The relay's wire bytes on the controller (relay.ts): the file itself, or its zstd stream spooled to
// a temp file while zstd writes it, readable from any offset (a healed member resumes where it was).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHUNK = 1024 * 1024;
export const ZSTD_ARGS = ['-q', '-c', '-T0', '-3'];

/** The wire bytes as the controller produces them: the file itself, or its zstd stream spooled to a temp file. */
export class Spool extends EventEmitter {
  written = 0;
  complete = false;
  error: Error | undefined;
  private fd: FileHandle | undefined;
  private child: ReturnType<typeof spawn> | undefined;
  private tmp: string | undefined;

  static async of(src: string, codec: 'zstd' | 'none'): Promise<Spool> {
    const s = new Spool();
    s.setMaxListeners(0);
    if (codec === 'none') {
      s.fd = await open(src, 'r');
      s.written = (await s.fd.stat()).size;
      s.complete = true;
      return s;
    }
    s.tmp = join(tmpdir(), `runbook-relay-${randomBytes(8).toString('hex')}.zst`);
    const w = await open(s.tmp, 'wx', 0o600);
    s.fd = await open(s.tmp, 'r');
    const child = spawn('zstd', [...ZSTD_ARGS, '--', src], { stdio: ['ignore', 'pipe', 'pipe'] });
    s.child = child;
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
    // Written chunk by chunk so readers see a consistent length.
    const pump = (async () => {
      for await (const b of child.stdout as AsyncIterable<Buffer>) {
        await w.write(b, 0, b.length, s.written);
        s.written += b.length;
        s.emit('grow');
      }
      const [code] = (await (child.exitCode !== null ? [child.exitCode] : once(child, 'exit'))) as [number | null];
      if (code !== 0) throw new Error(`zstd on the controller failed (exit ${String(code)}): ${stderr.trim()}`);
    })();
    pump
      .then(
        () => (s.complete = true),
        (e: Error) => (s.error = e),
      )
      .finally(() => {
        void w.close();
        s.emit('grow');
      });
    return s;
  }

  /** The wire bytes from `offset`, following the spool while it grows. */
  async *from(offset: number): AsyncGenerator<Buffer> {
    let off = offset;
    for (;;) {
      if (this.error) throw this.error;
      if (off < this.written) {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, this.written - off));
        const { bytesRead } = await (this.fd as FileHandle).read(buf, 0, buf.length, off);
        off += bytesRead;
        yield buf.subarray(0, bytesRead);
        continue;
      }
      if (this.complete) return;
      await once(this, 'grow');
    }
  }

  async close(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.fd?.close().catch(() => undefined);
    if (this.tmp) await rm(this.tmp, { force: true });
  }
}
