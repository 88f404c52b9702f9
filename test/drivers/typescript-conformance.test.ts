import { TypeScriptDriver } from "../../src/drivers/typescript/index.js";
import { driverConformance } from "./conformance.js";

driverConformance("typescript", () => new TypeScriptDriver(), {
  hello: "console.log('hello')",
  fail: "console.error('oops'); throw new Error('failed on purpose')",
  sleep: "await new Promise((resolve) => setTimeout(resolve, 30_000))",
  setState: "const kept: string = 'kept'",
  readBack: "console.log(kept)",
});
