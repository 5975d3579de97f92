/**
 * The CLI's command tree as plain data, read from the commander program the CLI itself runs (buildProgram), so the
 * man page and the shell completions are generated from the command definitions and cannot drift from them.
 */
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/main.js';

export interface OptionInfo {
  flags: string;
  long: string;
  short?: string;
  description: string;
  takesValue: boolean;
}

export interface CommandInfo {
  /** The words that name it: ['ban'], ['config', 'check']. */
  path: string[];
  arguments: { name: string; required: boolean; variadic: boolean; description: string }[];
  description: string;
  options: OptionInfo[];
}

function optionsOf(cmd: Command): OptionInfo[] {
  return cmd.options.map((o) => ({
    flags: o.flags,
    long: o.long ?? o.flags,
    short: o.short,
    description: o.description,
    takesValue: o.required || o.optional,
  }));
}

function walk(cmd: Command, path: string[], out: CommandInfo[]): void {
  for (const sub of cmd.commands) {
    const subPath = [...path, sub.name()];
    if (sub.commands.length > 0) walk(sub, subPath, out);
    else
      out.push({
        path: subPath,
        arguments: sub.registeredArguments.map((a) => ({ name: a.name(), required: a.required, variadic: a.variadic, description: a.description })),
        description: sub.description(),
        options: optionsOf(sub),
      });
  }
}

export function commandTree(): { description: string; globalOptions: OptionInfo[]; commands: CommandInfo[]; groups: Record<string, string> } {
  const program = buildProgram({ out: () => undefined, err: () => undefined, errIsTerminal: false }, () => undefined);
  const commands: CommandInfo[] = [];
  walk(program, [], commands);
  const groups: Record<string, string> = {};
  for (const sub of program.commands) if (sub.commands.length > 0) groups[sub.name()] = sub.description();
  return { description: program.description(), globalOptions: optionsOf(program), commands, groups };
}

export function usage(c: CommandInfo): string {
  const args = c.arguments.map((a) => (a.required ? `<${a.name}${a.variadic ? '...' : ''}>` : `[${a.name}${a.variadic ? '...' : ''}]`));
  return ['portwarden', ...c.path, ...args].join(' ');
}
