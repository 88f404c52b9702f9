import { authHeaders, toApiError } from "./client.js";

/** One sample of the Prometheus text format: a family's name, its labels and value. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * Reads the Prometheus text exposition (what GET /metrics serves): one sample per line,
 * `name{label="value",…} number`, `#` lines skipped. Only what the health view needs: no
 * timestamps, no exemplars.
 */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const brace = line.indexOf("{");
    const space = line.lastIndexOf(" ");
    if (space === -1) continue;
    const name = brace === -1 || brace > space ? line.slice(0, line.indexOf(" ")) : line.slice(0, brace);
    const labels: Record<string, string> = {};
    if (brace !== -1 && brace < space) {
      const body = line.slice(brace + 1, line.lastIndexOf("}"));
      for (const m of body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    const value = Number(line.slice(space + 1));
    if (name) samples.push({ name, labels, value });
  }
  return samples;
}

/** The sum of a family's samples (matching `labels` when given). */
export function total(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

/** GET /metrics as samples; an agent token gets a 403 ApiError (the numbers count every agent's sessions). */
export async function scrape(signal?: AbortSignal): Promise<Sample[]> {
  const res = await fetch("/metrics", { headers: authHeaders({ accept: "text/plain" }), cache: "no-store", ...(signal ? { signal } : {}) });
  const text = await res.text();
  if (!res.ok) throw toApiError(res.status, text);
  return parseMetrics(text);
}

