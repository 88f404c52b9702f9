import { ShellDriver } from "../../src/drivers/index.js";
import { driverConformance } from "./conformance.js";

driverConformance("shell", () => new ShellDriver(), {
  hello: "echo hello",
  fail: "echo oops >&2; false",
  sleep: "sleep 30",
  setState: "export KEPT=kept; cd /",
  readBack: 'echo "$KEPT"',
});
