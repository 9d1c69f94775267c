// General-purpose modules: shell, command, copy, fetch, template, file, service, wait_for,
// assert, fail, pause, set_fact.
import { isAbsolute, resolve } from 'node:path';
import { jsonText, type Action, type Json, type JsonObject } from '../model/types.js';
import { renderTemplate } from '../template/env.js';
import { sha256 } from '../load/source.js';
import { controllerPath } from '../load/paths.js';
import { bool, num, optStr, q, str, type ModuleDef, type PlanCtx } from './module.js';

const cmdShorthand = (raw: Json): Json => (typeof raw === 'string' ? { cmd: raw } : raw);

function wrapCmd(args: JsonObject, cmd: string): string {
  let out = cmd;
  const chdir = optStr(args, 'chdir');
  if (chdir) out = `cd ${q(chdir)} && ${out}`;
  const creates = optStr(args, 'creates');
  if (creates) out = `if [ -e ${q(creates)} ]; then echo 'skipped: ${creates.replace(/'/g, '')} exists'; else ${out}; fi`;
  return out;
}

export const shell: ModuleDef = {
  name: 'shell',
  schema: 'shell',
  summary: 'run a command through /bin/sh on the host; {{values}} are shell-quoted',
  normalize: cmdShorthand,
  argModes: { cmd: 'shell' },
  readOnly: (args) => bool(args, 'read_only'),
  plan: (args) => ({ actions: [{ kind: 'exec', cmd: wrapCmd(args, str(args, 'cmd')), ...(optStr(args, 'stdin') !== undefined ? { stdin: str(args, 'stdin') } : {}), ...(bool(args, 'read_only') ? { probe: true } : {}) }] }),
};

export const command: ModuleDef = {
  name: 'command',
  schema: 'command',
  summary: 'run a program with arguments, no shell: every argument is quoted',
  normalize: (raw) => (typeof raw === 'string' ? { argv: raw.trim().split(/\s+/) } : raw),
  readOnly: (args) => bool(args, 'read_only'),
  plan: (args) => {
    const argv = (args.argv as Json[]).map((a) => q(typeof a === 'string' ? a : JSON.stringify(a)));
    return { actions: [{ kind: 'exec', cmd: wrapCmd(args, argv.join(' ')), ...(bool(args, 'read_only') ? { probe: true } : {}) }] };
  },
};

/** copy/template sources are relative to the playbook; shown relative to the working directory. */
function localPath(ctx: PlanCtx, p: string): string {
  return controllerPath(isAbsolute(p) ? p : resolve(ctx.playbookDir, p));
}

export const copy: ModuleDef = {
  name: 'copy',
  schema: 'copy',
  summary: 'write content or a controller file to the host (temp file, hash check, rename)',
  readOnly: false,
  plan: (args, ctx) => {
    const dest = str(args, 'dest');
    const mode = str(args, 'mode', '0644');
    const owner = optStr(args, 'owner');
    const content = optStr(args, 'content');
    const action: Action =
      content !== undefined
        ? { kind: 'put', dest, mode, content, sha256: content.includes('⟨') ? '' : sha256(content), ...(owner ? { owner } : {}) }
        : { kind: 'put', dest, mode, src: localPath(ctx, str(args, 'src')), ...(owner ? { owner } : {}) };
    return { actions: [action] };
  },
};

export const fetch: ModuleDef = {
  name: 'fetch',
  schema: 'fetch',
  summary: 'copy a file from the host to the controller (hash checked)',
  readOnly: true,
  // dest is a controller path relative to the working directory (a trailing / means "into this directory").
  plan: (args) => ({ actions: [{ kind: 'get', src: str(args, 'src'), dest: str(args, 'dest'), bind: 'file' }], result: '⟨!_.file⟩' }),
};

export const template: ModuleDef = {
  name: 'template',
  schema: 'template',
  summary: 'render a Handlebars file from the playbook directory and write it to the host',
  readOnly: false,
  plan: (args, ctx) => {
    const src = localPath(ctx, str(args, 'src'));
    const content = renderTemplate(ctx.readInput(src), ctx.vars, 'plain');
    const owner = optStr(args, 'owner');
    return { actions: [{ kind: 'put', dest: str(args, 'dest'), mode: str(args, 'mode', '0644'), content, sha256: content.includes('⟨') ? '' : sha256(content), ...(owner ? { owner } : {}) }] };
  },
};

