import type { Command } from "commander";

/** Registers `import` and `export`. */
export function registerMoveCommands(_program: Command): void {}
