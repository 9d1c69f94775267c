// General-purpose modules: shell, command, copy, fetch, template, file, service, wait_for,
// assert, fail, pause, set_fact.
import { isAbsolute, resolve } from 'node:path';
import { jsonText, type Action, type Json, type JsonObject } from '../model/types.js';
import { renderTemplate } from '../template/env.js';
import { sha256 } from '../load/source.js';
import { controllerPath } from '../load/paths.js';
import { bashScript, joinSh, raw, sh, type ShellText } from '../shell/sh.js';
import { bool, exec, num, optStr, str, waitFor, type ModuleDef, type PlanCtx } from './module.js';

// eslint-disable-next-line no-restricted-syntax -- `cmd` here is the shell module's argument, not an action
const cmdShorthand = (given: Json): Json => (typeof given === 'string' ? { cmd: given } : given);

/**
 * The shell module's command is the user's shell text by design: every {{value}} in it was quoted
 * for its shell context when it was rendered (engine/template), {{{raw}}} is visible in review.
 */
function userCommand(args: JsonObject): ShellText {
  // eslint-disable-next-line no-restricted-syntax -- the one place a module inserts rendered user shell text
  return raw(str(args, 'cmd'));
}

function wrapCmd(args: JsonObject, cmd: ShellText): ShellText {
  let out = cmd;
  const chdir = optStr(args, 'chdir');
  if (chdir) out = sh`cd ${chdir} && ${out}`;
  const creates = optStr(args, 'creates');
  if (creates) out = sh`if [ -e ${creates} ]; then echo ${`skipped: ${creates} exists`}; else ${out}; fi`;
  return out;
}

export const shell: ModuleDef = {
  name: 'shell',
  schema: 'shell',
  summary: 'run a command through /bin/sh on the host; {{values}} are shell-quoted',
  normalize: cmdShorthand,
  argModes: { cmd: 'shell' },
  readOnly: (args) => bool(args, 'read_only'),
  // The user's command is shell text by design: its {{values}} were quoted when it was rendered.
  plan: (args) => ({
    actions: [
      exec(wrapCmd(args, userCommand(args)), {
        ...(optStr(args, 'stdin') !== undefined ? { stdin: str(args, 'stdin') } : {}),
        ...(bool(args, 'read_only') ? { probe: true } : {}),
      }),
    ],
  }),
};

export const command: ModuleDef = {
  name: 'command',
  schema: 'command',
  summary: 'run a program with arguments, no shell: every argument is quoted',
  normalize: (given) => (typeof given === 'string' ? { argv: given.trim().split(/\s+/) } : given),
  readOnly: (args) => bool(args, 'read_only'),
  plan: (args) => {
    const argv = (args.argv as Json[]).map((a) => (typeof a === 'string' ? a : JSON.stringify(a)));
    return { actions: [exec(wrapCmd(args, sh`${argv}`), bool(args, 'read_only') ? { probe: true } : {})] };
  },
};

/** Content that holds a secret is written owner-only unless a mode is given. */
function defaultMode(content: string | undefined): string {
  return content !== undefined && /⟨!?secrets\./.test(content) ? '0600' : '0644';
}

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
    const owner = optStr(args, 'owner');
    const content = optStr(args, 'content');
    const mode = str(args, 'mode', defaultMode(content));
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
    return {
      actions: [
        {
          kind: 'put',
          dest: str(args, 'dest'),
          mode: str(args, 'mode', defaultMode(content)),
          content,
          sha256: content.includes('⟨') ? '' : sha256(content),
          ...(owner ? { owner } : {}),
        },
      ],
    };
  },
};

export const file: ModuleDef = {
  name: 'file',
  schema: 'file',
  summary: 'directories and moving data aside (runbook never deletes: state "aside" renames with a timestamp)',
  readOnly: false,
  intent: (args) => {
    const path = str(args, 'path');
    const state = str(args, 'state', 'directory');
    if (state !== 'aside')
      return `file ${state}: ${path}${optStr(args, 'mode') ? ` mode ${optStr(args, 'mode') ?? ''}` : ''}${optStr(args, 'owner') ? ` owner ${optStr(args, 'owner') ?? ''}` : ''}`;
    return `file aside: move ${path} aside to ${path}${str(args, 'suffix', '.bak-⟨run.timestamp⟩')} if it exists (kept, never deleted)`;
  },
  plan: (args) => {
    const path = str(args, 'path');
    const state = str(args, 'state', 'directory');
    const mode = optStr(args, 'mode');
    const owner = optStr(args, 'owner');
    const cmds: ShellText[] = [];
    if (state === 'directory' || state === 'touch') {
      cmds.push(state === 'directory' ? sh`mkdir -p ${path}` : sh`touch ${path}`);
      if (mode) cmds.push(sh`chmod ${mode} ${path}`);
      if (owner) cmds.push(sh`chown ${owner} ${path}`);
      return { actions: [exec(joinSh(cmds, ' && '))] };
    }
    // aside: keep the old data under a unique, sortable name.
    const aside = path + str(args, 'suffix', '.bak-⟨!run.timestamp⟩');
    return { actions: [exec(sh`if [ -e ${path} ]; then mv -n ${path} ${aside} && test ! -e ${path} && echo moved; else echo absent; fi`)] };
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
    if (typeof enabled === 'boolean') actions.push(exec(sh`systemctl ${enabled ? raw('enable') : raw('disable')} ${name}`));
    if (verb) actions.push(exec(sh`systemctl ${verb} ${name}`));
    if (state === 'stopped') actions.push(exec(sh`! systemctl is-active --quiet ${name}`, { note: 'verify it is stopped' }));
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
    // The loop is fixed text; what it waits for reaches it as "$1" (and "$2"), never inside the script.
    const path = optStr(args, 'path');
    if (path !== undefined) {
      const what = `${path} ${state === 'absent' ? 'gone' : 'present'}`;
      const test = state === 'absent' ? raw('[ ! -e "$1" ]') : raw('[ -e "$1" ]');
      return { actions: [waitFor(what, timeout, bashScript(waitLoop(test, timeout), 'wait_for', path, `timed out waiting for ${what}`))] };
    }
    const host = str(args, 'host', '127.0.0.1');
    const port = num(args, 'port', 0);
    const what = `${host}:${port} ${state === 'stopped' ? 'closed' : 'open'}`;
    const open = raw('(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null');
    const test = state === 'stopped' ? sh`! ${open}` : open;
    return { actions: [waitFor(what, timeout, bashScript(waitLoop(test, timeout, '$3'), 'wait_for', host, port, `timed out waiting for ${what}`))] };
  },
};

/** until TEST; sleep: the message is the script's last argument ($2, or $3 for host and port). */
function waitLoop(test: ShellText, timeout: number, message: '$2' | '$3' = '$2'): ShellText {
  const says = message === '$2' ? raw('"$2"') : raw('"$3"');
  return sh`deadline=$(( $(date +%s) + ${timeout} )); until ${test}; do if [ "$(date +%s)" -ge "$deadline" ]; then echo ${says} >&2; exit 1; fi; sleep 0.5; done`;
}

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