export const file: ModuleDef = {
  name: 'file',
  schema: 'file',
  summary: 'directories and moving data aside (runbook never deletes: state "aside" renames with a timestamp)',
  readOnly: false,
  plan: (args) => {
    const path = str(args, 'path');
    const state = str(args, 'state', 'directory');
    const mode = optStr(args, 'mode');
    const owner = optStr(args, 'owner');
    const cmds: string[] = [];
    if (state === 'directory') {
      cmds.push(`mkdir -p ${q(path)}`);
      if (mode) cmds.push(`chmod ${q(mode)} ${q(path)}`);
      if (owner) cmds.push(`chown ${q(owner)} ${q(path)}`);
    } else if (state === 'touch') {
      cmds.push(`touch ${q(path)}`);
      if (mode) cmds.push(`chmod ${q(mode)} ${q(path)}`);
      if (owner) cmds.push(`chown ${q(owner)} ${q(path)}`);
    } else {
      // aside: keep the old data under a unique, sortable name.
      const suffix = str(args, 'suffix', '.bak-⟨!run.timestamp⟩');
      return { actions: [{ kind: 'exec', cmd: `if [ -e ${q(path)} ]; then mv -n ${q(path)} ${q(path + suffix)} && test ! -e ${q(path)} && echo moved; else echo absent; fi` }] };
    }
    return { actions: [{ kind: 'exec', cmd: cmds.join(' && ') }] };
  },
};

export const service: ModuleDef = {
  name: 'service',
  schema: 'service',
  summary: 'start, stop or restart a systemd unit',
  readOnly: false,
  plan: (args) => {
    const name = str(args, 'name');
    const state = optStr(args, 'state');
    const verb = state === 'started' ? 'start' : state === 'stopped' ? 'stop' : state === 'restarted' ? 'restart' : state === 'reloaded' ? 'reload' : undefined;
    const actions: Action[] = [];
    const enabled = args.enabled;
    if (typeof enabled === 'boolean') actions.push({ kind: 'exec', cmd: `systemctl ${enabled ? 'enable' : 'disable'} ${q(name)}` });
    if (verb) actions.push({ kind: 'exec', cmd: `systemctl ${verb} ${q(name)}` });
    if (state === 'stopped') actions.push({ kind: 'exec', cmd: `! systemctl is-active --quiet ${q(name)}`, note: 'verify it is stopped' });
    return { actions };
  },
};

export const wait_for: ModuleDef = {
  name: 'wait_for',
  schema: 'wait_for',
  summary: 'wait until a port is open/closed or a path exists/is gone, with a deadline',
  readOnly: true,
  plan: (args) => {
    const timeout = num(args, 'timeout', 60);
    const state = str(args, 'state', 'started');
    let test: string;
    let what: string;
    const path = optStr(args, 'path');
    if (path !== undefined) {
      test = state === 'absent' ? `[ ! -e ${q(path)} ]` : `[ -e ${q(path)} ]`;
      what = `${path} ${state === 'absent' ? 'gone' : 'present'}`;
    } else {
      const host = str(args, 'host', '127.0.0.1');
      const port = num(args, 'port', 0);
      const open = `(exec 3<>/dev/tcp/${host}/${port}) 2>/dev/null`;
      test = state === 'stopped' ? `! ${open}` : open;
      what = `${host}:${port} ${state === 'stopped' ? 'closed' : 'open'}`;
    }
    const cmd = `deadline=$(( $(date +%s) + ${timeout} )); until ${test}; do if [ "$(date +%s)" -ge "$deadline" ]; then echo ${q(`timed out waiting for ${what}`)} >&2; exit 1; fi; sleep 0.5; done`;
    return { actions: [{ kind: 'wait', what, timeoutSec: timeout, cmd: `bash -c ${q(cmd)}` }] };
  },
};

export const assert: ModuleDef = {
  name: 'assert',
  schema: 'assert',
  summary: 'check conditions on the controller; fail with a message when one is false',
  rawArgs: ['that'],
  readOnly: true,
  plan: (args) => {
    const that = Array.isArray(args.that) ? args.that.map(jsonText) : [jsonText(args.that)];
    const msg = optStr(args, 'fail_msg');
    return { actions: [{ kind: 'check', that, ...(msg ? { message: msg } : {}) }] };
  },
};

export const fail: ModuleDef = {
  name: 'fail',
  schema: 'fail',
  summary: 'stop the host with a message',
  readOnly: true,
  plan: (args) => ({ actions: [{ kind: 'fail', message: str(args, 'msg') }] }),
};

export const pause: ModuleDef = {
  name: 'pause',
  schema: 'pause',
  summary: 'wait some seconds, or ask the operator to confirm (refused without a TTY unless --yes)',
  readOnly: true,
  plan: (args) => {
    const prompt = optStr(args, 'prompt');
    const seconds = typeof args.seconds === 'number' ? args.seconds : undefined;
    return { actions: [{ kind: 'pause', ...(seconds !== undefined ? { seconds } : {}), ...(prompt ? { prompt } : {}) }] };
  },
};

export const set_fact: ModuleDef = {
  name: 'set_fact',
  schema: 'set_fact',
  summary: 'set variables for this host for the rest of the run',
  readOnly: true,
  plan: (args) => ({ actions: [{ kind: 'set_fact', facts: args }] }),
};
