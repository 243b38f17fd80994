/** HAProxy process and socket layer: supervisor, runtime API, master CLI, parsers. */
export { sendCommand, assertSingleCommand, HaproxySocketError, type SendCommandOptions } from './socket.js';
export {
  parseShowProc,
  parseShowStat,
  parseShowInfo,
  parseServersState,
  splitCsvLine,
  AdminFlag,
  type ProcEntry,
  type MasterEntry,
  type ShowProc,
  type StatRow,
  type StatValue,
  type ServerState,
  type OpState,
} from './parse.js';
export { RuntimeApi, RuntimeApiError, type RuntimeApiOptions, type ServerAdminState } from './runtime.js';
export { MasterCli } from './master-cli.js';
export { checkConfigFile, type CheckResult, type CheckOptions } from './check.js';
export { writeFileAtomic } from '../util/atomic-file.js';
export { findTakenBinds, parseBindAddresses, type BindAddress } from './preflight.js';
export { isProcessAlive, findProcessesWithArg } from './process.js';
export {
  HaproxySupervisor,
  HaproxyConfigError,
  SupervisorEvent,
  statePaths,
  type HaproxySupervisorOptions,
  type SupervisorEvents,
  type SupervisorLogger,
  type StatePaths,
  type StartResult,
  type ApplyResult,
  type StopOptions,
} from './supervisor.js';
