import { PythonDriver } from "../../src/drivers/python/index.js";
import { driverConformance } from "./conformance.js";

driverConformance("python", () => new PythonDriver(), {
  hello: "print('hello')",
  fail: "import sys; print('oops', file=sys.stderr); raise SystemError('failed on purpose')",
  sleep: "import time; time.sleep(30)",
  setState: "kept = 'kept'",
  readBack: "print(kept)",
});
