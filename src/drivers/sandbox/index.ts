export { type CgroupLimits, SessionCgroup } from "./cgroup.js";
export { type Launch, type LaunchRequest, type Program, SANDBOX_USER, chownForSession, findProgram, hostPathOf, prepareLaunch, programExit, visibleInSandbox } from "./launch.js";
export { SandboxPlanner } from "./planner.js";
export { hostPidOf, innermostPid } from "./pid-view.js";
export { type SandboxCheck, type SandboxHost, checkSandbox, probeSandbox } from "./probe.js";
export { UidPool, ownWorkspace } from "./uids.js";
export { HELPERS_DIR, installPrefix, packageDir } from "./program-paths.js";
export { workspaceBytes } from "./disk-usage.js";
