/** Live Python sessions. */
export { PythonDriver, type PythonDriverOptions } from "./python-driver.js";
