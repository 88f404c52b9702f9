import type { ExecStatus } from "../exec-result.js";
import type { Cell } from "./cells.js";

/**
 * The one replay loop: runs `cells` in order through `run`; with `stopAtFailure`, stops at the
 * first that does not end `ok` (later cells may depend on it) and returns it.
 */
export async function runInOrder(cells: readonly Cell[], run: (cell: Cell) => Promise<ExecStatus>, options: { stopAtFailure: boolean }): Promise<Cell | undefined> {
  for (const cell of cells) {
    const status = await run(cell);
    if (status !== "ok" && options.stopAtFailure) return cell;
  }
  return undefined;
}
