// The CLI is thin: parse flags, call the stages, map results to exit codes (README "Exit codes").
// Commands are imported when they run, so `runbook --help` does not load the whole engine.
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { RUNBOOK_VERSION } from './version.js';
import { EXIT, type Io } from '../model/io.js';
import { DEFAULT_FORKS, DEFAULT_JOURNAL_DIR, processIo } from './output.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/**
 * `-i` names one inventory. Ansible merges several; runbook refuses a second one (exit 2) rather
 * than silently using the last: one cluster per plan, and which file says what stays obvious.
 */
export const oneInventory = (v: string, prev: string | undefined): string => {
  if (prev !== undefined)
    throw new InvalidArgumentError(
      `-i given more than once (${prev}, ${v}): runbook reads exactly one inventory per run (one cluster); several -i are not merged. ` +
        'Combine them into one file, or run once per inventory.',
    );
  return v;
};

const INVENTORY_FLAGS = '-i, --inventory <file>';

type SetCode = (c: number) => void;

/** Shown after the top-level help: what a first run looks like, and what the exit codes mean (README "Exit codes"). */
export const HELP_AFTER = `
Examples:
  runbook validate playbooks/*.yml inventories/*.yml            every problem at once, file:line:col
  runbook plan restore-all -i inventories/prod.yml              what each host will run (no network)
  runbook plan backup -i inv.yml --out plan.json                save it for review; apply it as reviewed
  runbook diff --base origin/main restore-all -i inv.yml        what this branch changes, per host
  runbook apply backup -i inv.yml                               run it over SSH
  runbook doc etcd_health                                       a module's arguments, ops and registered result
  source <(runbook completion bash)                             shell completion (also zsh, fish)

Exit codes:
  0    success (diff: no change)
  1    a step failed, a host was unreachable, or an outcome is unknown
  2    invalid input: nothing ran, no host was contacted
  3    diff: the plans differ
  4    refused: destructive plan without confirmation, stale saved plan, or the cluster is locked
  130  interrupted (SIGINT/SIGTERM)
`;

export function buildProgram(io: Io, setCode: (c: number) => void): Command {
  const program = new Command('runbook')
    .description('etcd operations as code: validate, plan and apply playbooks over SSH')
    .version(RUNBOOK_VERSION)
    // Options of a command stay with it (`inventory import -i X`: -i is import's, not inventory's).
    .enablePositionalOptions()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError()
    .addHelpText('after', HELP_AFTER);

  // Registration order is the order of `runbook --help` and of the completion script.
  addValidate(program, io, setCode);
  addPlan(program, io, setCode);
  addDiff(program, io, setCode);
  addInventory(program, io, setCode);
  addStatus(program, io, setCode);
  addSnapshot(program, io, setCode);
  addBackups(program, io, setCode);
  addSchedule(program, io, setCode);
  addApply(program, io, setCode);
  addDoc(program, io, setCode);
  addCompletion(program, io, setCode);

  return program;
}

