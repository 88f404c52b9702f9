/** Live Python sessions (issue 7). */
export { PythonDriver, type PythonDriverOptions } from "./python-driver.js";
