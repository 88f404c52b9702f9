/**
 * Tool schemas read from the server's own OpenAPI document (`/openapi.json`, generated from the
 * TypeBox schemas the routes validate with), never written a second time: a tool's input is its
 * route's path and query parameters and the members of its JSON body, each with the schema the
 * route declares; its output is the schema of the route's JSON answer. The document is the one
 * the server answering the calls publishes, so the schemas match that server whatever its version.
 */

/** A JSON Schema, as the document holds it. */
export type JsonSchema = Record<string, unknown>;

/** The parts of an OpenAPI 3.1 document read here. */
export interface OpenApiDocument {
  readonly info?: { readonly version?: string };
  readonly paths: Readonly<Record<string, Readonly<Record<string, OperationObject>>>>;
  readonly components?: { readonly schemas?: Readonly<Record<string, JsonSchema>> };
}

interface ParameterObject {
  readonly name: string;
  readonly in: string;
  readonly required?: boolean;
  readonly description?: string;
  readonly schema?: JsonSchema;
}

interface MediaObject {
  readonly schema?: JsonSchema;
}

interface OperationObject {
  readonly operationId?: string;
  readonly summary?: string;
  readonly description?: string;
  readonly parameters?: readonly ParameterObject[];
  readonly requestBody?: { readonly content?: Readonly<Record<string, MediaObject>> };
  readonly responses?: Readonly<Record<string, { readonly content?: Readonly<Record<string, MediaObject>> }>>;
}

/** Where an argument of a tool goes in its request. */
export type ArgumentPlace = "path" | "query" | "body";

/** A route as a tool sees it: how to build its request and the schemas of its input and answer. */
export interface Operation {
  readonly operationId: string;
  readonly method: "GET" | "POST";
  /** The path template, `/sessions/{id}/exec`. */
  readonly path: string;
  readonly summary: string;
  readonly description: string;
  /** Each argument's place in the request. */
  readonly places: ReadonlyMap<string, ArgumentPlace>;
  /** The tool's input: an object of the path and query parameters and the body's members. */
  readonly inputSchema: JsonSchema & { type: "object" };
  /** The JSON schema of each success status's answer, references resolved. */
  readonly answers: ReadonlyMap<number, JsonSchema>;
}

/**
 * What a session named in a path means to a tool: the value is sent encoded, so `agent_id/name`
 * is given as is (the document's own wording asks HTTP clients for `%2F`).
 */
const PATH_DESCRIPTIONS: Readonly<Record<string, string>> = {
  id: "the session: its id, its name, or agent_id/name",
  cid: "the checkpoint's id",
};

/**
 * The operation with this operationId, as a tool reads it.
 * @throws Error when the document has no such operation, or a parameter and a body member share a name
 */
export function readOperation(document: OpenApiDocument, operationId: string): Operation {
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      if (operation.operationId !== operationId) continue;
      const upper = method.toUpperCase();
      if (upper !== "GET" && upper !== "POST") throw new Error(`operation ${operationId} is ${upper}; MCP tools call GET and POST routes`);
      return toOperation(document, operationId, upper, path, operation);
    }
  }
  throw new Error(`the server's OpenAPI document has no operation ${operationId}`);
}

function toOperation(document: OpenApiDocument, operationId: string, method: "GET" | "POST", path: string, operation: OperationObject): Operation {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  const places = new Map<string, ArgumentPlace>();
  const add = (name: string, place: ArgumentPlace, schema: JsonSchema, isRequired: boolean) => {
    if (places.has(name)) throw new Error(`operation ${operationId}: ${name} is both a ${places.get(name)} parameter and a ${place} one`);
    places.set(name, place);
    properties[name] = schema;
    if (isRequired) required.push(name);
  };
  for (const parameter of operation.parameters ?? []) {
    if (parameter.in !== "path" && parameter.in !== "query") continue;
    const description = parameter.in === "path" ? (PATH_DESCRIPTIONS[parameter.name] ?? parameter.description) : parameter.description;
    add(parameter.name, parameter.in, { ...(parameter.schema ?? {}), ...(description ? { description } : {}) }, parameter.in === "path" || parameter.required === true);
  }
  const body = operation.requestBody?.content?.["application/json"]?.schema;
  if (body !== undefined) {
    const members = (body.properties ?? {}) as Record<string, JsonSchema>;
    const bodyRequired = new Set((body.required ?? []) as string[]);
    for (const [name, schema] of Object.entries(members)) add(name, "body", schema, bodyRequired.has(name));
  }
  const answers = new Map<number, JsonSchema>();
  for (const [status, response] of Object.entries(operation.responses ?? {})) {
    const code = Number(status);
    const schema = response.content?.["application/json"]?.schema;
    if (code >= 200 && code < 300 && schema !== undefined) answers.set(code, resolveRefs(document, schema));
  }
  return {
    operationId,
    method,
    path,
    summary: operation.summary ?? operationId,
    description: operation.description ?? "",
    places,
    inputSchema: { type: "object", properties, ...(required.length ? { required } : {}), additionalProperties: false },
    answers,
  };
}

/** The schema with every `#/components/schemas/…` reference replaced by the schema it names. */
export function resolveRefs(document: OpenApiDocument, schema: unknown, seen: readonly string[] = []): JsonSchema {
  return resolve(document, schema, seen) as JsonSchema;
}

function resolve(document: OpenApiDocument, value: unknown, seen: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((item) => resolve(document, item, seen));
  if (value === null || typeof value !== "object") return value;
  const { $ref, ...rest } = value as Record<string, unknown>;
  if (typeof $ref === "string") {
    const name = /^#\/components\/schemas\/(.+)$/.exec($ref)?.[1];
    const target = name === undefined ? undefined : document.components?.schemas?.[name];
    if (target === undefined || name === undefined) throw new Error(`the OpenAPI document's reference ${$ref} names no schema`);
    if (seen.includes(name)) throw new Error(`the OpenAPI document's schema ${name} refers to itself; tool schemas need it inline`);
    return { ...(resolve(document, target, [...seen, name]) as object), ...(resolve(document, rest, seen) as object) };
  }
  return Object.fromEntries(Object.entries(rest).map(([key, item]) => [key, resolve(document, item, seen)]));
}