/** `runbook validate`: every problem at once, exit 2 if any. */
function addValidate(program: Command, io: Io, setCode: SetCode): void {
  program
    .command('validate')
    .description('check playbooks and inventories; every problem at once, exit 2 if any')
    .argument('[files...]', 'playbooks (or shipped names like restore-all) and inventories')
    .option(INVENTORY_FLAGS, 'also check hosts and variables against this inventory', oneInventory)
    .addOption(
      new Option('--format <format>', 'output format (github: workflow annotations on the file and line)').choices(['text', 'json', 'github']).default('text'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  runbook validate playbooks/*.yml inventories/*.yml\n  runbook validate restore-all -i inventories/prod.yml --format github\n',
    )
    .action(async (files: string[], o: { inventory?: string; format?: string }) => setCode((await import('./validate.js')).runValidate(files, o, io)));
}

/** -l and -e as plan and apply take them (diff says "both sides"). */
function limitAndVars(cmd: Command): Command {
  return cmd
    .option('-l, --limit <pattern>', 'only these hosts/groups')
    .option('-e, --extra-vars <key=value>', 'extra variable (repeatable; @file.yml or JSON too)', collect, []);
}

/** `runbook plan`: compile into the exact steps per host (no network). */
function addPlan(program: Command, io: Io, setCode: SetCode): void {
  limitAndVars(
    program
      .command('plan')
      .description('compile a playbook against an inventory into the exact steps per host (no network)')
      .argument('<playbook>', 'a playbook path, or a shipped name such as restore-all.yml')
      .requiredOption(INVENTORY_FLAGS, 'the inventory', oneInventory),
  )
    .option('-t, --tags <tags>', 'only tasks with these tags (comma-separated; an unknown tag is an error)')
    .addOption(new Option('--format <format>', 'output format (default: text, or json with --out)').choices(['text', 'json']))
    .option('-o, --out <file>', 'write the plan to a file (JSON unless --format text)')
    .option('-v, --verbose', 'text: also show the exact commands under each step (JSON always has them)')
    .addHelpText(
      'after',
      '\nExamples:\n  runbook plan restore-all -i inventories/prod.yml\n  runbook plan replace-member -i inv.yml -e old=etcd-2 -e new=etcd-4 --verbose\n' +
        '  runbook plan backup -i inv.yml --out plan.json && runbook apply plan.json\n',
    )
    .action(
      async (
        playbook: string,
        o: { inventory: string; limit?: string; extraVars: string[]; tags?: string; format?: string; out?: string; verbose?: boolean },
      ) =>
        setCode(
          (await import('./plan.js')).runPlan(
            playbook,
            {
              inventory: o.inventory,
              extraVars: o.extraVars,
              format: o.format ?? (o.out ? 'json' : 'text'),
              ...(o.limit ? { limit: o.limit } : {}),
              ...(o.tags ? { tags: o.tags.split(',') } : {}),
              ...(o.out ? { out: o.out } : {}),
              ...(o.verbose ? { verbose: true } : {}),
            },
            io,
          ),
        ),
    );
}

/** `runbook diff`: saved plans, or a playbook at --base REF against the working tree. */
function addDiff(program: Command, io: Io, setCode: SetCode): void {
  program
    .command('diff')
    .description(
      'what changes between two plans: saved plans, or a playbook + inventory at --base REF against the working tree (exit 0 no change, 3 changes, 2 invalid)',
    )
    .argument('<sides...>', 'OLD.json NEW.json (saved plans), OLD.json PLAYBOOK, or with --base one PLAYBOOK')
    .option('--base <ref>', 'render the old side from the files as they are at this git revision (read with git show, no checkout)')
    .option(INVENTORY_FLAGS, 'the inventory (with --base, or when a side is a playbook)', oneInventory)
    .option('-l, --limit <pattern>', 'only these hosts/groups (both sides)')
    .option('-e, --extra-vars <key=value>', 'extra variable (repeatable; @file.yml or JSON too; both sides)', collect, [])
    .option('-t, --tags <tags>', 'only tasks with these tags (comma-separated)')
    .addOption(
      new Option('--format <format>', 'text (coloured on a terminal), markdown (a pull-request comment), json, or github (workflow annotations on the tasks)')
        .choices(['text', 'markdown', 'json', 'github'])
        .default('text'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  runbook diff old.json new.json\n  runbook diff --base origin/main restore-all -i inventories/prod.yml --format markdown\n' +
        '  runbook diff --base origin/main backup -i inventories/prod.yml --format github   (in a GitHub Actions step)\n',
    )
    .action(async (sides: string[], o: { base?: string; inventory?: string; limit?: string; extraVars: string[]; tags?: string; format: string }) =>
      setCode(
        (await import('./diff.js')).runDiff(
          sides,
          {
            extraVars: o.extraVars,
            format: o.format,
            ...(o.base !== undefined ? { base: o.base } : {}),
            ...(o.inventory ? { inventory: o.inventory } : {}),
            ...(o.limit ? { limit: o.limit } : {}),
            ...(o.tags ? { tags: o.tags.split(',') } : {}),
          },
          io,
        ),
      ),
    );
}

/** `runbook inventory` and its `import` subcommand. */
function addInventory(program: Command, io: Io, setCode: SetCode): void {
  const inventoryCommand = program
    .command('inventory')
    .description('show resolved hosts, groups, variables (with where each came from) and derived cluster facts')
    // Not requiredOption: commander checks a parent's mandatory options for its subcommands too (`inventory import`).
    .option(INVENTORY_FLAGS, 'the inventory (required)', oneInventory)
    .option('--graph', 'show the group tree')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (o: { inventory?: string; graph?: boolean; format?: string }) => {
      if (o.inventory === undefined) return inventoryCommand.error("error: required option '-i, --inventory <file>' not specified");
      setCode((await import('./inventory.js')).runInventory({ ...o, inventory: o.inventory }, io));
    });
  inventoryCommand
    .command('import')
    .description('write the runbook inventory equivalent to an Ansible or kubespray inventory (INI or YAML, with group_vars/, host_vars/, runbook-cluster.yml)')
    .requiredOption('-i, --inventory <file>', 'the Ansible inventory')
    .option('-o, --out <file>', 'write it here (refused if the file exists) instead of printing it')
    .action(async (o: { inventory: string; out?: string }) => setCode((await import('./inventory.js')).runInventoryImport(o, io)));
}

/** `runbook status`: the read-only member table. */
function addStatus(program: Command, io: Io, setCode: SetCode): void {
  program
    .command('status')
    .description(
      'read-only table of the members (name, ID, leader, revision, raft index, DB size, health), asked over SSH on the first reachable member; exit 1 unless all are healthy',
    )
    .requiredOption(INVENTORY_FLAGS, 'the inventory', oneInventory)
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('-F, --ssh-config <file>', 'OpenSSH client config to read instead of ~/.ssh/config and /etc/ssh/ssh_config (as ssh -F)')
    .action(async (o: { inventory: string; format: string; sshConfig?: string }) => setCode(await (await import('./status.js')).runStatus(o, io)));
}

/** `runbook snapshot verify`. */
function addSnapshot(program: Command, io: Io, setCode: SetCode): void {
  program
    .command('snapshot')
    .description('snapshot tools')
    .command('verify')
    .description(
      'restore a snapshot into a scratch dir and serve it with a throwaway etcd on 127.0.0.1 (free ports): report revision and key count, check FILE.manifest.json if present',
    )
    .argument('<file>', 'the snapshot (.db); with -i also latest (newest on the controller or in the bucket) or s3://bucket/key')
    .option('--skip-hash-check', 'for a raw member/snap/db copy (it has no snapshot hash)')
    .option('-i, --inventory <file>', 'the inventory: finds latest and s3:// snapshots, and writes the result to its backup metrics file (the drill)')
    .option('--remote', 'with latest: the newest snapshot in the bucket (the drill of what an off-host restore would use)')
    .option('--timeout <seconds>', 'how long to wait for the throwaway etcd to serve', (v) => Number(v), 60)
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (file: string, o: { skipHashCheck?: boolean; inventory?: string; remote?: boolean; timeout: number; format: string }) => {
      const { runSnapshotVerify } = await import('./snapshot.js');
      const verify = (f: string): Promise<number> =>
        runSnapshotVerify(f, { format: o.format, timeout: o.timeout, ...(o.skipHashCheck ? { skipHashCheck: true } : {}) }, io);
      if (o.remote && !o.inventory) {
        io.err('runbook snapshot verify: --remote needs -i INVENTORY\n');
        return setCode(2);
      }
      setCode(
        o.inventory
          ? await (await import('./backups.js')).verifyWithInventory(file, o.inventory, verify, io, { remoteOnly: o.remote === true })
          : await verify(file),
      );
    });
}

/** `runbook backups list`. */
function addBackups(program: Command, io: Io, setCode: SetCode): void {
  program
    .command('backups')
    .description('backup records')
    .command('list')
    .description('the snapshots on the controller and in the bucket: age, revision, size, verified or not')
    .requiredOption('-i, --inventory <file>', 'the inventory')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (o: { inventory: string; format: string }) => setCode(await (await import('./backups.js')).runBackupsList(o, io)));
}

/** `runbook schedule`: what runs a playbook periodically. */
function addSchedule(program: Command, io: Io, setCode: SetCode): void {
  program
    .command('schedule')
    .description(
      'print (or --install) what runs a playbook periodically: a systemd service + timer, a Kubernetes CronJob or a GitHub Actions workflow; overlapping runs are refused by the run lock',
    )
    .argument('<playbook>', 'a playbook path or a shipped name such as backup')
    .requiredOption(INVENTORY_FLAGS, 'the inventory', oneInventory)
    .requiredOption('--every <interval>', 'how often: 5m … 30m (dividing an hour), 1h … 12h (dividing a day), or 1d')
    .addOption(new Option('--target <target>', 'which scheduler').choices(['systemd', 'cronjob', 'github', 'all']).default('systemd'))
    .option('-e, --extra-vars <key=value>', 'extra variable passed to every run (repeatable)', collect, [])
    .option('--install <dir>', 'write the files into this directory (an existing different file is moved aside) instead of printing them')
    .option('--image <image>', 'container image holding runbook and the ops repository at /ops (cronjob)')
    .action(
      async (
        playbook: string,
        o: { inventory: string; every: string; target: 'systemd' | 'cronjob' | 'github' | 'all'; extraVars: string[]; install?: string; image?: string },
      ) =>
        setCode(
          (await import('./schedule.js')).runSchedule(
            playbook,
            {
              inventory: o.inventory,
              every: o.every,
              target: o.target,
              extraVars: o.extraVars,
              ...(o.install !== undefined ? { install: o.install } : {}),
              ...(o.image !== undefined ? { image: o.image } : {}),
            },
            io,
          ),
        ),
    );
}

/** `runbook doc`: a module's schema. */
function addDoc(program: Command, io: Io, setCode: SetCode): void {
  program
    .command('doc')
    .description("a module's arguments, ops and what `register` holds, from its schema (like ansible-doc); without a name, the module list")
    .argument('[module]', 'a module name, e.g. etcd_health')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (name: string | undefined, o: { format: string }) => setCode((await import('./doc.js')).runDoc(name, o, io)));
}

