// Transfers over the connection: an upload streams into `cat` on the host (through a temp file,
// checked by sha256, then chmod and mv into place); a download streams `cat` into a local temp
// file, checked against the host's sha256 before the rename. Both run as the login user or
// under sudo (become) like any command.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname as localDirname, posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { RunError } from '../../model/errors.js';
import { shq } from '../../shell/quote.js';
import { abortError, HashingStream, randomSuffix, transferMode } from '../common.js';
import type { ExecOptions, ExecResult, TransferResult } from '../transport.js';

/** What a transfer needs of the transport. */
export interface TransferHost {
  readonly host: string;
  exec(cmd: string, opts: ExecOptions): Promise<ExecResult>;
  /** exec, streaming stdout into `sink` (with backpressure) instead of capturing it. */
  execToSink(cmd: string, opts: ExecOptions, sink: Writable): Promise<ExecResult>;
}

export async function putStream(
  t: TransferHost,
  source: Readable,
  remotePath: string,
  opts: { mode?: string; signal?: AbortSignal; become?: boolean; expectedSha256?: string },
): Promise<TransferResult> {
  const what = `${t.host}: put ${remotePath}`;
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
      await t.exec(`rm -f -- ${shq(tmp)}`, opts.become ? { become: true } : {});
    } catch {
      // connection gone: nothing more we can do
    }
  };
  const res = await t.exec(upload, base);
  if (!hashing.readableEnded) {
    // The remote side stopped reading (error/abort): release the source.
    source.unpipe(hashing);
    source.destroy();
    hashing.destroy();
  }
  if (sourceError) {
    await cleanup();
    throw new RunError('TRANSFER_FAILED', `${what}: reading the source failed: ${sourceError.message}`, { cause: sourceError });
  }
  if (res.aborted) {
    await cleanup();
    throw abortError(opts.signal, what);
  }
  if (res.code !== 0) {
    if (res.code !== 3) await cleanup();
    throw new RunError('TRANSFER_FAILED', `${what} failed (${exitText(res.code)}): ${res.stderr.trim()}`);
  }
  // With a known expected hash (a snapshot's manifest) the copy is checked against it; the
  // local hash computed while streaming is the reference otherwise.
  const local = opts.expectedSha256 ?? hashing.digest();
  const remote = res.stdout.trim().slice(0, 64);
  if (remote !== local) {
    await cleanup();
    throw new RunError(
      'CHECKSUM_MISMATCH',
      `${what}: checksum mismatch after upload (${opts.expectedSha256 ? 'expected' : 'local'} sha256 ${local}, ` +
        `remote ${remote || '(none)'}); temp file removed`,
    );
  }
  const chmod =
    mode !== undefined
      ? `chmod ${mode} ${shq(tmp)}`
      : `if [ -e ${shq(remotePath)} ]; then chmod --reference=${shq(remotePath)} ${shq(tmp)} 2>/dev/null || :; ` +
        `else chmod "$(printf '%o' $(( 0666 & ~0$(umask) )))" ${shq(tmp)}; fi`;
  // -T: a directory at the destination is an error, never a place to move the file into.
  const fin = await t.exec(`${chmod} && mv -f -T -- ${shq(tmp)} ${shq(remotePath)}`, opts.become ? { become: true } : {});
  if (fin.code !== 0) {
    await cleanup();
    throw new RunError('TRANSFER_FAILED', `${what}: could not install the file (${exitText(fin.code)}): ${fin.stderr.trim()}`);
  }
  return { bytes: hashing.bytes, sha256: local };
}

export async function getFile(
  t: TransferHost,
  remotePath: string,
  localPath: string,
  opts: { signal?: AbortSignal; become?: boolean },
): Promise<TransferResult> {
  const what = `${t.host}: get ${remotePath}`;
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
    throw new RunError('TRANSFER_FAILED', `${what}: cannot write ${tmp} (does ${localDirname(localPath)} exist?): ${(err as Error).message}`, {
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
    const res = await t.execToSink(`cat -- ${shq(remotePath)}`, base, hashing);
    hashing.end();
    await fileDone;
    if (res.aborted) throw abortError(opts.signal, what);
    if (res.code !== 0) {
      throw new RunError('TRANSFER_FAILED', `${what} failed (${exitText(res.code)}): ${res.stderr.trim()}`);
    }
    const local = hashing.digest();
    const sum = await t.exec(`sha256sum < ${shq(remotePath)}`, opts.become ? { become: true } : {});
    const remote = sum.stdout.trim().slice(0, 64);
    if (sum.code !== 0 || remote !== local) {
      throw new RunError(
        'CHECKSUM_MISMATCH',
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

function exitText(code: number | null): string {
  return code === null ? 'connection lost' : `exit ${code}`;
}
