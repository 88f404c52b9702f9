import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

/**
 * Checks an answer against the OpenAPI document the server publishes — the document third-party
 * tools read — with an off-the-shelf JSON Schema validator (Ajv, draft 2020-12 as OpenAPI 3.1
 * uses), independent of the TypeBox schemas the server validates its input with: the status is
 * declared for the operation, the content type is one the response declares, and a JSON body
 * matches its schema.
 */

/** One answer as the server sent it. */
export interface Answer {
  /** HTTP method. */
  readonly method: string;
  /** The route's pattern as Fastify knows it (`/sessions/:id`), or undefined when no route matched. */
  readonly route: string | undefined;
  readonly status: number;
  /** The Content-Type header, if any. */
  readonly contentType: string | undefined;
  /** The body as text when it was sent whole (undefined for a stream). */
  readonly body: string | undefined;
}

interface MediaDoc {
  readonly schema?: unknown;
}
interface ResponseDoc {
  readonly content?: Record<string, MediaDoc>;
}
interface OperationDoc {
  readonly responses?: Record<string, ResponseDoc>;
}
export interface OpenApiDoc {
  readonly paths: Record<string, Record<string, OperationDoc>>;
  readonly components?: unknown;
}

const DOC_ID = "https://sessiond.invalid/openapi.json";

export class ResponseChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly doc: OpenApiDoc) {
    addFormats.default(this.ajv);
    // The document itself, so that a response schema's `#/components/schemas/…` resolves.
    this.ajv.addSchema({ ...doc, $id: DOC_ID });
  }

  /** What is wrong with an answer (empty when it matches the document). */
  check(answer: Answer): string[] {
    const where = `${answer.method} ${answer.route ?? "(no route)"} → ${answer.status}`;
    if (answer.route === undefined) return this.checkUnrouted(answer, where);
    const path = openApiPath(answer.route);
    const operation = this.doc.paths[path]?.[answer.method.toLowerCase()];
    // Routes the document leaves out on purpose (the docs page's assets, HEAD) are not checked.
    if (operation === undefined) return [];
    const responses = operation.responses ?? {};
    const key = String(answer.status) in responses ? String(answer.status) : `${String(answer.status)[0]}XX` in responses ? `${String(answer.status)[0]}XX` : "default";
    const declared = responses[key];
    if (declared === undefined) return [`${where}: status ${answer.status} is not declared (declared: ${Object.keys(responses).join(", ")})`];
    return this.checkBody(answer, declared, `#/paths/${pointerSegment(path)}/${answer.method.toLowerCase()}/responses/${key}`, where);
  }

  private checkUnrouted(answer: Answer, where: string): string[] {
    // No route: the server's own 404/405 in the error shape.
    return this.checkBody(answer, { content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } }, undefined, where);
  }

  private checkBody(answer: Answer, declared: ResponseDoc, at: string | undefined, where: string): string[] {
    const content = declared.content;
    const hasBody = answer.body === undefined || answer.body.length > 0;
    if (content === undefined || Object.keys(content).length === 0) {
      return hasBody ? [`${where}: sends a body (${answer.contentType ?? "no type"}) where the document declares none`] : [];
    }
    if (answer.contentType === undefined) return hasBody ? [`${where}: a body without a Content-Type`] : [];
    const mediaKey = Object.keys(content).find((declaredType) => mediaMatches(declaredType, answer.contentType!));
    if (mediaKey === undefined) return [`${where}: Content-Type ${answer.contentType} is not declared (declared: ${Object.keys(content).join(", ")})`];
    if (mediaType(answer.contentType) !== "application/json" || answer.body === undefined) return [];
    let value: unknown;
    try {
      value = JSON.parse(answer.body);
    } catch {
      return [`${where}: the body is not JSON: ${answer.body.slice(0, 200)}`];
    }
    const validate = this.validator(at === undefined ? "#/components/schemas/Error" : `${at}/content/${pointerSegment(mediaKey)}/schema`);
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => `${where}: body${e.instancePath} ${e.message ?? "is invalid"} (${e.schemaPath}) — ${JSON.stringify(e.params)}`);
  }

  private validator(ref: string): ValidateFunction {
    let validate = this.validators.get(ref);
    if (validate === undefined) {
      validate = this.ajv.compile({ $ref: `${DOC_ID}${ref}` });
      this.validators.set(ref, validate);
    }
    return validate;
  }
}

/** A Fastify route pattern as an OpenAPI path: `:id` → `{id}`, the wildcard → `{path}`, no trailing slash. */
export function openApiPath(route: string): string {
  const path = route.replace(/:(\w+)/g, "{$1}").replace(/\*$/, "{path}");
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

function mediaType(contentType: string): string {
  return contentType.split(";")[0]!.trim().toLowerCase();
}

/** Whether a Content-Type sent is one a declared media type (range) covers, parameters of the declaration included. */
function mediaMatches(declared: string, sent: string): boolean {
  const [declaredType, ...declaredParams] = declared.split(";").map((p) => p.trim().toLowerCase());
  const sentParts = sent.split(";").map((p) => p.trim().toLowerCase());
  const sentType = sentParts[0]!;
  const typeMatches =
    declaredType === "*/*" || declaredType === sentType || (declaredType!.endsWith("/*") && sentType.startsWith(declaredType!.slice(0, -1)));
  return typeMatches && declaredParams.every((param) => sentParts.includes(param));
}

/** One JSON Pointer segment, as it goes in a URI fragment. */
function pointerSegment(segment: string): string {
  return encodeURIComponent(segment.replace(/~/g, "~0").replace(/\//g, "~1"));
}
