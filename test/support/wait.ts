// Waiting for observable state with a deadline: how tests sequence races (never a fixed sleep).
import * as net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export function sleep(ms: number): Promise<void> {
  return delay(ms);
}

/**
 * Polls `fn` until it returns a truthy value and returns that value; fails after `timeoutMs`
 * naming `what` (and `detail()` when given, e.g. the output so far).
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 15_000,
  everyMs = 50,
  detail?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await delay(everyMs);
  }
}

/** Whether a TCP connection to address:port is accepted (within 500 ms): the port is open. */
export function tcpOpen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: address, port });
    s.setTimeout(500, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}
