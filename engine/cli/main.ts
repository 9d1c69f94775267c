// The CLI is thin: parse flags, call the stages, map results to exit codes (README "Exit codes").
import { Command, CommanderError, Option } from 'commander';
import { RUNBOOK_VERSION } from './inputs.js';
import { runValidate } from './validate.js';
import { runPlan } from './plan.js';
import { runInventory } from './inventory.js';
import { EXIT, processIo, type Io } from './output.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function buildProgram(io: Io, setCode: (c: number) => void): Command {
  const program = new Command('runbook')
    .description('etcd operations as code: validate, plan and apply playbooks over SSH')
    .version(RUNBOOK_VERSION)
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError();

  program
    .command('validate')
    .description('check playbooks and inventories; every problem at once, exit 2 if any')
    .argument('[files...]', 'playbooks (or shipped names like restore-all) and inventories')
    .option('-i, --inventory <file>', 'also check hosts and variables against this inventory')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action((files: string[], o: { inventory?: string; format?: string }) => setCode(runValidate(files, o, io)));

  program
    .command('plan')
    .description('compile a playbook against an inventory into the exact steps per host (no network)')
    .argument('<playbook>', 'a playbook path, or a shipped name such as restore-all.yml')
    .requiredOption('-i, --inventory <file>', 'the inventory')
    .option('-l, --limit <pattern>', 'only these hosts/groups')
    .option('-e, --extra-vars <key=value>', 'extra variable (repeatable; @file.yml or JSON too)', collect, [])
    .option('-t, --tags <tags>', 'only tasks with these tags (comma-separated)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('-o, --out <file>', 'write the plan to a file (JSON unless --format text)')
    .action((playbook: string, o: { inventory: string; limit?: string; extraVars: string[]; tags?: string; format: string; out?: string }) =>
      setCode(runPlan(playbook, { inventory: o.inventory, extraVars: o.extraVars, format: o.out && o.format === 'text' && !process.argv.includes('--format') ? 'json' : o.format, ...(o.limit ? { limit: o.limit } : {}), ...(o.tags ? { tags: o.tags.split(',') } : {}), ...(o.out ? { out: o.out } : {}) }, io)),
    );

  program
    .command('inventory')
    .description('show resolved hosts, groups, variables (with where each came from) and derived cluster facts')
    .requiredOption('-i, --inventory <file>', 'the inventory')
    .option('--graph', 'show the group tree')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action((o: { inventory: string; graph?: boolean; format?: string }) => setCode(runInventory(o, io)));

  return program;
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
    throw e;
  }
  return code;
}
