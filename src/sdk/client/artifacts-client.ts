import type { Readable } from "node:stream";
import { headerValue } from "./wire.js";
import type { Transport } from "./transport.js";

/** Seed 002's artifact categories: the folders of a session's workspace. */
export type ArtifactCategory = "logs" | "screenshots" | "files" | "recordings" | "devtools";

/** A file or folder in a session's workspace. */
export interface ArtifactEntry {
  category: ArtifactCategory;
  /** Relative to the category folder, with / separators. */
  path: string;
  type: "file" | "directory";
  size: number;
  modified_at: string;
  /** Files only: the media type it is served with. */
  content_type?: string;
}

/** A listing; `truncated` when the server stopped at its listing cap. */
export interface ArtifactListing {
  entries: ArtifactEntry[];
  truncated: boolean;
}

/** A downloaded file. */
export interface ArtifactFile {
  bytes: Buffer;
  content_type: string | undefined;
}

/**
 * `/sessions/{id}/artifacts`: a session's workspace files (seed 002's categorized sandbox).
 *
 * @example
 * await client.artifacts.upload(id, "logs", "build/out.txt", "ok\n", "text/plain");
 * const { bytes } = await client.artifacts.download(id, "logs", "build/out.txt");
 */
export class ArtifactsClient {
  constructor(private readonly transport: Transport) {}

  /** Every file and folder of the session, or of one category. */
  async list(ref: string, category?: ArtifactCategory): Promise<ArtifactListing> {
    const reply = await this.transport.request<ArtifactEntry[]>({ method: "GET", path: category ? `${base(ref)}/${encodeURIComponent(category)}` : base(ref) });
    return { entries: reply.body, truncated: headerValue(reply.headers, "x-truncated") === "true" };
  }

  /** A file's bytes and media type. @throws not_found; a folder is a validation error naming `path` */
  async download(ref: string, category: ArtifactCategory, path: string): Promise<ArtifactFile> {
    const reply = await this.transport.requestBytes({ method: "GET", path: artifactPath(ref, category, path), headers: { accept: "*/*" } });
    const type = headerValue(reply.headers, "content-type");
    if (type?.startsWith("application/json") && Array.isArray(safeJson(reply.body))) {
      throw new TypeError(`${category}/${path} is a folder; use list()`);
    }
    return { bytes: reply.body, content_type: type };
  }

  /** Writes the file (creating folders), replacing one already there. @throws too_large past the server's maxArtifactBytes */
  async upload(ref: string, category: ArtifactCategory, path: string, body: string | Uint8Array | Readable, contentType = "application/octet-stream"): Promise<ArtifactEntry & { created: boolean }> {
    const reply = await this.transport.request<ArtifactEntry>({
      method: "PUT",
      path: artifactPath(ref, category, path),
      rawBody: body,
      headers: { "content-type": contentType },
    });
    return { ...reply.body, created: reply.status === 201 };
  }

  /** Deletes a file, or a folder with its contents. @throws not_found */
  async delete(ref: string, category: ArtifactCategory, path: string): Promise<void> {
    await this.transport.request({ method: "DELETE", path: artifactPath(ref, category, path) });
  }
}

function base(ref: string): string {
  return `/sessions/${encodeURIComponent(ref)}/artifacts`;
}

function artifactPath(ref: string, category: ArtifactCategory, path: string): string {
  return `${base(ref)}/${encodeURIComponent(category)}/${path.split("/").map(encodeURIComponent).join("/")}`;
}

function safeJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
}