/** `runbook completion`: the script is generated from the program itself, so it sees every command. */
function addCompletion(program: Command, io: Io, setCode: SetCode): void {
  program
    .command('completion')
    .description('print a shell completion script: source <(runbook completion bash), or save it where zsh/fish look')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
    .action(async (shell: 'bash' | 'zsh' | 'fish') => {
      io.out((await import('./completion.js')).completionScript(program, shell));
      setCode(EXIT.OK);
    });
}

/** `runbook apply`: the one command with many flags, registered on its own. */
function addApply(program: Command, io: Io, setCode: SetCode): void {
  limitAndVars(
    program
      .command('apply')
      .description('run a playbook against an inventory over SSH (destructive plans ask for the cluster name, or --yes)')
      .argument('<playbook>', 'a playbook path, a shipped name such as restore-all.yml, or a saved plan (plan.json)')
      .option(INVENTORY_FLAGS, 'the inventory (a saved plan names its own)', oneInventory),
  )
    .option('-f, --forks <n>', 'hosts worked on at once', (v) => Number(v), DEFAULT_FORKS)
    .option('-C, --check', 'run only read-only steps; report what the others would do')
    .option('-y, --yes', 'do not ask: confirm destructive plans and pause prompts (for unattended runs)')
    .addOption(new Option('--output <mode>', 'auto: live tree on a terminal, plain lines otherwise').choices(['auto', 'text', 'json']).default('auto'))
    .option('--resume <run-id>', 'continue an interrupted or failed run from its journal; finished steps are not run again')
    .option('--journal-dir <dir>', 'where run journals are written', DEFAULT_JOURNAL_DIR)
    .option('-F, --ssh-config <file>', 'OpenSSH client config to read instead of ~/.ssh/config and /etc/ssh/ssh_config (as ssh -F)')
    .option('--break-lock', 'take over a stale run lock of the cluster (its run died or it expired)')
    .option('-v, --verbose', 'more detail (repeat for streamed output)', (_v: string, prev: number) => prev + 1, 0)
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  runbook apply backup -i inventories/prod.yml',
        '  runbook apply restore-all -i inv.yml -e snapshot=backups/prod/prod-20261101T020000Z.db --yes',
        '  runbook apply plan.json                      (a saved plan, exactly as reviewed)',
        '  runbook apply backup -i inv.yml --check      (read-only probes only)',
        '  runbook apply replace-member -i inv.yml --resume RUN_ID',
        '',
      ].join('\n'),
    )
    .action(
      async (
        playbook: string,
        o: {
          inventory?: string;
          limit?: string;
          extraVars: string[];
          forks: number;
          check?: boolean;
          yes?: boolean;
          output: 'auto' | 'text' | 'json';
          resume?: string;
          journalDir: string;
          verbose: number;
          breakLock?: boolean;
          sshConfig?: string;
        },
      ) =>
        setCode(
          await (
            await import('./apply.js')
          ).runApply(
            playbook,
            {
              ...(o.inventory ? { inventory: o.inventory } : {}),
              extraVars: o.extraVars,
              forks: o.forks,
              check: o.check === true,
              yes: o.yes === true,
              output: o.output,
              journalDir: o.journalDir,
              verbose: o.verbose,
              ...(o.limit ? { limit: o.limit } : {}),
              ...(o.resume ? { resume: o.resume } : {}),
              ...(o.breakLock ? { breakLock: true } : {}),
              ...(o.sshConfig !== undefined ? { sshConfig: o.sshConfig } : {}),
            },
            io,
          ),
        ),
    );
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let code: number = EXIT.OK;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version are successes; every other parse problem is invalid input.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? EXIT.OK : EXIT.INVALID;
    }
    return internalError(e, io);
  }
  return code;
}

/**
 * A failure runbook did not foresee is a bug: one line saying so, never a stack trace in front of
 * an operator (RUNBOOK_DEBUG=1 shows it, for a bug report). Bad input never gets here: it is
 * reported as diagnostics with exit 2.
 */
function internalError(e: unknown, io: Io): number {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  io.err(`runbook: internal error: ${msg.split('\n')[0] ?? msg}\n  this is a bug in runbook; RUNBOOK_DEBUG=1 shows where it happened\n`);
  if (process.env.RUNBOOK_DEBUG === '1' && e instanceof Error && e.stack) io.err(`${e.stack}\n`);
  return EXIT.FAILED;
}
