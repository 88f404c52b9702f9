import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { COMMAND_GROUPS, registerCommands } from "../../src/cli/command-groups.js";

const namesOf = (program: Command) => program.commands.flatMap((c) => [c.name(), ...c.aliases()]);

describe("the CLI's command groups", () => {
  it.each(COMMAND_GROUPS.map((g) => [g.names[0]!, g] as const))("%s's group registers exactly the names it is listed under", (_first, group) => {
    const program = new Command();
    group.register(program);
    expect(namesOf(program).sort()).toEqual([...group.names].sort());
  });

  it("registers only the group a command line names, and every command for help, --version or an unknown command", () => {
    const only = new Command();
    registerCommands(only, ["show", "build-42", "--json"]);
    expect(namesOf(only)).toContain("show");
    expect(namesOf(only)).not.toContain("exec");

    const all = COMMAND_GROUPS.flatMap((g) => g.names).sort();
    for (const args of [[], ["--help"], ["--version"], ["help", "show"], ["shwo"]]) {
      const program = new Command();
      registerCommands(program, args);
      expect(namesOf(program).sort()).toEqual(all);
    }
  });
});
