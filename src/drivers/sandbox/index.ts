export { type CgroupLimits, SessionCgroup } from "./cgroup.js";
export { type Launch, type LaunchRequest, SANDBOX_USER, giveToSandbox, prepareLaunch, programExit, programPid, wrapperPids } from "./launch.js";
export { hostPidOf, innermostPid } from "./pid-view.js";
export { type SandboxCheck, checkSandbox } from "./probe.js";
export { UidPool, ownWorkspace } from "./uids.js";
export { HELPERS_DIR, installPrefix, packageDir } from "./program-paths.js";
