/** The API's JSON as the dashboard reads it (a subset of /openapi.json's schemas). */

export type Role = "admin" | "agent" | "reader";

export type SessionStatus = "active" | "paused" | "completed" | "failed" | "timeout" | "crashed";

export const STATUSES: readonly SessionStatus[] = ["active", "paused", "crashed", "completed", "failed", "timeout"];

export const KINDS = ["agent", "shell", "python", "typescript", "llm"] as const;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface WhoAmI {
  readonly role: Role;
  readonly name: string;
  readonly agent_id: string | null;
  readonly user_id: string | null;
}

export interface Session {
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly type: string | null;
  readonly mode: string | null;
  readonly agent_id: string | null;
  readonly user_id: string | null;
  readonly labels: Record<string, string>;
  readonly task: string | null;
  readonly status: SessionStatus;
  readonly iterations: number;
  readonly max_iterations: number | null;
  readonly context: JsonObject;
  readonly error: string | null;
  readonly parent: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly started_at: string;
  readonly ended_at: string | null;
  readonly last_activity_at: string;
  readonly last_seq: number;
  readonly version: number;
}

export interface SessionEvent {
  readonly seq: number;
  readonly ts: string;
  readonly type: string;
  readonly data: JsonObject;
}

export interface Checkpoint {
  readonly id: string;
  readonly session_id: string;
  readonly seq: number;
  readonly label: string | null;
  readonly data: JsonObject;
  readonly state: { readonly context: JsonObject; readonly status: SessionStatus; readonly iterations: number };
  readonly created_at: string;
}

export interface Stats {
  readonly total: number;
  readonly by_status: Record<string, number>;
  readonly by_mode: Record<string, number>;
  readonly by_kind: Record<string, number>;
  /** completed / (completed + failed + timeout), in percent (0–100). */
  readonly success_rate: number;
  readonly average_iterations: number;
  readonly average_duration_ms: number;
}

export interface ExecResult {
  readonly exec_id: string;
  readonly seq: number;
  readonly input: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly exit_code: number | null;
  readonly status?: string;
  readonly duration_ms?: number;
  readonly truncated?: boolean;
}

/** A feed message (`GET /feed`, docs/streams.md). */
export interface FeedEvent {
  readonly type: "event";
  readonly pos: number;
  readonly session_id: string;
  readonly kind: string;
  readonly agent_id: string | null;
  readonly seq: number;
  readonly ts: string;
  readonly event_type: string;
  readonly data: JsonObject;
}

/** Live kinds whose sessions run code. */
export function isLive(kind: string): boolean {
  return kind !== "agent";
}

/** True for the statuses a session never leaves. */
export function isFinished(status: SessionStatus): boolean {
  return status === "completed" || status === "failed" || status === "timeout";
}
