/**
 * A LangGraph StateGraph run in a process of its own, with SessiondSaver embedded on
 * $SESSIOND_HOME (no network: the nodes are plain functions). One command per process:
 *
 *   run <thread> [hang-at]  a → b → c → d → e from the start; at node `hang-at`, prints "HANG <node>"
 *                           and waits for the test to kill it
 *   resume <thread>         invokes with no input: carries on from the thread's last checkpoint
 *   fork <thread>           time travel: from the checkpoint whose next node is c, sets count to 100
 *                           (updateState) and runs the rest from there
 *   state <thread> [id]     the thread's state (at a checkpoint id when given)
 *
 * Prints one JSON line `RESULT {…}` with what the test checks. Each node appends `<node>:<pid>`
 * to `log` and adds 1 to `count`, so the test sees which process ran which node.
 */
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { SessiondSaver } from "../../../src/adapters/langgraph/index.js";

const [command, thread, extra] = process.argv.slice(2);
if (!command || !thread) throw new Error("usage: graph-child.mts <run|resume|fork|state> <thread> [arg]");

const State = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  count: Annotation<number>({ reducer: (_, b) => b, default: () => 0 }),
});

function node(name: string) {
  return async (state: typeof State.State) => {
    if (command === "run" && extra === name) {
      process.stdout.write(`HANG ${name}\n`);
      // Kept alive (a pending promise alone would let the process end) until the test kills it.
      setInterval(() => undefined, 60_000);
      await new Promise(() => undefined);
    }
    return { log: [`${name}:${process.pid}`], count: state.count + 1 };
  };
}

// Chained calls, so the node names are typed into the edges.
const graph = new StateGraph(State)
  .addNode("a", node("a"))
  .addNode("b", node("b"))
  .addNode("c", node("c"))
  .addNode("d", node("d"))
  .addNode("e", node("e"))
  .addEdge(START, "a")
  .addEdge("a", "b")
  .addEdge("b", "c")
  .addEdge("c", "d")
  .addEdge("d", "e")
  .addEdge("e", END)
  .compile({ checkpointer: new SessiondSaver() });

const config = { configurable: { thread_id: thread } };
// Each checkpoint durable before the next step starts: the test kills the process mid-run.
const durability = "sync" as const;

function result(value: unknown): void {
  process.stdout.write(`RESULT ${JSON.stringify(value)}\n`);
}

if (command === "run") {
  result(await graph.invoke({ log: [], count: 0 }, { ...config, durability }));
} else if (command === "resume") {
  result(await graph.invoke(null, { ...config, durability }));
} else if (command === "fork") {
  let before: Awaited<ReturnType<typeof graph.getState>> | undefined;
  for await (const snapshot of graph.getStateHistory(config)) {
    if (snapshot.next.length === 1 && snapshot.next[0] === "c") {
      before = snapshot;
      break; // newest first: the latest checkpoint about to run c
    }
  }
  if (!before) throw new Error("no checkpoint before c");
  const forked = await graph.updateState(before.config, { count: 100 });
  const final = await graph.invoke(null, { ...forked, durability });
  result({ from: before.config.configurable?.checkpoint_id, forked: forked.configurable?.checkpoint_id, final });
} else if (command === "state") {
  const snapshot = await graph.getState(extra ? { configurable: { thread_id: thread, checkpoint_id: extra } } : config);
  let history = 0;
  for await (const _ of graph.getStateHistory(config)) history++;
  result({ values: snapshot.values, next: snapshot.next, checkpoint_id: snapshot.config.configurable?.checkpoint_id, history });
} else {
  throw new Error(`unknown command ${command}`);
}
