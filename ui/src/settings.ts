/**
 * The dashboard's tunables in one place: page sizes, reconnect delays, render caps. The server's
 * own limits are its config's; these only shape what the page asks for and shows.
 */
export const SETTINGS = {
  /** Sessions per page of the list (the server caps a page at 1000). */
  pageSize: 50,
  /** Events read per page of a session's timeline (newest first, "Load older" for more). */
  eventPageSize: 200,
  /** Events a session's page keeps (the newest); older ones are read again with "Load older events". */
  maxEventsKept: 2_000,
  /** A JSON view longer than this (characters) starts collapsed. */
  jsonCollapseChars: 2_000,
  /** A JSON view never renders more than this many characters of one value. */
  jsonMaxRenderChars: 20_000,
  /** First and longest delay before a dropped stream (SSE, WebSocket) is opened again. */
  reconnectBaseMs: 500,
  reconnectMaxMs: 5_000,
  /** Attach connections refused in a row (closed before their hello) before the terminal gives up. */
  attachMaxRefusals: 5,
  /** A burst of feed events refreshes the list's counts at most this often. */
  countsRefreshMs: 1_000,
  /** How often ages ("4 s ago") are counted again. */
  clockTickMs: 5_000,
  /** How often the stats page samples the server's /metrics. */
  metricsPollMs: 5_000,
  /** Samples of /metrics kept for the health charts. */
  metricsSamples: 60,
  /** Days the stats page charts, one /stats request each. */
  statsDays: 14,
  /** Sessions read to count sessions per agent (newest first). */
  perAgentSample: 1_000,
  /** Changes of a context diff listed before "and N more". */
  diffMaxEntries: 500,
} as const;
